package e2e_test

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
)

const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// leveledAudio is an Opus track whose packets carry an RFC 6464 audio
// level, as a browser's microphone track does: pion writes no level of
// its own, so the test writes RTP itself.
type leveledAudio struct {
	track *webrtc.TrackLocalStaticRTP
	level uint8
	stop  chan struct{}
	done  chan struct{}
}

func newLeveledAudio(t *testing.T, name string, level uint8) *leveledAudio {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", name)
	if err != nil {
		t.Fatal(err)
	}
	return &leveledAudio{track: tr, level: level, stop: make(chan struct{}), done: make(chan struct{})}
}

// run sends one 20 ms packet every 20 ms, with the level under the id
// m's sender negotiated for the extension (none until negotiated), until
// the test ends.
func (a *leveledAudio) run(t *testing.T, m *member) {
	t.Cleanup(func() {
		close(a.stop)
		<-a.done
	})
	go func() {
		defer close(a.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		var ts uint32
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
			seq++
			ts += 960
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: []byte{0xf8, 0xff, 0xfe}}
			if id := a.extensionID(m); id != 0 {
				// RFC 6464: V bit set (voice), level in -dBov.
				_ = pkt.Header.SetExtension(id, []byte{0x80 | a.level})
			}
			_ = a.track.WriteRTP(pkt)
		}
	}()
}

func (a *leveledAudio) extensionID(m *member) uint8 {
	for _, s := range m.PeerConnection().GetSenders() {
		if s.Track() != a.track {
			continue
		}
		for _, e := range s.GetParameters().HeaderExtensions {
			if e.URI == audioLevelURI {
				return uint8(e.ID)
			}
		}
	}
	return 0
}

// Three participants talk; one is louder (-10 dBov against -50). Every
// participant, the loud one too, hears from the SFU that it is the
// active speaker.
func TestConferenceActiveSpeaker(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 3, "host", "guest", "guest")
	names := []string{"chair", "cardiology", "radiology"}
	levels := []uint8{50, 10, 50}
	var ms []*member
	for i, name := range names {
		a := newLeveledAudio(t, name, levels[i])
		m := dialMember(t, s, name, room.Participants[i].Token, a.track)
		a.run(t, m)
		ms = append(ms, m)
	}
	loud := ms[1]
	for _, m := range ms {
		waitConferenceEvent(t, m, client.EventSpeaker, loud.Self())
	}
}
