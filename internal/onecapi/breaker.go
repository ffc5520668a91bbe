package onecapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/virtsync/virtsync/internal/retry"
)

// ErrUnavailable is returned (wrapped) without a request while the circuit
// breaker is open: 1C failed Breaker.Failures attempts in a row (network
// errors, timeouts, 5xx), and hammering it record by record helps nobody.
// After Breaker.Cooldown one trial request goes through.
var ErrUnavailable = errors.New("1C is unavailable")

// Breaker configures the client's circuit breaker, shared with the
// virtpos client: Failures failed attempts in a row open it (default 8;
// negative disables it), for Cooldown (default 1m).
type Breaker = retry.BreakerPolicy

// unavailable is the error of a request the open breaker refused.
func unavailable(op, entity string, err error) error {
	var oe *retry.OpenError
	if !errors.As(err, &oe) {
		return fmt.Errorf("onec: %s %s: %w: %w", op, entity, ErrUnavailable, err)
	}
	return fmt.Errorf("onec: %s %s: %w: %d requests in a row failed (last: %s); no request is sent before %s",
		op, entity, ErrUnavailable, oe.Failures, oe.Last, oe.Until.Format(time.TimeOnly))
}

// transportVerdict judges 1C's health by an attempt that got no answer:
// the caller giving up says nothing.
func transportVerdict(ctx context.Context, err error) (retry.Verdict, string) {
	if ctx.Err() != nil {
		return retry.Neutral, ""
	}
	return retry.Unhealthy, err.Error()
}

// statusVerdict judges 1C's health by an answer's status: a 5xx without
// a 1C error code is an outage (a crashed worker, a proxy with no 1C
// behind it); anything else, a posting error (500, code -1) included, is
// a working 1C.
func statusVerdict(e *Error) (retry.Verdict, string) {
	if e != nil && e.Status >= 500 && !(e.Status == 500 && e.Code != "") {
		return retry.Unhealthy, e.Error()
	}
	return retry.Healthy, ""
}
