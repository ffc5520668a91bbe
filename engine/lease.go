package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	log.Warn("taking over the lease of a process that is gone", "job", job, "owner", held.Owner, "pid", held.PID,
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
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := db.RenewLease(ctx, job, owner, ttl)
			if err == nil || ctx.Err() != nil {
				continue
			}
			if failed(err) {
				return
			}
		}
	}
}

// processAlive reports whether pid exists (signal 0 checks without sending).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
