package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// point is the state of server and bench at one moment.
type point struct {
	at        time.Duration // since the epoch
	server    serverUsage
	serverOK  bool
	benchCPU  time.Duration
	hostCPU   time.Duration // every process on the machine
	hostOK    bool
	rxBytes   uint64
	rxPackets uint64
	txBytes   uint64
}

// Sample is one second of the run's timeline. Loss and latency are
// those of the second (counted only while measuring), not cumulative.
type Sample struct {
	T float64 `json:"t_s"`
	// ServerCPU and BenchCPU are in cores (1 = one core busy).
	ServerCPU   float64 `json:"server_cpu_cores"`
	ServerRSSMB float64 `json:"server_rss_mb"`
	BenchCPU    float64 `json:"bench_cpu_cores"`
	// OtherCPU is what every other process on the machine used, in
	// cores, when the server runs in a child process here (Linux only).
	OtherCPU float64 `json:"other_cpu_cores,omitempty"`
	// RxMbps is what the receivers got (the server's output), TxMbps what
	// the publishers sent (its input); RxPPS the packets received.
	RxMbps float64 `json:"rx_mbps"`
	TxMbps float64 `json:"tx_mbps"`
	RxPPS  float64 `json:"rx_pps"`
	Joined int64   `json:"joined"`
	Failed int64   `json:"failed"`
	// PacketLoss is the fraction of RTP packets lost in the second, over
	// every stream; VideoP99Ms and AudioP99Ms the frame latencies' 99th
	// percentile in the second.
	PacketLoss float64 `json:"packet_loss"`
	VideoP99Ms float64 `json:"video_p99_ms"`
	AudioP99Ms float64 `json:"audio_p99_ms"`
	Measuring  bool    `json:"measuring"`
}

// mediaTotals are the receivers' cumulative counts at one moment; two of
// them make the figures of the second between.
type mediaTotals struct {
	packets, packetsLost uint64
	video, audio         *histogram
}

func newMediaTotals() mediaTotals {
	return mediaTotals{video: newHistogram(), audio: newHistogram()}
}

// sampler reads the server's /metrics and the bench's own CPU every
// second, keeps the timeline and writes the live line. Its loop owns
// last, media and timeline; snapshot may be called from another
// goroutine and touches none of them.
type sampler struct {
	r        *run
	hc       *http.Client
	last     point
	media    mediaTotals
	timeline []Sample
}

func newSampler(r *run) *sampler {
	return &sampler{r: r, hc: &http.Client{Transport: r.transport, Timeout: 2 * time.Second}, media: newMediaTotals()}
}

func (s *sampler) snapshot(ctx context.Context) point {
	p := point{
		at: s.r.now(), benchCPU: processCPU(),
		rxBytes: s.r.rxBytes.Load(), rxPackets: s.r.rxPackets.Load(), txBytes: s.r.txBytes.Load(),
	}
	p.hostCPU, p.hostOK = hostCPU()
	if u, err := scrapeServer(ctx, s.hc, s.r.cfg.URL); err == nil {
		p.server, p.serverOK = u, true
	} else {
		s.r.log.Debug("scrape", "err", err)
	}
	return p
}

// maxTimeline bounds the timeline: a day of seconds.
const maxTimeline = int(maxDuration / time.Second)

func (s *sampler) loop(ctx context.Context) {
	s.last = s.snapshot(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := s.snapshot(ctx)
		smp := s.sample(s.last, p)
		s.addMedia(&smp)
		if len(s.timeline) < maxTimeline {
			s.timeline = append(s.timeline, smp)
		}
		s.last = p
		s.progress(smp)
	}
}

func (s *sampler) sample(a, b point) Sample {
	dt := (b.at - a.at).Seconds()
	if dt <= 0 {
		dt = 1
	}
	smp := Sample{
		T:         b.at.Seconds(),
		BenchCPU:  (b.benchCPU - a.benchCPU).Seconds() / dt,
		RxMbps:    float64(b.rxBytes-a.rxBytes) * 8 / 1e6 / dt,
		TxMbps:    float64(b.txBytes-a.txBytes) * 8 / 1e6 / dt,
		RxPPS:     float64(b.rxPackets-a.rxPackets) / dt,
		Joined:    s.r.joined.Load(),
		Failed:    s.r.failed.Load(),
		Measuring: s.r.measuring.Load(),
	}
	if a.serverOK && b.serverOK {
		smp.ServerCPU = (b.server.CPUSeconds - a.server.CPUSeconds) / dt
		smp.ServerRSSMB = b.server.RSSBytes / 1e6
	}
	if s.r.localServer() && a.hostOK && b.hostOK {
		smp.OtherCPU = otherCores(a, b, dt)
	}
	return smp
}

// otherCores is the CPU of every process but server and bench between
// a and b, in cores; /proc/stat counts in 10 ms ticks, so small
// negatives are rounding.
func otherCores(a, b point, dt float64) float64 {
	host := (b.hostCPU - a.hostCPU).Seconds()
	ours := (b.benchCPU - a.benchCPU).Seconds() + (b.server.CPUSeconds - a.server.CPUSeconds)
	return max(0, host-ours) / dt
}

// addMedia fills the second's loss and latency: the receivers' totals
// now, less those of a second ago. Reading them is a lock per stream and
// a histogram merge, once a second, off the media path.
func (s *sampler) addMedia(smp *Sample) {
	now := collectMedia(s.r.participants)
	prev := s.media
	s.media = now
	lost := now.packetsLost - prev.packetsLost
	smp.PacketLoss = ratio(lost, now.packets-prev.packets+lost)
	smp.VideoP99Ms = ms(now.video.minus(prev.video).quantile(0.99))
	smp.AudioP99Ms = ms(now.audio.minus(prev.audio).quantile(0.99))
}

func collectMedia(ps []*participant) mediaTotals {
	t := newMediaTotals()
	for _, p := range ps {
		p.mu.Lock()
		streams := slices.Clone(p.streams)
		p.mu.Unlock()
		for _, st := range streams {
			st.mu.Lock()
			t.packets += st.packets
			t.packetsLost += st.packetsLost
			if st.kind == "video" {
				t.video.merge(st.latency)
			} else {
				t.audio.merge(st.latency)
			}
			st.mu.Unlock()
		}
	}
	return t
}

// progress writes the live line: joins, the server's output, loss and
// p99 of the last second, server and bench CPU.
func (s *sampler) progress(smp Sample) {
	w := s.r.cfg.Progress
	if w == nil {
		return
	}
	fmt.Fprintf(w, "\r%-160s", progressLine(smp, len(s.r.participants), cores()))
}

func progressLine(smp Sample, wanted, ncores int) string {
	phase := "joining"
	if smp.Measuring {
		phase = "measuring"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] %-9s connected %d/%d", smp.T, phase, smp.Joined, wanted)
	if smp.Failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", smp.Failed)
	}
	fmt.Fprintf(&b, "  out %.1f Mbit/s in %.1f", smp.RxMbps, smp.TxMbps)
	if smp.Measuring {
		fmt.Fprintf(&b, "  loss %.2f %%  p99 %.1f ms", smp.PacketLoss*100, max(smp.VideoP99Ms, smp.AudioP99Ms))
	} else {
		b.WriteString("  loss -  p99 -")
	}
	fmt.Fprintf(&b, "  server CPU %.0f %% RSS %.0f MB  bench CPU %.0f %% of %d cores",
		smp.ServerCPU*100, smp.ServerRSSMB, smp.BenchCPU*100, ncores)
	if smp.OtherCPU >= 0.05 {
		fmt.Fprintf(&b, "  others %.0f %%", smp.OtherCPU*100)
	}
	if smp.BenchCPU > benchSaturated*float64(ncores) {
		b.WriteString(" SATURATED")
	}
	return b.String()
}
