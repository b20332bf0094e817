package sfu

import "sync"

// cacheSize is how many packets of one video track the packet cache
// keeps: about 1 s of 4 Mbit/s video, 5 s at 1 Mbit/s. A power of two
// that divides 2^16, so the slot of a sequence number is the same on
// either side of a wrap.
const cacheSize = 512

// packetCache keeps the last packets of one published video track, keyed
// by the publisher's sequence number, for answering subscribers' NACKs.
// It is shared by every subscriber of the track and holds a reference to
// the packets the fan-out already shares, so caching copies nothing:
// pion's NACK responder copies every packet once per subscriber, about a
// tenth of the forwarding cost (PERFORMANCE.md). The reader puts, the
// subscribers' writers get, under mu.
type packetCache struct {
	mu    sync.Mutex
	slots [cacheSize]*packet
}

// put keeps pkt, taking a reference, and lets go of the packet 512
// sequence numbers before it.
func (c *packetCache) put(pkt *packet) {
	pkt.refs.Add(1)
	i := pkt.hdr.SequenceNumber % cacheSize
	c.mu.Lock()
	old := c.slots[i]
	c.slots[i] = pkt
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
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
	c.mu.Unlock()
	for _, p := range slots {
		if p != nil {
			p.release()
		}
	}
}
