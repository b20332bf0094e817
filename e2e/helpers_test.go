package e2e_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// party is one SDK participant in a test, with what it received.
type party struct {
	*client.Call
	name string
	chat chan []byte
	// packets counts received RTP packets by kind.
	video, audio atomic.Int64
}

// dialParty joins with a link token and dials the call; ICE stays on
// 127.0.0.1 (LoopbackOnly: loopback candidates, an IP filter admitting only
// 127.0.0.1, no mDNS).
func dialParty(t *testing.T, s *testutil.Server, name, token string, tracks ...webrtc.TrackLocal) *party {
	t.Helper()
	p, err := tryDialParty(s, name, token, tracks...)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func tryDialParty(s *testutil.Server, name, token string, tracks ...webrtc.TrackLocal) (*party, error) {
	return dialWith(s, name, token, nil, tracks...)
}

// dialWith dials a party whose options edit may change (relay-only ICE, a
// room secret).
func dialWith(s *testutil.Server, name, token string, edit func(*client.Options), tracks ...webrtc.TrackLocal) (*party, error) {
	p := &party{name: name, chat: make(chan []byte, 16)}
	opts := client.Options{
		Tracks:       tracks,
		LoopbackOnly: true,
		OnChat:       func(b []byte) { p.chat <- append([]byte(nil), b...) },
		OnTrack: func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			n := &p.audio
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				n = &p.video
			}
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				n.Add(1)
			}
		},
	}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("who", name)
	}
	if edit != nil {
		edit(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.URL, protocol.JoinRequest{Token: token}, opts)
	if err != nil {
		return nil, err
	}
	p.Call = c
	return p, nil
}

func (p *party) waitConnected(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
}

// waitEvent reads events until one of type typ arrives.
func (p *party) waitEvent(t *testing.T, typ client.EventType) client.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []client.EventType
	for {
		select {
		case e := <-p.Events():
			if e.Type == typ {
				return e
			}
			seen = append(seen, e.Type)
		case <-deadline:
			t.Fatalf("%s: no %s event; saw %v", p.name, typ, seen)
		}
	}
}

// chatsWith sends text from p and checks q receives it byte for byte.
func (p *party) chatsWith(t *testing.T, q *party, text []byte) {
	t.Helper()
	if err := p.SendChat(text); err != nil {
		t.Fatalf("%s: SendChat: %v", p.name, err)
	}
	select {
	case got := <-q.chat:
		if string(got) != string(text) {
			t.Fatalf("%s got chat %q, want %q", q.name, got, text)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("chat %q from %s did not reach %s", text, p.name, q.name)
	}
}

// keepsReceiving checks that both kinds of media grow by at least min
// packets within d.
func (p *party) keepsReceiving(t *testing.T, d time.Duration, min int64) {
	t.Helper()
	v0, a0 := p.video.Load(), p.audio.Load()
	deadline := time.Now().Add(d + 5*time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if p.video.Load()-v0 >= min && p.audio.Load()-a0 >= min {
			return
		}
	}
	t.Fatalf("%s received %d video and %d audio packets in %v, want >= %d each",
		p.name, p.video.Load()-v0, p.audio.Load()-a0, d, min)
}

// synthetic sends VP8-shaped and Opus-shaped frames every 20 ms until
// closed: a video frame of ~1,200 bytes (one or two packets) and a 60-byte
// audio frame. Receivers count packets; nothing decodes them.
type synthetic struct {
	video, audio *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	wg           sync.WaitGroup
}

func newSynthetic(t *testing.T, id string) *synthetic {
	t.Helper()
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", id)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", id)
	if err != nil {
		t.Fatal(err)
	}
	s := &synthetic{video: video, audio: audio, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		frame := make([]byte, 1200)
		frame[0] = 0x10 // VP8 payload descriptor: start of partition
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
	t.Cleanup(s.close)
	return s
}

func (s *synthetic) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		s.wg.Wait()
	}
}

func (s *synthetic) tracks() []webrtc.TrackLocal { return []webrtc.TrackLocal{s.video, s.audio} }

// consultation is a running two-party call: a server, a room, and host and
// guest each publishing synthetic audio and video.
type consultation struct {
	s                     *testutil.Server
	room                  protocol.Room
	host, guest           *party
	hostMedia, guestMedia *synthetic
}

// startConsultation starts a server, creates a P2P room, and dials host
// and guest with media; it does not wait for them to connect.
func startConsultation(t *testing.T, opts ...testutil.Option) *consultation {
	t.Helper()
	c := &consultation{s: testutil.StartServer(t, opts...)}
	c.room = c.s.CreateRoom(t, 2, "host", "guest")
	c.hostMedia, c.guestMedia = newSynthetic(t, "host"), newSynthetic(t, "guest")
	c.host = dialParty(t, c.s, "host", c.room.Participants[0].Token, c.hostMedia.tracks()...)
	c.guest = dialParty(t, c.s, "guest", c.room.Participants[1].Token, c.guestMedia.tracks()...)
	return c
}
