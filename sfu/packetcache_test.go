package sfu

import (
	"testing"
	"time"
)

// cachedPacket makes a pooled packet with sequence number seq read at
// at, holding the caller's reference.
func cachedPacket(pp *packetPool, seq uint16, at time.Time) *packet {
	p := pp.get()
	p.hdr.SequenceNumber = seq
	p.at = at
	return p
}

// A video stream at 50 packets a second through the cache: what is
// younger than maxCacheAge is there for NACKs, what is older has been
// let go (its last reference dropped), and a gap in the sequence numbers
// is passed over.
func TestPacketCacheLetsOldPacketsGo(t *testing.T) {
	pp := newPacketPool()
	var c packetCache
	t0 := time.Unix(1000, 0)
	const every = 20 * time.Millisecond
	var put []*packet
	seq := uint16(65000) // wraps during the test
	at := t0
	for i := range 300 {
		if i == 150 {
			seq += 40 // lost upstream: never put
		}
		p := cachedPacket(pp, seq, at)
		c.put(p)
		put = append(put, p)
		p.release() // the reader's reference: the cache holds its own
		seq++
		at = at.Add(every)
	}
	now := at.Add(-every)
	young := 0
	for _, p := range put {
		age := now.Sub(p.at)
		refs := p.refs.Load()
		switch {
		case age < maxCacheAge-2*evictPerPut*every:
			// Well inside the age: cached, and get finds it.
			if refs != 1 {
				t.Fatalf("packet %d (%v old): %d references, want the cache's", p.hdr.SequenceNumber, age, refs)
			}
			got := c.get(p.hdr.SequenceNumber)
			if got != p {
				t.Fatalf("get(%d) = %p, want the cached packet", p.hdr.SequenceNumber, got)
			}
			got.release()
			young++
		case age > maxCacheAge+every:
			if refs != 0 {
				t.Fatalf("packet %d is %v old and still has %d references", p.hdr.SequenceNumber, age, refs)
			}
		}
	}
	if want := int(maxCacheAge/every) - 2*evictPerPut; young < want {
		t.Errorf("%d packets cached, want at least %d", young, want)
	}
	c.clear()
	for _, p := range put {
		if r := p.refs.Load(); r != 0 {
			t.Fatalf("after clear packet %d has %d references", p.hdr.SequenceNumber, r)
		}
	}
}

// A fast stream fills the 512 slots before packets age out: the packet
// 512 numbers back is replaced, the 511 after it stay.
func TestPacketCacheBoundedBySlots(t *testing.T) {
	pp := newPacketPool()
	var c packetCache
	at := time.Unix(1000, 0)
	var first *packet
	for i := range cacheSize + 1 {
		p := cachedPacket(pp, uint16(i), at)
		c.put(p)
		if i == 0 {
			first = p
		} else {
			p.release()
		}
		at = at.Add(time.Millisecond)
	}
	if r := first.refs.Load(); r != 1 {
		t.Errorf("packet 0: %d references, want only the test's (replaced in the cache)", r)
	}
	first.release()
	if c.get(0) != nil {
		t.Error("packet 0 still cached")
	}
	for seq := uint16(1); seq <= cacheSize; seq++ {
		p := c.get(seq)
		if p == nil {
			t.Fatalf("packet %d not cached", seq)
		}
		p.release()
	}
	c.clear()
}

func TestPacketCachePutDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	pp := newPacketPool()
	var c packetCache
	at := time.Unix(1000, 0)
	seq := uint16(0)
	pkts := make([]*packet, 64)
	for i := range pkts {
		pkts[i] = pp.get()
	}
	allocs := testing.AllocsPerRun(2000, func() {
		p := pkts[seq%64]
		p.refs.Add(1)
		p.hdr.SequenceNumber = seq
		p.at = at
		c.put(p)
		p.release()
		seq++
		at = at.Add(50 * time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("put: %.1f allocations, want none", allocs)
	}
}
