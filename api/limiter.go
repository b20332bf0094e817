package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FailureLimits bound wrong join attempts per client address. Zero values
// take the defaults.
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

// maxTracked bounds the addresses remembered; beyond it idle ones go.
const maxTracked = 100_000

// failureLimiter counts failed joins per address: a token bucket per
// address, consumed by failures only, so people who type their code right
// are never slowed. State is guarded by mu.
type failureLimiter struct {
	limits FailureLimits
	now    func() time.Time

	mu    sync.Mutex
	addrs map[string]*failures
}

type failures struct {
	bucket *rate.Limiter
	recent int
	last   time.Time
}

func newFailureLimiter(l FailureLimits, now func() time.Time) *failureLimiter {
	return &failureLimiter{limits: l.withDefaults(), now: now, addrs: map[string]*failures{}}
}

// blocked tells whether addr has used up its failures, and for how long.
func (fl *failureLimiter) blocked(addr string) (time.Duration, bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	f := fl.addrs[addr]
	if f == nil {
		return 0, false
	}
	now := fl.now()
	if f.bucket.TokensAt(now) >= 1 {
		return 0, false
	}
	r := f.bucket.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return wait, true
}

// fail records a failure by addr and returns how long to hold the answer.
func (fl *failureLimiter) fail(addr string) time.Duration {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	now := fl.now()
	f := fl.addrs[addr]
	if f == nil {
		if len(fl.addrs) >= maxTracked {
			fl.pruneLocked(now)
		}
		f = &failures{bucket: rate.NewLimiter(rate.Every(fl.limits.Refill), fl.limits.Burst)}
		fl.addrs[addr] = f
	}
	f.bucket.AllowN(now, 1)
	if now.Sub(f.last) > time.Duration(fl.limits.Burst)*fl.limits.Refill {
		f.recent = 0
	}
	f.recent++
	f.last = now
	if f.recent <= fl.limits.SlowAfter {
		return 0
	}
	d := time.Duration(f.recent-fl.limits.SlowAfter) * fl.limits.SlowStep
	return min(d, fl.limits.SlowMax)
}

// pruneLocked forgets addresses whose bucket has refilled, and if that is
// not enough (many addresses failing at once), arbitrary ones: memory stays
// bounded, and a forgotten address only gets its burst back.
func (fl *failureLimiter) pruneLocked(now time.Time) {
	for a, f := range fl.addrs {
		if f.bucket.TokensAt(now) >= float64(fl.limits.Burst) {
			delete(fl.addrs, a)
		}
	}
	for a := range fl.addrs {
		if len(fl.addrs) < maxTracked*9/10 {
			break
		}
		delete(fl.addrs, a)
	}
}
