package bench_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/konsil/konsil/bench"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/turn"
)

// One room of three clinicians, each sending camera and microphone with
// SFrame, against a server on loopback: everyone joins, every stream
// arrives, nothing is lost, latencies are real and small, and the
// bitrates are the ones asked for.
func TestConferenceRoomOfThree(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.SFUMedia = turn.MediaConfig{UDPAddr: "127.0.0.1:0"}
	})
	cfg := bench.Default()
	cfg.URL, cfg.APIKey = s.URL, s.TenantKey
	cfg.VideoBitrate = 300_000
	cfg.Duration = 5 * time.Second
	cfg.RampRate = 20
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	rep := runBench(t, cfg)

	if p := rep.Participants; p.Joined != 3 || p.Failed != 0 {
		t.Fatalf("participants: %+v", p)
	}
	if rep.MeasuredSeconds < 4.5 {
		t.Errorf("measured %.1f s, asked 5 s", rep.MeasuredSeconds)
	}
	for _, m := range []struct {
		kind string
		r    bench.MediaReport
	}{{"video", rep.Video}, {"audio", rep.Audio}} {
		r := m.r
		if r.StreamsExpected != 6 || r.Streams != r.StreamsExpected {
			t.Errorf("%s: %d streams delivered frames, %d expected (want 6)", m.kind, r.Streams, r.StreamsExpected)
		}
		if r.FrameLoss >= 0.01 || r.PacketLoss >= 0.01 || r.BadFrames != 0 {
			t.Errorf("%s: frame loss %.2f %%, packet loss %.2f %%, %d bad frames on loopback", m.kind, r.FrameLoss*100, r.PacketLoss*100, r.BadFrames)
		}
		if l := r.Latency; l.N == 0 || l.P50 <= 0 || l.P99 >= 1000 || l.Max >= 1000 {
			t.Errorf("%s latency: %+v, want positive and under 1 s", m.kind, l)
		}
		// A receiver gets one simulcast layer of each publisher, which
		// the SFU picks: set it against what that layer was asked.
		for _, c := range []struct {
			what       string
			got, asked float64
		}{{"received per stream (layers forwarded)", r.StreamKbps, r.ForwardedKbps}, {"sent per publisher (all layers)", r.SentKbps, r.AskedKbps}} {
			if c.asked <= 0 || c.got < 0.8*c.asked || c.got > 1.2*c.asked {
				t.Errorf("%s %s: %.0f kbit/s, asked %.0f", m.kind, c.what, c.got, c.asked)
			}
		}
	}
	if n := rep.Video.Layers["q"] + rep.Video.Layers["h"] + rep.Video.Layers["f"]; n != rep.Video.Streams {
		t.Errorf("video layers %v: %d streams, want the %d that delivered", rep.Video.Layers, n, rep.Video.Streams)
	}
	j := rep.Join
	for name, d := range map[string]bench.Dist{"api": j.API, "websocket": j.WebSocket, "ice": j.ICE, "first frame": j.FirstFrame, "total": j.Total} {
		if d.N != 3 || d.P50 <= 0 {
			t.Errorf("join %s: %+v, want one positive time per participant", name, d)
		}
	}
	if !rep.Server.Available || rep.Server.CPUSeconds <= 0 || rep.Server.MicrosPerPacketOut <= 0 {
		t.Errorf("server figures missing: %+v", rep.Server)
	}
	if want := rep.Video.StreamsExpected + rep.Audio.StreamsExpected; rep.Server.Subscriptions != want {
		t.Errorf("server subscriptions %d, want the %d streams the receivers expect", rep.Server.Subscriptions, want)
	}
	if rep.Traffic.OutPackets == 0 || rep.Traffic.OutMbps <= 0 {
		t.Errorf("traffic: %+v", rep.Traffic)
	}
	var left protocol.RoomList
	if code := s.Do(t, http.MethodGet, "/api/v1/rooms", s.TenantKey, nil, &left); code != http.StatusOK || len(left.Rooms) != 0 {
		t.Errorf("after the run: HTTP %d, %d rooms left, want none", code, len(left.Rooms))
	}
}

// A webinar whose publisher sends simulcast with a keyframe only once a
// minute: each subscriber joins after the publisher's first keyframe,
// so the SFU must ask for one (PLI), the SDK must hand the request to
// the publisher and the publisher must answer on that layer. The first
// frame each subscriber receives is then a keyframe the publisher made
// for a request, not one of its interval's.
func TestPublisherAnswersKeyframeRequests(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.SFUMedia = turn.MediaConfig{UDPAddr: "127.0.0.1:0"}
	})
	cfg := bench.Default()
	cfg.URL, cfg.APIKey = s.URL, s.TenantKey
	cfg.Scenario, cfg.VideoPublishers, cfg.Subscribers, cfg.PublisherAudio = bench.Webinar, 1, 2, false
	cfg.VideoBitrate = 300_000
	cfg.KeyframeInterval = time.Minute
	cfg.RampRate = 0.5 // the publisher is sending well before anyone subscribes
	cfg.Duration = 2 * time.Second
	rep := runBench(t, cfg)
	v := rep.Video
	if v.Streams != 2 {
		t.Fatalf("%d video streams delivered, want 2 (one per subscriber)", v.Streams)
	}
	if v.FirstFrameForced != 2 {
		t.Errorf("%d of 2 subscribers' first frames were keyframes forced by a request", v.FirstFrameForced)
	}
	if v.KeyframesForced == 0 {
		t.Errorf("the publisher forced no keyframe")
	}
}

// A limit search over rooms of three runs its steps one after the
// other, each with rooms of its own, and leaves no room behind.
func TestFindLimitRooms(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.SFUMedia = turn.MediaConfig{UDPAddr: "127.0.0.1:0"}
	})
	cfg := bench.Default()
	cfg.URL, cfg.APIKey = s.URL, s.TenantKey
	cfg.VideoBitrate = 200_000
	cfg.RampRate = 20
	cfg.ServerInProcess = true
	lc := bench.DefaultLimit()
	lc.Dimension, lc.Step, lc.MaxSteps, lc.StepDuration, lc.Cooldown = bench.DimRooms, 1, 2, 2*time.Second, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lr, err := bench.FindLimit(ctx, cfg, lc)
	if err != nil {
		t.Fatalf("find limit: %v", err)
	}
	if testing.Verbose() {
		_ = lr.WriteSummary(os.Stderr)
	}
	// Whether a step is good depends on the machine (and -race): only
	// the steps' shape is asserted.
	if len(lr.Steps) == 0 || lr.Steps[0].Load != 1 || lr.Steps[0].Participants != 3 || lr.Stopped == "" {
		t.Fatalf("steps %+v, stopped %q", lr.Steps, lr.Stopped)
	}
	if len(lr.Steps) == 2 && (lr.Steps[1].Load != 2 || lr.Steps[1].Participants != 6) {
		t.Errorf("second step: %+v", lr.Steps[1])
	}
	var left protocol.RoomList
	if code := s.Do(t, http.MethodGet, "/api/v1/rooms", s.TenantKey, nil, &left); code != http.StatusOK || len(left.Rooms) != 0 {
		t.Errorf("after the search: HTTP %d, %d rooms left, want none", code, len(left.Rooms))
	}
}

// runBench runs cfg against the in-process server it starts, for at most
// a minute, and returns the report (its summary on stderr with -v).
func runBench(t *testing.T, cfg bench.Config) *bench.Report {
	t.Helper()
	cfg.ServerInProcess = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if testing.Verbose() {
		_ = rep.WriteSummary(os.Stderr)
	}
	return rep
}
