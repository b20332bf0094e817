package sfu

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/protocol"
)

func TestBitrateLimit(t *testing.T) {
	tests := []struct {
		name    string
		bits    int
		every   time.Duration // one packet of size each
		size    int
		for_    time.Duration
		dropMin int
		dropMax int
	}{
		{"no cap", 0, time.Millisecond, 1200, 5 * time.Second, 0, 0},
		// 2000 B/ms is 16 Mbit/s, twice the cap: of 10 MB in 5 s, the
		// cap lets 5 MB through plus the one-second burst of 1 MB.
		{"over the cap", 8_000_000, time.Millisecond, 2000, 5 * time.Second, 1990, 2010},
		{"under the cap", 8_000_000, time.Millisecond, 900, 5 * time.Second, 0, 0},
		{"a burst within a second's worth", 1_000_000, 0, 1000, 100 * time.Millisecond, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newBitrateLimit(tt.bits)
			at := time.Unix(1000, 0)
			dropped := 0
			n := 125
			if tt.every > 0 {
				n = int(tt.for_ / tt.every)
			}
			for range n {
				if !l.allow(tt.size, at) {
					dropped++
				}
				at = at.Add(tt.every)
			}
			if dropped < tt.dropMin || dropped > tt.dropMax {
				t.Errorf("dropped %d of %d packets, want %d..%d", dropped, n, tt.dropMin, tt.dropMax)
			}
		})
	}
}

// One audio and one video track per participant; an ended track frees
// its kind.
func TestAdmitTrack(t *testing.T) {
	s := &SFU{}
	p := &Participant{sfu: s}
	live := func(kind webrtc.RTPCodecType) *Track { return &Track{kind: kind, done: make(chan struct{})} }
	if err := p.admitTrack(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	audio := live(webrtc.RTPCodecTypeAudio)
	p.tracks = append(p.tracks, audio, live(webrtc.RTPCodecTypeVideo))
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := p.admitTrack(kind); !errors.Is(err, errTooManyTracks) {
			t.Errorf("second %s track: %v, want errTooManyTracks", kind, err)
		}
	}
	if n := s.refusedTracks.Load(); n != 2 {
		t.Errorf("refused %d tracks, want 2", n)
	}
	close(audio.done)
	if err := p.admitTrack(webrtc.RTPCodecTypeAudio); err != nil {
		t.Errorf("audio after the first ended: %v", err)
	}
}

// A join that could take the SFU over MaxSubscriptions is refused with
// server_full; the room and its members are unchanged.
func TestJoinOverSubscriptionCap(t *testing.T) {
	verifyNoLeaks(t)
	// Two publishers of audio and video cost 2*2 subscriptions at most
	// (the second receives 2, the first 2 of it); a third would add 4+4.
	s, err := New(Config{SettingEngine: LoopbackSettingEngine(), MaxSubscriptions: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := newSource(t, "a"), newSource(t, "b")
	pa, _ := joinPeer(t, s, "room", "a", a.tracks()...)
	pb, _ := joinPeer(t, s, "room", "b", b.tracks()...)
	waitFor(t, 10*time.Second, func() string { return describeCounts([]*testPeer{pa, pb}) }, func() bool {
		return pa.count("b", webrtc.RTPCodecTypeVideo) > 5 && pb.count("a", webrtc.RTPCodecTypeVideo) > 5
	})
	if n := s.Stats().Subscriptions; n != 4 {
		t.Errorf("%d subscriptions, want 4", n)
	}
	var got []protocol.Message
	_, err = s.Join("room", "c", func(m protocol.Message) { got = append(got, m) })
	if !errors.Is(err, ErrServerFull) {
		t.Fatalf("third join: %v, want ErrServerFull", err)
	}
	if len(got) != 1 || got[0].Type != protocol.TypeError || got[0].Error.Code != protocol.CodeServerFull {
		t.Errorf("the refused participant was sent %+v, want one error server_full", got)
	}
	if st := s.Stats(); st.Participants != 2 {
		t.Errorf("%d participants after the refusal, want 2", st.Participants)
	}
	// Another room is no different: the cap is the server's.
	if _, err := s.Join("other", "d", func(protocol.Message) {}); err != nil {
		t.Errorf("first in an empty room costs nothing: %v", err)
	}
}
