package sfu

import "time"

// rewriter maps the sequence numbers and timestamps of the source a down
// track follows onto the one stream its subscriber receives. The
// subscriber's decoder and jitter buffer expect one SSRC whose sequence
// numbers and timestamps run on without jumps; the source may change
// under it (a publisher's new SSRC after an ICE restart, a simulcast
// layer switch), so the rewriter keeps offsets and moves them at each
// change so the output continues where it left off.
//
// All arithmetic is modulo 2^16 (sequence numbers) and 2^32
// (timestamps): wrap-around needs no special case. "Newer" is the RFC
// 3550 §A.1 rule, a forward distance below half the range.
//
// It is plain state owned by the subscriber's writer goroutine, which
// both forwards and retransmits.
type rewriter struct {
	started   bool
	ssrc      uint32 // the source followed now
	seqOffset uint16
	tsOffset  uint32
	// The newest outgoing packet: where the next source continues.
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	// firstSeq is the oldest outgoing sequence number that maps to the
	// current source: NACKs for older ones name packets of an earlier
	// source (or older than any cache holds).
	firstSeq uint16
	// prev is the source before the last switch, so that a NACK for one
	// of its last packets, sent just before the switch, is still
	// answered from its layer's cache.
	prev    sourceMap
	hasPrev bool
	// resume makes the next packet start its source anew even if it is
	// the one followed already (a layer resumed after a pause).
	resume bool
}

// sourceMap is how one earlier source's packets were numbered: outgoing
// sequence numbers first..last, with these offsets.
type sourceMap struct {
	seqOffset   uint16
	tsOffset    uint32
	first, last uint16
}

// maxNackAge bounds how far back source maps sequence numbers, well
// beyond the packet cache, and keeps firstSeq within half the sequence
// space of lastSeq so that the "newer" test stays meaningful.
const maxNackAge = 0x4000

// rewrite returns the outgoing sequence number and timestamp of a packet
// of source ssrc that arrived at at. A packet of another source than the
// last one starts that source right after the newest packet sent; its
// timestamp advances by the wall time between them (at least one tick)
// in clockRate units.
func (r *rewriter) rewrite(ssrc uint32, seq uint16, ts uint32, at time.Time, clockRate uint32) (uint16, uint32) {
	switch {
	case !r.started:
		r.started, r.ssrc = true, ssrc
		r.lastSeq, r.lastTS, r.lastAt, r.firstSeq = seq, ts, at, seq
		return seq, ts
	case ssrc != r.ssrc || r.resume:
		r.resume = false
		r.switchTo(ssrc, seq, ts, at, clockRate)
	}
	outSeq, outTS := seq+r.seqOffset, ts+r.tsOffset
	if newer(outSeq, r.lastSeq) {
		r.lastSeq, r.lastTS, r.lastAt = outSeq, outTS, at
		if r.lastSeq-r.firstSeq > maxNackAge {
			r.firstSeq = r.lastSeq - maxNackAge
		}
	}
	return outSeq, outTS
}

func (r *rewriter) switchTo(ssrc uint32, seq uint16, ts uint32, at time.Time, clockRate uint32) {
	gap := uint32(1)
	if el := at.Sub(r.lastAt); el > 0 && clockRate > 0 {
		if g := uint32(min(el, time.Minute).Seconds() * float64(clockRate)); g > 0 {
			gap = g
		}
	}
	r.prev = sourceMap{seqOffset: r.seqOffset, tsOffset: r.tsOffset, first: r.firstSeq, last: r.lastSeq}
	r.hasPrev = true
	r.ssrc = ssrc
	r.seqOffset = r.lastSeq + 1 - seq
	r.tsOffset = r.lastTS + gap - ts
	r.firstSeq = r.lastSeq + 1
}

// restart makes the next packet continue the output right after the
// newest one sent, as a switch does, though it comes from the source
// followed already: a layer resumed after a pause must not show the
// packets it skipped as a gap.
func (r *rewriter) restart() { r.resume = r.started }

// source maps an outgoing sequence number (from a subscriber's NACK) back
// to the current source's; ok is false for numbers not sent yet or sent
// for an earlier source.
func (r *rewriter) source(out uint16) (seq uint16, ok bool) {
	if !r.started || newer(r.firstSeq, out) || newer(out, r.lastSeq) {
		return 0, false
	}
	return out - r.seqOffset, true
}

// timestamp maps a timestamp of the current source, for a retransmitted
// packet.
func (r *rewriter) timestamp(ts uint32) uint32 { return ts + r.tsOffset }

// previous maps an outgoing sequence number back to the source before
// the last switch, as source does for the current one.
func (r *rewriter) previous(out uint16) (seq uint16, ok bool) {
	p := &r.prev
	if !r.hasPrev || r.lastSeq-p.last > maxNackAge || newer(p.first, out) || newer(out, p.last) {
		return 0, false
	}
	return out - p.seqOffset, true
}

// previousTimestamp maps a timestamp of the source before the switch.
func (r *rewriter) previousTimestamp(ts uint32) uint32 { return ts + r.prev.tsOffset }

// stale tells whether a packet of the current source comes before the
// first one sent of it: after a switch to a layer, packets of that layer
// older than the keyframe the switch happened at would land on sequence
// numbers already used for the layer before.
func (r *rewriter) stale(ssrc uint32, seq uint16) bool {
	return r.started && ssrc == r.ssrc && newer(r.firstSeq, seq+r.seqOffset)
}

// newer tells whether sequence number a comes after b (RFC 3550 §A.1).
func newer(a, b uint16) bool { return a != b && a-b < 0x8000 }
