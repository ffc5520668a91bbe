package retry

import (
	"fmt"
	"sync"
	"time"
)

// BreakerPolicy configures a Breaker.
type BreakerPolicy struct {
	// Failures is how many failed calls in a row, with no success between
	// them, open the breaker. 0 means 8; a negative value disables it.
	Failures int
	// Cooldown is how long an open breaker refuses calls before it lets
	// one trial call through. 0 means 1m.
	Cooldown time.Duration
}

// Verdict is what one call says about the health of the remote system.
type Verdict uint8

const (
	// Neutral says nothing: the caller gave up, or the remote asked to
	// slow down (429).
	Neutral Verdict = iota
	// Healthy: the remote answered as a working system does, a record's
	// rejection included.
	Healthy
	// Unhealthy: no answer, a timeout, a 5xx, a garbled body, a refused
	// credential.
	Unhealthy
)

// Breaker is a circuit breaker shared by every call to one remote system.
// After Failures unhealthy calls in a row it opens: calls fail at once with
// an *OpenError, so that a run against a system that is down stops after a
// handful of requests instead of retrying every record. After Cooldown it
// lets one trial call through (half-open); a healthy one closes it, an
// unhealthy one opens it for another Cooldown. A nil *Breaker (disabled)
// allows everything.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu        sync.Mutex
	fails     int
	last      string
	openUntil time.Time // zero while closed
	probing   bool      // the trial call of a half-open breaker is out
}

// The breaker's defaults, for the config of both clients too.
const (
	BreakerFailuresDefault = 8
	BreakerCooldownDefault = time.Minute
)

// NewBreaker returns a Breaker, or nil when p disables it.
func NewBreaker(p BreakerPolicy) *Breaker {
	if p.Failures < 0 {
		return nil
	}
	if p.Failures == 0 {
		p.Failures = BreakerFailuresDefault
	}
	if p.Cooldown <= 0 {
		p.Cooldown = BreakerCooldownDefault
	}
	return &Breaker{threshold: p.Failures, cooldown: p.Cooldown, now: time.Now}
}

// OpenError is the refusal of an open breaker.
type OpenError struct {
	Failures int       // unhealthy calls in a row
	Last     string    // what the last of them was
	Until    time.Time // when a trial call will be let through
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("%d requests in a row failed (last: %s)", e.Failures, e.Last)
}

// Allow asks to make one call. On success it returns done, which must be
// called once with the call's verdict and, for an unhealthy one, a short
// description of what went wrong (it is shown in later refusals). While
// the breaker is open it returns an *OpenError.
func (b *Breaker) Allow() (done func(v Verdict, what string), err error) {
	if b == nil {
		return func(Verdict, string) {}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	probe := false
	if !b.openUntil.IsZero() {
		if b.probing || b.now().Before(b.openUntil) {
			return nil, &OpenError{Failures: b.fails, Last: b.last, Until: b.openUntil}
		}
		b.probing, probe = true, true
	}
	var once sync.Once
	return func(v Verdict, what string) { once.Do(func() { b.report(probe, v, what) }) }, nil
}

func (b *Breaker) report(probe bool, v Verdict, what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	switch v {
	case Healthy:
		b.fails, b.openUntil = 0, time.Time{}
	case Unhealthy:
		b.fails++
		b.last = what
		if b.fails >= b.threshold && (probe || b.openUntil.IsZero()) {
			b.openUntil = b.now().Add(b.cooldown)
		}
	}
}
