package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseHeld is what a *LeaseHeldError matches with errors.Is.
var ErrLeaseHeld = errors.New("job lease held by another process")

// ErrLeaseLost is returned by RenewLease when the caller no longer holds
// the lease: it expired and another owner took it.
var ErrLeaseLost = errors.New("job lease lost")

// Lease says which process runs a job now.
type Lease struct {
	Job, Owner, Host string
	PID              int
	AcquiredAt       time.Time
	ExpiresAt        time.Time
}

// Live reports whether the lease is still valid at now.
func (l Lease) Live(now time.Time) bool { return now.Before(l.ExpiresAt) }

// LeaseHeldError is returned by AcquireLease when another owner holds a
// live lease on the job.
type LeaseHeldError struct {
	Job, Owner, Host string
	PID              int
	Since, Expires   time.Time
}

// Error implements error.
func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("job %s is being run by %s (pid %d on %s) since %s; its lease expires at %s",
		e.Job, e.Owner, e.PID, e.Host, e.Since.Format(time.RFC3339), e.Expires.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

const leaseCols = `job, owner, host, pid, acquired_at, expires_at`

func (tx *Tx) lease(job string) (Lease, bool, error) {
	var l Lease
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+leaseCols+` FROM leases WHERE job = ?`, job)
	if err != nil {
		return Lease{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return Lease{}, false, rows.Err()
	}
	err = rows.Scan(&l.Job, &l.Owner, &l.Host, &l.PID, (*stamp)(&l.AcquiredAt), (*stamp)(&l.ExpiresAt))
	return l, err == nil, err
}

// AcquireLease takes job's lease for owner until DB.Now()+ttl. It fails
// with a *LeaseHeldError while another owner's lease is live; an expired
// one is taken over. Acquiring a lease owner already holds extends it.
// Taking a lease over marks the job's 'running' runs as crashed, since
// their process stopped renewing.
func (db *DB) AcquireLease(ctx context.Context, job, owner string, ttl time.Duration) (Lease, error) {
	if owner == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("acquire lease %s: owner and a positive ttl are required", job)
	}
	var got Lease
	err := db.Update(ctx, func(tx *Tx) error {
		cur, ok, err := tx.lease(job)
		if err != nil {
			return err
		}
		mine := ok && cur.Owner == owner && cur.Live(tx.now)
		if ok && cur.Owner != owner && cur.Live(tx.now) {
			return &LeaseHeldError{Job: job, Owner: cur.Owner, Host: cur.Host, PID: cur.PID,
				Since: cur.AcquiredAt, Expires: cur.ExpiresAt}
		}
		got = Lease{Job: job, Owner: owner, Host: db.Host, PID: db.PID, AcquiredAt: tx.now, ExpiresAt: tx.now.Add(ttl)}
		if mine {
			got.AcquiredAt = cur.AcquiredAt
		} else {
			_, err := tx.exec(`UPDATE runs SET status = 'crashed', finished_at = ?,
					error = 'the process stopped before the run finished'
				WHERE job = ? AND status = 'running'`, fmtTime(tx.now), job)
			if err != nil {
				return err
			}
		}
		_, err = tx.exec(`INSERT INTO leases (job, owner, host, pid, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
				acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
			job, owner, got.Host, got.PID, fmtTime(got.AcquiredAt), fmtTime(got.ExpiresAt))
		return err
	})
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", job, err)
	}
	got.AcquiredAt, got.ExpiresAt = got.AcquiredAt.UTC(), got.ExpiresAt.UTC()
	return got, nil
}

// RenewLease extends owner's lease on job to DB.Now()+ttl. It fails with
// ErrLeaseLost when the lease now belongs to someone else or to no one
// (released, or expired and taken over and released); an expired lease
// nobody took is renewed, since nobody else ran the job meanwhile.
func (db *DB) RenewLease(ctx context.Context, job, owner string, ttl time.Duration) error {
	err := db.Update(ctx, func(tx *Tx) error {
		res, err := tx.exec(`UPDATE leases SET expires_at = ? WHERE job = ? AND owner = ?`,
			fmtTime(tx.now.Add(ttl)), job, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrLeaseLost
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("renew lease %s for %s: %w", job, owner, err)
	}
	return nil
}

// ReleaseLease gives up owner's lease on job. Releasing a lease owner does
// not hold is a no-op, so a deferred release after a takeover is harmless.
func (db *DB) ReleaseLease(ctx context.Context, job, owner string) error {
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.exec(`DELETE FROM leases WHERE job = ? AND owner = ?`, job, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", job, err)
	}
	return nil
}

// Lease returns job's lease row, live or expired (see Lease.Live).
func (db *DB) Lease(ctx context.Context, job string) (Lease, bool, error) {
	ls, err := db.leases(ctx, `WHERE job = ?`, job)
	if err != nil {
		return Lease{}, false, fmt.Errorf("read lease %s: %w", job, err)
	}
	if len(ls) == 0 {
		return Lease{}, false, nil
	}
	return ls[0], true, nil
}

// Leases returns every lease row, live or expired, ordered by job.
func (db *DB) Leases(ctx context.Context) ([]Lease, error) {
	ls, err := db.leases(ctx, ``)
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	return ls, nil
}

func (db *DB) leases(ctx context.Context, where string, args ...any) ([]Lease, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+leaseCols+` FROM leases `+where+` ORDER BY job`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		if err := rows.Scan(&l.Job, &l.Owner, &l.Host, &l.PID, (*stamp)(&l.AcquiredAt), (*stamp)(&l.ExpiresAt)); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
