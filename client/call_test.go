package client

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/protocol"
)

// These tests need a server that misbehaves (see fakeServer): a lost
// offer, a silently dropped session, a refusal after a granted join.
// Everything else a Call does is tested against the real server, with real
// peers, in package e2e (e2e/p2p_test.go, e2e/call_test.go).

// party is one SDK participant in a test, with what it received.
type party struct {
	*Call
	chat chan string
	rtp  chan string // kind of every received RTP packet
}

func dialParty(t *testing.T, fs *fakeServer, link string, tracks ...webrtc.TrackLocal) *party {
	t.Helper()
	p := &party{chat: make(chan string, 16), rtp: make(chan string, 256)}
	opts := Options{
		HTTPClient:   fs.srv.Client(),
		Tracks:       tracks,
		LoopbackOnly: true,
		OnChat:       func(b []byte) { p.chat <- string(b) },
		OnTrack: func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				select {
				case p.rtp <- tr.Kind().String():
				default:
				}
			}
		},
	}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("who", link)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, fs.URL(), protocol.JoinRequest{Token: link}, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", link, err)
	}
	p.Call = c
	return p
}

func (p *party) waitConnected(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatalf("%s: %v", p.Self(), err)
	}
}

// waitEvent reads events until one of type typ arrives.
func (p *party) waitEvent(t *testing.T, typ EventType) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []EventType
	for {
		select {
		case e := <-p.Events():
			if e.Type == typ {
				return e
			}
			seen = append(seen, e.Type)
		case <-deadline:
			t.Fatalf("%s: no %s event; saw %v", p.Self(), typ, seen)
		}
	}
}

// chatsWith checks that a chat message goes from p to q.
func (p *party) chatsWith(t *testing.T, q *party, text string) {
	t.Helper()
	if err := p.SendChat([]byte(text)); err != nil {
		t.Fatalf("SendChat: %v", err)
	}
	select {
	case got := <-q.chat:
		if got != text {
			t.Fatalf("chat = %q, want %q", got, text)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("chat %q did not arrive", text)
	}
}

// receives waits for RTP of the given kind.
func (p *party) receives(t *testing.T, kind string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case k := <-p.rtp:
			if k == kind {
				return
			}
		case <-deadline:
			t.Fatalf("%s received no %s RTP", p.Self(), kind)
		}
	}
}

// drainRTP forgets what arrived so far.
func (p *party) drainRTP() {
	for {
		select {
		case <-p.rtp:
		default:
			return
		}
	}
}

func remoteUfrag(c *Call) string {
	d := c.PeerConnection().CurrentRemoteDescription()
	if d == nil {
		return ""
	}
	for line := range strings.Lines(d.SDP) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// synthetic sends a fake VP8 and Opus frame every 20 ms until stop. The
// payloaders do not look inside, and the receiver only counts packets.
type synthetic struct {
	video, audio *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	wg           sync.WaitGroup
}

func newSynthetic(t *testing.T) *synthetic {
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "s")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "s")
	if err != nil {
		t.Fatal(err)
	}
	s := &synthetic{video: video, audio: audio, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		frame := make([]byte, 200)
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				video.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
				audio.WriteSample(media.Sample{Data: frame[:60], Duration: 20 * time.Millisecond})
			}
		}
	}()
	return s
}

func (s *synthetic) close() { close(s.stop); s.wg.Wait() }

// The guest's signaling dies without a word (a network failure) while
// media goes on; it notices, reconnects, and ICE restarts over the new
// session on the same PeerConnection.
func TestCallSignalLostThenReconnect(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeServer()
	defer fs.close()
	media := newSynthetic(t)
	defer media.close()
	host := dialParty(t, fs, "host-link", media.audio)
	defer host.Close()
	guest := dialParty(t, fs, "guest-link", media.video)
	defer guest.Close()
	host.waitConnected(t)
	guest.waitConnected(t)
	pc := guest.PeerConnection()

	ufrag := remoteUfrag(host.Call)
	fs.drop("p-guest")
	if e := guest.waitEvent(t, EventSignalLost); e.Err == nil {
		t.Error("signal-lost without a reason")
	}
	host.waitEvent(t, EventPeerLeft)
	host.drainRTP()
	host.receives(t, "video") // the call goes on without signaling

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := guest.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	host.waitEvent(t, EventPeerJoined)
	eventually(t, "host sees the guest's new ICE credentials", func() bool { return remoteUfrag(host.Call) != ufrag })
	host.waitConnected(t)
	guest.waitConnected(t)
	guest.chatsWith(t, host, "wieder da")
	host.drainRTP()
	host.receives(t, "video")
	if guest.PeerConnection() != pc {
		t.Error("Reconnect replaced the PeerConnection")
	}
}

// The offerer's ICE restart offer is lost on its way; when the answerer
// reappears, the offerer sends it again rather than waiting for good.
func TestCallLostOfferIsRepeated(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeServer()
	defer fs.close()
	host := dialParty(t, fs, "host-link")
	defer host.Close()
	guest := dialParty(t, fs, "guest-link") // the offerer: "p-guest" < "p-host"
	defer guest.Close()
	host.waitConnected(t)
	guest.waitConnected(t)
	ufrag := remoteUfrag(host.Call)

	// The guest's ICE restart offer is lost on the way to the host.
	fs.mute("p-host", true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := guest.Reconnect(ctx); err != nil {
		t.Fatalf("guest Reconnect: %v", err)
	}
	eventually(t, "guest waits for an answer", func() bool { return !stable(guest) })
	fs.mute("p-host", false)

	// When the host reappears, the guest repeats it.
	if err := host.Reconnect(ctx); err != nil {
		t.Fatalf("host Reconnect: %v", err)
	}
	eventually(t, "host takes the repeated offer", func() bool {
		return stable(guest) && remoteUfrag(host.Call) != ufrag
	})
	host.waitConnected(t)
	guest.chatsWith(t, host, "angekommen")
}

func stable(p *party) bool {
	return p.PeerConnection().SignalingState() == webrtc.SignalingStateStable
}

// The join is granted but signaling refuses: the real server does so only
// when two joins race for the last place.
func TestDialRefusedAtSignaling(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeServer()
	defer fs.close()
	fs.refuse["guest-link"] = protocol.CodeRoomFull
	opts := Options{HTTPClient: fs.srv.Client(), LoopbackOnly: true}

	_, err := Dial(context.Background(), fs.URL(), protocol.JoinRequest{Token: "guest-link"}, opts)
	var se *SignalError
	if !errors.As(err, &se) || !IsCode(err, protocol.CodeRoomFull) {
		t.Errorf("Dial into a full room = %v, want *SignalError room_full", err)
	}
}
