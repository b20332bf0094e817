package signaling_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/signaling"
)

// fakeSFU records what the hub tells it and offers at once on Join, as
// the SFU does.
type fakeSFU struct {
	mu       sync.Mutex
	sessions []*fakeMedia
}

type fakeMedia struct {
	participant string
	send        func(protocol.Message)
	got         chan protocol.Message
	left        chan struct{}
	leaveOnce   sync.Once
}

func (f *fakeSFU) Join(room, participant string, send func(protocol.Message)) (signaling.MediaSession, error) {
	m := &fakeMedia{participant: participant, send: send, got: make(chan protocol.Message, 16), left: make(chan struct{})}
	f.mu.Lock()
	f.sessions = append(f.sessions, m)
	n := len(f.sessions)
	f.mu.Unlock()
	// From is set by the hub, whatever the router says.
	send(protocol.Message{Type: protocol.TypeOffer, From: "spoofed", SDP: "v=0 offer " + strings.Repeat("x", n)})
	return m, nil
}

func (f *fakeSFU) session(t *testing.T, i int) *fakeMedia {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		if i < len(f.sessions) {
			m := f.sessions[i]
			f.mu.Unlock()
			return m
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no media session %d joined", i)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (m *fakeMedia) Signal(msg protocol.Message) { m.got <- msg }
func (m *fakeMedia) Leave()                      { m.leaveOnce.Do(func() { close(m.left) }) }

func (m *fakeMedia) waitLeft(t *testing.T) {
	t.Helper()
	select {
	case <-m.left:
	case <-time.After(5 * time.Second):
		t.Fatalf("media of %s never left", m.participant)
	}
}

// newMediaHub serves a hub whose tokens are "<room>/<participant>/<mode>".
func newMediaHub(t *testing.T, media signaling.MediaRouter) string {
	t.Helper()
	hub := signaling.New(signaling.Config{
		Media: media,
		Admit: func(_ context.Context, token string) (signaling.Admission, error) {
			f := strings.Split(token, "/")
			return signaling.Admission{RoomID: f[0], ParticipantID: f[1], Mode: f[2], Role: "guest",
				Capacity: 5, WindowEnd: time.Now().Add(time.Hour)}, nil
		},
	})
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hub.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func helloAs(t *testing.T, url, token string) *wsClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn}
	c.hello(token)
	c.expect(protocol.TypeWelcome)
	return c
}

// In a conference room the SFU offers right after the welcome, from "sfu";
// the client's answers and candidates to "sfu" reach it, and nothing else
// does; when the session ends its media leaves.
func TestConferenceSessionTalksToTheSFU(t *testing.T) {
	sfu := &fakeSFU{}
	url := newMediaHub(t, sfu)
	c := helloAs(t, url, "r1/alice/sfu")
	if m := c.expect(protocol.TypeOffer); m.From != signaling.SFUPeer || !strings.HasPrefix(m.SDP, "v=0 offer") {
		t.Errorf("offer from %q: %q", m.From, m.SDP)
	}
	media := sfu.session(t, 0)
	if media.participant != "alice" {
		t.Errorf("joined %q", media.participant)
	}

	c.send(protocol.Message{Type: protocol.TypeAnswer, To: signaling.SFUPeer, SDP: "v=0 answer"})
	mid := "0"
	c.send(protocol.Message{Type: protocol.TypeCandidate, To: signaling.SFUPeer, Candidate: &protocol.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMid: &mid}})
	for _, want := range []string{protocol.TypeAnswer, protocol.TypeCandidate} {
		select {
		case m := <-media.got:
			if m.Type != want || m.From != "" || m.To != "" {
				t.Errorf("SFU got %+v, want a bare %s", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("SFU never got the %s", want)
		}
	}
	c.send(protocol.Message{Type: protocol.TypeMeta, To: signaling.SFUPeer, Data: "x"})
	c.expectError(protocol.CodeInvalid)
	// Offers and views reach the SFU too: it answers the client's first
	// offer and refuses later ones itself.
	c.send(protocol.Message{Type: protocol.TypeOffer, To: signaling.SFUPeer, SDP: "v=0 client offer"})
	c.send(protocol.Message{Type: protocol.TypeView, To: signaling.SFUPeer, Views: []protocol.View{{Peer: "bob", Width: 320, Height: 180}}})
	for _, want := range []string{protocol.TypeOffer, protocol.TypeView} {
		select {
		case m := <-media.got:
			if m.Type != want || m.From != "" || m.To != "" {
				t.Errorf("SFU got %+v, want a bare %s", m, want)
			}
			if want == protocol.TypeView && (len(m.Views) != 1 || m.Views[0].Peer != "bob") {
				t.Errorf("SFU got views %+v", m.Views)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("SFU never got the %s", want)
		}
	}

	media.send(protocol.Message{Type: protocol.TypeCandidate, Candidate: &protocol.Candidate{Candidate: "candidate:2 1 udp 1 127.0.0.1 10 typ host"}})
	if m := c.expect(protocol.TypeCandidate); m.From != signaling.SFUPeer {
		t.Errorf("candidate from %q", m.From)
	}

	c.send(protocol.Message{Type: protocol.TypeBye})
	media.waitLeft(t)
}

// A participant connecting again gets fresh media (a new join, a new
// offer); the replaced session's media leaves.
func TestConferenceReconnectJoinsAgain(t *testing.T) {
	sfu := &fakeSFU{}
	url := newMediaHub(t, sfu)
	first := helloAs(t, url, "r1/alice/sfu")
	first.expect(protocol.TypeOffer)
	second := helloAs(t, url, "r1/alice/sfu")
	if m := second.expect(protocol.TypeOffer); m.SDP != "v=0 offer xx" {
		t.Errorf("second session's offer %q, want the second join's", m.SDP)
	}
	sfu.session(t, 0).waitLeft(t)
	select {
	case <-sfu.session(t, 1).left:
		t.Error("the new session's media left")
	case <-time.After(100 * time.Millisecond):
	}
}

// Without an SFU for the room (a consultation), "sfu" is nobody.
func TestSFUPeerOnlyInConferences(t *testing.T) {
	sfu := &fakeSFU{}
	url := newMediaHub(t, sfu)
	c := helloAs(t, url, "r2/bob/p2p")
	c.send(protocol.Message{Type: protocol.TypeAnswer, To: signaling.SFUPeer, SDP: "v=0"})
	c.expectError(protocol.CodeUnknownPeer)
	c.send(protocol.Message{Type: protocol.TypeView, To: signaling.SFUPeer, Views: []protocol.View{{Peer: "x"}}})
	c.expectError(protocol.CodeUnknownPeer)
	sfu.mu.Lock()
	defer sfu.mu.Unlock()
	if len(sfu.sessions) != 0 {
		t.Errorf("a consultation joined the SFU")
	}
}
