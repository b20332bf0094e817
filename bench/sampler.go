package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// point is the state of server and bench at one moment.
type point struct {
	at        time.Duration // since the epoch
	server    serverUsage
	serverOK  bool
	benchCPU  time.Duration
	rxBytes   uint64
	rxPackets uint64
	txBytes   uint64
}

// Sample is one second of the run's timeline.
type Sample struct {
	T float64 `json:"t_s"`
	// ServerCPU and BenchCPU are in cores (1 = one core busy).
	ServerCPU   float64 `json:"server_cpu_cores"`
	ServerRSSMB float64 `json:"server_rss_mb"`
	BenchCPU    float64 `json:"bench_cpu_cores"`
	RxMbps      float64 `json:"rx_mbps"`
	TxMbps      float64 `json:"tx_mbps"`
	Joined      int64   `json:"joined"`
	Measuring   bool    `json:"measuring"`
}

// sampler reads the server's /metrics and the bench's own CPU every
// second, keeps the timeline and writes the live line. Its loop owns
// last and timeline; snapshot may be called from another goroutine and
// touches neither.
type sampler struct {
	r        *run
	hc       *http.Client
	last     point
	timeline []Sample
}

func newSampler(r *run) *sampler {
	return &sampler{r: r, hc: &http.Client{Transport: r.transport, Timeout: 2 * time.Second}}
}

func (s *sampler) snapshot(ctx context.Context) point {
	p := point{
		at: s.r.now(), benchCPU: processCPU(),
		rxBytes: s.r.rxBytes.Load(), rxPackets: s.r.rxPackets.Load(), txBytes: s.r.txBytes.Load(),
	}
	if u, err := scrapeServer(ctx, s.hc, s.r.cfg.URL); err == nil {
		p.server, p.serverOK = u, true
	} else {
		s.r.log.Debug("scrape", "err", err)
	}
	return p
}

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
		s.timeline = append(s.timeline, smp)
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
		Joined:    s.r.joined.Load(),
		Measuring: s.r.measuring.Load(),
	}
	if a.serverOK && b.serverOK {
		smp.ServerCPU = (b.server.CPUSeconds - a.server.CPUSeconds) / dt
		smp.ServerRSSMB = b.server.RSSBytes / 1e6
	}
	return smp
}

func (s *sampler) progress(smp Sample) {
	w := s.r.cfg.Progress
	if w == nil {
		return
	}
	phase := "joining"
	if smp.Measuring {
		phase = "measuring"
	}
	line := fmt.Sprintf("[%5.0fs] %-9s joined %d/%d (failed %d)  tx %.1f Mbit/s  rx %.1f Mbit/s  server CPU %.0f%% RSS %.0f MB  bench CPU %.0f%% of %d cores",
		smp.T, phase, smp.Joined, len(s.r.participants), s.r.failed.Load(), smp.TxMbps, smp.RxMbps,
		smp.ServerCPU*100, smp.ServerRSSMB, smp.BenchCPU*100, cores())
	fmt.Fprintf(w, "\r%s%s", line, strings.Repeat(" ", max(0, 150-len(line))))
}
