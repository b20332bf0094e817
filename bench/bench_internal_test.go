package bench

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/client/e2ee"
)

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.95, 950 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if rel := float64(got-tc.want) / float64(tc.want); rel < -0.001 || rel > 0.021 {
			t.Errorf("q%.2f = %v, want %v within 2 %%", tc.q, got, tc.want)
		}
	}
	d := h.dist(true)
	if d.N != 1000 || len(d.CDF) == 0 || len(d.CDF) > cdfPoints+1 || d.CDF[len(d.CDF)-1].Fraction != 1 {
		t.Errorf("dist: n %d, %d CDF points, last %+v", d.N, len(d.CDF), d.CDF[len(d.CDF)-1])
	}
	if got := newHistogram().dist(false); got.N != 0 || got.P99 != 0 {
		t.Errorf("empty: %+v", got)
	}
}

// Synthetic video averages the asked bitrate over whole keyframe
// intervals, starts each interval with a keyframe several times a delta
// frame, and carries its stamp after the VP8 header.
func TestVideoShape(t *testing.T) {
	for _, tc := range []struct{ bitrate, fps int }{{300_000, 30}, {1_000_000, 30}, {2_500_000, 15}} {
		v := newVideoShape(tc.bitrate, tc.fps, 2*time.Second, 1)
		var total int
		frames := 10 * 2 * tc.fps // ten keyframe intervals
		for i := range frames {
			f := v.next(stamp{seq: uint32(i + 1), sent: time.Duration(i)})
			if key := e2ee.Keyframe(e2ee.CodecVP8, f); key != (i%(2*tc.fps) == 0) {
				t.Fatalf("%d bit/s: frame %d keyframe %t", tc.bitrate, i, key)
			}
			s, err := readStamp(e2ee.CodecVP8, f)
			if err != nil || s.seq != uint32(i+1) || s.sent != time.Duration(i) {
				t.Fatalf("frame %d: stamp %+v, %v", i, s, err)
			}
			total += len(f)
		}
		got := float64(total) * 8 / 20
		if rel := got/float64(tc.bitrate) - 1; rel < -0.03 || rel > 0.03 {
			t.Errorf("%d bit/s at %d fps: made %.0f bit/s", tc.bitrate, tc.fps, got)
		}
	}
	o := newOpusShape(32_000)
	if f := o.next(stamp{seq: 7}); len(f) != 80 {
		t.Errorf("32 kbit/s Opus frame of %d bytes, want 80", len(f))
	}
}

// A keyframe request makes the next frame a keyframe flagged as forced
// and starts the interval again; one that falls on a keyframe that was
// due anyway is not flagged.
func TestVideoShapeForcedKeyframe(t *testing.T) {
	v := newLayerShape(300_000, 30, time.Second, 320, 180, 3)
	kinds := func(n int) (out []string) {
		for range n {
			f := v.next(stamp{})
			s, err := readStamp(e2ee.CodecVP8, f)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case s.flags&stampForced != 0:
				out = append(out, "forced")
			case e2ee.Keyframe(e2ee.CodecVP8, f):
				out = append(out, "key")
			default:
				out = append(out, "delta")
			}
		}
		return out
	}
	if got := kinds(3); strings.Join(got, " ") != "key delta delta" {
		t.Fatalf("start: %v", got)
	}
	v.force()
	if got := kinds(2); strings.Join(got, " ") != "forced delta" {
		t.Errorf("after a request: %v", got)
	}
	// The interval restarted at the forced keyframe: 30 frames on.
	if got := kinds(29); got[27] != "delta" || got[28] != "key" {
		t.Errorf("interval after the forced keyframe: frame 28 %s, 29 %s", got[27], got[28])
	}
	// Keyframes carry the layer's own size (RFC 6386 §9.1).
	v.force()
	if f := v.next(stamp{}); binary.LittleEndian.Uint16(f[6:]) != 320 || binary.LittleEndian.Uint16(f[8:]) != 180 {
		t.Errorf("keyframe of %d×%d, want 320×180", binary.LittleEndian.Uint16(f[6:]), binary.LittleEndian.Uint16(f[8:]))
	}
}

// recordingTrack keeps what a source wrote: whether each frame was a
// keyframe, and whether forced.
type recordingTrack struct{ frames []string }

func (r *recordingTrack) WriteSample(s media.Sample) error {
	st, _ := readStamp(e2ee.CodecVP8, s.Data)
	switch {
	case st.flags&stampForced != 0:
		r.frames = append(r.frames, "F")
	case e2ee.Keyframe(e2ee.CodecVP8, s.Data):
		r.frames = append(r.frames, "K")
	default:
		r.frames = append(r.frames, ".")
	}
	return nil
}

// A simulcast publisher answers a keyframe request on the layer asked,
// at most once per 500 ms per layer: a second request inside the window
// waits for its end; other layers are untouched. The clock is the
// test's.
func TestSourceAnswersKeyframeRequests(t *testing.T) {
	var now time.Duration
	var measuring atomic.Bool
	var tx atomic.Uint64
	tracks := []*recordingTrack{{}, {}, {}}
	s := &source{frameTime: 100 * time.Millisecond, now: func() time.Duration { return now }, measuring: &measuring, txBytes: &tx}
	for i, l := range simulcastLayers() {
		s.layers = append(s.layers, &videoLayer{rid: l.rid, index: uint8(i), w: tracks[i],
			shape: newLayerShape(layerBitrate(1_000_000, i, 3), 10, time.Hour, 1280/l.scale, 720/l.scale, 1)})
	}
	frame := func(requests ...string) {
		for _, rid := range requests {
			s.requestKeyframe("video", rid)
		}
		s.sendVideo()
		now += 100 * time.Millisecond
	}
	frame()         // 0 ms: the interval's keyframe on every layer
	frame("f")      // 100: forced on f
	frame("f", "h") // 200: forced on h; f waits for 600
	frame()         // 300
	frame("f")      // 400: still waiting
	frame()         // 500
	frame()         // 600: f's request is due
	frame("q")      // 700: forced on q
	s.requestKeyframe("audio", "")
	frame() // 800
	want := map[string]string{"q": "K......F.", "h": "K.F......", "f": "KF....F.."}
	for i, l := range simulcastLayers() {
		if got := strings.Join(tracks[i].frames, ""); got != want[l.rid] {
			t.Errorf("layer %s: %s, want %s", l.rid, got, want[l.rid])
		}
	}
	if n := s.keyframesForced.Load(); n != 4 {
		t.Errorf("%d keyframes forced, want 4", n)
	}
}

// Frames packetized by pion's VP8 payloader come back whole; a frame
// missing a packet is dropped, and the next one is whole again.
func TestVP8Assembler(t *testing.T) {
	v := newVideoShape(2_000_000, 30, 2*time.Second, 2)
	pk := rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	var a vp8Assembler
	var whole, dropped int
	for i := range 6 {
		f := append([]byte(nil), v.next(stamp{seq: uint32(i + 1)})...)
		pkts := pk.Packetize(f, 3000)
		if i == 0 && len(pkts) < 3 {
			t.Fatalf("a keyframe of %d bytes in %d packets", len(f), len(pkts))
		}
		for j, p := range pkts {
			if i == 2 && j == 0 && len(pkts) > 1 {
				continue // lost
			}
			if out, ok := a.push(p); ok {
				if string(out) != string(f) {
					t.Fatalf("frame %d: %d bytes back, sent %d", i, len(out), len(f))
				}
				whole++
			}
		}
		if i == 2 {
			dropped++
		}
	}
	if whole != 5 || dropped != 1 {
		t.Errorf("%d frames whole, want 5", whole)
	}
}

func TestParseProcessMetrics(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 4.2e+07
go_memstats_heap_inuse_bytes 2.5e+07
go_memstats_stack_inuse_bytes 3e+06
konsil_sfu_forwarded_total{kind="video"} 99
konsil_sfu_subscriptions 184
`
	u, err := parseProcessMetrics(strings.NewReader(text))
	want := serverUsage{CPUSeconds: 12.5, RSSBytes: 4.2e7, HeapBytes: 2.5e7, StackBytes: 3e6, Subscriptions: 184}
	if err != nil || u != want {
		t.Fatalf("got %+v, %v; want %+v", u, err, want)
	}
	if _, err := parseProcessMetrics(strings.NewReader("go_goroutines 3\n")); err == nil {
		t.Error("metrics without process CPU accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Default()
	ok.URL, ok.APIKey = "http://127.0.0.1:8080", "key"
	if err := ok.Validate(); err != nil || !ok.LoopbackOnly {
		t.Fatalf("default: %v, loopback %t", err, ok.LoopbackOnly)
	}
	for name, edit := range map[string]func(*Config){
		"no key":        func(c *Config) { c.APIKey = "" },
		"ftp url":       func(c *Config) { c.URL = "ftp://x" },
		"room of two":   func(c *Config) { c.VideoPublishers = 2 },
		"room too big":  func(c *Config) { c.VideoPublishers = 51 },
		"relay for sfu": func(c *Config) { c.Relay = true },
		"no duration":   func(c *Config) { c.Duration = 0 },
		"tiny bitrate":  func(c *Config) { c.VideoBitrate = 1000 },
		"negative view": func(c *Config) { c.ViewWidth = -1 },
		"huge view":     func(c *Config) { c.ViewHeight = 20000 },
	} {
		c := ok
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, name := range PresetNames() {
		c := ok
		if err := c.ApplyPreset(name); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	c := ok
	if err := c.ApplyPreset("lk-9x99"); err == nil {
		t.Error("unknown preset accepted")
	}
	if c = ok; c.ApplyPreset("lk-1v6ax40") != nil || c.Participants() != 47 {
		t.Errorf("lk-1v6ax40: %d participants, want 47", c.Participants())
	}
}
