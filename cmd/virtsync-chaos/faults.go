package main

import (
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// virtposFaults is the mix: 10% 5xx (half plain 500s, half a
// proxy's HTML 502), 5% lost replies (carried out, then the connection
// drops), 5% replies slower than virtsync's 1s timeout (carried out too),
// 2% 429 with Retry-After. It counts the faults the fake says it injected.
func virtposFaults(w *world, on bool) int {
	if on {
		w.vp.SetFaults(virtpostest.Faults{Seed: w.rng.Uint64(),
			ErrorRate: 0.05, HTMLRate: 0.05, HTMLStatus: 502,
			LostReplyRate: 0.05, SlowReply: 1300 * time.Millisecond, SlowReplyRate: 0.05,
			ThrottleRate: 0.02, RetryAfter: time.Second})
		return 0
	}
	c := w.vp.Counts()
	w.vp.SetFaults(virtpostest.Faults{})
	return c.LostReplies + c.SlowReplies + c.Truncated + c.Throttled + c.Errors + c.HTMLPages
}

// onecFaults: 10% of write replies lost after 1C saved the document, 5% of
// pages after the first fail with a 5xx, and records change during sweeps
// (2% of pages).
func onecFaults(w *world, on bool) int {
	if on {
		_ = w.onec.SetFaults(onectest.Faults{Seed: w.rng.Uint64(), LostReplyRate: 0.10, PageErrorRate: 0.05,
			ChurnRate: 0.02})
		return 0
	}
	n := 0
	for _, v := range w.onec.FaultCounts() {
		n += v
	}
	_ = w.onec.SetFaults(onectest.Faults{})
	return n
}
