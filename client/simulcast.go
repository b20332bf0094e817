package client

import (
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// ridTrack sends one simulcast layer (ConferenceOptions.VideoLayers)
// with the MID and RID header extensions on every packet (RFC 8843
// §15, RFC 8852): the SFU learns which section and layer a stream
// belongs to from them, as browsers send them. pion declares the layers
// in the SDP only by RID, without tying RIDs to SSRCs, and writes
// neither extension itself.
//
// It wraps the layer's own track and hands it a write stream that adds
// the two extensions; mid is set once our offer has given the section
// its MID, before the answer binds the track.
type ridTrack struct {
	webrtc.TrackLocal
	mid atomic.Pointer[string]
}

// Bind binds the layer with a write stream that stamps MID and RID.
func (t *ridTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	w := &ridWriter{TrackLocalWriter: ctx.WriteStream(), rid: []byte(t.RID())}
	if mid := t.mid.Load(); mid != nil {
		w.mid = []byte(*mid)
	}
	for _, e := range ctx.HeaderExtensions() {
		switch e.URI {
		case sdp.SDESMidURI:
			w.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			w.ridID = uint8(e.ID)
		}
	}
	return t.TrackLocal.Bind(ridContext{TrackLocalContext: ctx, w: w})
}

// ridContext is the binding context with ridWriter as its write stream.
type ridContext struct {
	webrtc.TrackLocalContext
	w *ridWriter
}

func (c ridContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// ridWriter adds the MID and RID extensions to each packet it writes.
type ridWriter struct {
	webrtc.TrackLocalWriter
	midID, ridID uint8
	mid, rid     []byte
}

func (w *ridWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.midID != 0 && len(w.mid) > 0 {
		if err := h.SetExtension(w.midID, w.mid); err != nil {
			return 0, err
		}
	}
	if w.ridID != 0 {
		if err := h.SetExtension(w.ridID, w.rid); err != nil {
			return 0, err
		}
	}
	return w.TrackLocalWriter.WriteRTP(h, payload)
}
