package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// chart is one line chart drawn as inline SVG: no script, no fonts, no
// requests, so the report opens anywhere, offline.
type chart struct {
	title, xLabel, yLabel string
	// logX draws the x axis in decades (latency CDFs span 0.1 to 1000 ms).
	logX   bool
	series []series
	// band shades [band[0], band[1]] on the x axis (the measured window);
	// ignored when band[1] <= band[0].
	band [2]float64
	// yMax fixes the top of the y axis (1 for a CDF); 0: from the data.
	yMax float64
}

type series struct {
	name, color string
	pts         []xy
}

type xy struct{ x, y float64 }

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 640, 300
	padL, padR, padT, padB         = 60, 20, 30, 60
	plotW, plotH                   = chartW - padL - padR, chartH - padT - padB
	maxTicks                       = 8
	maxMarkers                     = 30
	chartFont                      = `font-family="sans-serif" font-size="11"`
	logFloor               float64 = 1e-3 // smallest x on a log axis
)

func (c chart) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="18" %s font-weight="bold">%s</text>`, padL, chartFont, html.EscapeString(c.title))
	x0, x1, y1, ok := c.bounds()
	if !ok {
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>no data</text></svg>`, padL+plotW/2-20, padT+plotH/2, chartFont)
		return b.String()
	}
	tx := func(x float64) float64 {
		if c.logX {
			x, x0, x1 := math.Log10(max(x, logFloor)), math.Log10(x0), math.Log10(x1)
			return padL + (x-x0)/(x1-x0)*plotW
		}
		return padL + (x-x0)/(x1-x0)*plotW
	}
	ty := func(y float64) float64 { return padT + plotH - y/y1*plotH }
	if c.band[1] > c.band[0] {
		a, z := tx(max(c.band[0], x0)), tx(min(c.band[1], x1))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#eef4ff"/>`, a, padT, max(0, z-a), plotH)
	}
	c.axes(&b, x0, x1, y1, tx, ty)
	for i, s := range c.series {
		if len(s.pts) == 0 {
			continue
		}
		var path strings.Builder
		for j, p := range s.pts {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f", cmd, tx(p.x), ty(min(p.y, y1)))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, path.String(), s.color)
		if len(s.pts) <= maxMarkers {
			// Few points (a limit search's steps): mark each one.
			for _, p := range s.pts {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, tx(p.x), ty(min(p.y, y1)), s.color)
			}
		}
		lx := padL + 10 + i*150
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d" %s>%s</text>`,
			lx, chartH-14, s.color, lx+16, chartH-10, chartFont, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// bounds are the axes' ranges: x from the data, y from 0.
func (c chart) bounds() (x0, x1, y1 float64, ok bool) {
	x0, x1 = math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for _, p := range s.pts {
			if c.logX && p.x <= 0 {
				continue
			}
			x0, x1, y1 = min(x0, p.x), max(x1, p.x), max(y1, p.y)
			ok = true
		}
	}
	if !ok {
		return 0, 0, 0, false
	}
	if c.yMax > 0 {
		y1 = c.yMax
	}
	if y1 <= 0 {
		y1 = 1
	}
	if c.logX {
		x0 = math.Pow(10, math.Floor(math.Log10(max(x0, logFloor))))
		x1 = math.Pow(10, math.Ceil(math.Log10(max(x1, logFloor))))
		if x1 <= x0 {
			x1 = x0 * 10
		}
		return x0, x1, niceCeil(y1), true
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	return x0, x1, niceCeil(y1 * 1.05), true
}

func (c chart) axes(b *strings.Builder, x0, x1, y1 float64, tx, ty func(float64) float64) {
	line := func(ax, ay, bx, by float64, color string) {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, ax, ay, bx, by, color)
	}
	line(padL, padT, padL, padT+plotH, "#444")
	line(padL, padT+plotH, padL+plotW, padT+plotH, "#444")
	for _, y := range ticks(0, y1) {
		line(padL, ty(y), padL+plotW, ty(y), "#ddd")
		fmt.Fprintf(b, `<text x="%d" y="%.1f" %s text-anchor="end">%s</text>`, padL-4, ty(y)+4, chartFont, tickLabel(y))
	}
	var xs []float64
	if c.logX {
		for x := x0; x <= x1*1.0001; x *= 10 {
			xs = append(xs, x)
		}
	} else {
		xs = ticks(x0, x1)
	}
	for _, x := range xs {
		line(tx(x), padT+plotH, tx(x), padT+plotH+4, "#444")
		fmt.Fprintf(b, `<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`, tx(x), padT+plotH+16, chartFont, tickLabel(x))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" %s text-anchor="middle">%s</text>`, padL+plotW/2, padT+plotH+32, chartFont, html.EscapeString(c.xLabel))
	fmt.Fprintf(b, `<text x="14" y="%d" %s text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`,
		padT+plotH/2, chartFont, padT+plotH/2, html.EscapeString(c.yLabel))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*0.9999 {
			return m * p
		}
	}
	return 10 * p
}

// ticks are at most maxTicks round values from lo to hi.
func ticks(lo, hi float64) []float64 {
	step := niceCeil((hi - lo) / maxTicks)
	var out []float64
	for x := math.Ceil(lo/step) * step; x <= hi+step*1e-9 && len(out) <= maxTicks+1; x += step {
		out = append(out, x)
	}
	return out
}

func tickLabel(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
