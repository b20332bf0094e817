package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// simulcastLayers are the three layers a simulcast publisher sends, as a
// browser would: RID, and bytes per frame at 25 frames per second (100,
// 300 and 900 kbit/s of payload).
var simulcastLayers = []struct {
	rid   string
	bytes int
}{{"q", 500}, {"h", 1500}, {"f", 4500}}

// simulcastPublisher is a synthetic camera sending three simulcast
// layers, and a microphone, each encrypted with SFrame by the SDK. Every
// frame carries its layer's marker ("layer-q:<id>/<phase> " …; audio
// "audio:<id>/<phase> "), which receivers find after decryption: the
// layer it came from, and the phase (setPhase) it was made in. Each
// layer sends a keyframe (twice the size) every second, as encoders do
// when nobody asks (this one ignores PLIs). The microphone sends only
// where it is published.
type simulcastPublisher struct {
	id     string
	layers []*client.SFrameTrack
	audio  *client.SFrameTrack
	frames atomic.Pointer[publisherFrames]
	stop   chan struct{}
	wg     sync.WaitGroup
}

// publisherFrames are the frames of one phase: a keyframe and a delta
// frame for each layer, and an audio frame.
type publisherFrames struct {
	keys, deltas [][]byte
	audio        []byte
}

func newSimulcastPublisher(t *testing.T, id string) *simulcastPublisher {
	t.Helper()
	p := &simulcastPublisher{id: id, stop: make(chan struct{})}
	seal := func(tr *webrtc.TrackLocalStaticSample, err error) *client.SFrameTrack {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		st, err := client.NewSFrameTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, l := range simulcastLayers {
		p.layers = append(p.layers, seal(webrtc.NewTrackLocalStaticSample(
			webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", id, webrtc.WithRTPStreamID(l.rid))))
	}
	p.audio = seal(webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", id))
	p.setPhase("start")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			fs := p.frames.Load()
			for j, l := range p.layers {
				f := fs.deltas[j]
				if i%25 == 0 {
					f = fs.keys[j]
				}
				_ = l.WriteSample(media.Sample{Data: f, Duration: 40 * time.Millisecond})
			}
			_ = p.audio.WriteSample(media.Sample{Data: fs.audio, Duration: 40 * time.Millisecond})
		}
	}()
	t.Cleanup(p.close)
	return p
}

// setPhase makes every frame from now on name phase.
func (p *simulcastPublisher) setPhase(phase string) {
	frame := func(kind string, n int, first byte) []byte {
		// first: the VP8 frame tag (bit 0 clear on keyframes) or the Opus
		// TOC; then the marker, whole at least once.
		marker := []byte(kind + p.phaseMark(phase))
		return append([]byte{first}, bytes.Repeat(marker, n/len(marker)+1)...)[:n]
	}
	fs := &publisherFrames{audio: frame("audio", 60, 0xfc)}
	for _, l := range simulcastLayers {
		fs.keys = append(fs.keys, frame("layer-"+l.rid, 2*l.bytes, 0x50))
		fs.deltas = append(fs.deltas, frame("layer-"+l.rid, l.bytes, 0x51))
	}
	p.frames.Store(fs)
}

// phaseMark is in every frame, audio and video, made in phase.
func (p *simulcastPublisher) phaseMark(phase string) string {
	return ":" + p.id + "/" + phase + " "
}

func (p *simulcastPublisher) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		p.wg.Wait()
	}
}

func (p *simulcastPublisher) tracks() []webrtc.TrackLocal {
	out := make([]webrtc.TrackLocal, len(p.layers))
	for i, l := range p.layers {
		out[i] = l
	}
	return out
}

// narrowLink is a subscriber's downlink as an interceptor nearest the
// network: a token bucket that drops incoming RTP over its rate, before
// the subscriber's TWCC feedback and NACK generator see it (a policed
// link: what does not fit is lost). It also records, per video SSRC,
// every packet it lets through and every sequence number it dropped.
type narrowLink struct {
	interceptor.NoOp
	bps atomic.Int64 // 0: no limit

	mu      sync.Mutex
	tokens  float64
	at      time.Time
	video   map[uint32]bool
	got     map[uint32][]rtp.Header
	dropped map[uint32]map[uint16]bool
}

func newNarrowLink() *narrowLink {
	return &narrowLink{video: map[uint32]bool{}, got: map[uint32][]rtp.Header{}, dropped: map[uint32]map[uint16]bool{}}
}

// NewInterceptor makes l the interceptor of one PeerConnection.
func (l *narrowLink) NewInterceptor(string) (interceptor.Interceptor, error) { return l, nil }

// burst is how much the link holds at once: 100 ms at its rate.
const narrowBurst = 100 * time.Millisecond

func (l *narrowLink) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	video := strings.HasPrefix(strings.ToLower(info.MimeType), "video/")
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			var h rtp.Header
			if _, err := h.Unmarshal(b[:n]); err != nil {
				return n, attr, nil
			}
			if l.pass(n, h, video) {
				return n, attr, nil
			}
		}
	})
}

// pass takes n bytes off the bucket, or drops the packet.
func (l *narrowLink) pass(n int, h rtp.Header, video bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	ok := true
	if rate := float64(l.bps.Load()) / 8; rate > 0 {
		if !l.at.IsZero() {
			l.tokens = min(rate*narrowBurst.Seconds(), l.tokens+now.Sub(l.at).Seconds()*rate)
		}
		if l.tokens >= float64(n) {
			l.tokens -= float64(n)
		} else {
			ok = false
		}
	}
	l.at = now
	if !video {
		return ok
	}
	l.video[h.SSRC] = true
	if !ok {
		if l.dropped[h.SSRC] == nil {
			l.dropped[h.SSRC] = map[uint16]bool{}
		}
		l.dropped[h.SSRC][h.SequenceNumber] = true
		return false
	}
	h.Extensions, h.CSRC = nil, nil
	l.got[h.SSRC] = append(l.got[h.SSRC], h)
	return true
}

// setLimit narrows the link to bps (0: no limit).
func (l *narrowLink) setLimit(bps int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bps.Store(int64(bps))
	l.tokens = float64(bps) / 8 * narrowBurst.Seconds()
}

// checkContinuous checks what arrived on every video stream: the
// sequence numbers, put in order, run on without a gap but for packets
// the link dropped (and no retransmission brought back), none arrives
// twice, and timestamps never go back. A layer switch done wrong shows
// as a jump, a repeat or a timestamp going back.
func (l *narrowLink) checkContinuous(t *testing.T, who string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for ssrc := range l.video {
		got := l.got[ssrc]
		if len(got) < 100 {
			t.Errorf("%s: only %d video packets on SSRC %d", who, len(got), ssrc)
			continue
		}
		// Unwrap sequence numbers in arrival order (retransmissions come
		// late, but within half the space of the newest).
		type pkt struct {
			seq int64
			ts  uint32
		}
		pkts := make([]pkt, len(got))
		var hi int64 = -1
		for i, h := range got {
			s := int64(h.SequenceNumber)
			if hi >= 0 {
				base := hi &^ 0xffff
				s += base
				if s < hi-0x8000 {
					s += 0x10000
				} else if s > hi+0x8000 {
					s -= 0x10000
				}
			}
			hi = max(hi, s)
			pkts[i] = pkt{s, h.Timestamp}
		}
		sort.Slice(pkts, func(a, b int) bool { return pkts[a].seq < pkts[b].seq })
		dups, gaps, back := 0, 0, 0
		var lost []int64
		for i := 1; i < len(pkts); i++ {
			d := pkts[i].seq - pkts[i-1].seq
			if d == 0 {
				dups++
				continue
			}
			for s := pkts[i-1].seq + 1; s < pkts[i].seq; s++ {
				if !l.dropped[ssrc][uint16(s)] {
					gaps++
					lost = append(lost, s)
				}
			}
			if int32(pkts[i].ts-pkts[i-1].ts) < 0 {
				back++
			}
		}
		t.Logf("%s: SSRC %d: %d packets, sequence %d..%d, %d dropped by the link", who, ssrc, len(pkts), pkts[0].seq, pkts[len(pkts)-1].seq, len(l.dropped[ssrc]))
		if dups > 0 || gaps > 0 || back > 0 {
			t.Errorf("%s: SSRC %d: %d repeated sequence numbers, %d missing that the link never dropped (%v), %d timestamps going back",
				who, ssrc, dups, gaps, lost[:min(len(lost), 10)], back)
		}
	}
}

// layerWatcher is a subscriber that decrypts the frames of one
// publisher's video and tells which layer they are.
type layerWatcher struct {
	*client.Conference
	name string
	link *narrowLink

	frames    [3]atomic.Int64 // decrypted frames by layer q, h, f
	last      atomic.Int32    // layer of the newest frame; -1 none
	failed    atomic.Int64    // frames that did not decrypt
	lastErr   atomic.Value
	cut       atomic.Int64
	videoSeen atomic.Bool
}

func dialLayerWatcher(t *testing.T, s *testutil.Server, name, token string, secret []byte) *layerWatcher {
	t.Helper()
	w := &layerWatcher{name: name, link: newNarrowLink()}
	w.last.Store(-1)
	opts := client.ConferenceOptions{LoopbackOnly: true, RoomSecret: secret,
		Interceptors: []interceptor.Factory{w.link}, OnTrack: w.onTrack}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialConference(ctx, s.URL, protocol.JoinRequest{Token: token}, opts)
	if err != nil {
		t.Fatalf("%s: dial conference: %v", name, err)
	}
	w.Conference = c
	t.Cleanup(func() { _ = c.Close() })
	return w
}

func (w *layerWatcher) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver, _ string) {
	if tr.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	w.videoSeen.Store(true)
	fr, err := w.NewFrameReader(tr)
	if err != nil {
		w.lastErr.Store(err.Error())
		return
	}
	for {
		f, err := fr.ReadFrame()
		w.cut.Store(int64(fr.CutFrames()))
		switch {
		case errors.Is(err, client.ErrFrame):
			w.failed.Add(1)
			w.lastErr.Store(err.Error())
			continue
		case err != nil:
			return
		}
		for i, l := range simulcastLayers {
			if bytes.Contains(f.Data, []byte("layer-"+l.rid+":")) {
				w.frames[i].Add(1)
				w.last.Store(int32(i))
			}
		}
	}
}

func (w *layerWatcher) String() string {
	return fmt.Sprintf("%s: frames q %d h %d f %d, newest layer %d, %d failed (%v), %d cut at switches",
		w.name, w.frames[0].Load(), w.frames[1].Load(), w.frames[2].Load(), w.last.Load(), w.failed.Load(), w.lastErr.Load(), w.cut.Load())
}

// waitLayer waits until the newest frames w decrypts come from layer
// want, and keep coming from it for a moment.
func (w *layerWatcher) waitLayer(t *testing.T, want int, within time.Duration, why string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		if w.last.Load() == int32(want) {
			n := w.frames[want].Load()
			time.Sleep(400 * time.Millisecond)
			if w.last.Load() == int32(want) && w.frames[want].Load() > n {
				t.Logf("%s: %s on layer %s after %.1f s", w.name, why, simulcastLayers[want].rid, time.Since(start).Seconds())
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not on layer %s within %v: %v", why, simulcastLayers[want].rid, within, w)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The publisher sends three simulcast layers through the real server,
// each encrypted with SFrame. Each subscriber gets the layer that fits
// its tiles and its downlink: large tiles get "f", small ones "q" and
// "h", a tile at 0×0 gets no video until it is shown again, and a
// subscriber whose link narrows to 250 kbit/s gets "q" within seconds
// and "f" again once the link is wide. Every frame decrypts, layer
// switches leave no gap or repeat in the sequence numbers the
// subscriber sees, and its timestamps never go back.
func TestConferenceSimulcast(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 4, "host", "guest", "guest", "guest")
	secret := roomSecret(t)
	pubSrc := newSimulcastPublisher(t, "pub")
	pub := dialMemberWith(t, s, "pub", room.Participants[0].Token, func(o *client.ConferenceOptions) {
		o.RoomSecret = secret
		o.VideoLayers = pubSrc.tracks()
	})
	big := dialLayerWatcher(t, s, "big", room.Participants[1].Token, secret)
	small := dialLayerWatcher(t, s, "small", room.Participants[2].Token, secret)
	narrow := dialLayerWatcher(t, s, "narrow", room.Participants[3].Token, secret)
	view := func(w *layerWatcher, width, height int) {
		t.Helper()
		if err := w.SetViews([]protocol.View{{Peer: pub.Self(), Width: width, Height: height}}); err != nil {
			t.Fatal(err)
		}
	}
	view(big, 1280, 720)
	view(small, 240, 135)
	view(narrow, 1280, 720)

	big.waitLayer(t, 2, 20*time.Second, "a 1280×720 tile")
	small.waitLayer(t, 0, 20*time.Second, "a 240×135 tile")
	narrow.waitLayer(t, 2, 20*time.Second, "a wide link")

	t.Run("tile sizes", func(t *testing.T) {
		view(small, 480, 270)
		small.waitLayer(t, 1, 10*time.Second, "a 480×270 tile")
		view(small, 0, 0)
		time.Sleep(time.Second) // frames already on their way
		n := small.frames[1].Load() + small.frames[0].Load() + small.frames[2].Load()
		time.Sleep(1500 * time.Millisecond)
		if m := small.frames[1].Load() + small.frames[0].Load() + small.frames[2].Load(); m != n {
			t.Errorf("a tile at 0×0 still got %d frames in 1.5 s", m-n)
		}
		// Shown again at the size it had: the same layer resumes, and
		// the frames it skipped leave no gap in the sequence numbers.
		view(small, 480, 270)
		small.waitLayer(t, 1, 10*time.Second, "a tile shown again at 480×270")
		view(small, 1920, 1080)
		small.waitLayer(t, 2, 10*time.Second, "a tile grown to 1920×1080")
	})

	t.Run("narrow link", func(t *testing.T) {
		// The SFU's estimate falls within about 2 s; the frames of q
		// show a few seconds later, as the subscriber's sample builder
		// first gives up on f's packets the link lost for good.
		narrow.link.setLimit(250_000)
		narrow.waitLayer(t, 0, 30*time.Second, "a link narrowed to 250 kbit/s")
		// GCC's estimate climbs back by some 8 % a second: from its
		// floor to f's 900 kbit/s takes a while.
		narrow.link.setLimit(0)
		narrow.waitLayer(t, 2, 90*time.Second, "the link wide again")
	})

	for _, w := range []*layerWatcher{big, small, narrow} {
		t.Log(w)
		if w.failed.Load() > 0 {
			t.Errorf("%v", w)
		}
		w.link.checkContinuous(t, w.name)
	}
}
