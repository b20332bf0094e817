package bench

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"strings"
)

// The HTML report is one file: inline CSS, inline SVG drawn here, no
// script, fonts or links, so it opens with no network and can be mailed
// or attached to a ticket as it is.

const htmlHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>
body{font-family:sans-serif;margin:1.5em;max-width:1340px;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.warn{color:#a00}.charts{display:flex;flex-wrap:wrap;gap:1em}.ok{color:#070}
</style></head><body>
`

const (
	colorVideo  = "#1f6fd1"
	colorAudio  = "#d1701f"
	colorServer = "#7a2fb8"
	colorBench  = "#2a9d4a"
	colorOther  = "#999999"
)

// WriteHTML writes the report as a self-contained HTML page: the summary
// table, notes and warnings, and charts of the latency CDF, throughput,
// CPU and memory over time.
func (rep *Report) WriteHTML(w io.Writer) error {
	var b bytes.Buffer
	title := "konsil-bench " + rep.name()
	fmt.Fprintf(&b, htmlHead, html.EscapeString(title))
	fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(title))
	rep.htmlBody(&b)
	b.WriteString("</body></html>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (rep *Report) name() string {
	if rep.Preset != "" {
		return rep.Preset + " (" + string(rep.Scenario) + ")"
	}
	return string(rep.Scenario)
}

// htmlBody is the report without the page around it, so a limit
// finder's page can hold one.
func (rep *Report) htmlBody(b *bytes.Buffer) {
	fmt.Fprintf(b, "<p>%s; started %s</p>\n", html.EscapeString(rep.shapeLine()), rep.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	var sum strings.Builder
	_ = rep.WriteSummary(&sum)
	lines := strings.Split(strings.TrimRight(sum.String(), "\n"), "\n")
	b.WriteString("<h2>Summary</h2>\n<table>\n")
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "note: ") || strings.HasPrefix(l, "WARNING: ") {
			continue
		}
		cells := splitColumns(l)
		b.WriteString("<tr>")
		for _, c := range cells {
			fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	if len(rep.Warnings) > 0 {
		b.WriteString("<h2>Warnings</h2>\n<ul>\n")
		for _, wn := range rep.Warnings {
			fmt.Fprintf(b, "<li class=\"warn\">%s</li>\n", html.EscapeString(wn))
		}
		b.WriteString("</ul>\n")
	}
	if len(rep.Notes) > 0 {
		b.WriteString("<h2>Notes</h2>\n<ul>\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(b, "<li>%s</li>\n", html.EscapeString(n))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("<h2>Charts</h2>\n<p>Shaded: the measured window.</p>\n<div class=\"charts\">\n")
	for _, c := range rep.charts() {
		b.WriteString(c.svg())
		b.WriteString("\n")
	}
	b.WriteString("</div>\n")
}

// splitColumns splits a tabwriter line at runs of two or more spaces.
func splitColumns(l string) []string {
	var out []string
	for _, f := range strings.Split(l, "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (rep *Report) shapeLine() string {
	s := rep.Shape
	if rep.Scenario == P2P {
		return fmt.Sprintf("%d two-party consultations (relay %t); video %.0f kbit/s %d fps, audio %.0f kbit/s",
			s.Rooms, s.Relay, s.VideoKbps, s.FrameRate, s.AudioKbps)
	}
	return fmt.Sprintf("%d room(s) × %d video + %d audio publishers + %d subscribers; video %.0f kbit/s %d fps in %d layer(s), shown at %d×%d; audio %.0f kbit/s; E2EE %t",
		s.Rooms, s.VideoPublishers, s.AudioPublishers, s.Subscribers, s.VideoKbps, s.FrameRate, s.SimulcastLayers, s.ViewWidth, s.ViewHeight, s.AudioKbps, s.E2EE)
}

// charts are the report's pictures, in the order shown.
func (rep *Report) charts() []chart {
	cdf := func(name, color string, d Dist) series {
		s := series{name: name, color: color}
		for _, p := range d.CDF {
			s.pts = append(s.pts, xy{p.Ms, p.Fraction})
		}
		return s
	}
	over := func(name, color string, f func(Sample) float64) series {
		s := series{name: name, color: color}
		for _, smp := range rep.Timeline {
			s.pts = append(s.pts, xy{smp.T, f(smp)})
		}
		return s
	}
	var band [2]float64
	for _, smp := range rep.Timeline {
		if smp.Measuring {
			if band[1] == 0 {
				band[0] = smp.T - 1
			}
			band[1] = smp.T
		}
	}
	measured := func(f func(Sample) float64) func(Sample) float64 {
		return func(s Sample) float64 {
			if !s.Measuring {
				return 0
			}
			return f(s)
		}
	}
	// A kind nobody sent would draw as a flat zero: leave it out.
	kinds := func(video, audio series) []series {
		var out []series
		if rep.Video.Streams > 0 || rep.Video.StreamsExpected > 0 {
			out = append(out, video)
		}
		if rep.Audio.Streams > 0 || rep.Audio.StreamsExpected > 0 {
			out = append(out, audio)
		}
		return out
	}
	return []chart{
		{title: "End-to-end frame latency (CDF)", xLabel: "latency, ms (log scale)", yLabel: "fraction of frames", logX: true, yMax: 1,
			series: kinds(cdf("video", colorVideo, rep.Video.Latency), cdf("audio", colorAudio, rep.Audio.Latency))},
		{title: "Throughput", xLabel: "time, s", yLabel: "Mbit/s", band: band,
			series: []series{over("out (server to receivers)", colorVideo, func(s Sample) float64 { return s.RxMbps }),
				over("in (publishers to server)", colorAudio, func(s Sample) float64 { return s.TxMbps })}},
		{title: "CPU", xLabel: "time, s", yLabel: "cores", band: band,
			series: []series{over("server", colorServer, func(s Sample) float64 { return s.ServerCPU }),
				over("bench", colorBench, func(s Sample) float64 { return s.BenchCPU }),
				over("other processes", colorOther, func(s Sample) float64 { return s.OtherCPU })}},
		{title: "Server memory (RSS)", xLabel: "time, s", yLabel: "MB", band: band,
			series: []series{over("server RSS", colorServer, func(s Sample) float64 { return s.ServerRSSMB })}},
		{title: "Latency p99 per second (while measuring)", xLabel: "time, s", yLabel: "ms", band: band,
			series: kinds(over("video", colorVideo, measured(func(s Sample) float64 { return s.VideoP99Ms })),
				over("audio", colorAudio, measured(func(s Sample) float64 { return s.AudioP99Ms })))},
		{title: "Packet loss per second (while measuring)", xLabel: "time, s", yLabel: "%", band: band,
			series: []series{over("packet loss", colorVideo, measured(func(s Sample) float64 { return s.PacketLoss * 100 }))}},
	}
}
