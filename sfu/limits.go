package sfu

import (
	"errors"
	"time"

	"github.com/pion/webrtc/v4"
)

// Limits that keep one participant, or one busy node, from taking the
// SFU down for everybody.
var (
	// ErrServerFull: the SFU forwards Config.MaxSubscriptions already and
	// takes no participant that would add more. The participant is told
	// with an error server_full and goes on without media.
	ErrServerFull = errors.New("sfu: server full")
	// errTooManyTracks: a participant published a second track of a
	// kind; only the first is forwarded.
	errTooManyTracks = errors.New("sfu: one audio and one video track per participant")
	// errSubscriptionCap: a subscription was not added for the
	// MaxSubscriptions cap; the next renegotiation tries again.
	errSubscriptionCap = errors.New("sfu: subscription cap reached")
)

// Defaults of the limits in Config.
const (
	defaultMaxSubscriptions = 2000
	// defaultMaxTrackBitrate is far above a 1080p camera (2.5 Mbit/s)
	// and a screen share: a cap on abuse, not a quality setting.
	defaultMaxTrackBitrate = 8_000_000
	// bitrateBurst is how much of a second's worth of bytes a track may
	// send at once: keyframes arrive as a burst.
	bitrateBurst = time.Second
)

// bitrateLimit is a token bucket in bytes over a track's RTP packets.
// It is plain state owned by the track's reader and costs no allocation.
// A zero rate lets everything through.
type bitrateLimit struct {
	bytesPerSec float64
	tokens      float64
	at          time.Time
}

func newBitrateLimit(bitsPerSec int) bitrateLimit {
	if bitsPerSec <= 0 {
		return bitrateLimit{}
	}
	rate := float64(bitsPerSec) / 8
	return bitrateLimit{bytesPerSec: rate, tokens: rate * bitrateBurst.Seconds()}
}

// allow takes n bytes read at at and reports whether they stay under
// the cap. A packet over it is dropped whole: the subscriber's NACK for
// it goes upstream, as for any packet lost on the way in.
func (l *bitrateLimit) allow(n int, at time.Time) bool {
	if l.bytesPerSec == 0 {
		return true
	}
	burst := l.bytesPerSec * bitrateBurst.Seconds()
	if !l.at.IsZero() {
		if dt := at.Sub(l.at); dt > 0 {
			l.tokens = min(burst, l.tokens+dt.Seconds()*l.bytesPerSec)
		}
	}
	l.at = at
	if l.tokens < float64(n) {
		return false
	}
	l.tokens -= float64(n)
	return true
}

// admitTrack reports whether p may publish one more track of kind: one
// audio and one video at most, as the SFU offers one section of each.
// Extra tracks (more SSRCs in a section) are read by nobody and counted.
func (p *Participant) admitTrack(kind webrtc.RTPCodecType) error {
	for _, t := range p.tracks {
		select {
		case <-t.done:
			continue // ended
		default:
		}
		if t.kind == kind {
			p.sfu.refusedTracks.Add(1)
			return errTooManyTracks
		}
	}
	return nil
}
