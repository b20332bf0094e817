package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeStep is one canned outcome for the fake step runner.
type fakeStep struct {
	loss      float64
	p99       float64 // ms
	failed    int
	benchCPU  float64
	serverCPU float64
	joinCPU   float64 // the bench's busiest second while joining
	joinOther float64 // server and other processes then
	other     float64 // other processes while measuring
	err       error
	noReport  bool
}

func (f fakeStep) report(cfg Config) *Report {
	n := cfg.Participants()
	rep := &Report{Scenario: cfg.Scenario}
	rep.Participants = Participants{Wanted: n, Joined: n - f.failed, Failed: f.failed}
	rep.Video = MediaReport{Streams: 10, StreamsExpected: 10, PacketLoss: f.loss, Latency: Dist{N: 100, P50: 1, P99: f.p99}}
	rep.Bench = BenchReport{Cores: 2, CPUCores: f.benchCPU, Saturated: f.benchCPU > benchSaturated*2, JoinCPUMax: f.joinCPU,
		JoinMachineMax: f.joinCPU + f.joinOther, OtherCPU: f.other}
	rep.Server = ServerReport{Available: true, CPUCores: f.serverCPU}
	rep.Join.CompletedPerSecond = cfg.RampRate
	return rep
}

func limitBase() Config {
	c := Default()
	c.URL, c.APIKey = "http://127.0.0.1:1", "key"
	return c
}

// The search raises the load by the step, runs each step for the step
// duration, and stops at the first step outside a threshold, reporting
// the one before; a bench out of CPU is named as the limit.
func TestFindLimitStepping(t *testing.T) {
	good := fakeStep{loss: 0.001, p99: 20, benchCPU: 0.3, serverCPU: 0.3}
	for _, tc := range []struct {
		name     string
		base     func(*Config)
		dim      Dimension
		step     float64
		steps    []fakeStep // by step; missing ones are good
		maxSteps int
		wantRun  int
		wantGood int // index into Steps; -1 none
		wantLoad []float64
		stopped  string
		benchLim bool
	}{
		{name: "loss breaks at step 4", dim: DimRooms, step: 2, steps: []fakeStep{good, good, good, {loss: 0.02, p99: 20}},
			maxSteps: 10, wantRun: 4, wantGood: 2, wantLoad: []float64{1, 3, 5, 7}, stopped: "packet loss 2.00 %"},
		{name: "p99 breaks at step 2", steps: []fakeStep{good, {loss: 0, p99: 250}},
			maxSteps: 10, wantRun: 2, wantGood: 0, wantLoad: []float64{3, 4}, stopped: "p99 250.0 ms"},
		{name: "a failed join ends it at once", steps: []fakeStep{{failed: 1, p99: 5}},
			maxSteps: 10, wantRun: 1, wantGood: -1, stopped: "1 of 3 joins failed"},
		{name: "bench saturated", steps: []fakeStep{good, {benchCPU: 1.8, loss: 0.05, p99: 500}},
			maxSteps: 10, wantRun: 2, wantGood: 0, stopped: "the bench was the limit", benchLim: true},
		{name: "machine saturated, bench the larger", steps: []fakeStep{good, good, {benchCPU: 1.1, serverCPU: 0.8, loss: 0.03}},
			maxSteps: 10, wantRun: 3, wantGood: 1, stopped: "machine saturated", benchLim: true},
		{name: "machine saturated, server the larger", steps: []fakeStep{{benchCPU: 0.7, serverCPU: 1.2, loss: 0.03}},
			maxSteps: 10, wantRun: 1, wantGood: -1, stopped: "packet loss 3.00 %"},
		{name: "bench saturated while joining", steps: []fakeStep{good, {joinCPU: 1.7, p99: 300}},
			maxSteps: 10, wantRun: 2, wantGood: 0, stopped: "while joining: the bench was the limit", benchLim: true},
		{name: "machine full while joining, the bench most of it", steps: []fakeStep{good, {joinCPU: 1.2, joinOther: 0.7, p99: 300}},
			maxSteps: 10, wantRun: 2, wantGood: 0, stopped: "machine was saturated while joining", benchLim: true},
		{name: "machine full while joining, a neighbour most of it", steps: []fakeStep{good, {joinCPU: 0.5, joinOther: 1.5, other: 1.2, p99: 300}},
			maxSteps: 10, wantRun: 2, wantGood: 0, stopped: "other processes took 1.20 cores"},
		{name: "busy join but a good step goes on", steps: []fakeStep{{joinCPU: 1.7, p99: 5}},
			maxSteps: 2, wantRun: 2, wantGood: 1, stopped: "every one of 2 steps"},
		{name: "run error", steps: []fakeStep{good, {err: errors.New("boom"), noReport: true}},
			maxSteps: 10, wantRun: 2, wantGood: 0, stopped: "run failed: boom"},
		{name: "all good: bounded by max steps", maxSteps: 3, wantRun: 3, wantGood: 2, wantLoad: []float64{3, 4, 5}, stopped: "every one of 3 steps"},
		{name: "room size bound", base: func(c *Config) { c.VideoPublishers = 48 }, maxSteps: 10, wantRun: 3, wantGood: 2,
			wantLoad: []float64{48, 49, 50}, stopped: "beyond the bench's bounds"},
		{name: "webinar subscribers", base: func(c *Config) { c.Scenario, c.VideoPublishers, c.Subscribers = Webinar, 2, 10 },
			step: 10, steps: []fakeStep{good, {loss: 0.5}}, maxSteps: 5, wantRun: 2, wantGood: 0, wantLoad: []float64{10, 20}},
		{name: "p2p ramp", base: func(c *Config) { c.Scenario, c.Rooms = P2P, 20 }, dim: DimRamp, step: 5,
			maxSteps: 3, wantRun: 3, wantGood: 2, wantLoad: []float64{10, 15, 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := limitBase()
			if tc.base != nil {
				tc.base(&cfg)
			}
			lc := DefaultLimit()
			lc.Dimension, lc.Step, lc.MaxSteps, lc.StepDuration, lc.Cooldown = tc.dim, max(tc.step, 1), tc.maxSteps, 3*time.Second, 0
			var ran []Config
			fake := func(_ context.Context, c Config) (*Report, error) {
				ran = append(ran, c)
				f := fakeStep{p99: 10}
				if i := len(ran) - 1; i < len(tc.steps) {
					f = tc.steps[i]
				}
				if f.noReport {
					return nil, f.err
				}
				return f.report(c), f.err
			}
			lr, err := findLimit(context.Background(), cfg, lc, fake)
			if err != nil {
				t.Fatal(err)
			}
			if len(ran) != tc.wantRun || len(lr.Steps) != tc.wantRun {
				t.Fatalf("ran %d steps (%d reported), want %d; stopped: %s", len(ran), len(lr.Steps), tc.wantRun, lr.Stopped)
			}
			if lr.LastGood != tc.wantGood {
				t.Errorf("last good %d, want %d; stopped: %s", lr.LastGood, tc.wantGood, lr.Stopped)
			}
			for i, want := range tc.wantLoad {
				if lr.Steps[i].Load != want || loadOf(ran[i], lr.Dimension) != want {
					t.Errorf("step %d: load %v (config %v), want %v", i+1, lr.Steps[i].Load, loadOf(ran[i], lr.Dimension), want)
				}
			}
			for i, c := range ran {
				if c.Duration != 3*time.Second {
					t.Errorf("step %d ran for %v, want the step duration", i+1, c.Duration)
				}
			}
			if !strings.Contains(lr.Stopped, tc.stopped) || lr.BenchLimited != tc.benchLim {
				t.Errorf("stopped %q (bench limited %t), want %q (%t)", lr.Stopped, lr.BenchLimited, tc.stopped, tc.benchLim)
			}
			var sum strings.Builder
			if err := lr.WriteSummary(&sum); err != nil || !strings.Contains(sum.String(), "stopped:") {
				t.Errorf("summary: %v\n%s", err, &sum)
			}
		})
	}
}

// The ramp search also stops when joins complete slower than offered.
func TestFindLimitRampFallsBehind(t *testing.T) {
	cfg := limitBase()
	cfg.Scenario, cfg.Rooms = P2P, 20
	lc := DefaultLimit()
	lc.Dimension, lc.Step, lc.Cooldown = DimRamp, 10, 0
	lr, err := findLimit(context.Background(), cfg, lc, func(_ context.Context, c Config) (*Report, error) {
		rep := fakeStep{p99: 5}.report(c)
		rep.Join.CompletedPerSecond = min(c.RampRate, 25)
		return rep, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b := lr.Best(); b == nil || b.Load != 20 || !strings.Contains(lr.Stopped, "fell behind") {
		t.Errorf("best %+v, stopped %q; want ramp 20 and fell behind at 30", b, lr.Stopped)
	}
}

func TestLimitConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		s    Scenario
		edit func(*LimitConfig)
	}{
		"unknown dimension":       {Conference, func(l *LimitConfig) { l.Dimension = "bananas" }},
		"participants of webinar": {Webinar, func(l *LimitConfig) { l.Dimension = DimParticipants }},
		"subscribers of p2p":      {P2P, func(l *LimitConfig) { l.Dimension = DimSubscribers }},
		"fractional rooms":        {Conference, func(l *LimitConfig) { l.Dimension, l.Step = DimRooms, 1.5 }},
		"no steps":                {Conference, func(l *LimitConfig) { l.MaxSteps = 0 }},
		"too many steps":          {Conference, func(l *LimitConfig) { l.MaxSteps = maxLimitSteps + 1 }},
		"loss as percent":         {Conference, func(l *LimitConfig) { l.MaxLoss = 1 }},
		"endless step":            {Conference, func(l *LimitConfig) { l.StepDuration = 2 * time.Hour }},
	} {
		lc := DefaultLimit()
		lc.Step = 1
		tc.edit(&lc)
		if err := lc.Validate(tc.s); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	lc := DefaultLimit()
	lc.Step = 2.5
	lc.Dimension = DimRamp
	if err := lc.Validate(P2P); err != nil {
		t.Errorf("ramp 2.5: %v", err)
	}
}
