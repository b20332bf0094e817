package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Dimension is what a limit search raises from step to step.
type Dimension string

// Dimensions.
const (
	// DimAuto picks by scenario: participants per conference room,
	// subscribers of a webinar, p2p consultations.
	DimAuto Dimension = ""
	// DimParticipants: conference participants per room (all publish).
	DimParticipants Dimension = "participants"
	// DimRooms: conference rooms, or p2p consultations.
	DimRooms Dimension = "rooms"
	// DimSubscribers: receive-only subscribers per room.
	DimSubscribers Dimension = "subscribers"
	// DimRamp: joins started per second (p2p: what signaling sustains).
	DimRamp Dimension = "ramp"
)

// LimitConfig is a limit search: the run's Config is the first step, and
// each further step adds Step to Dimension, measured for StepDuration,
// until a step fails its thresholds or MaxSteps have run.
type LimitConfig struct {
	Dimension    Dimension
	Step         float64
	MaxSteps     int
	StepDuration time.Duration
	// A step is good while packet loss ≤ MaxLoss (a fraction), frame
	// latency p99 ≤ MaxP99, every join succeeds, every expected stream
	// delivers, and (when set) join p95 ≤ MaxJoinP95.
	MaxLoss    float64
	MaxP99     time.Duration
	MaxJoinP95 time.Duration
	// Cooldown is the pause between steps, for the server to close the
	// last step's connections.
	Cooldown time.Duration
}

// maxLimitSteps bounds a search.
const maxLimitSteps = 50

// DefaultLimit is the criterion: loss over 1 % or p99 over 200 ms.
func DefaultLimit() LimitConfig {
	return LimitConfig{MaxSteps: 10, StepDuration: 10 * time.Second, MaxLoss: 0.01, MaxP99: 200 * time.Millisecond, Cooldown: 2 * time.Second}
}

// Validate checks lc against the scenario it will step.
func (lc *LimitConfig) Validate(s Scenario) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: find-limit: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	d := lc.dimension(s)
	switch {
	case d != DimParticipants && d != DimRooms && d != DimSubscribers && d != DimRamp:
		return bad("unknown dimension %q (participants, rooms, subscribers, ramp)", lc.Dimension)
	case d == DimParticipants && s != Conference:
		return bad("participants per room step conference rooms only; use subscribers or rooms")
	case d == DimSubscribers && s == P2P:
		return bad("p2p consultations have no subscribers; use rooms or ramp")
	case lc.Step <= 0 || (d != DimRamp && lc.Step != math.Trunc(lc.Step)):
		return bad("step %v: want a positive whole number (ramp: any positive number)", lc.Step)
	case lc.MaxSteps < 1 || lc.MaxSteps > maxLimitSteps:
		return bad("max steps %d out of range 1..%d", lc.MaxSteps, maxLimitSteps)
	case lc.StepDuration <= 0 || lc.StepDuration > time.Hour:
		return bad("step duration %v out of range (0, 1h]", lc.StepDuration)
	case lc.MaxLoss <= 0 || lc.MaxLoss >= 1:
		return bad("loss threshold %v: want a fraction in (0, 1)", lc.MaxLoss)
	case lc.MaxP99 <= 0:
		return bad("p99 threshold must be positive")
	case lc.MaxJoinP95 < 0 || lc.Cooldown < 0 || lc.Cooldown > time.Minute:
		return bad("join p95 threshold and cooldown must be ≥ 0 (cooldown ≤ 1m)")
	}
	return nil
}

func (lc *LimitConfig) dimension(s Scenario) Dimension {
	if lc.Dimension != DimAuto {
		return lc.Dimension
	}
	switch s {
	case Conference:
		return DimParticipants
	case Webinar:
		return DimSubscribers
	}
	return DimRooms
}

// StepResult is one step of a search, in figures.
type StepResult struct {
	Step int `json:"step"`
	// Load is the dimension's value at this step.
	Load         float64 `json:"load"`
	Participants int     `json:"participants"`
	Joined       int     `json:"joined"`
	// VideoStreams are (receiver, publisher) video streams that delivered:
	// the forwarded video streams the SFU held.
	VideoStreams    int     `json:"video_streams"`
	OutMbps         float64 `json:"out_mbps"`
	OutPPS          float64 `json:"out_pps"`
	ServerCPU       float64 `json:"server_cpu_cores"`
	BenchCPU        float64 `json:"bench_cpu_cores"`
	OtherCPU        float64 `json:"other_cpu_cores"`
	MicrosPerPacket float64 `json:"us_per_packet_out"`
	MicrosPerMbit   float64 `json:"us_per_mbit_out"`
	PacketLoss      float64 `json:"packet_loss"`
	FrameLoss       float64 `json:"frame_loss"`
	P50Ms           float64 `json:"latency_p50_ms"`
	P99Ms           float64 `json:"latency_p99_ms"`
	JoinP95Ms       float64 `json:"join_p95_ms"`
	JoinsPerSecond  float64 `json:"joins_completed_per_s"`
	// Good: within every threshold. Reason says why not.
	Good   bool   `json:"good"`
	Reason string `json:"reason,omitempty"`
	// BenchLimited: the bench, not the server, ran out of CPU.
	BenchLimited bool    `json:"bench_limited,omitempty"`
	Report       *Report `json:"report,omitempty"`
}

// LimitReport is a whole search.
type LimitReport struct {
	Scenario  Scenario     `json:"scenario"`
	Dimension Dimension    `json:"dimension"`
	Criteria  string       `json:"criteria"`
	Steps     []StepResult `json:"steps"`
	// LastGood indexes Steps; -1 when even the first step failed.
	LastGood int `json:"last_good"`
	// Stopped says why the search ended.
	Stopped      string `json:"stopped"`
	BenchLimited bool   `json:"bench_limited"`
}

// stepRunner runs one step; Run in earnest, a fake in tests.
type stepRunner func(ctx context.Context, cfg Config) (*Report, error)

// FindLimit raises cfg's load step by step (see LimitConfig) and
// reports the last step within the thresholds. Each step is a whole Run:
// it creates its rooms and deletes them when done. A step that fails
// ends the search; so does one in which the bench itself saturated, and
// then the report says the bench was the limit, not the server.
func FindLimit(ctx context.Context, cfg Config, lc LimitConfig) (*LimitReport, error) {
	return findLimit(ctx, cfg, lc, Run)
}

func findLimit(ctx context.Context, cfg Config, lc LimitConfig, runStep stepRunner) (*LimitReport, error) {
	if err := lc.Validate(cfg.Scenario); err != nil {
		return nil, err
	}
	dim := lc.dimension(cfg.Scenario)
	lc.Dimension = dim
	cfg.Duration = lc.StepDuration
	start := loadOf(cfg, dim)
	out := &LimitReport{Scenario: cfg.Scenario, Dimension: dim, LastGood: -1, Criteria: lc.criteria()}
	for i := range lc.MaxSteps {
		load := start + float64(i)*lc.Step
		step := cfg
		setLoad(&step, dim, load)
		if err := step.Validate(); err != nil {
			if i == 0 {
				return nil, err
			}
			out.Stopped = fmt.Sprintf("next step (%s %v) is beyond the bench's bounds: %v", dim, load, err)
			return out, nil
		}
		if i > 0 && !sleepCtx(ctx, lc.Cooldown) {
			break
		}
		if cfg.Logger != nil {
			cfg.Logger.Info("limit step", "step", i+1, "dimension", dim, "load", load)
		}
		rep, err := runStep(ctx, step)
		res := lc.judge(i+1, load, step, rep, err)
		out.Steps = append(out.Steps, res)
		if cfg.Progress != nil {
			fmt.Fprintln(cfg.Progress, res.line(dim))
		}
		if !res.Good {
			out.Stopped = fmt.Sprintf("step %d (%s %v): %s", i+1, dim, load, res.Reason)
			out.BenchLimited = res.BenchLimited
			return out, nil
		}
		out.LastGood = len(out.Steps) - 1
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		out.Stopped = "interrupted: " + ctx.Err().Error()
		return out, nil
	}
	out.Stopped = fmt.Sprintf("every one of %d steps was good: raise --limit-max-steps or --limit-step", lc.MaxSteps)
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (lc *LimitConfig) criteria() string {
	s := fmt.Sprintf("packet loss ≤ %.2g %%, frame latency p99 ≤ %v, every join succeeds, every stream delivers, bench not saturated",
		lc.MaxLoss*100, lc.MaxP99)
	if lc.MaxJoinP95 > 0 {
		s += fmt.Sprintf(", join p95 ≤ %v", lc.MaxJoinP95)
	}
	if lc.Dimension == DimRamp {
		s += ", joins complete at ≥ 90 % of the offered ramp"
	}
	return s
}

func loadOf(c Config, d Dimension) float64 {
	switch d {
	case DimParticipants:
		return float64(c.VideoPublishers)
	case DimRooms:
		return float64(c.Rooms)
	case DimSubscribers:
		return float64(c.Subscribers)
	}
	return c.RampRate
}

func setLoad(c *Config, d Dimension, v float64) {
	switch d {
	case DimParticipants:
		c.VideoPublishers = int(v)
	case DimRooms:
		c.Rooms = int(v)
	case DimSubscribers:
		c.Subscribers = int(v)
	case DimRamp:
		c.RampRate = v
	}
}

// judge turns one step's report into a verdict. Order matters: a bench
// that ran out of CPU explains any loss or latency that came with it.
func (lc *LimitConfig) judge(n int, load float64, cfg Config, rep *Report, err error) StepResult {
	res := StepResult{Step: n, Load: load, Participants: cfg.Participants()}
	if rep == nil {
		res.Reason = "run failed: " + errString(err)
		return res
	}
	res.Report = rep
	res.fill(rep)
	p99 := time.Duration(res.P99Ms * float64(time.Millisecond))
	benchLimited, why := benchLimit(rep)
	switch {
	case benchLimited:
		res.BenchLimited, res.Reason = true, why
	case err != nil:
		res.Reason = "run failed: " + err.Error()
	case rep.Participants.Failed > 0:
		res.Reason = fmt.Sprintf("%d of %d joins failed", rep.Participants.Failed, rep.Participants.Wanted)
	case rep.Video.Streams < rep.Video.StreamsExpected || rep.Audio.Streams < rep.Audio.StreamsExpected:
		res.Reason = fmt.Sprintf("streams delivered: video %d of %d, audio %d of %d",
			rep.Video.Streams, rep.Video.StreamsExpected, rep.Audio.Streams, rep.Audio.StreamsExpected)
	case res.PacketLoss > lc.MaxLoss:
		res.Reason = fmt.Sprintf("packet loss %.2f %% > %.2g %%", res.PacketLoss*100, lc.MaxLoss*100)
	case p99 > lc.MaxP99:
		res.Reason = fmt.Sprintf("latency p99 %.1f ms > %v", res.P99Ms, lc.MaxP99)
	case lc.MaxJoinP95 > 0 && res.JoinP95Ms > ms(lc.MaxJoinP95):
		res.Reason = fmt.Sprintf("join p95 %.0f ms > %v", res.JoinP95Ms, lc.MaxJoinP95)
	case lc.Dimension == DimRamp && res.JoinsPerSecond < 0.9*cfg.RampRate:
		res.Reason = fmt.Sprintf("joins completed at %.1f/s, offered %.1f/s: joining fell behind", res.JoinsPerSecond, cfg.RampRate)
	default:
		res.Good = true
	}
	if !res.Good && !res.BenchLimited {
		res.BenchLimited, why = joinBenchLimit(rep)
		if res.BenchLimited {
			res.Reason += "; " + why
		}
	}
	if !res.Good && !res.BenchLimited && res.OtherCPU > noisyNeighbour*float64(runtime.NumCPU()) {
		res.Reason += fmt.Sprintf(" (other processes took %.2f cores meanwhile: the machine, not only the server, may be the limit; rerun)", res.OtherCPU)
	}
	return res
}

// benchLimit says whether the bench, rather than the server, was out of
// CPU: it used more than benchSaturated of its cores, or the machine
// (server and bench together, both local) was saturated and the bench
// used more of it than the server did.
func benchLimit(rep *Report) (bool, string) {
	b := rep.Bench
	if b.Saturated {
		return true, fmt.Sprintf("the bench used %.2f of %d cores: the bench was the limit, not the server", b.CPUCores, b.Cores)
	}
	if rep.Server.InProcess || !rep.Server.Available {
		return false, ""
	}
	total := b.CPUCores + rep.Server.CPUCores
	if total > machineSaturated*float64(runtime.NumCPU()) && b.CPUCores > rep.Server.CPUCores && b.CPUCores > b.OtherCPU {
		return true, fmt.Sprintf("machine saturated (bench %.2f + server %.2f cores of %d) and the bench used more: the bench was the limit, not the server",
			b.CPUCores, rep.Server.CPUCores, runtime.NumCPU())
	}
	return false, ""
}

// joinBenchLimit says whether the bench ran out of CPU while the
// participants joined (the ramp: ICE and DTLS on both sides of every
// p2p call happen in the bench): a failed step is then the bench's.
func joinBenchLimit(rep *Report) (bool, string) {
	b := rep.Bench
	if b.Cores > 0 && b.JoinCPUMax > benchSaturated*float64(b.Cores) {
		return true, fmt.Sprintf("the bench used up to %.2f of %d cores while joining: the bench was the limit, not the server", b.JoinCPUMax, b.Cores)
	}
	// The machine was full: the bench is to blame only when it used
	// most of it, not when a neighbour did.
	if !rep.Server.InProcess && b.JoinMachineMax > machineSaturated*float64(runtime.NumCPU()) && b.JoinCPUMax > b.JoinMachineMax/2 {
		return true, fmt.Sprintf("the machine was saturated while joining (up to %.2f of %d cores, the bench up to %.2f): the bench was the limit, not the server",
			b.JoinMachineMax, runtime.NumCPU(), b.JoinCPUMax)
	}
	return false, ""
}

func (res *StepResult) fill(rep *Report) {
	res.Joined = rep.Participants.Joined
	res.VideoStreams = rep.Video.Streams
	res.OutMbps, res.OutPPS = rep.Traffic.OutMbps, rep.Traffic.OutPPS
	res.ServerCPU, res.BenchCPU, res.OtherCPU = rep.Server.CPUCores, rep.Bench.CPUCores, rep.Bench.OtherCPU
	res.MicrosPerPacket, res.MicrosPerMbit = rep.Server.MicrosPerPacketOut, rep.Server.MicrosPerMbitOut
	res.PacketLoss = max(rep.Video.PacketLoss, rep.Audio.PacketLoss)
	res.FrameLoss = max(rep.Video.FrameLoss, rep.Audio.FrameLoss)
	res.P50Ms = max(rep.Video.Latency.P50, rep.Audio.Latency.P50)
	res.P99Ms = max(rep.Video.Latency.P99, rep.Audio.Latency.P99)
	res.JoinP95Ms = rep.Join.Total.P95
	res.JoinsPerSecond = rep.Join.CompletedPerSecond
}

// line is the step in one line, for the progress output.
func (res *StepResult) line(dim Dimension) string {
	verdict := "good"
	if !res.Good {
		verdict = "STOP: " + res.Reason
	}
	return fmt.Sprintf("step %d, %s %g: %d/%d joined, %d video streams, out %.1f Mbit/s, server %.2f cores (%.1f µs/packet), bench %.2f cores, loss %.3f %%, p99 %.1f ms: %s",
		res.Step, dim, res.Load, res.Joined, res.Participants, res.VideoStreams, res.OutMbps, res.ServerCPU, res.MicrosPerPacket,
		res.BenchCPU, res.PacketLoss*100, res.P99Ms, verdict)
}

func errString(err error) string {
	if err == nil {
		return "no report"
	}
	return err.Error()
}

// Best is the last good step, or nil.
func (lr *LimitReport) Best() *StepResult {
	if lr.LastGood < 0 || lr.LastGood >= len(lr.Steps) {
		return nil
	}
	return &lr.Steps[lr.LastGood]
}

// WriteSummary writes the search as a table, one row per step, and the
// verdict.
func (lr *LimitReport) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "find-limit %s: stepping %s; good while %s\n", lr.Scenario, lr.Dimension, lr.Criteria)
	fmt.Fprintf(tw, "step\t%s\tjoined\tvideo streams\tout Mbit/s\tout pkt/s\tserver cores\tbench cores\tother cores\tµs/pkt\tµs/Mbit\tpkt loss %%\tp50 ms\tp99 ms\tjoin p95 ms\tjoins/s\tverdict\n", lr.Dimension)
	for _, s := range lr.Steps {
		verdict := "good"
		if !s.Good {
			verdict = "STOP: " + s.Reason
		}
		fmt.Fprintf(tw, "%d\t%g\t%d/%d\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%.3f\t%.1f\t%.1f\t%.0f\t%.1f\t%s\n",
			s.Step, s.Load, s.Joined, s.Participants, s.VideoStreams, s.OutMbps, s.OutPPS, s.ServerCPU, s.BenchCPU, s.OtherCPU,
			s.MicrosPerPacket, s.MicrosPerMbit, s.PacketLoss*100, s.P50Ms, s.P99Ms, s.JoinP95Ms, s.JoinsPerSecond, verdict)
	}
	if b := lr.Best(); b != nil {
		fmt.Fprintf(tw, "last good step: %s %g: %d video streams forwarded, %.1f Mbit/s out, server %.2f cores, %.1f µs per packet, p99 %.1f ms, loss %.3f %%\n",
			lr.Dimension, b.Load, b.VideoStreams, b.OutMbps, b.ServerCPU, b.MicrosPerPacket, b.P99Ms, b.PacketLoss*100)
	} else {
		fmt.Fprintln(tw, "no good step: even the first load failed the thresholds")
	}
	fmt.Fprintf(tw, "stopped: %s\n", lr.Stopped)
	if lr.BenchLimited {
		fmt.Fprintln(tw, "WARNING: the bench was the limit, not the server: run it from another machine to find the server's")
	}
	return tw.Flush()
}

// WriteJSON writes the search as indented JSON, each step with its full
// report.
func (lr *LimitReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(lr)
}

// WriteHTML writes the search as a self-contained page: the steps table,
// charts of cost and quality against load, and the last good step's
// full report.
func (lr *LimitReport) WriteHTML(w io.Writer) error {
	var b bytes.Buffer
	title := fmt.Sprintf("konsil-bench find-limit: %s, stepping %s", lr.Scenario, lr.Dimension)
	fmt.Fprintf(&b, htmlHead, html.EscapeString(title))
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>Good while %s.</p>\n<p><b>Stopped:</b> %s</p>\n",
		html.EscapeString(title), html.EscapeString(lr.Criteria), html.EscapeString(lr.Stopped))
	if lr.BenchLimited {
		b.WriteString("<p class=\"warn\">The bench was the limit, not the server.</p>\n")
	}
	var sum strings.Builder
	_ = lr.WriteSummary(&sum)
	lines := strings.Split(sum.String(), "\n")
	b.WriteString("<table>\n")
	for _, l := range lines[1 : 2+len(lr.Steps)] {
		b.WriteString("<tr>")
		for _, c := range splitColumns(l) {
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n<div class=\"charts\">\n")
	for _, c := range lr.charts() {
		b.WriteString(c.svg())
		b.WriteString("\n")
	}
	b.WriteString("</div>\n")
	if best := lr.Best(); best != nil && best.Report != nil {
		fmt.Fprintf(&b, "<h2>Last good step: %s %g</h2>\n", html.EscapeString(string(lr.Dimension)), best.Load)
		best.Report.htmlBody(&b)
	}
	b.WriteString("</body></html>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (lr *LimitReport) charts() []chart {
	line := func(name, color string, f func(StepResult) float64) series {
		s := series{name: name, color: color}
		for _, st := range lr.Steps {
			s.pts = append(s.pts, xy{st.Load, f(st)})
		}
		return s
	}
	x := string(lr.Dimension)
	return []chart{
		{title: "CPU against load", xLabel: x, yLabel: "cores", series: []series{
			line("server", colorServer, func(s StepResult) float64 { return s.ServerCPU }),
			line("bench", colorBench, func(s StepResult) float64 { return s.BenchCPU })}},
		{title: "Server CPU per packet out", xLabel: x, yLabel: "µs", series: []series{
			line("µs per packet", colorServer, func(s StepResult) float64 { return s.MicrosPerPacket })}},
		{title: "Latency against load", xLabel: x, yLabel: "ms", series: []series{
			line("p50", colorVideo, func(s StepResult) float64 { return s.P50Ms }),
			line("p99", colorAudio, func(s StepResult) float64 { return s.P99Ms })}},
		{title: "Packet loss against load", xLabel: x, yLabel: "%", series: []series{
			line("packet loss", colorVideo, func(s StepResult) float64 { return s.PacketLoss * 100 })}},
	}
}
