package sfu

import (
	"strings"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// DownTrack is one published Track as one subscriber receives it: the
// webrtc.TrackLocal the SFU adds to the subscriber's PeerConnection. pion
// binds it once negotiated, which hands it the SSRC, payload type and
// write stream of that subscriber's sender; packets then come to it from
// the Track through the subscriber's writer, never through a lock shared
// with other subscribers.
//
// Its stream id is the publisher's participant id and its id names the
// kind and the track, so a receiver knows whose media arrives (msid
// "<publisher> <kind>-<n>").
type DownTrack struct {
	track *Track
	sub   *Participant
	id    string

	binding atomic.Pointer[binding]
	// Owned by the subscriber's writer goroutine. started is set after
	// the first packet that really left (DTLS up): that is when a
	// keyframe is worth asking for. rw gives the subscriber one
	// continuous stream.
	started bool
	rw      rewriter
}

// binding is what pion negotiated for the subscriber's sender.
type binding struct {
	ssrc        uint32
	payloadType uint8
	stream      webrtc.TrackLocalWriter
}

func newDownTrack(t *Track, sub *Participant) *DownTrack {
	return &DownTrack{track: t, sub: sub, id: t.id}
}

// Bind is called by pion when the subscriber's answer is applied: the
// track starts receiving packets.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(d.track.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.binding.Store(&binding{
		ssrc:        uint32(ctx.SSRC()),
		payloadType: uint8(codec.PayloadType),
		stream:      ctx.WriteStream(),
	})
	d.track.attach(d)
	return codec, nil
}

// Unbind is called by pion when the sender stops (the track was removed
// or the PeerConnection closed).
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.track.detach(d)
	d.binding.Store(nil)
	return nil
}

// ID is unique within the subscriber's PeerConnection.
func (d *DownTrack) ID() string { return d.id }

// RID is empty: one encoding per down track.
func (d *DownTrack) RID() string { return "" }

// StreamID is the publisher's participant id.
func (d *DownTrack) StreamID() string { return d.track.publisher.id }

// Kind is the published track's kind.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// sent runs on the subscriber's writer goroutine after each packet that
// left.
func (d *DownTrack) sent() {
	if d.started {
		return
	}
	d.started = true
	if d.track.kind == webrtc.RTPCodecTypeVideo {
		// The subscriber can decode nothing until the next keyframe.
		d.track.RequestKeyframe()
	}
}

// matchCodec finds the subscriber's parameters for the publisher's codec:
// same MIME type and clock rate, and for audio the same channels.
func matchCodec(want webrtc.RTPCodecCapability, offered []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	for _, c := range offered {
		if !strings.EqualFold(c.MimeType, want.MimeType) || c.ClockRate != want.ClockRate {
			continue
		}
		if want.Channels != 0 && c.Channels != 0 && want.Channels != c.Channels {
			continue
		}
		return c, true
	}
	return webrtc.RTPCodecParameters{}, false
}
