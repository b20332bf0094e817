package e2e_test

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// A simulcast publisher hears of the SFU's keyframe requests through
// OnKeyframeRequest: a subscriber that joins needs a keyframe of the
// layer it is given, the SFU sends a PLI on that layer's SSRC, and the
// SDK names the layer (its RID) and hands back the very track the
// publisher gave for it. (The bench's publisher answers such a request
// with a keyframe: bench.TestPublisherAnswersKeyframeRequests.)
func TestConferenceKeyframeRequestReachesPublisher(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 3, "host", "guest", "guest")
	secret := roomSecret(t)
	layers := newSimulcastPublisher(t, "pub").tracks()
	type request struct {
		track webrtc.TrackLocal
		rid   string
	}
	requests := make(chan request, 64)
	pub := dialMemberWith(t, s, "pub", room.Participants[0].Token, func(o *client.ConferenceOptions) {
		o.RoomSecret = secret
		o.VideoLayers = layers
		o.OnKeyframeRequest = func(tr webrtc.TrackLocal, rid string) {
			select {
			case requests <- request{tr, rid}:
			default: // the test has seen enough
			}
		}
	})
	sub := dialLayerWatcher(t, s, "sub", room.Participants[1].Token, secret)
	if err := sub.SetViews([]protocol.View{{Peer: pub.Self(), Width: 1280, Height: 720}}); err != nil {
		t.Fatal(err)
	}
	// Bounded wait for the first request; it carries no timing claim.
	deadline := time.After(20 * time.Second)
	select {
	case r := <-requests:
		var layer webrtc.TrackLocal
		for _, l := range layers {
			if l.RID() == r.rid {
				layer = l
			}
		}
		if layer == nil || r.track != layer {
			t.Fatalf("keyframe request for RID %q with track %v: not one of the published layers", r.rid, r.track)
		}
		t.Logf("keyframe request for layer %s", r.rid)
	case <-deadline:
		t.Fatal("no keyframe request reached the publisher after a subscriber joined")
	}
}
