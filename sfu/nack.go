package sfu

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// nackPair is one FCI entry of a generic NACK (RFC 4585 §6.2.1): a lost
// packet id and a bitmask of the 16 after it that are lost too.
type nackPair struct{ pid, blp uint16 }

// nacks appends to dst the NACK entries of a compound RTCP packet that
// are about mediaSSRC. It walks the bytes and allocates nothing once dst
// has room; a malformed packet ends the walk.
func nacks(b []byte, mediaSSRC uint32, dst []nackPair) []nackPair {
	for len(b) >= 4 {
		var h rtcp.Header
		if err := h.Unmarshal(b); err != nil {
			return dst
		}
		size := (int(h.Length) + 1) * 4
		if size > len(b) {
			return dst
		}
		body := b[4:size]
		b = b[size:]
		if h.Type != rtcp.TypeTransportSpecificFeedback || h.Count != rtcp.FormatTLN || len(body) < 8 {
			continue
		}
		if binary.BigEndian.Uint32(body[4:8]) != mediaSSRC {
			continue
		}
		for fci := body[8:]; len(fci) >= 4; fci = fci[4:] {
			dst = append(dst, nackPair{binary.BigEndian.Uint16(fci), binary.BigEndian.Uint16(fci[2:])})
		}
	}
	return dst
}

// upstreamNacks collects the sequence numbers subscribers asked for that
// the packet cache no longer (or never) had, to ask the publisher for
// them. Writers add, the track's feedback loop takes; mu guards both.
// Each number is asked for once: asked remembers the last ones.
type upstreamNacks struct {
	mu      sync.Mutex
	pending []uint16
	asked   [64]uint16
	nasked  int
	last    time.Time
}

// maxPendingNacks bounds what waits for the next upstream NACK; a
// publisher losing more than that within one interval needs a keyframe,
// not retransmissions.
const maxPendingNacks = 64

// nackInterval is the least time between two NACKs to one publisher for
// one track: subscribers' NACKs for one loss arrive together, and one
// upstream NACK covers them all.
const nackInterval = 20 * time.Millisecond

// add notes seq and reports whether it is new.
func (u *upstreamNacks) add(seq uint16) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.asked[:u.nasked] {
		if s == seq {
			return false
		}
	}
	for _, s := range u.pending {
		if s == seq {
			return false
		}
	}
	if len(u.pending) >= maxPendingNacks {
		return false
	}
	u.pending = append(u.pending, seq)
	return true
}

// take returns the numbers to ask for now, or how long to wait before
// asking again.
func (u *upstreamNacks) take(now time.Time) (seqs []uint16, wait time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == 0 {
		return nil, 0
	}
	if el := now.Sub(u.last); !u.last.IsZero() && el < nackInterval {
		return nil, nackInterval - el
	}
	u.last = now
	seqs = append(seqs, u.pending...)
	u.pending = u.pending[:0]
	for _, s := range seqs {
		copy(u.asked[1:], u.asked[:len(u.asked)-1])
		u.asked[0] = s
		u.nasked = min(u.nasked+1, len(u.asked))
	}
	return seqs, 0
}
