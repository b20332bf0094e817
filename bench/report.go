package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// window is the measured stretch of a run: from start to end.
type window struct{ start, end point }

func (w window) seconds() float64 { return (w.end.at - w.start.at).Seconds() }

// Report is the outcome of a run, as printed and as JSON.
type Report struct {
	Preset   string    `json:"preset,omitempty"`
	Scenario Scenario  `json:"scenario"`
	Started  time.Time `json:"started"`
	Shape    Shape     `json:"shape"`
	// MeasuredSeconds is the window every figure below except Join
	// covers: from the settle after the last join to the end.
	MeasuredSeconds float64 `json:"measured_seconds"`

	Participants Participants `json:"participants"`
	Join         JoinReport   `json:"join"`
	Video        MediaReport  `json:"video"`
	Audio        MediaReport  `json:"audio"`
	Traffic      Traffic      `json:"traffic"`
	Server       ServerReport `json:"server"`
	Bench        BenchReport  `json:"bench"`

	Notes    []string `json:"notes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Timeline []Sample `json:"timeline,omitempty"`
}

// Shape is the load asked for.
type Shape struct {
	Rooms            int     `json:"rooms"`
	VideoPublishers  int     `json:"video_publishers_per_room"`
	AudioPublishers  int     `json:"audio_publishers_per_room"`
	Subscribers      int     `json:"subscribers_per_room"`
	PublisherAudio   bool    `json:"video_publishers_send_audio"`
	VideoKbps        float64 `json:"video_kbps"`
	AudioKbps        float64 `json:"audio_kbps"`
	FrameRate        int     `json:"frame_rate"`
	KeyframeInterval float64 `json:"keyframe_interval_s"`
	SimulcastLayers  int     `json:"simulcast_layers"`
	// ViewWidth × ViewHeight is the tile size receivers told the SFU.
	ViewWidth       int     `json:"view_width,omitempty"`
	ViewHeight      int     `json:"view_height,omitempty"`
	E2EE            bool    `json:"e2ee"`
	Relay           bool    `json:"relay,omitempty"`
	DurationSeconds float64 `json:"duration_s"`
}

// Participants counts joins.
type Participants struct {
	Wanted int      `json:"wanted"`
	Joined int      `json:"joined"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"` // the first few
}

// JoinReport splits the join into steps, each from the end of the one
// before: API (REST join answered), WebSocket (signaling welcome), ICE
// (ICE connected), FirstFrame (first frame received and decrypted).
// Connected is from the welcome to the PeerConnection connected with its
// data channel open (what the SDK's WaitConnected waits for; media may
// arrive before it). Total is from the start to the first frame. In a
// p2p consultation the side that starts first waits for the other, so
// there every step from the WebSocket on, and Total, count from the
// later side's start and welcome.
type JoinReport struct {
	API        Dist `json:"api"`
	WebSocket  Dist `json:"websocket"`
	ICE        Dist `json:"ice"`
	Connected  Dist `json:"connected"`
	FirstFrame Dist `json:"first_frame"`
	Total      Dist `json:"total"`
	// CompletedPerSecond is the rate joins completed at: (n-1) over the
	// time from the first join connected to the last. With a constant
	// join time it equals OfferedPerSecond (the ramp); when the server
	// (or the bench) falls behind, joins queue and it drops below.
	CompletedPerSecond float64 `json:"completed_per_s"`
	OfferedPerSecond   float64 `json:"offered_per_s"`
}

// MediaReport is one kind of media as the receivers saw it.
type MediaReport struct {
	// Streams counts (receiver, publisher) pairs that got frames while
	// measuring; StreamsExpected is how many there should be.
	Streams         int     `json:"streams"`
	StreamsExpected int     `json:"streams_expected"`
	Frames          uint64  `json:"frames"`
	FramesLost      uint64  `json:"frames_lost"`
	FrameLoss       float64 `json:"frame_loss"` // fraction
	BadFrames       uint64  `json:"bad_frames"` // did not decrypt or no stamp
	Packets         uint64  `json:"packets"`
	PacketsLost     uint64  `json:"packets_lost"`
	PacketLoss      float64 `json:"packet_loss"`
	Latency         Dist    `json:"latency"`
	// JitterMs is the mean over streams of the RFC 3550 interarrival
	// jitter of frames; JitterMaxMs the worst stream's.
	JitterMs    float64 `json:"jitter_ms"`
	JitterMaxMs float64 `json:"jitter_max_ms"`
	// StreamKbps is the mean clear media bitrate one receiver got of one
	// publisher's track; AskedKbps what the publisher was asked to send.
	StreamKbps float64 `json:"stream_kbps"`
	AskedKbps  float64 `json:"asked_kbps"`
	// SentKbps is the mean bitrate a publisher handed to its track (all
	// simulcast layers together).
	SentKbps float64 `json:"sent_kbps"`
	// ForwardedKbps is what StreamKbps should be: the mean, over the
	// streams, of the bitrate asked of the layers each one received,
	// weighted by its frames on each (AskedKbps without simulcast).
	ForwardedKbps float64 `json:"forwarded_kbps"`
	// Layers counts video streams by the simulcast layer ("q", "h", "f";
	// "single" without simulcast) most of their measured frames came on.
	Layers map[string]int `json:"layers,omitempty"`
	// KeyframesForced counts keyframes publishers made for the SFU's
	// keyframe requests during the whole run; FirstFrameForced the
	// streams whose first frame was one of them.
	KeyframesForced  uint64 `json:"keyframes_forced,omitempty"`
	FirstFrameForced int    `json:"first_frame_forced,omitempty"`
	// LayerSwitches counts the layer changes the receivers saw while
	// measuring.
	LayerSwitches uint64 `json:"layer_switches,omitempty"`
}

// Traffic is the whole run's media in the measured window: in is what
// publishers sent to the server (clear frames), out what the server
// delivered to the receivers (RTP as received).
type Traffic struct {
	InMbps     float64 `json:"in_mbps"`
	OutMbps    float64 `json:"out_mbps"`
	OutPackets uint64  `json:"out_packets"`
	OutPPS     float64 `json:"out_pps"`
}

// ServerReport is the server process, from its /metrics.
type ServerReport struct {
	Available  bool    `json:"available"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUCores   float64 `json:"cpu_cores"`
	RSSMaxMB   float64 `json:"rss_max_mb"`
	// MicrosPerPacketOut and MicrosPerMbitOut divide the server's CPU by
	// the packets and megabits the receivers got: the cost of forwarding.
	MicrosPerPacketOut float64 `json:"us_per_packet_out"`
	MicrosPerMbitOut   float64 `json:"us_per_mbit_out"`
	// InProcess: the server ran inside the bench, so its CPU includes the
	// bench's.
	InProcess bool `json:"in_process,omitempty"`
	// Subscriptions is the SFU's count of forwarded tracks (audio and
	// video, once per subscriber) at the end of measuring. RSSGrowthMB is
	// how much the server's resident memory grew from before the first
	// join to then; KBPerSubscription divides it by Subscriptions, and
	// HeapStackKBPerSubscription does the same with the Go heap in use
	// and goroutine stacks (both include garbage not yet collected).
	Subscriptions              int     `json:"subscriptions,omitempty"`
	RSSGrowthMB                float64 `json:"rss_growth_mb,omitempty"`
	KBPerSubscription          float64 `json:"kb_per_subscription,omitempty"`
	HeapStackKBPerSubscription float64 `json:"heap_stack_kb_per_subscription,omitempty"`
}

// BenchReport is the load generator itself.
type BenchReport struct {
	Cores     int     `json:"cores"`
	CPUCores  float64 `json:"cpu_cores"`
	CPUMax    float64 `json:"cpu_cores_max"`
	Saturated bool    `json:"saturated"`
	// JoinCPUMax is the busiest second of the bench before measuring
	// (the joins: ICE and DTLS for every participant), in cores;
	// JoinMachineMax the busiest second of bench, server and other
	// processes together then.
	JoinCPUMax     float64 `json:"join_cpu_cores_max"`
	JoinMachineMax float64 `json:"join_machine_cores_max"`
	WriteFails     uint64  `json:"write_failures"`
	// OtherCPU is what other processes on the machine used while
	// measuring, in cores (local server on Linux only): a noisy
	// neighbour's share, which the server and bench did not get.
	OtherCPU float64 `json:"other_cpu_cores,omitempty"`
}

// Saturation thresholds: above these shares of the machine, the bench's
// figures say more about the bench (or the host) than about the server.
const (
	benchSaturated   = 0.8
	machineSaturated = 0.9
	// noisyNeighbour: other processes used more than this share of the
	// machine while measuring.
	noisyNeighbour = 0.15
)

func (r *run) report(w window) *Report {
	cfg := r.cfg
	rep := &Report{
		Preset: cfg.Preset, Scenario: cfg.Scenario, Started: r.epoch,
		Shape: Shape{
			Rooms: cfg.Rooms, VideoPublishers: cfg.VideoPublishers, AudioPublishers: cfg.AudioPublishers,
			Subscribers: cfg.Subscribers, PublisherAudio: cfg.PublisherAudio || cfg.Scenario == P2P,
			VideoKbps: float64(cfg.VideoBitrate) / 1e3, AudioKbps: float64(cfg.AudioBitrate) / 1e3,
			FrameRate: cfg.FrameRate, KeyframeInterval: cfg.KeyframeInterval.Seconds(), SimulcastLayers: r.publishedLayers(),
			E2EE: cfg.E2EE, Relay: cfg.Relay, DurationSeconds: cfg.Duration.Seconds(),
		},
		MeasuredSeconds: w.seconds(),
	}
	if cfg.Scenario != P2P {
		rep.Shape.ViewWidth, rep.Shape.ViewHeight = cfg.ViewWidth, cfg.ViewHeight
	}
	if cfg.Scenario == P2P {
		rep.Shape.VideoPublishers, rep.Shape.AudioPublishers, rep.Shape.Subscribers = 2, 0, 0
	}
	r.reportJoins(rep)
	r.reportMedia(rep, w)
	r.reportCPU(rep, w)
	rep.Notes = r.notes()
	rep.Warnings = r.warnings(rep)
	rep.Timeline = r.timeline
	return rep
}

func (r *run) reportJoins(rep *Report) {
	api, ws, ice, conn, first, total := newHistogram(), newHistogram(), newHistogram(), newHistogram(), newHistogram(), newHistogram()
	rep.Participants.Wanted = len(r.participants)
	later := r.laterPeer()
	var done []time.Duration
	for _, p := range r.participants {
		p.mu.Lock()
		t, err := p.times, p.err
		p.mu.Unlock()
		// The first side of a call cannot connect before the other is
		// in: count its setup from the later side's start and welcome.
		start, welcome := t.start, t.ws
		if l, ok := later[p.room]; ok {
			start, welcome = max(start, l.start), max(welcome, l.ws)
		}
		if err != nil {
			rep.Participants.Failed++
			if len(rep.Participants.Errors) < 5 {
				rep.Participants.Errors = append(rep.Participants.Errors, err.Error())
			}
			continue
		}
		if t.connected == 0 {
			continue
		}
		rep.Participants.Joined++
		done = append(done, t.connected)
		// Callbacks run on pion's goroutines, so a step may be noted a
		// moment after the next one: that counts as no time.
		span := func(h *histogram, from, to time.Duration) {
			if from > 0 && to > 0 {
				h.add(max(0, to-from))
			}
		}
		span(api, t.start, t.api)
		span(ws, t.api, t.ws)
		span(ice, welcome, t.ice)
		span(conn, welcome, t.connected)
		span(first, t.ice, t.firstFrame)
		span(total, start, t.firstFrame)
	}
	rep.Join = JoinReport{API: api.dist(false), WebSocket: ws.dist(false), ICE: ice.dist(false),
		Connected: conn.dist(false), FirstFrame: first.dist(false), Total: total.dist(false),
		CompletedPerSecond: completionRate(done), OfferedPerSecond: r.cfg.RampRate}
}

// laterPeer is, for p2p runs, the later start and WebSocket welcome of
// the two sides of each consultation, by room; nil otherwise.
func (r *run) laterPeer() map[int]joinTimes {
	if r.cfg.Scenario != P2P {
		return nil
	}
	out := map[int]joinTimes{}
	for _, p := range r.participants {
		p.mu.Lock()
		t := p.times
		p.mu.Unlock()
		l := out[p.room]
		l.start, l.ws = max(l.start, t.start), max(l.ws, t.ws)
		out[p.room] = l
	}
	return out
}

// completionRate is joins per second between the first and the last
// completion; 0 with fewer than two.
func completionRate(done []time.Duration) float64 {
	if len(done) < 2 {
		return 0
	}
	span := slices.Max(done) - slices.Min(done)
	if span <= 0 {
		return 0
	}
	return float64(len(done)-1) / span.Seconds()
}

// expectedStreams is how many tracks of kind the joined receivers should
// get: every participant receives every other's.
func (r *run) expectedStreams(kind string) int {
	n := 0
	for _, p := range r.participants {
		p.mu.Lock()
		ok := p.times.connected > 0 && p.err == nil
		p.mu.Unlock()
		if !ok {
			continue
		}
		for _, q := range r.participants {
			if q == p || q.room != p.room || q.role == roleSubscriber {
				continue
			}
			sendsVideo := q.role == roleVideo
			sendsAudio := q.role == roleAudio || (q.role == roleVideo && (r.cfg.PublisherAudio || r.cfg.Scenario == P2P))
			if (kind == "video" && sendsVideo) || (kind == "audio" && sendsAudio) {
				n++
			}
		}
	}
	return n
}

func (r *run) reportMedia(rep *Report, w window) {
	secs := w.seconds()
	var outPackets, outBytes uint64
	for _, kind := range []string{"video", "audio"} {
		m := MediaReport{StreamsExpected: r.expectedStreams(kind)}
		lat := newHistogram()
		var mediaBytes uint64
		var jitterSum time.Duration
		var forwardedSum float64
		for _, p := range r.participants {
			p.mu.Lock()
			streams := slices.Clone(p.streams)
			p.mu.Unlock()
			for _, s := range streams {
				if s.kind != kind {
					continue
				}
				s.mu.Lock()
				if s.frames > 0 {
					m.Streams++
					jitterSum += s.jitter
					m.JitterMaxMs = max(m.JitterMaxMs, ms(s.jitter))
					if kind == "video" {
						kbps, layer := r.forwarded(s)
						forwardedSum += kbps
						if m.Layers == nil {
							m.Layers = map[string]int{}
						}
						m.Layers[layer]++
					}
				}
				if s.firstForced {
					m.FirstFrameForced++
				}
				m.LayerSwitches += s.switches
				m.Frames += s.frames
				m.FramesLost += s.framesLost
				m.BadFrames += s.badFrames
				m.Packets += s.packets
				m.PacketsLost += s.packetsLost
				mediaBytes += s.mediaBytes
				outBytes += s.wireBytes
				lat.merge(s.latency)
				s.mu.Unlock()
			}
		}
		outPackets += m.Packets
		m.FrameLoss = ratio(m.FramesLost+m.BadFrames, m.Frames+m.FramesLost+m.BadFrames)
		m.PacketLoss = ratio(m.PacketsLost, m.Packets+m.PacketsLost)
		m.Latency = lat.dist(true)
		if m.Streams > 0 {
			m.JitterMs = ms(jitterSum / time.Duration(m.Streams))
			if secs > 0 {
				m.StreamKbps = float64(mediaBytes) * 8 / 1e3 / secs / float64(m.Streams)
			}
		}
		if kind == "video" {
			m.AskedKbps = float64(r.cfg.VideoBitrate) / 1e3
			if m.Streams > 0 {
				m.ForwardedKbps = forwardedSum / float64(m.Streams)
			}
			rep.Video = m
		} else {
			m.AskedKbps = float64(r.cfg.AudioBitrate) / 1e3
			m.ForwardedKbps = m.AskedKbps
			rep.Audio = m
		}
	}
	r.reportSent(rep, secs)
	if secs > 0 {
		rep.Traffic.OutMbps = float64(outBytes) * 8 / 1e6 / secs
		rep.Traffic.OutPPS = float64(outPackets) / secs
	}
	rep.Traffic.OutPackets = outPackets
}

// publishedLayers is how many video layers each publisher sends.
func (r *run) publishedLayers() int {
	if r.cfg.Simulcast && r.cfg.Scenario != P2P {
		return len(simulcastLayers())
	}
	return 1
}

// forwarded is the bitrate asked of the layers s received, weighted by
// its measured frames on each, in kbit/s, and the layer most of them
// came on. s.mu is held.
func (r *run) forwarded(s *streamStats) (float64, string) {
	n := r.publishedLayers()
	if n == 1 {
		return float64(r.cfg.VideoBitrate) / 1e3, "single"
	}
	var total uint64
	var kbps float64
	top := 0
	for i := range n {
		f := s.layerFrames[i]
		total += f
		kbps += float64(f) * float64(layerBitrate(r.cfg.VideoBitrate, i, n)) / 1e3
		if f > s.layerFrames[top] {
			top = i
		}
	}
	if total == 0 {
		return 0, simulcastLayers()[top].rid
	}
	return kbps / float64(total), simulcastLayers()[top].rid
}

// reportSent fills what the publishers sent.
func (r *run) reportSent(rep *Report, secs float64) {
	var vBytes, aBytes uint64
	var vPubs, aPubs int
	for _, p := range r.participants {
		p.mu.Lock()
		src := p.src
		p.mu.Unlock()
		if src == nil {
			continue
		}
		if len(src.layers) > 0 {
			vPubs++
			vBytes += src.videoBytes.Load()
			rep.Video.KeyframesForced += src.keyframesForced.Load()
		}
		if src.audio != nil {
			aPubs++
			aBytes += src.audioBytes.Load()
		}
		rep.Bench.WriteFails += src.writeErrors.Load()
	}
	if secs <= 0 {
		return
	}
	if vPubs > 0 {
		rep.Video.SentKbps = float64(vBytes) * 8 / 1e3 / secs / float64(vPubs)
	}
	if aPubs > 0 {
		rep.Audio.SentKbps = float64(aBytes) * 8 / 1e3 / secs / float64(aPubs)
	}
	rep.Traffic.InMbps = float64(vBytes+aBytes) * 8 / 1e6 / secs
}

func (r *run) reportCPU(rep *Report, w window) {
	secs := w.seconds()
	rep.Bench.Cores = cores()
	rep.Server.InProcess = r.cfg.ServerInProcess
	if secs <= 0 {
		return
	}
	rep.Bench.CPUCores = (w.end.benchCPU - w.start.benchCPU).Seconds() / secs
	for _, s := range r.timeline {
		if s.Measuring {
			rep.Bench.CPUMax = max(rep.Bench.CPUMax, s.BenchCPU)
		} else if rep.MeasuredSeconds == 0 || s.T <= w.start.at.Seconds() {
			rep.Bench.JoinCPUMax = max(rep.Bench.JoinCPUMax, s.BenchCPU)
			rep.Bench.JoinMachineMax = max(rep.Bench.JoinMachineMax, s.BenchCPU+s.ServerCPU+s.OtherCPU)
		}
		rep.Server.RSSMaxMB = max(rep.Server.RSSMaxMB, s.ServerRSSMB)
	}
	rep.Bench.CPUMax = max(rep.Bench.CPUMax, rep.Bench.CPUCores)
	if r.localServer() && w.start.hostOK && w.end.hostOK && w.start.serverOK && w.end.serverOK {
		rep.Bench.OtherCPU = otherCores(w.start, w.end, secs)
	}
	rep.Bench.Saturated = rep.Bench.CPUCores > benchSaturated*float64(rep.Bench.Cores)
	if w.start.serverOK && w.end.serverOK {
		rep.Server.Available = true
		rep.Server.CPUSeconds = w.end.server.CPUSeconds - w.start.server.CPUSeconds
		rep.Server.CPUCores = rep.Server.CPUSeconds / secs
		rep.Server.RSSMaxMB = max(rep.Server.RSSMaxMB, w.end.server.RSSBytes/1e6)
		us := rep.Server.CPUSeconds * 1e6
		if rep.Traffic.OutPackets > 0 {
			rep.Server.MicrosPerPacketOut = us / float64(rep.Traffic.OutPackets)
		}
		if mbit := rep.Traffic.OutMbps * secs; mbit > 0 {
			rep.Server.MicrosPerMbitOut = us / mbit
		}
		r.reportMemory(rep, w)
	}
}

// reportMemory sets the server's memory growth per forwarded
// subscription, from before the first join to the end of measuring.
func (r *run) reportMemory(rep *Report, w window) {
	base, end := r.baseline, w.end
	if !base.serverOK || end.server.Subscriptions <= 0 {
		return
	}
	subs := end.server.Subscriptions
	rep.Server.Subscriptions = int(subs)
	rep.Server.RSSGrowthMB = (end.server.RSSBytes - base.server.RSSBytes) / 1e6
	rep.Server.KBPerSubscription = (end.server.RSSBytes - base.server.RSSBytes) / 1e3 / subs
	goMem := func(u serverUsage) float64 { return u.HeapBytes + u.StackBytes }
	rep.Server.HeapStackKBPerSubscription = (goMem(end.server) - goMem(base.server)) / 1e3 / subs
}

func (r *run) warnings(rep *Report) []string {
	var out []string
	if rep.Bench.Saturated {
		out = append(out, fmt.Sprintf("the bench used %.2f of %d cores (> %.0f %%): the load generator is saturated; latency and loss may be its own, not the server's",
			rep.Bench.CPUCores, rep.Bench.Cores, benchSaturated*100))
	}
	local := r.cfg.LoopbackOnly && !r.cfg.ServerInProcess
	if total := rep.Bench.CPUCores + rep.Server.CPUCores; local && total > machineSaturated*float64(runtime.NumCPU()) {
		out = append(out, fmt.Sprintf("server and bench together used %.2f of this machine's %d cores: both are CPU-bound here; run the bench on another machine for the server's limit",
			total, runtime.NumCPU()))
	}
	if rep.Bench.OtherCPU > noisyNeighbour*float64(runtime.NumCPU()) {
		out = append(out, fmt.Sprintf("other processes used %.2f of this machine's %d cores while measuring: server and bench got less CPU than they wanted; rerun on a quiet machine",
			rep.Bench.OtherCPU, runtime.NumCPU()))
	}
	if !rep.Server.Available {
		out = append(out, "the server's /metrics had no process_cpu_seconds_total: no server CPU figures")
	}
	if rep.Participants.Failed > 0 {
		out = append(out, fmt.Sprintf("%d of %d participants failed to join", rep.Participants.Failed, rep.Participants.Wanted))
	}
	for _, m := range []struct {
		kind string
		r    MediaReport
	}{{"video", rep.Video}, {"audio", rep.Audio}} {
		if m.r.Streams < m.r.StreamsExpected {
			out = append(out, fmt.Sprintf("%s: %d of %d expected streams delivered frames", m.kind, m.r.Streams, m.r.StreamsExpected))
		}
	}
	return out
}

func (r *run) notes() []string {
	notes := []string{"latency is send-to-receive on one clock: publishers and receivers are in the bench process"}
	if r.cfg.Scenario != P2P {
		if r.publishedLayers() > 1 {
			notes = append(notes, fmt.Sprintf("video in %d simulcast layers q/h/f at 10/25/65 %% of the bitrate; receivers show every video at %d×%d, the SFU picks each stream's layer from that and its bandwidth estimate; kbit/s per stream is set against the layers forwarded",
				r.publishedLayers(), r.cfg.ViewWidth, r.cfg.ViewHeight))
		} else {
			notes = append(notes, "one video layer per publisher (--simulcast=false)")
		}
		notes = append(notes, "publishers answer the SFU's keyframe requests (at most one forced keyframe per layer per 500 ms); receivers count video from the first whole keyframe on")
		if r.publishedLayers() > 1 {
			notes = append(notes, fmt.Sprintf("measured from %.1f s after the last join, once no video stream had changed layer for %v (at most %v)",
				r.settled.Seconds(), layersQuiet, settleMax))
		}
	}
	switch {
	case r.cfg.Scenario == P2P:
		notes = append(notes, "p2p media is DTLS-SRTP between the two peers; stamps ride in the clear frame")
	case r.cfg.E2EE:
		notes = append(notes, "frames are SFrame-encrypted; stamps are read after decryption, so the server can neither read nor forge them")
	default:
		notes = append(notes, "E2EE off: stamps are readable by the server")
	}
	if r.cfg.ServerInProcess {
		notes = append(notes, "the server runs in the bench's process: its CPU figures include the bench's")
	}
	if r.cfg.Scenario != P2P {
		notes = append(notes, "server memory per subscription: growth of the server's RSS (and of Go's heap in use plus stacks, garbage included) from before the first join to the end of measuring, divided by the audio and video tracks it forwards; a server that ran earlier loads (--url) keeps memory from them, so its growth is then a lower bound")
	}
	return notes
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteSummary writes the report as a table for a terminal.
func (rep *Report) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	name := string(rep.Scenario)
	if rep.Preset != "" {
		name = rep.Preset + " (" + name + ")"
	}
	s := rep.Shape
	shape := fmt.Sprintf("%d room(s) × %d video + %d audio publishers + %d subscribers", s.Rooms, s.VideoPublishers, s.AudioPublishers, s.Subscribers)
	if rep.Scenario == P2P {
		shape = fmt.Sprintf("%d two-party consultations (relay %t)", s.Rooms, s.Relay)
	}
	view := ""
	if rep.Scenario != P2P {
		view = fmt.Sprintf(", shown at %d×%d", s.ViewWidth, s.ViewHeight)
	}
	fmt.Fprintf(tw, "konsil-bench %s: %s; video %.0f kbit/s %d fps in %d layer(s)%s, audio %.0f kbit/s; E2EE %t; measured %.1f s\n",
		name, shape, s.VideoKbps, s.FrameRate, s.SimulcastLayers, view, s.AudioKbps, s.E2EE, rep.MeasuredSeconds)
	fmt.Fprintf(tw, "participants\t%d/%d joined\t%d failed\n", rep.Participants.Joined, rep.Participants.Wanted, rep.Participants.Failed)
	fmt.Fprintf(tw, "join (ms)\tp50\tp95\tp99\tmax\n")
	j := rep.Join
	for _, row := range []struct {
		name string
		d    Dist
	}{{"  API", j.API}, {"  WebSocket", j.WebSocket}, {"  ICE connected", j.ICE}, {"  first frame", j.FirstFrame}, {"  total", j.Total}, {"  (PC+chat up, from WS)", j.Connected}} {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\n", row.name, row.d.P50, row.d.P95, row.d.P99, row.d.Max)
	}
	fmt.Fprintf(tw, "join rate\t%.1f joins/s completed\t(ramp %.1f/s offered)\n", j.CompletedPerSecond, j.OfferedPerSecond)
	fmt.Fprintf(tw, "media\tstreams\tlatency p50/p95/p99 ms\tframe loss\tpacket loss\tjitter ms\tkbit/s per stream (of the layers forwarded)\n")
	for _, m := range []struct {
		name string
		r    MediaReport
	}{{"  video", rep.Video}, {"  audio", rep.Audio}} {
		if m.r.StreamsExpected == 0 && m.r.Streams == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%.1f / %.1f / %.1f\t%.3f %%\t%.3f %%\t%.2f\t%.0f (%.0f)\n", m.name, m.r.Streams, m.r.StreamsExpected,
			m.r.Latency.P50, m.r.Latency.P95, m.r.Latency.P99, m.r.FrameLoss*100, m.r.PacketLoss*100, m.r.JitterMs, m.r.StreamKbps, m.r.ForwardedKbps)
	}
	if v := rep.Video; len(v.Layers) > 0 || v.KeyframesForced > 0 {
		fmt.Fprintf(tw, "video layers\tstreams on q/h/f %d/%d/%d (single %d)\tswitches while measuring %d\tkeyframes forced by requests %d, first frame forced on %d streams\n",
			v.Layers["q"], v.Layers["h"], v.Layers["f"], v.Layers["single"], v.LayerSwitches, v.KeyframesForced, v.FirstFrameForced)
	}
	fmt.Fprintf(tw, "traffic\tin %.2f Mbit/s\tout %.2f Mbit/s\tout %.0f packets/s\n", rep.Traffic.InMbps, rep.Traffic.OutMbps, rep.Traffic.OutPPS)
	if rep.Server.Available {
		inproc := ""
		if rep.Server.InProcess {
			inproc = "\t(includes the bench: same process)"
		}
		fmt.Fprintf(tw, "server\tCPU %.2f cores\tRSS max %.0f MB\t%.1f µs CPU per packet out\t%.0f µs CPU per Mbit out%s\n",
			rep.Server.CPUCores, rep.Server.RSSMaxMB, rep.Server.MicrosPerPacketOut, rep.Server.MicrosPerMbitOut, inproc)
		if s := rep.Server; s.Subscriptions > 0 {
			fmt.Fprintf(tw, "server memory\t%d subscriptions\tRSS +%.1f MB\t%.0f KB RSS per subscription\t%.0f KB Go heap+stacks per subscription\n",
				s.Subscriptions, s.RSSGrowthMB, s.KBPerSubscription, s.HeapStackKBPerSubscription)
		}
	}
	fmt.Fprintf(tw, "bench\tCPU %.2f of %d cores (max %.2f)\tother processes %.2f cores\n", rep.Bench.CPUCores, rep.Bench.Cores, rep.Bench.CPUMax, rep.Bench.OtherCPU)
	for _, n := range rep.Notes {
		fmt.Fprintf(tw, "note: %s\n", n)
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(tw, "WARNING: %s\n", strings.TrimSpace(wn))
	}
	return tw.Flush()
}
