package bench

import (
	"math"
	"time"
)

// histogram counts durations in logarithmic buckets 2 % wide, from 10 µs
// to about 100 s: fixed memory however long the run, and quantiles good
// to 2 %. It is owned by one goroutine or guarded by its owner's lock.
type histogram struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histMin    = 10 * time.Microsecond
	histGrowth = 1.02
)

var histBuckets = int(math.Ceil(math.Log(float64(100*time.Second/histMin))/math.Log(histGrowth))) + 1

func newHistogram() *histogram { return &histogram{counts: make([]uint64, histBuckets)} }

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/math.Log(histGrowth)) + 1
	return min(i, histBuckets-1)
}

// upper is the upper bound of bucket i.
func upper(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1), capped at the largest value seen; 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && c > 0 {
			return min(upper(i), h.max)
		}
	}
	return h.max
}

// Dist summarises a distribution of durations, in milliseconds.
type Dist struct {
	N    uint64  `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	// CDF is the cumulative distribution, one point per non-empty bucket
	// (at most cdfPoints), for the report's chart.
	CDF []CDFPoint `json:"cdf,omitempty"`
}

// CDFPoint: a fraction of the samples were at most Ms milliseconds.
type CDFPoint struct {
	Ms       float64 `json:"ms"`
	Fraction float64 `json:"fraction"`
}

const cdfPoints = 200

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (h *histogram) dist(withCDF bool) Dist {
	if h.n == 0 {
		return Dist{}
	}
	d := Dist{
		N: h.n, Mean: ms(h.sum / time.Duration(h.n)),
		P50: ms(h.quantile(0.50)), P95: ms(h.quantile(0.95)), P99: ms(h.quantile(0.99)), Max: ms(h.max),
	}
	if withCDF {
		var seen uint64
		for i, c := range h.counts {
			if c == 0 {
				continue
			}
			seen += c
			d.CDF = append(d.CDF, CDFPoint{Ms: ms(min(upper(i), h.max)), Fraction: float64(seen) / float64(h.n)})
		}
		if len(d.CDF) > cdfPoints {
			step := float64(len(d.CDF)) / cdfPoints
			thin := make([]CDFPoint, 0, cdfPoints+1)
			for x := 0.0; int(x) < len(d.CDF); x += step {
				thin = append(thin, d.CDF[int(x)])
			}
			if last := d.CDF[len(d.CDF)-1]; thin[len(thin)-1] != last {
				thin = append(thin, last)
			}
			d.CDF = thin
		}
	}
	return d
}

// minus is h less an earlier state of the same counts: what was added
// since. It is a new histogram; max is that of h (the bucket bound
// caps quantiles well enough for a second's view).
func (h *histogram) minus(earlier *histogram) *histogram {
	d := newHistogram()
	for i, c := range h.counts {
		c -= min(c, earlier.counts[i])
		d.counts[i] = c
		d.n += c
	}
	d.max = h.max
	return d
}
