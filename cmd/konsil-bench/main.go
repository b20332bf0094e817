// Command konsil-bench puts load on a Konsil server and reports what
// arrived: join times, end-to-end latency, loss, jitter, bitrates, and the
// server's CPU per forwarded packet. The logic lives in package bench;
// this is flags, the local server for `make bench`, and output.
//
//	konsil-bench                                  # a room of three against a local server
//	konsil-bench --preset lk-2x10 --duration 20s  # LiveKit-comparable load point
//	konsil-bench --url https://video.example.org --api-key KEY --scenario webinar --subscribers 40
//	konsil-bench --preset lk-4x20 --html report.html              # charts, opens offline
//	konsil-bench --participants 3 --find-limit --limit-dim rooms  # most rooms of three within loss/p99
//	konsil-bench --config scenario.yaml --duration 10s            # YAML file, flags win
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/konsil/konsil/bench"
)

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveChild(os.Stdin, os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "konsil-bench:", err)
		}
		os.Exit(1)
	}
}

// options are the flags besides the bench.Config they fill.
type options struct {
	preset       string
	participants int
	jsonPath     string
	htmlPath     string
	configPath   string
	quiet        bool
	verbose      bool
	findLimit    bool
	limit        bench.LimitConfig
}

func parseFlags(args []string, stderr io.Writer) (bench.Config, options, error) {
	cfg := bench.Default()
	var o options
	f := flag.NewFlagSet("konsil-bench", flag.ContinueOnError)
	f.SetOutput(stderr)
	f.StringVar(&cfg.URL, "url", "", "server base URL; empty: start a local server in a child process")
	f.StringVar(&cfg.APIKey, "api-key", os.Getenv("KONSIL_BENCH_API_KEY"), "tenant API key that creates and deletes the rooms (env KONSIL_BENCH_API_KEY)")
	scenario := f.String("scenario", string(cfg.Scenario), "conference, webinar or p2p")
	f.StringVar(&o.preset, "preset", "", "named load point: "+strings.Join(bench.PresetNames(), ", ")+" (sets scenario and room shape)")
	f.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "conference rooms, p2p consultations, or rooms of a preset's shape")
	f.IntVar(&o.participants, "participants", 3, "conference: participants per room, each sending camera and microphone")
	f.IntVar(&cfg.VideoPublishers, "publishers", 2, "webinar: video publishers")
	f.IntVar(&cfg.AudioPublishers, "audio-publishers", 0, "webinar: audio-only publishers")
	f.IntVar(&cfg.Subscribers, "subscribers", 20, "webinar: receive-only subscribers")
	videoKbps := f.Int("video-kbps", cfg.VideoBitrate/1000, "video bitrate per publisher, kbit/s")
	audioKbps := f.Int("audio-kbps", cfg.AudioBitrate/1000, "audio bitrate per publisher, kbit/s")
	f.IntVar(&cfg.FrameRate, "fps", cfg.FrameRate, "video frames per second")
	f.DurationVar(&cfg.KeyframeInterval, "keyframe-interval", cfg.KeyframeInterval, "time between video keyframes")
	f.BoolVar(&cfg.Simulcast, "simulcast", cfg.Simulcast, "conference/webinar: video in three simulcast layers q/h/f at 10/25/65 % of --video-kbps; false: one layer")
	view := f.String("view", fmt.Sprintf("%dx%d", cfg.ViewWidth, cfg.ViewHeight), "conference/webinar: tile size WxH every receiver shows each video at (the SFU's layer choice); 1280x720 asks for the full layer")
	f.BoolVar(&cfg.E2EE, "e2ee", cfg.E2EE, "SFrame-encrypt conference media (p2p: fingerprint check)")
	f.BoolVar(&cfg.Relay, "relay", false, "p2p: send media through the server's TURN relay only")
	f.Float64Var(&cfg.RampRate, "ramp", cfg.RampRate, "participants starting to join per second")
	f.DurationVar(&cfg.JoinTimeout, "join-timeout", cfg.JoinTimeout, "bound on one participant's join")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to measure once everyone has joined")
	f.StringVar(&o.jsonPath, "json", "", "write the JSON report (with the per-second timeline) to this file")
	f.StringVar(&o.htmlPath, "html", "", "write a self-contained HTML report with charts to this file")
	f.StringVar(&o.configPath, "config", "", "YAML scenario file: keys are these flags' names; flags given here win")
	o.limit = bench.DefaultLimit()
	f.BoolVar(&o.findLimit, "find-limit", false, "raise the load step by step until a threshold breaks; report the last good step")
	limitDim := f.String("limit-dim", "", "what find-limit raises: participants (conference, per room), rooms (conference rooms or p2p consultations), subscribers (webinar), ramp (joins/s); default by scenario")
	f.Float64Var(&o.limit.Step, "limit-step", 0, "find-limit: added per step; 0: 1 participant or room, 10 subscribers, 5 joins/s")
	f.IntVar(&o.limit.MaxSteps, "limit-max-steps", o.limit.MaxSteps, "find-limit: at most this many steps")
	f.DurationVar(&o.limit.StepDuration, "limit-step-duration", o.limit.StepDuration, "find-limit: measured time per step (replaces --duration)")
	lossPct := f.Float64("limit-loss", o.limit.MaxLoss*100, "find-limit: packet loss threshold, percent")
	f.DurationVar(&o.limit.MaxP99, "limit-p99", o.limit.MaxP99, "find-limit: frame latency p99 threshold")
	f.DurationVar(&o.limit.MaxJoinP95, "limit-join-p95", 0, "find-limit: join p95 threshold (start to first frame); 0: none")
	f.DurationVar(&o.limit.Cooldown, "limit-cooldown", o.limit.Cooldown, "find-limit: pause between steps")
	f.BoolVar(&o.quiet, "quiet", false, "no live progress line")
	f.BoolVar(&o.verbose, "v", false, "log joins and failures")
	if err := f.Parse(args); err != nil {
		return cfg, o, err
	}
	if f.NArg() > 0 {
		return cfg, o, fmt.Errorf("unexpected arguments %q", f.Args())
	}
	if o.configPath != "" {
		if err := applyConfigFile(f, o.configPath); err != nil {
			return cfg, o, err
		}
	}
	o.limit.Dimension = bench.Dimension(*limitDim)
	o.limit.MaxLoss = *lossPct / 100
	cfg.Scenario = bench.Scenario(*scenario)
	cfg.VideoBitrate, cfg.AudioBitrate = *videoKbps*1000, *audioKbps*1000
	w, h, err := parseView(*view)
	if err != nil {
		return cfg, o, err
	}
	cfg.ViewWidth, cfg.ViewHeight = w, h
	switch {
	case o.preset != "":
		rooms := cfg.Rooms
		if err := cfg.ApplyPreset(o.preset); err != nil {
			return cfg, o, err
		}
		if given(f, "rooms") {
			cfg.Rooms = rooms // that many rooms of the preset's shape
		}
	case cfg.Scenario == bench.Conference:
		cfg.VideoPublishers, cfg.AudioPublishers, cfg.Subscribers = o.participants, 0, 0
	case cfg.Scenario == bench.Webinar:
		cfg.Rooms = 1
		cfg.PublisherAudio = true
	case cfg.Scenario == bench.P2P:
		cfg.VideoPublishers, cfg.AudioPublishers, cfg.Subscribers = 0, 0, 0
	}
	if err := cfg.CheckLoad(); err != nil {
		return cfg, o, err
	}
	if o.findLimit {
		if o.limit.Step == 0 {
			o.limit.Step = defaultStep(o.limit.Dimension, cfg.Scenario)
		}
		if err := o.limit.Validate(cfg.Scenario); err != nil {
			return cfg, o, err
		}
	}
	return cfg, o, nil
}

// parseView reads a tile size "WxH" (or "W×H").
func parseView(s string) (int, int, error) {
	var w, h int
	s = strings.ReplaceAll(s, "×", "x")
	if n, err := fmt.Sscanf(s, "%dx%d", &w, &h); err != nil || n != 2 || fmt.Sprintf("%dx%d", w, h) != s {
		return 0, 0, fmt.Errorf("%w: --view %q: want WIDTHxHEIGHT, e.g. 1280x720", bench.ErrConfig, s)
	}
	return w, h, nil
}

func given(f *flag.FlagSet, name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// defaultStep is a step that moves each dimension visibly without
// overshooting a small machine.
func defaultStep(d bench.Dimension, s bench.Scenario) float64 {
	switch {
	case d == bench.DimRamp:
		return 5
	case d == bench.DimSubscribers || (d == bench.DimAuto && s == bench.Webinar):
		return 10
	}
	return 1
}

// lockedWriter lets the progress line, the logs and the local server's
// stderr share one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, ok := stderr.(*os.File); !ok {
		stderr = &lockedWriter{w: stderr}
	}
	cfg, o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelError
	if o.verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if !o.quiet {
		cfg.Progress = stderr
	}
	if cfg.URL == "" {
		local, err := startChild(ctx, stderr)
		if err != nil {
			return err
		}
		defer local.stop()
		cfg.URL, cfg.APIKey = local.URL, local.Key
		fmt.Fprintf(stderr, "local server at %s (its own process, pid %d)\n", local.URL, local.pid())
	}
	start := time.Now()
	var out report
	var runErr error
	if o.findLimit {
		var lr *bench.LimitReport
		lr, runErr = bench.FindLimit(ctx, cfg, o.limit)
		if lr != nil {
			out = lr
		}
	} else {
		var rep *bench.Report
		rep, runErr = bench.Run(ctx, cfg)
		if rep != nil {
			out = rep
		}
	}
	if out != nil {
		if err := writeReports(out, o, stdout, stderr); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintf(stderr, "done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// report is a single run's or a limit search's outcome.
type report interface {
	WriteSummary(io.Writer) error
	WriteJSON(io.Writer) error
	WriteHTML(io.Writer) error
}

func writeReports(rep report, o options, stdout, stderr io.Writer) error {
	if err := rep.WriteSummary(stdout); err != nil {
		return err
	}
	for _, f := range []struct {
		path, what string
		write      func(io.Writer) error
	}{{o.jsonPath, "JSON", rep.WriteJSON}, {o.htmlPath, "HTML", rep.WriteHTML}} {
		if f.path == "" {
			continue
		}
		if err := writeFile(f.path, f.write); err != nil {
			return fmt.Errorf("%s report: %w", f.what, err)
		}
		fmt.Fprintf(stderr, "%s report: %s\n", f.what, f.path)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
