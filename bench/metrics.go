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

// parseProcessMetrics picks the two process gauges out of the text
// exposition format; everything else is skipped.
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
			if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				u.RSSBytes = v
			}
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
