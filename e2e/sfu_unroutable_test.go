package e2e_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// stripExtensions is a publisher's uplink that removes every RTP header
// extension from its video: what a pion client sends that does not stamp
// MID and RID on its simulcast layers.
type stripExtensions struct{ interceptor.NoOp }

func (s *stripExtensions) NewInterceptor(string) (interceptor.Interceptor, error) { return s, nil }

func (*stripExtensions) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		h.Extension, h.Extensions, h.ExtensionProfile = false, nil, 0
		return w.Write(h, payload, a)
	})
}

// A simulcast publisher whose packets carry no MID or RID header
// extension cannot be routed: the SFU tells it so with unroutable_media
// instead of dropping its video in silence (audit finding 7), and its
// audio, which a=ssrc declares, still flows.
func TestConferenceSimulcastWithoutExtensionsIsRefused(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 3, "host", "guest")
	secret := roomSecret(t)
	src := newSimulcastPublisher(t, "pub")
	pub := dialMemberWith(t, s, "pub", room.Participants[0].Token, func(o *client.ConferenceOptions) {
		o.RoomSecret = secret
		o.VideoLayers = src.tracks()
		o.Tracks = []webrtc.TrackLocal{src.audio}
		o.Interceptors = append(o.Interceptors, &stripExtensions{})
	})
	sub := dialMemberWith(t, s, "sub", room.Participants[1].Token, func(o *client.ConferenceOptions) { o.RoomSecret = secret })

	deadline := time.After(20 * time.Second)
	var seen []string
	for done := false; !done; {
		select {
		case e := <-pub.Events():
			var se *client.SignalError
			if e.Type == client.EventError && errors.As(e.Err, &se) && se.Code == protocol.CodeUnroutableMedia {
				done = true
				break
			}
			seen = append(seen, string(e.Type))
		case <-deadline:
			t.Fatalf("no %s error for a simulcast stream without MID/RID; events: %v", protocol.CodeUnroutableMedia, seen)
		}
	}
	for end := time.Now().Add(10 * time.Second); sub.from(pub.Self()).audio.Load() < 10; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the publisher's audio did not arrive: %d packets", sub.from(pub.Self()).audio.Load())
		}
	}
	if n := sub.from(pub.Self()).video.Load(); n != 0 {
		t.Errorf("subscriber got %d video packets of an unroutable stream", n)
	}
}
