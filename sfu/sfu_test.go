package sfu

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/protocol"
)

// verifyNoLeaks checks, once everything the test started has stopped,
// that no goroutine outlives it. Registered first, the cleanup runs last.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

func newTestSFU(tb testing.TB) *SFU {
	tb.Helper()
	s, err := New(Config{SettingEngine: LoopbackSettingEngine()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Three participants publish audio and video; each receives both kinds
// from the two others, and the publishers are asked for keyframes when
// subscribers start. One leaves: the others' tracks from it end. It comes
// back under the same id and everyone receives it again.
func TestThreeParticipantsForwardLeaveAndReturn(t *testing.T) {
	verifyNoLeaks(t)
	s := newTestSFU(t)
	ids := []string{"alice", "bob", "carol"}
	var peers []*testPeer
	var parts []*Participant
	for _, id := range ids {
		p, part := joinPeer(t, s, "room1", id, newSource(t, id).tracks()...)
		peers = append(peers, p)
		parts = append(parts, part)
	}
	receivesAll := func(peers []*testPeer, from []string, min int64) {
		t.Helper()
		waitFor(t, 15*time.Second, func() string { return describeCounts(peers) }, func() bool {
			for _, p := range peers {
				for _, id := range from {
					if id == p.name {
						continue
					}
					if p.count(id, webrtc.RTPCodecTypeVideo) < min || p.count(id, webrtc.RTPCodecTypeAudio) < min {
						return false
					}
				}
			}
			return true
		})
	}
	receivesAll(peers, ids, 25)
	for _, p := range peers {
		if p.plis.Load() == 0 {
			t.Errorf("%s was never asked for a keyframe", p.name)
		}
	}
	if st := s.Stats(); st.Participants != 3 || st.Tracks != 6 || st.Forwarded == 0 {
		t.Errorf("stats %+v, want 3 participants, 6 tracks, packets forwarded", st)
	}

	// carol leaves: alice and bob see both of her tracks end.
	parts[2].Leave()
	peers[2].close()
	waitFor(t, 10*time.Second, func() string {
		return fmt.Sprintf("ended tracks from carol: alice %d, bob %d", peers[0].endedTracks("carol"), peers[1].endedTracks("carol"))
	}, func() bool { return peers[0].endedTracks("carol") == 2 && peers[1].endedTracks("carol") == 2 })

	// She comes back under the same id with a new PeerConnection.
	before := peers[0].count("carol", webrtc.RTPCodecTypeVideo)
	back, _ := joinPeer(t, s, "room1", "carol", newSource(t, "carol-2").tracks()...)
	receivesAll([]*testPeer{back}, ids, 25)
	waitFor(t, 10*time.Second, func() string { return describeCounts(peers[:2]) }, func() bool {
		return peers[0].count("carol", webrtc.RTPCodecTypeVideo) > before+25 && peers[1].count("carol", webrtc.RTPCodecTypeAudio) > 25
	})
}

// A subscriber that stops reading, and one that never answers the SFU's
// offer, change nothing for the others.
func TestStalledSubscribersDoNotSlowOthers(t *testing.T) {
	verifyNoLeaks(t)
	s := newTestSFU(t)
	pub, _ := joinPeer(t, s, "room2", "pub", newSource(t, "pub").tracks()...)
	fast, _ := joinPeer(t, s, "room2", "fast")
	slow, _ := joinPeer(t, s, "room2", "slow")
	_ = pub
	waitFor(t, 15*time.Second, func() string { return describeCounts([]*testPeer{fast, slow}) }, func() bool {
		return fast.count("pub", webrtc.RTPCodecTypeVideo) > 25 && slow.count("pub", webrtc.RTPCodecTypeVideo) > 25
	})
	rate := func(p *testPeer) float64 {
		n0 := p.count("pub", webrtc.RTPCodecTypeVideo)
		time.Sleep(time.Second)
		return float64(p.count("pub", webrtc.RTPCodecTypeVideo) - n0)
	}
	r0 := rate(fast)

	slow.stopRd.Store(true)
	// A participant whose client never answers: its offer stays out.
	part, err := s.Join("room2", "mute", func(protocol.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	defer part.Leave()
	r1 := rate(fast)
	if r1 < 0.6*r0 {
		t.Errorf("fast subscriber's video rate fell from %.0f to %.0f packets/s", r0, r1)
	}
}

// A closed SFU takes no one, and leaves nothing running.
func TestJoinAfterClose(t *testing.T) {
	verifyNoLeaks(t)
	s, err := New(Config{SettingEngine: LoopbackSettingEngine()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Join("r", "late", func(protocol.Message) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
}
