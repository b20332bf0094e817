package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// sampleReport is a report with every part the HTML draws.
func sampleReport() *Report {
	h := newHistogram()
	for i := 1; i <= 500; i++ {
		h.add(time.Duration(i) * 20 * time.Microsecond)
	}
	rep := &Report{Scenario: Conference, Started: time.Unix(1_800_000_000, 0), MeasuredSeconds: 5,
		Shape: Shape{Rooms: 1, VideoPublishers: 3, VideoKbps: 1000, AudioKbps: 32, FrameRate: 30, E2EE: true}}
	rep.Video.Latency, rep.Audio.Latency = h.dist(true), h.dist(true)
	rep.Video.Streams, rep.Video.StreamsExpected = 6, 6
	rep.Notes = []string{"a note with <angle> & ampersand"}
	rep.Warnings = []string{"a warning"}
	for i := range 10 {
		rep.Timeline = append(rep.Timeline, Sample{T: float64(i + 1), ServerCPU: 0.1 * float64(i), ServerRSSMB: 40, BenchCPU: 0.2,
			RxMbps: 6, TxMbps: 3, Joined: 3, Measuring: i > 3, VideoP99Ms: 2, PacketLoss: 0.001})
	}
	rep.Server = ServerReport{Available: true, CPUCores: 0.1, MicrosPerPacketOut: 12, MicrosPerMbitOut: 1500}
	return rep
}

// checkStandalone parses page as HTML and checks it has at least
// wantSVG charts and nothing that would fetch: no URLs, scripts, links
// or external sources.
func checkStandalone(t *testing.T, page string, wantSVG int) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	counts := map[string]int{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			counts[n.Data]++
			for _, a := range n.Attr {
				if a.Key == "src" || a.Key == "href" {
					t.Errorf("<%s %s=%q>: the report must not fetch anything", n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if counts["svg"] < wantSVG || counts["path"] == 0 || counts["table"] == 0 {
		t.Errorf("%d svg, %d path, %d table elements; want ≥ %d charts with lines and a table", counts["svg"], counts["path"], counts["table"], wantSVG)
	}
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("report contains %q", bad)
		}
	}
}

func TestHTMLReport(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	checkStandalone(t, page, 6)
	for _, want := range []string{"End-to-end frame latency (CDF)", "Throughput", "CPU", "Server memory (RSS)",
		"µs CPU per packet out", "a note with &lt;angle&gt; &amp; ampersand", "a warning"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestLimitHTMLReport(t *testing.T) {
	lr := &LimitReport{Scenario: Conference, Dimension: DimRooms, LastGood: 1, Stopped: "step 3: packet loss 2 %"}
	for i := range 3 {
		lr.Steps = append(lr.Steps, StepResult{Step: i + 1, Load: float64(i + 1), Good: i < 2, ServerCPU: 0.2 * float64(i+1), P99Ms: 5, Report: sampleReport()})
	}
	var b bytes.Buffer
	if err := lr.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	checkStandalone(t, b.String(), 4+6)
	if !strings.Contains(b.String(), "Last good step: rooms 2") {
		t.Error("limit report lacks the last good step")
	}
}

// An empty report still makes a page: charts say there is no data.
func TestHTMLReportEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := (&Report{Scenario: P2P}).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if _, err := html.Parse(strings.NewReader(page)); err != nil || !strings.Contains(page, "no data") {
		t.Errorf("empty report: %v", err)
	}
}

func TestProgressLine(t *testing.T) {
	l := progressLine(Sample{T: 12, Joined: 11, Failed: 1, RxMbps: 22.6, TxMbps: 2, PacketLoss: 0.0012, VideoP99Ms: 1.6, AudioP99Ms: 0.9,
		ServerCPU: 0.25, BenchCPU: 1.7, Measuring: true}, 12, 2)
	for _, want := range []string{"connected 11/12", "(1 failed)", "out 22.6 Mbit/s", "loss 0.12 %", "p99 1.6 ms", "server CPU 25 %", "bench CPU 170 % of 2 cores", "SATURATED"} {
		if !strings.Contains(l, want) {
			t.Errorf("progress line %q lacks %q", l, want)
		}
	}
}

func TestHistogramMinus(t *testing.T) {
	a := newHistogram()
	for range 100 {
		a.add(time.Millisecond)
	}
	earlier := newHistogram()
	earlier.merge(a)
	for range 10 {
		a.add(50 * time.Millisecond)
	}
	d := a.minus(earlier)
	if d.n != 10 || d.quantile(0.5) < 49*time.Millisecond {
		t.Errorf("difference: n %d, p50 %v; want 10 samples near 50 ms", d.n, d.quantile(0.5))
	}
}

func TestCompletionRate(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		done []time.Duration
		want float64
	}{{nil, 0}, {[]time.Duration{s}, 0}, {[]time.Duration{3 * s, s, 2 * s}, 1}, {[]time.Duration{s, s + s/10}, 10}} {
		if got := completionRate(tc.done); got != tc.want {
			t.Errorf("%v: %v joins/s, want %v", tc.done, got, tc.want)
		}
	}
}

// In a consultation the side that starts first waits for the other: its
// setup counts from the later side's start, while its API and WebSocket
// steps stay its own.
func TestP2PJoinFromLaterPeer(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	first := &participant{room: 0, index: 0, times: joinTimes{start: ms(100), api: ms(110), ws: ms(120), ice: ms(350), connected: ms(360), firstFrame: ms(370)}}
	second := &participant{room: 0, index: 1, times: joinTimes{start: ms(300), api: ms(310), ws: ms(320), ice: ms(350), connected: ms(360), firstFrame: ms(370)}}
	r := &run{cfg: Config{Scenario: P2P, RampRate: 5}, participants: []*participant{first, second}}
	var rep Report
	r.reportJoins(&rep)
	j := rep.Join
	if j.Total.N != 2 || j.Total.Max > 71 || j.Total.P50 < 69 {
		t.Errorf("total %+v, want both 70 ms from the later start", j.Total)
	}
	if j.API.N != 2 || j.API.Max > 10.3 || j.WebSocket.Max > 10.3 {
		t.Errorf("API %+v, WebSocket %+v: want each side's own 10 ms", j.API, j.WebSocket)
	}
	if j.ICE.Max > 30.7 {
		t.Errorf("ICE %+v, want 30 ms from the later welcome", j.ICE)
	}
	r.cfg.Scenario = Conference
	r.reportJoins(&rep)
	if rep.Join.Total.Max < 269 {
		t.Errorf("conference total %+v: each from its own start", rep.Join.Total)
	}
}
