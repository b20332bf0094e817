package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// serverUsage is what the server's /metrics says about its process
// (Prometheus' process collector).
type serverUsage struct {
	CPUSeconds float64 // process_cpu_seconds_total
	RSSBytes   float64 // process_resident_memory_bytes
	// HeapBytes and StackBytes are the Go runtime's heap spans and
	// goroutine stacks in use (go_memstats_heap_inuse_bytes,
	// go_memstats_stack_inuse_bytes); Subscriptions the tracks the SFU
	// forwards, once per subscriber (konsil_sfu_subscriptions).
	HeapBytes     float64
	StackBytes    float64
	Subscriptions float64
}

// maxMetricsBytes bounds a /metrics body: Konsil's is tens of KiB.
const maxMetricsBytes = 8 << 20

// scrapeServer reads the process metrics from {base}/metrics.
func scrapeServer(ctx context.Context, hc *http.Client, base string) (serverUsage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return serverUsage{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return serverUsage{}, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverUsage{}, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	return parseProcessMetrics(io.LimitReader(resp.Body, maxMetricsBytes))
}

// parseProcessMetrics picks the process, Go memory and SFU subscription
// gauges out of the text exposition format; everything else is skipped.
func parseProcessMetrics(r io.Reader) (serverUsage, error) {
	var u serverUsage
	var haveCPU bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				return u, fmt.Errorf("scrape metrics: %s: %w", name, err)
			}
			u.CPUSeconds, haveCPU = v, true
		case "process_resident_memory_bytes":
			u.RSSBytes = gauge(value)
		case "go_memstats_heap_inuse_bytes":
			u.HeapBytes = gauge(value)
		case "go_memstats_stack_inuse_bytes":
			u.StackBytes = gauge(value)
		case "konsil_sfu_subscriptions":
			u.Subscriptions = gauge(value)
		}
	}
	if err := sc.Err(); err != nil {
		return u, fmt.Errorf("scrape metrics: %w", err)
	}
	if !haveCPU {
		return u, fmt.Errorf("scrape metrics: no process_cpu_seconds_total")
	}
	return u, nil
}

// gauge reads a sample's value; an unreadable one counts as 0, as a
// missing gauge does.
func gauge(value string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return 0
	}
	return v
}
