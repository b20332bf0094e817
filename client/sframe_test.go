package client

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// Radiology publishes its microphone encrypted under the KID of its
// session and reconnects: its new session brings a new KID, chair came
// back meanwhile with a new one, cardiology left and pathology joined.
// A frame written while the tracks switch over still encrypts (under the
// old KID: its key goes only once no track uses it, and the new keys are
// in before any track does); afterwards the track writes under the new
// KID, and the keys of KIDs no longer anyone's are gone. A welcome
// without our KID changes nothing.
func TestRekeyNeverLeavesTracksWithoutKey(t *testing.T) {
	keys, err := e2ee.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := newMediaKeys(keys.Media)
	if err != nil {
		t.Fatal(err)
	}
	mic, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "p-radio")
	if err != nil {
		t.Fatal(err)
	}
	track, err := NewSFrameTrack(mic)
	if err != nil {
		t.Fatal(err)
	}
	c := &Conference{self: "p-radio", log: slog.New(slog.DiscardHandler), media: mk,
		opts: ConferenceOptions{Tracks: []webrtc.TrackLocal{track}}}
	write := func(when string) {
		t.Helper()
		if err := track.WriteSample(media.Sample{Data: []byte{0xfc, 1, 2, 3}, Duration: 20 * time.Millisecond}); err != nil {
			t.Fatalf("write %s: %v", when, err)
		}
	}
	hasKey := func(kid uint64) bool {
		_, err := mk.ctx.Encrypt(nil, kid, nil, []byte("probe"))
		if err != nil && !errors.Is(err, e2ee.ErrUnknownKID) {
			t.Fatalf("encrypt under KID %d: %v", kid, err)
		}
		return err == nil
	}

	first := protocol.Message{Self: &protocol.Peer{ID: "p-radio", KID: 1},
		Peers: []protocol.Peer{{ID: "p-chair", KID: 5}, {ID: "p-cardio", KID: 6}}}
	if err := c.keyMedia(first); err != nil {
		t.Fatal(err)
	}
	write("under the first session's KID")

	next := map[string]uint64{"p-radio": 2, "p-chair": 7, "p-patho": 8}
	err = mk.rekey(next, func() {
		write("while the tracks switch")
		for _, kid := range []uint64{2, 7, 8} {
			if !hasKey(kid) {
				t.Errorf("no key for the new KID %d when the tracks switch", kid)
			}
		}
		track.setKey(mk.ctx, 2)
		write("right after the switch")
	})
	if err != nil {
		t.Fatal(err)
	}
	write("under the new KID")
	for kid, want := range map[uint64]bool{1: false, 2: true, 5: false, 6: false, 7: true, 8: true} {
		if got := hasKey(kid); got != want {
			t.Errorf("key for KID %d: %t, want %t", kid, got, want)
		}
	}
	for id, want := range next {
		if got, _ := mk.kidOf(id); got != want {
			t.Errorf("KID of %s: %d, want %d", id, got, want)
		}
	}
	if _, ok := mk.kidOf("p-cardio"); ok {
		t.Error("cardiology, gone, still has a KID")
	}

	if err := c.keyMedia(protocol.Message{Peers: first.Peers}); !errors.Is(err, ErrNoKID) {
		t.Fatalf("welcome without our KID: %v, want ErrNoKID", err)
	}
	write("after a welcome without our KID")
	if c.KID() != 2 {
		t.Errorf("KID %d after a refused welcome, want 2", c.KID())
	}
}
