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

	// Layer selection (simulcast.go). target is the layer the
	// subscriber's selector wants (layerNone: pause); current the layer
	// the track's readers forward to it. A reader moves current to
	// target at a keyframe of the target layer, with one compare-and-swap,
	// so two readers never both forward; the writer follows at the packet
	// marked as the switch.
	target, current atomic.Int32
	// switches counts layer switches (the SFU's total).
	switches *atomic.Uint64
	// squeeze holds this source back from a layer that did not fit the
	// subscriber's budget; owned by the subscriber's loop (selectLayers).
	squeeze squeeze

	// Owned by the subscriber's writer goroutine. started is set after
	// the first packet that really left (DTLS up): that is when a
	// keyframe is worth asking for. rw gives the subscriber one
	// continuous stream; wlayer is the layer it carries now and
	// prevLayer the one before the last switch (for NACKs).
	started           bool
	rw                rewriter
	wlayer, prevLayer int8
}

// binding is what pion negotiated for the subscriber's sender.
type binding struct {
	ssrc        uint32
	payloadType uint8
	stream      webrtc.TrackLocalWriter
	// twccID is the negotiated id of the transport-wide sequence number
	// extension (0: none), which the writer stamps on every packet for
	// the subscriber's bandwidth estimate.
	twccID uint8
}

func newDownTrack(t *Track, sub *Participant) *DownTrack {
	d := &DownTrack{track: t, sub: sub, id: t.id, wlayer: layerNone, prevLayer: layerNone}
	if sub != nil && sub.sfu != nil {
		d.switches = &sub.sfu.layerSwitches
	}
	if t.kind == webrtc.RTPCodecTypeVideo {
		// Nothing until the selector has chosen and a keyframe came.
		d.target.Store(layerNone)
		d.current.Store(layerNone)
	} else {
		// Audio has one layer and needs no keyframe.
		d.wlayer = 0
	}
	return d
}

// accept runs on the reader of layer l for each packet, keyframe telling
// whether it starts a keyframe: take says to queue it for d, and from is
// the layer d followed before (from != l: the packet is where d switches
// to l). It takes no lock: two atomic loads, and a compare-and-swap at a
// switch.
func (d *DownTrack) accept(l int8, keyframe bool) (take bool, from int8) {
	cur := int8(d.current.Load())
	tgt := int8(d.target.Load())
	if tgt == layerNone {
		if cur != layerNone {
			// Paused: stop at once, a keyframe starts it again.
			d.current.CompareAndSwap(int32(cur), layerNone)
		}
		return false, cur
	}
	if cur == l {
		return true, l
	}
	if l == tgt && keyframe && d.current.CompareAndSwap(int32(cur), int32(l)) {
		return true, cur
	}
	return false, cur
}

// setTarget makes d move to layer l (layerNone: pause) at l's next
// keyframe, and asks the publisher for one. It reports whether the
// target changed.
func (d *DownTrack) setTarget(l int) bool {
	old := d.target.Swap(int32(l))
	if l != layerNone && int32(l) != d.current.Load() {
		d.track.RequestKeyframe(int8(l))
	}
	return old != int32(l)
}

// follow runs on the writer for every packet taken: it reports whether
// to send it, moving the writer to the packet's layer at the packet
// marked as the switch and dropping what an old layer still had queued.
func (d *DownTrack) follow(pkt *packet, switching bool) bool {
	l := pkt.layer
	switch {
	case !switching && l != d.wlayer:
		return false
	case switching && l == d.wlayer:
		// Back on the layer it was paused on: the packets skipped
		// meanwhile must not show as a gap.
		d.prevLayer = l
		d.rw.restart()
	case switching:
		if d.wlayer != layerNone {
			d.prevLayer = d.wlayer
			if d.switches != nil {
				d.switches.Add(1)
			}
		}
		d.wlayer = l
	}
	return !d.rw.stale(pkt.hdr.SSRC, pkt.hdr.SequenceNumber)
}

// Bind is called by pion when the subscriber's answer is applied: the
// track starts receiving packets.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(d.track.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	var twccID uint8
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == transportCCURI {
			twccID = uint8(e.ID)
		}
	}
	d.binding.Store(&binding{
		ssrc:        uint32(ctx.SSRC()),
		payloadType: uint8(codec.PayloadType),
		stream:      ctx.WriteStream(),
		twccID:      twccID,
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
		// The keyframe we switched at may have been dropped before DTLS
		// was up: the subscriber can decode nothing until the next.
		d.track.RequestKeyframe(d.wlayer)
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
