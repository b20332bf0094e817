package sfu

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"
)

// Chat over the size or the rate limit is dropped; the rate refills with
// the (injected) clock.
func TestChatLimits(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s, err := New(Config{SettingEngine: LoopbackSettingEngine(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rm := newRoom(s, "r")
	p := &Participant{sfu: s, room: rm, id: "alice", log: s.log, chatLimit: rate.NewLimiter(1, 2)}
	rm.add(p)

	if err := p.relayChat(make([]byte, MaxChatMessage+1)); !errors.Is(err, errChatLimit) {
		t.Errorf("oversized message: %v, want errChatLimit", err)
	}
	for i := range 2 {
		if err := p.relayChat([]byte("hi")); err != nil {
			t.Errorf("message %d of the burst: %v", i, err)
		}
	}
	if err := p.relayChat([]byte("hi")); !errors.Is(err, errChatLimit) {
		t.Errorf("message over the burst: %v, want errChatLimit", err)
	}
	now = now.Add(time.Second)
	if err := p.relayChat([]byte("hi")); err != nil {
		t.Errorf("a second later: %v", err)
	}
}

// Bob has joined but his chat channel is not open yet (his client has
// not even offered) when Alice writes to the room: her messages are held
// for him, and with those she sends while his channel opens, they all
// reach him once it is open, in order, none dropped.
func TestChatHeldUntilChannelOpens(t *testing.T) {
	verifyNoLeaks(t)
	// Room for a few dozen messages at once; pacing is TestChatLimits'.
	s, err := New(Config{SettingEngine: LoopbackSettingEngine(), ChatRate: 1000, ChatBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	alice, _ := joinPeer(t, s, "room", "alice")
	waitFor(t, 10*time.Second, func() string { return "alice's chat channel " + alice.chat.ReadyState().String() },
		func() bool { return alice.chat.ReadyState() == webrtc.DataChannelStateOpen })

	bob := newTestPeer(t, "bob")
	bobPart, err := s.Join("room", "bob", bob.deliver)
	if err != nil {
		t.Fatal(err)
	}
	bob.toSFU = bobPart.Signal
	bob.run()
	t.Cleanup(bob.close)

	var sent [][]byte
	say := func() {
		t.Helper()
		msg := fmt.Appendf(nil, "Nachricht %d", len(sent)+1)
		if err := alice.chat.Send(msg); err != nil {
			t.Fatalf("alice: send chat: %v", err)
		}
		sent = append(sent, append([]byte("\x05alice"), msg...))
	}
	for range 3 {
		say()
	}
	// The SFU has relayed them to bob's channel, not yet open.
	waitFor(t, 10*time.Second, func() string { return fmt.Sprintf("stats %+v", s.Stats()) }, func() bool {
		return bobPart.heldChat() == 3 || s.Stats().ChatDropped > 0
	})

	bob.offerFirst(t)
	// Alice goes on writing while bob's channel opens, and a little after
	// his end is open: the SFU's end opens about then.
	for extra := 0; extra < 5 && len(sent) < 50; {
		say()
		if bob.chat.ReadyState() == webrtc.DataChannelStateOpen {
			extra++
		}
		time.Sleep(2 * time.Millisecond) // pacing, so that the opening falls among the messages
	}
	waitFor(t, 10*time.Second, func() string {
		return fmt.Sprintf("bob received %d of %d messages; stats %+v", len(bob.received()), len(sent), s.Stats())
	}, func() bool { return len(bob.received()) >= len(sent) || s.Stats().ChatDropped > 0 })
	got := bob.received()
	if len(got) != len(sent) {
		t.Fatalf("bob received %d of %d messages: %q", len(got), len(sent), got)
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("bob's message %d is %q, want %q (in the order sent)", i+1, got[i], sent[i])
		}
	}
	if st := s.Stats(); st.ChatDropped != 0 || st.ChatRelayed != uint64(len(sent)) {
		t.Errorf("stats: %d relayed, %d dropped; want %d relayed, none dropped", st.ChatRelayed, st.ChatDropped, len(sent))
	}
}

// What is held for a receiver whose channel is not open is bounded by
// count and by bytes; the rest, and what is still held when it leaves,
// is dropped and counted.
func TestChatHeldWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, sent int
		wantHeld   int
	}{
		{"by count", 100, maxChatHeld + 10, maxChatHeld},
		{"by bytes", MaxChatMessage, 20, maxChatHeldBytes / MaxChatMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSFU(t)
			p := &Participant{sfu: s, id: "bob", log: s.log}
			for range tc.sent {
				p.deliverChat(make([]byte, tc.size))
			}
			if n, d := p.heldChat(), s.Stats().ChatDropped; n != tc.wantHeld || d != uint64(tc.sent-tc.wantHeld) {
				t.Errorf("%d held, %d dropped; want %d held, %d dropped", n, d, tc.wantHeld, tc.sent-tc.wantHeld)
			}
			p.dropHeldChat()
			p.deliverChat([]byte("nach dem Gehen"))
			if n, d := p.heldChat(), s.Stats().ChatDropped; n != 0 || d != uint64(tc.sent+1) {
				t.Errorf("after leaving: %d held, %d dropped; want none held, all %d dropped", n, d, tc.sent+1)
			}
		})
	}
}
