package sfu

import (
	"errors"
	"testing"
	"time"

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
