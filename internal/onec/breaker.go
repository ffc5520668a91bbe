package onec

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrUnavailable is returned (wrapped) without a request while the circuit
// breaker is open: 1C failed Breaker.Failures attempts in a row (network
// errors, timeouts, 5xx), and hammering it record by record helps nobody.
// Calls go through again after Breaker.Cooldown, one probe first.
var ErrUnavailable = errors.New("1C is unavailable")

// Breaker configures the client's circuit breaker.
type Breaker struct {
	// Failures is how many failed attempts in a row open the breaker.
	// Default 8; negative disables the breaker.
	Failures int
	// Cooldown is how long calls fail fast once it is open. Default 1m.
	Cooldown time.Duration
}

func (b Breaker) withDefaults() Breaker {
	if b.Failures == 0 {
		b.Failures = 8
	}
	if b.Cooldown <= 0 {
		b.Cooldown = time.Minute
	}
	return b
}

// attemptResult is what one HTTP attempt says about 1C's health.
type attemptResult int

const (
	attemptOK      attemptResult = iota // 1C answered (any status below 500, or a 1C error code)
	attemptFailed                       // transport error, timeout, 5xx without a 1C code
	attemptNeutral                      // cancelled by the caller: says nothing
)

// breaker is closed (calls pass), open (calls fail fast until until) or
// half-open (after until: one probe passes, the rest fail fast).
type breaker struct {
	cfg Breaker
	now func() time.Time

	mu      sync.Mutex
	fails   int       // consecutive failed attempts
	until   time.Time // open until; zero when closed
	probing bool      // a half-open probe is in flight
	last    string    // the last failure, for the fail-fast error
}

// allow returns nil when an attempt may go out, or an error wrapping
// ErrUnavailable.
func (b *breaker) allow() error {
	if b.cfg.Failures < 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.until.IsZero():
		return nil
	case b.now().Before(b.until) || b.probing:
		return fmt.Errorf("%w: %d requests in a row failed (last: %s); no request is sent before %s",
			ErrUnavailable, b.fails, b.last, b.until.Format(time.TimeOnly))
	}
	b.probing = true
	return nil
}

// record notes an attempt's result; err describes a failure.
func (b *breaker) record(r attemptResult, err error) {
	if b.cfg.Failures < 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	probe := b.probing
	b.probing = false
	switch r {
	case attemptOK:
		b.fails, b.until = 0, time.Time{}
	case attemptFailed:
		b.fails++
		b.last = err.Error()
		if probe || (b.until.IsZero() && b.fails >= b.cfg.Failures) {
			b.until = b.now().Add(b.cfg.Cooldown)
		}
	}
}
