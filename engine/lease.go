package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/virtsync/virtsync/state"
)

// AcquireLease takes the lease of job for owner. A lease left by a process
// of this host that no longer exists (killed with SIGKILL, or the machine's
// OOM killer) is taken over at once instead of after its TTL: the holder
// cannot be running the job.
func AcquireLease(ctx context.Context, db *state.DB, log *slog.Logger, job, owner string, ttl time.Duration) error {
	_, err := acquireLease(ctx, db, log, job, owner, ttl)
	return err
}

// acquireLease is AcquireLease returning the lease, for its fencing token.
func acquireLease(ctx context.Context, db *state.DB, log *slog.Logger, job, owner string, ttl time.Duration) (state.Lease, error) {
	l, err := db.AcquireLease(ctx, job, owner, ttl)
	var held *state.LeaseHeldError
	if !errors.As(err, &held) {
		return l, err
	}
	host, _ := os.Hostname()
	if held.Host != host || held.PID <= 0 || processAlive(held.PID) {
		return l, err
	}
	log.Warn("taking over the lease of a process that is gone", "lease", job, "owner", held.Owner, "pid", held.PID,
		"since", held.Since)
	if rerr := db.ReleaseLease(ctx, job, held.Owner); rerr != nil {
		return l, fmt.Errorf("release the lease of dead pid %d: %w", held.PID, rerr)
	}
	return db.AcquireLease(ctx, job, owner, ttl)
}

// KeepLease renews job's lease every third of its TTL until ctx ends. A
// renewal that fails while ctx is live goes to failed: true stops renewing
// (a run whose lease is gone must stop), false tries again at the next
// tick (the daemon's own lease: a busy database is not a lost daemon).
func KeepLease(ctx context.Context, db *state.DB, job, owner string, ttl time.Duration, failed func(error) (stop bool)) {
	keepLease(ctx, db, job, owner, ttl, failed, nil)
}

// keepLease is KeepLease telling renewed, when set, the start of every
// renewal that succeeded.
func keepLease(ctx context.Context, db *state.DB, job, owner string, ttl time.Duration, failed func(error) (stop bool),
	renewed func(start time.Time)) {
	t := time.NewTicker(max(ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			err := db.RenewLease(ctx, job, owner, ttl)
			if err == nil && renewed != nil {
				renewed(start)
			}
			if err == nil || ctx.Err() != nil {
				continue
			}
			if failed(err) {
				return
			}
		}
	}
}

// leaseClock says until when, by this process's clocks, a lease it holds
// is surely still its own: three quarters of the TTL after the start of
// its last acquisition or renewal. Past that another process may have
// taken the job over (this one was paused, cut off from the state, or its
// renewals were slow), and a run must not start another remote write: the
// state's fencing refuses the run's commits, but not a write virtpos or 1C
// already took. The quarter kept back is for the hosts' clocks, which
// stamp and read the lease's expiry, drifting apart.
type leaseClock struct {
	keep  time.Duration
	mu    sync.Mutex
	until time.Time
}

func newLeaseClock(start time.Time, ttl time.Duration) *leaseClock {
	c := &leaseClock{keep: ttl - ttl/4}
	c.renewed(start)
	return c
}

func (c *leaseClock) renewed(start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u := start.Add(c.keep); u.After(c.until) {
		c.until = u
	}
}

// deadline is the end of the lease's sure life as of now: a record's
// remote calls must be done by then, or they might land after another
// process took the job over.
func (c *leaseClock) deadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.until
}

// check fails once now is past the lease's sure life. Both the monotonic
// and the wall clock must say it is not: a paused process's monotonic
// clock runs on, but a frozen VM's may not, while its wall clock is set
// right when it wakes.
func (c *leaseClock) check(job string, now time.Time) error {
	c.mu.Lock()
	until := c.until
	c.mu.Unlock()
	if now.Before(until) && now.Round(0).Before(until.Round(0)) {
		return nil
	}
	return fmt.Errorf("%s: the lease was last renewed %s ago, too long to be sure it is still this process's: "+
		"another may run the job now; stopping before the next remote write",
		job, now.Sub(until.Add(-c.keep)).Round(time.Millisecond))
}

// processAlive reports whether pid exists (signal 0 checks without sending).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
