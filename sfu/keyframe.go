package sfu

import (
	"time"
)

// throttle paces keyframe requests to one publisher track: at most one
// per interval. A request inside the interval is remembered and becomes
// due when the interval ends, so a subscriber that joins just after
// another still gets its keyframe, only a little later. It is plain state
// owned by one goroutine; time is passed in.
type throttle struct {
	interval time.Duration
	last     time.Time // when the last PLI went out; zero: never
	pending  bool
}

// request notes a request at now. send says a PLI goes out now; otherwise
// wait is how long until due should be asked.
func (th *throttle) request(now time.Time) (send bool, wait time.Duration) {
	if th.last.IsZero() || now.Sub(th.last) >= th.interval {
		th.last, th.pending = now, false
		return true, 0
	}
	th.pending = true
	return false, th.interval - now.Sub(th.last)
}

// due is asked when a wait has passed: send says the remembered request
// goes out now; wait > 0 says to ask again later.
func (th *throttle) due(now time.Time) (send bool, wait time.Duration) {
	if !th.pending {
		return false, 0
	}
	if elapsed := now.Sub(th.last); elapsed < th.interval {
		return false, th.interval - elapsed
	}
	th.last, th.pending = now, false
	return true, 0
}

// vp8Keyframe tells whether an RTP packet of a VP8 track starts a
// keyframe. It reads the VP8 payload descriptor (RFC 7741 §4.2) and the
// first byte of the frame, the frame tag (RFC 6386 §9.1), whose inverted
// key-frame bit is bit 0. With end-to-end encryption that byte is part of
// the SFrame clear prefix (docs/SECURITY.md): the SFU reads nothing of
// the frame beyond it, and nothing here depends on whether the frame is
// encrypted. It allocates nothing; a malformed payload is no keyframe.
func vp8Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	d := payload[0]
	// S: start of a partition; PID (low 3 bits): partition 0. Only the
	// first packet of a frame carries the frame tag.
	if d&0x10 == 0 || d&0x07 != 0 {
		return false
	}
	i := 1
	if d&0x80 != 0 { // X: an extension byte follows
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		i++
		if x&0x80 != 0 { // I: PictureID, 7 or 15 bits
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(payload) > i && payload[i]&0x01 == 0
}
