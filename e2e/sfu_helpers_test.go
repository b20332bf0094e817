package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/turn"
)

// withSFUPorts gives the SFU its media port as in production, a UDP mux,
// here on a free 127.0.0.1 port: the SFU's candidates are loopback only.
func withSFUPorts() testutil.Option {
	return func(c *server.Config) {
		c.SFUMedia = turn.MediaConfig{UDPAddr: "127.0.0.1:0"}
	}
}

// member is one SDK participant of a conference in a test, with what it
// received, by publisher.
type member struct {
	*client.Conference
	name string
	// stall makes the member stop reading the tracks it receives.
	stall atomic.Bool
	// mark, when set, is looked for in every decrypted frame: frames
	// that carry it are counted in received.markedVideo and markedAudio.
	mark atomic.Pointer[[]byte]
	done chan struct{} // closed before Close, to end stalled readers
	// dialed is closed once Conference is set: tracks may arrive before
	// DialConference returns.
	dialed chan struct{}

	mu       sync.Mutex
	received map[string]*received // by publisher id
	chats    []chatMsg
}

// chatMsg is one chat message a member received.
type chatMsg struct {
	from string
	text []byte
}

// received counts one publisher's packets at one member.
type received struct {
	video, audio atomic.Int64
	ended        atomic.Int64 // tracks of this publisher that ended
	// With a room secret, frames are read whole and decrypted: decrypted
	// counts frames that did (and carried the publisher's marker),
	// authFailed those that failed with e2ee.ErrAuth, otherFailed any
	// other frame error.
	decrypted, authFailed, otherFailed atomic.Int64
	lastErr                            atomic.Value
	// markedVideo and markedAudio count decrypted frames that carry the
	// member's mark.
	markedVideo, markedAudio atomic.Int64
}

func dialMember(t *testing.T, s *testutil.Server, name, token string, tracks ...webrtc.TrackLocal) *member {
	t.Helper()
	return dialMemberWith(t, s, name, token, nil, tracks...)
}

// dialMemberWith dials a member with options edit changes; with a
// RoomSecret, the member decrypts what it receives.
func dialMemberWith(t *testing.T, s *testutil.Server, name, token string, edit func(*client.ConferenceOptions), tracks ...webrtc.TrackLocal) *member {
	t.Helper()
	m := &member{name: name, received: map[string]*received{}, done: make(chan struct{}), dialed: make(chan struct{})}
	opts := client.ConferenceOptions{Tracks: tracks, LoopbackOnly: true, OnTrack: m.onTrack, OnChat: m.onChat}
	if edit != nil {
		edit(&opts)
	}
	if opts.RoomSecret != nil {
		opts.OnTrack = m.onSecretTrack
	}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("who", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialConference(ctx, s.URL, protocol.JoinRequest{Token: token}, opts)
	if err != nil {
		t.Fatalf("%s: dial conference: %v", name, err)
	}
	m.Conference = c
	close(m.dialed)
	t.Cleanup(m.leave)
	return m
}

// leave closes the member's conference (once).
func (m *member) leave() {
	select {
	case <-m.done:
		return
	default:
	}
	close(m.done)
	m.Close()
}

func (m *member) from(publisher string) *received {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.received[publisher]
	if r == nil {
		r = &received{}
		m.received[publisher] = r
	}
	return r
}

func (m *member) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver, publisher string) {
	r := m.from(publisher)
	n := &r.audio
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		n = &r.video
	}
	buf := make([]byte, 1500)
	for {
		for m.stall.Load() {
			// Not reading: pion's buffers fill and drop at this member.
			select {
			case <-m.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		if _, _, err := tr.Read(buf); err != nil {
			break
		}
		n.Add(1)
	}
	r.ended.Add(1)
}

// counts describes what every member received, for failure messages.
func counts(ms ...*member) string {
	var b strings.Builder
	for _, m := range ms {
		m.mu.Lock()
		ids := make([]string, 0, len(m.received))
		for id := range m.received {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, "\n  %s (%s):", m.name, m.Self())
		for _, id := range ids {
			r := m.received[id]
			fmt.Fprintf(&b, " %s v%d a%d ended %d decrypted %d marked v%d a%d auth-failed %d failed %d %v;", id, r.video.Load(), r.audio.Load(),
				r.ended.Load(), r.decrypted.Load(), r.markedVideo.Load(), r.markedAudio.Load(), r.authFailed.Load(), r.otherFailed.Load(), r.lastErr.Load())
		}
		m.mu.Unlock()
	}
	return b.String()
}

// receiveFromEachOther waits until every member has received at least min
// video and min audio packets from every other publisher among pubs.
func receiveFromEachOther(t *testing.T, ms []*member, pubs []*member, min int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, m := range ms {
			for _, p := range pubs {
				if p == m {
					continue
				}
				r := m.from(p.Self())
				if r.video.Load() < min || r.audio.Load() < min {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every member received %d packets of each kind from every other publisher:%s", min, counts(ms...))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitConferenceEvent reads m's events until one of type typ about peer
// arrives.
func waitConferenceEvent(t *testing.T, m *member, typ client.EventType, peer string) client.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case e := <-m.Events():
			if e.Type == typ && e.Peer.ID == peer {
				return e
			}
			seen = append(seen, string(e.Type)+" "+e.Peer.ID)
		case <-deadline:
			t.Fatalf("%s: no %s event for %s; saw %v", m.name, typ, peer, seen)
		}
	}
}

// videoRate is the packets per second of video m receives from publisher,
// measured over d.
func videoRate(m *member, publisher string, d time.Duration) float64 {
	r := m.from(publisher)
	n0 := r.video.Load()
	time.Sleep(d)
	return float64(r.video.Load()-n0) / d.Seconds()
}

func (m *member) onChat(from string, text []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chats = append(m.chats, chatMsg{from: from, text: bytes.Clone(text)})
}

func (m *member) chatsFrom(from string) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for _, c := range m.chats {
		if c.from == from {
			out = append(out, c.text)
		}
	}
	return out
}

// onSecretTrack reads whole frames and decrypts them, counting by
// publisher what decrypted (with the marker of the publisher's
// synthetic source inside) and what did not.
func (m *member) onSecretTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver, publisher string) {
	r := m.from(publisher)
	n, marked := &r.audio, &r.markedAudio
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		n, marked = &r.video, &r.markedVideo
	}
	defer r.ended.Add(1)
	select {
	case <-m.dialed:
	case <-time.After(10 * time.Second):
		r.lastErr.Store("dial did not return")
		return
	}
	fr, err := m.NewFrameReader(tr)
	if err != nil {
		r.lastErr.Store(err.Error())
		return
	}
	for {
		f, err := fr.ReadFrame()
		switch {
		case errors.Is(err, e2ee.ErrAuth):
			r.authFailed.Add(1)
			continue
		case errors.Is(err, client.ErrFrame):
			r.otherFailed.Add(1)
			r.lastErr.Store(err.Error())
			continue
		case err != nil:
			return
		}
		n.Add(1)
		if bytes.Contains(f.Data, []byte(sealedMarker)) {
			r.decrypted.Add(1)
		}
		if mark := m.mark.Load(); mark != nil && bytes.Contains(f.Data, *mark) {
			marked.Add(1)
		}
	}
}

// sealedMarker is in every frame of a sealedSynthetic source: receivers
// look for it after decryption, and nowhere before.
const sealedMarker = "clinical-frame:"

// sealedSynthetic is a synthetic camera and microphone whose frames are
// encrypted with SFrame by the SDK's SFrameTracks. Every tenth video
// frame is a 2,500-byte keyframe that spans three RTP packets; the others
// are 700-byte delta frames; audio frames are 60 bytes.
type sealedSynthetic struct {
	video, audio *client.SFrameTrack
	stop         chan struct{}
	wg           sync.WaitGroup
}

func newSealedSynthetic(t *testing.T, id string) *sealedSynthetic {
	t.Helper()
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", id)
	if err != nil {
		t.Fatal(err)
	}
	s := &sealedSynthetic{stop: make(chan struct{})}
	if s.video, err = client.NewSFrameTrack(v); err != nil {
		t.Fatal(err)
	}
	if s.audio, err = client.NewSFrameTrack(a); err != nil {
		t.Fatal(err)
	}
	frame := func(n int, first byte) []byte {
		f := bytes.Repeat([]byte(sealedMarker+id+" "), n/len(sealedMarker)+1)[:n]
		f = append([]byte{first}, f[1:]...)
		return f
	}
	key, delta, audio := frame(2500, 0x50), frame(700, 0x51), frame(60, 0xfc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			f := delta
			if i%10 == 0 {
				f = key
			}
			_ = s.video.WriteSample(media.Sample{Data: f, Duration: 20 * time.Millisecond})
			_ = s.audio.WriteSample(media.Sample{Data: audio, Duration: 20 * time.Millisecond})
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sealedSynthetic) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		s.wg.Wait()
	}
}

func (s *sealedSynthetic) tracks() []webrtc.TrackLocal {
	return []webrtc.TrackLocal{s.video, s.audio}
}

// waitConferenceConnected waits until m's media and chat to the SFU are up.
func waitConferenceConnected(t *testing.T, m *member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitConnected(ctx); err != nil {
		t.Fatalf("%s: %v", m.name, err)
	}
}
