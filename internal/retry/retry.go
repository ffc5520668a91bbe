// Package retry holds the backoff policy both protocol clients (virtpos and
// 1C) use for transient failures: exponential delays with jitter, bounded
// by a number of attempts and a total time, and a server's Retry-After.
package retry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Policy's zero fields.
const (
	InitialDefault    = 500 * time.Millisecond
	MaxDefault        = 30 * time.Second
	MaxElapsedDefault = 2 * time.Minute
)

// Policy bounds retries: by count and by total time.
type Policy struct {
	// MaxAttempts counts the first try; 1 disables retries.
	MaxAttempts int
	// Initial is the first backoff. Default [InitialDefault].
	Initial time.Duration
	// Max caps one backoff. Default [MaxDefault].
	Max time.Duration
	// MaxElapsed caps one call including its waits. Default [MaxElapsedDefault].
	MaxElapsed time.Duration
}

// WithDefaults fills zero fields; attempts is the caller's default count.
func (p Policy) WithDefaults(attempts int) Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = attempts
	}
	// <= 0, not cmp.Or: a negative wait is no wait, the default serves.
	if p.Initial <= 0 {
		p.Initial = InitialDefault
	}
	if p.Max <= 0 {
		p.Max = MaxDefault
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = MaxElapsedDefault
	}
	return p
}

// Backoff is the wait before retry number attempt (1 for the first retry):
// exponential from Initial, capped at Max, with "equal jitter" (half fixed,
// half random) so parallel workers spread out but never retry at once.
func (p Policy) Backoff(attempt int) time.Duration {
	d := p.Initial
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	half := d / 2
	return half + rand.N(half+1)
}

// After parses a Retry-After header (seconds or an HTTP date); 0 when
// absent, unparseable or in the past.
func After(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
