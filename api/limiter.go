package api

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// FailureLimits bound wrong attempts per client network (see limitKey).
// Zero values take the defaults.
type FailureLimits struct {
	// Burst failures are allowed at once; after that one more per Refill.
	Burst  int
	Refill time.Duration
	// After SlowAfter failures each answer waits SlowStep longer, up to
	// SlowMax: guessing gets slow before it gets refused.
	SlowAfter int
	SlowStep  time.Duration
	SlowMax   time.Duration
}

func (l FailureLimits) withDefaults() FailureLimits {
	if l.Burst == 0 {
		l.Burst = 10
	}
	if l.Refill == 0 {
		l.Refill = time.Minute
	}
	if l.SlowAfter == 0 {
		l.SlowAfter = 3
	}
	if l.SlowStep == 0 {
		l.SlowStep = 200 * time.Millisecond
	}
	if l.SlowMax == 0 {
		l.SlowMax = 2 * time.Second
	}
	return l
}

// maxTracked bounds the buckets remembered; beyond it idle ones go.
const maxTracked = 100_000

// DefaultIPv6Prefix is the prefix length by which IPv6 clients are
// grouped: one /64 is one network (RFC 4291 §2.5.4), and a host on it can
// use any of its 2^64 addresses.
const DefaultIPv6Prefix = 64

// An IPv6 site (the /48 an ISP or a registry hands to one customer, RFC
// 6177) holds up to 65 536 /64s, so a limit per /64 alone would give one
// customer 65 536 budgets. Its networks also share a site budget of
// siteShare networks' worth: a hospital with many subnets gets more than
// one network, a guesser with a /48 gets no more than that.
const (
	sitePrefix = 48
	siteShare  = 16
)

// clientNet is where a client's failures count: net, its IPv4 address
// (IPv4-mapped IPv6 included) or its IPv6 network, and for IPv6 with a
// prefix longer than /48 also site, its /48.
type clientNet struct{ net, site string }

// netOf groups a client address; v6Bits is the IPv6 network's prefix
// length. What does not parse (a Unix socket) counts as itself.
func netOf(clientIP string, v6Bits int) clientNet {
	a, err := netip.ParseAddr(clientIP)
	if err != nil {
		return clientNet{net: clientIP}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return clientNet{net: a.String()}
	}
	n := clientNet{net: netip.PrefixFrom(a, v6Bits).Masked().String()}
	if v6Bits > sitePrefix {
		n.site = netip.PrefixFrom(a, sitePrefix).Masked().String()
	}
	return n
}

// CheckIPv6Prefix tells whether bits is a usable Config.LimitIPv6Prefix:
// 0 (the default) or 1 to 128.
func CheckIPv6Prefix(bits int) error {
	if bits < 0 || bits > 128 {
		return fmt.Errorf("IPv6 limit prefix /%d: want 1 to 128", bits)
	}
	return nil
}

// failureLimiter counts failures per client network: a bucket of Burst
// failures per network that regains one per Refill (an IPv6 site's bucket
// siteShare times both), consumed by failures only, so people who type
// their code right are never slowed. An attempt takes a failure before it
// is checked (reserve) and gives it back when it did not fail, so that
// concurrent attempts cannot all pass a check made before any of them was
// counted. State is guarded by mu.
type failureLimiter struct {
	limits, site FailureLimits
	now          func() time.Time

	mu      sync.Mutex
	buckets map[string]*failures
}

// failures is one network's or site's bucket and its run of recent
// failures.
type failures struct {
	limits *FailureLimits
	left   float64 // failures still allowed, as of at
	at     time.Time
	recent int // failures since the run began, for the growing hold
	last   time.Time
}

func newFailureLimiter(l FailureLimits, now func() time.Time) *failureLimiter {
	l = l.withDefaults()
	site := l
	site.Burst *= siteShare
	site.Refill /= siteShare
	return &failureLimiter{limits: l, site: site, now: now, buckets: map[string]*failures{}}
}

// refill brings f to now; a clock that went back adds nothing.
func (f *failures) refill(now time.Time) {
	if now.After(f.at) {
		f.left += float64(now.Sub(f.at)) / float64(f.limits.Refill)
		f.left = min(f.left, float64(f.limits.Burst))
		f.at = now
	}
}

// wait is how long until f regains a whole failure.
func (f *failures) wait() time.Duration {
	return time.Duration((1 - f.left) * float64(f.limits.Refill))
}

// bucketsLocked returns n's buckets brought to now, the network's first,
// making full ones for those not seen yet.
func (fl *failureLimiter) bucketsLocked(n clientNet, now time.Time) []*failures {
	out := []*failures{fl.bucketLocked(n.net, &fl.limits, now)}
	if n.site != "" {
		out = append(out, fl.bucketLocked(n.site, &fl.site, now))
	}
	return out
}

func (fl *failureLimiter) bucketLocked(key string, l *FailureLimits, now time.Time) *failures {
	f := fl.buckets[key]
	if f == nil {
		if len(fl.buckets) >= maxTracked {
			fl.pruneLocked(now)
		}
		f = &failures{limits: l, left: float64(l.Burst), at: now}
		fl.buckets[key] = f
	}
	f.refill(now)
	return f
}

// takeLocked takes one failure from every bucket, or, when one has none
// left, from none and says how long until all have.
func takeLocked(bs []*failures) (time.Duration, bool) {
	var wait time.Duration
	for _, f := range bs {
		if f.left < 1 {
			wait = max(wait, f.wait())
		}
	}
	if wait > 0 {
		return wait, false
	}
	for _, f := range bs {
		f.left--
	}
	return 0, true
}

// reserve takes one failure from n's budget for an attempt about to be
// checked. When none is left it returns false and how long until one is.
// The caller ends the reservation with failed or refund.
func (fl *failureLimiter) reserve(n clientNet) (reservation, time.Duration, bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if wait, ok := takeLocked(fl.bucketsLocked(n, fl.now())); !ok {
		return reservation{}, wait, false
	}
	return reservation{fl: fl, n: n}, 0, true
}

// blocked tells whether n has no failure left, and for how long, without
// taking one: for a step that precedes the counted attempt.
func (fl *failureLimiter) blocked(n clientNet) (time.Duration, bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	var wait time.Duration
	for _, f := range fl.bucketsLocked(n, fl.now()) {
		if f.left < 1 {
			wait = max(wait, f.wait())
		}
	}
	return wait, wait > 0
}

// record counts a failure found after the fact (an attempt that was not
// reserved). It returns how long to hold the answer, or, when n had no
// failure left, false and how long until it has.
func (fl *failureLimiter) record(n clientNet) (hold, wait time.Duration, ok bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	now := fl.now()
	bs := fl.bucketsLocked(n, now)
	if wait, ok := takeLocked(bs); !ok {
		return 0, wait, false
	}
	return bs[0].hold(now), 0, true
}

// hold adds a failure to f's run and returns how long to hold its answer:
// after SlowAfter failures each waits SlowStep longer, up to SlowMax. A run
// ends when Burst×Refill pass without a failure.
func (f *failures) hold(now time.Time) time.Duration {
	l := f.limits
	if now.Sub(f.last) > time.Duration(l.Burst)*l.Refill {
		f.recent = 0
	}
	f.recent++
	f.last = now
	if f.recent <= l.SlowAfter {
		return 0
	}
	return min(time.Duration(f.recent-l.SlowAfter)*l.SlowStep, l.SlowMax)
}

// reservation is one failure taken by reserve; the zero value (a refused
// reservation) does nothing.
type reservation struct {
	fl *failureLimiter
	n  clientNet
}

// failed keeps the failure and returns how long to hold the answer.
func (r reservation) failed() time.Duration {
	if r.fl == nil {
		return 0
	}
	r.fl.mu.Lock()
	defer r.fl.mu.Unlock()
	now := r.fl.now()
	return r.fl.bucketsLocked(r.n, now)[0].hold(now)
}

// refund gives the failure back: the attempt succeeded, or failed for a
// reason that tells nothing about the secret.
func (r reservation) refund() {
	if r.fl == nil {
		return
	}
	r.fl.mu.Lock()
	defer r.fl.mu.Unlock()
	for _, f := range r.fl.bucketsLocked(r.n, r.fl.now()) {
		f.left = min(f.left+1, float64(f.limits.Burst))
	}
}

// pruneLocked forgets buckets that have refilled, and if that is not
// enough (many networks failing at once), arbitrary ones: memory stays
// bounded, and a forgotten bucket only gets its burst back.
func (fl *failureLimiter) pruneLocked(now time.Time) {
	for k, f := range fl.buckets {
		f.refill(now)
		if f.left >= float64(f.limits.Burst) {
			delete(fl.buckets, k)
		}
	}
	for k := range fl.buckets {
		if len(fl.buckets) < maxTracked*9/10 {
			break
		}
		delete(fl.buckets, k)
	}
}
