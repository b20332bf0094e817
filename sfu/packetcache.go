package sfu

import (
	"sync"
	"time"
)

// cacheSize is how many packets of one video track the packet cache can
// keep: about 1 s of 4 Mbit/s video. A power of two that divides 2^16,
// so the slot of a sequence number is the same on either side of a wrap.
const cacheSize = 512

// maxCacheAge is how long a packet stays in the cache. A NACK for an
// older packet comes too late to help (libwebrtc keeps its own send
// history for 1 s, or three round trips when longer); 1.5 s covers round
// trips up to 500 ms. Without it a low simulcast layer kept its last 512
// packets, half a minute of 100 kbit/s video, and the caches were half
// of the SFU's heap (heap profile of a 4 × 20 room).
const maxCacheAge = 1500 * time.Millisecond

// evictPerPut bounds the slots one put looks at to let go of old
// packets: each sequence number is passed once, so one step per put
// keeps up with the stream and the rest catches up after gaps.
const evictPerPut = 4

// packetCache keeps the last packets of one published video track, keyed
// by the publisher's sequence number, for answering subscribers' NACKs.
// It is shared by every subscriber of the track and holds a reference to
// the packets the fan-out already shares, so caching copies nothing:
// pion's NACK responder copies every packet once per subscriber, about a
// tenth of the forwarding cost (PERFORMANCE.md). The reader puts, the
// subscribers' writers get, under mu.
//
// Packets leave after maxCacheAge: oldest is the first sequence number
// that may still be cached and newest the latest put, and every put
// moves oldest on past the packets that have aged out.
type packetCache struct {
	mu             sync.Mutex
	slots          [cacheSize]*packet
	oldest, newest uint16
	started        bool
}

// put keeps pkt, taking a reference, and lets go of the packet 512
// sequence numbers before it and of packets older than maxCacheAge.
func (c *packetCache) put(pkt *packet) {
	pkt.refs.Add(1)
	seq := pkt.hdr.SequenceNumber
	// What put lets go of, released after mu: the packet it replaces
	// and those evict passes.
	var drop [evictPerPut + 1]*packet
	c.mu.Lock()
	n := 0
	if old := c.slots[seq%cacheSize]; old != nil {
		drop[n] = old
		n++
	}
	c.slots[seq%cacheSize] = pkt
	switch {
	case !c.started:
		c.oldest, c.newest, c.started = seq, seq, true
	case int16(seq-c.newest) > 0:
		c.newest = seq
		if c.newest-c.oldest >= cacheSize {
			// Slots before this are reused or were never filled.
			c.oldest = c.newest - cacheSize + 1
		}
		n = c.evict(pkt.at, &drop, n)
	}
	c.mu.Unlock()
	for _, p := range drop[:n] {
		p.release()
	}
}

// evict moves oldest on by at most evictPerPut sequence numbers, past
// empty slots and packets older than maxCacheAge at now, and collects
// them in drop from index n. It returns the new count. Called with mu.
func (c *packetCache) evict(now time.Time, drop *[evictPerPut + 1]*packet, n int) int {
	for range evictPerPut {
		if c.oldest == c.newest {
			break
		}
		i := c.oldest % cacheSize
		p := c.slots[i]
		if p != nil && p.hdr.SequenceNumber == c.oldest && now.Sub(p.at) < maxCacheAge {
			break
		}
		if p != nil {
			// Aged out, or left from before a gap in the numbers.
			drop[n] = p
			n++
			c.slots[i] = nil
		}
		c.oldest++
	}
	return n
}

// get returns the cached packet with sequence number seq and a reference
// the caller releases, or nil.
func (c *packetCache) get(seq uint16) *packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	pkt := c.slots[seq%cacheSize]
	if pkt == nil || pkt.hdr.SequenceNumber != seq {
		return nil
	}
	pkt.refs.Add(1)
	return pkt
}

// clear lets go of every packet, when the track ends.
func (c *packetCache) clear() {
	c.mu.Lock()
	slots := c.slots
	c.slots = [cacheSize]*packet{}
	c.started = false
	c.mu.Unlock()
	for _, p := range slots {
		if p != nil {
			p.release()
		}
	}
}
