package e2e_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// A case conference of five: each participant publishes camera and
// microphone (synthetic VP8 and Opus) through the SFU and receives every
// other's. One leaves: the others hear peer-left and its tracks end at
// each of them. It comes back with the same link: everyone receives it
// again, and it receives everyone.
func TestConferenceOfFive(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 5, "host", "guest", "guest", "guest", "guest")
	names := []string{"chair", "cardiology", "radiology", "surgery", "oncology"}
	var ms []*member
	for i, name := range names {
		ms = append(ms, dialMember(t, s, name, room.Participants[i].Token, newSynthetic(t, name).tracks()...))
	}
	receiveFromEachOther(t, ms, ms, 25)

	leaver := ms[4]
	leaverID := leaver.Self()
	leaver.leave()
	stayers := ms[:4]
	for _, m := range stayers {
		waitConferenceEvent(t, m, client.EventPeerLeft, leaverID)
	}
	eventually(t, "every stayer sees both of the leaver's tracks end"+counts(stayers...), func() bool {
		for _, m := range stayers {
			if m.from(leaverID).ended.Load() != 2 {
				return false
			}
		}
		return true
	})

	before := make([]int64, len(stayers))
	for i, m := range stayers {
		before[i] = m.from(leaverID).video.Load()
	}
	back := dialMember(t, s, "oncology again", room.Participants[4].Token, newSynthetic(t, "oncology again").tracks()...)
	if back.Self() != leaverID {
		t.Fatalf("rejoined as %s, want %s", back.Self(), leaverID)
	}
	for _, m := range stayers {
		waitConferenceEvent(t, m, client.EventPeerJoined, leaverID)
	}
	receiveFromEachOther(t, []*member{back}, stayers, 25)
	eventually(t, "every stayer receives the returned participant's video"+counts(stayers...), func() bool {
		for i, m := range stayers {
			if m.from(leaverID).video.Load() < before[i]+25 || m.from(leaverID).audio.Load() < 25 {
				return false
			}
		}
		return true
	})
}

// Two subscribers misbehave: one stops reading the media it receives, and
// one signaling client never reads (nor answers the SFU's offer). The
// other subscribers receive the publisher at the same rate as before.
func TestConferenceStalledSubscribers(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 5, "host", "guest", "guest", "guest", "guest")
	pub := dialMember(t, s, "publisher", room.Participants[0].Token, newSynthetic(t, "publisher").tracks()...)
	a := dialMember(t, s, "a", room.Participants[1].Token)
	b := dialMember(t, s, "b", room.Participants[2].Token)
	slow := dialMember(t, s, "slow", room.Participants[3].Token)
	receiveFromEachOther(t, []*member{a, b, slow}, []*member{pub}, 25)

	rates := func() (float64, float64) {
		ra, rb := make(chan float64), make(chan float64)
		go func() { ra <- videoRate(a, pub.Self(), 2*time.Second) }()
		go func() { rb <- videoRate(b, pub.Self(), 2*time.Second) }()
		return <-ra, <-rb
	}
	a0, b0 := rates()

	slow.stall.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	join, err := client.Join(ctx, nil, s.URL, protocol.JoinRequest{Token: room.Participants[4].Token})
	if err != nil {
		t.Fatal(err)
	}
	mute, err := client.DialSignal(ctx, join.WebSocketURL, join.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()

	a1, b1 := rates()
	t.Logf("video packets/s before and after the stalls: a %.0f -> %.0f, b %.0f -> %.0f", a0, a1, b0, b1)
	if a1 < 0.6*a0 || b1 < 0.6*b0 {
		t.Errorf("healthy subscribers slowed down: a %.0f -> %.0f, b %.0f -> %.0f packets/s", a0, a1, b0, b1)
	}
}

// The conference SDK refuses a peer-to-peer room, as Call refuses a
// conference.
func TestConferenceRefusesConsultation(t *testing.T) {
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 2, "host", "guest")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.DialConference(ctx, s.URL, protocol.JoinRequest{Token: room.Participants[0].Token}, client.ConferenceOptions{LoopbackOnly: true})
	if !errors.Is(err, client.ErrNotConference) {
		t.Errorf("DialConference into a consultation: %v, want ErrNotConference", err)
	}
}
