package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseHeld is what a *LeaseHeldError matches with errors.Is.
var ErrLeaseHeld = errors.New("job lease held by another process")

// ErrLeaseLost is returned by RenewLease when the caller no longer holds
// the lease: it expired and another owner took it.
var ErrLeaseLost = errors.New("job lease lost")

// ErrFenced is what a *FencedError matches with errors.Is.
var ErrFenced = errors.New("job lease fenced off")

// Lease says which process runs a job now.
type Lease struct {
	Job, Owner, Host string
	PID              int
	AcquiredAt       time.Time
	ExpiresAt        time.Time
	// Token is the fencing token: it grows by one every time the lease is
	// acquired anew (another owner, or this one after expiry or release),
	// never when it is extended or renewed. A write fenced with a lease
	// (see [DB.Fenced]) commits only while the job's lease still has this
	// owner and token.
	Token int64
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

// FencedError is returned by a write fenced with a lease (see [DB.Fenced])
// that the job no longer holds: it was taken over, or released. The
// transaction wrote nothing. It matches [ErrFenced] and [ErrLeaseLost].
type FencedError struct {
	Job, Owner string
	Token      int64
	// Holder and HolderToken are the lease's owner and token now; Holder
	// is "" when nobody holds it.
	Holder      string
	HolderToken int64
}

// Error implements error.
func (e *FencedError) Error() string {
	now := "nobody holds it now"
	if e.Holder != "" {
		now = fmt.Sprintf("it belongs to %s now (token %d)", e.Holder, e.HolderToken)
	}
	return fmt.Sprintf("job %s: write refused: %s no longer holds the lease it took with token %d; %s",
		e.Job, e.Owner, e.Token, now)
}

// Is makes errors.Is(err, ErrFenced) and errors.Is(err, ErrLeaseLost) true.
func (e *FencedError) Is(target error) bool { return target == ErrFenced || target == ErrLeaseLost }

// Fenced returns a view of db for the holder of lease l (as AcquireLease
// returned it): every transaction of the view (Update, and every write
// method built on it: StartRun, FinishRun, RecordIntent, ...) first
// checks, inside the transaction, that the job's lease still has l's owner
// and token, and fails with a *[FencedError] otherwise, writing nothing.
// So a process that was paused (a GC pause, SIGSTOP, a frozen VM) past its
// lease's expiry, while another took the job over, commits nothing when it
// wakes. An expired lease nobody took is still this owner's: nobody else
// ran the job meanwhile.
//
// On PostgreSQL the check locks the lease row until the transaction ends,
// so a takeover waits for a commit under way and the commit cannot land
// after it. On SQLite the transaction holds the whole file.
//
// The view's RenewLease and ReleaseLease of l's job also need l's token.
// It shares db's connections: closing it does nothing, and it is valid
// until db is closed.
func (db *DB) Fenced(l Lease) *DB {
	v := *db
	v.fence = &l
	return &v
}

// Fence checks, inside the transaction, that l is still the lease of its
// job: same owner, same token. It fails with a *[FencedError] otherwise.
// A view made by [DB.Fenced] calls it first in every transaction; call it
// directly to fence a single transaction.
func (tx *Tx) Fence(l Lease) error {
	if l.Job == "" || l.Owner == "" {
		return fmt.Errorf("fence: lease of job %q has no owner: fence with the lease AcquireLease returned", l.Job)
	}
	cur, ok, err := tx.lease(l.Job, tx.db.dl.lockShared())
	if err != nil {
		return fmt.Errorf("fence %s: %w", l.Job, err)
	}
	if !ok || cur.Owner != l.Owner || cur.Token != l.Token {
		return &FencedError{Job: l.Job, Owner: l.Owner, Token: l.Token, Holder: cur.Owner, HolderToken: cur.Token}
	}
	return nil
}

const leaseCols = `job, owner, host, pid, acquired_at, expires_at, token`

func scanLease(sc interface{ Scan(...any) error }) (Lease, error) {
	var l Lease
	err := sc.Scan(&l.Job, &l.Owner, &l.Host, &l.PID, (*stamp)(&l.AcquiredAt), (*stamp)(&l.ExpiresAt), &l.Token)
	return l, err
}

// lease reads job's lease row, lock appended to the query. A released
// lease (owner "") is not a lease: ok is false, though its token is
// returned, since the next owner's token follows it.
func (tx *Tx) lease(job, lock string) (Lease, bool, error) {
	row := tx.queryRow(`SELECT `+leaseCols+` FROM leases WHERE job = ?`+lock, job)
	l, err := scanLease(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, err
	}
	return l, l.Owner != "", nil
}

// AcquireLease takes job's lease for owner until DB.Now()+ttl. It fails
// with a *LeaseHeldError while another owner's lease is live; an expired
// one is taken over. Acquiring a lease owner already holds extends it and
// keeps its token; any other acquisition takes the next token. Taking a
// lease over marks the job's 'running' runs as crashed, since their
// process stopped renewing.
//
// Concurrent acquirers, in this process or another, are serialised: on
// PostgreSQL by the lease row's lock, which a fenced commit under way
// holds too (so the takeover waits for it, see [DB.Fenced]).
func (db *DB) AcquireLease(ctx context.Context, job, owner string, ttl time.Duration) (Lease, error) {
	if owner == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("acquire lease %s: owner and a positive ttl are required", job)
	}
	var got Lease
	err := db.update(ctx, nil, func(tx *Tx) error {
		// A row to lock even for a job never leased: without one, two
		// acquirers on PostgreSQL could both find none and both insert.
		if _, err := tx.exec(`INSERT INTO leases (job, owner, host, pid, acquired_at, expires_at, token)
			VALUES (?, '', '', 0, '', '', 0) ON CONFLICT (job) DO NOTHING`, job); err != nil {
			return err
		}
		cur, ok, err := tx.lease(job, tx.db.dl.lockUpdate())
		if err != nil {
			return err
		}
		live := ok && cur.Live(tx.now)
		if live && cur.Owner != owner {
			return &LeaseHeldError{Job: job, Owner: cur.Owner, Host: cur.Host, PID: cur.PID,
				Since: cur.AcquiredAt, Expires: cur.ExpiresAt}
		}
		got = Lease{Job: job, Owner: owner, Host: db.Host, PID: db.PID, AcquiredAt: tx.now, ExpiresAt: tx.now.Add(ttl),
			Token: cur.Token}
		if live { // ours: extend it
			got.AcquiredAt = cur.AcquiredAt
		} else {
			got.Token++
			_, err := tx.exec(`UPDATE runs SET status = 'crashed', finished_at = ?,
					error = 'the process stopped before the run finished'
				WHERE job = ? AND status = 'running'`, fmtTime(tx.now), job)
			if err != nil {
				return err
			}
		}
		_, err = tx.exec(`UPDATE leases SET owner = ?, host = ?, pid = ?, acquired_at = ?, expires_at = ?, token = ?
			WHERE job = ?`, owner, got.Host, got.PID, fmtTime(got.AcquiredAt), fmtTime(got.ExpiresAt), got.Token, job)
		return err
	})
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", job, err)
	}
	got.AcquiredAt, got.ExpiresAt = got.AcquiredAt.UTC(), got.ExpiresAt.UTC()
	return got, nil
}

// fenceFor returns the token condition a lease write on job needs: on a
// view fenced with job's lease, the token must still be the view's.
func (db *DB) fenceFor(job string) (string, []any) {
	if db.fence != nil && db.fence.Job == job {
		return ` AND token = ?`, []any{db.fence.Token}
	}
	return "", nil
}

// RenewLease extends owner's lease on job to DB.Now()+ttl. It fails with
// ErrLeaseLost when the lease now belongs to someone else or to no one
// (released, or expired and taken over and released); an expired lease
// nobody took is renewed, since nobody else ran the job meanwhile.
func (db *DB) RenewLease(ctx context.Context, job, owner string, ttl time.Duration) error {
	if owner == "" {
		return fmt.Errorf("renew lease %s: owner is required", job)
	}
	cond, args := db.fenceFor(job)
	err := db.update(ctx, nil, func(tx *Tx) error {
		res, err := tx.exec(`UPDATE leases SET expires_at = ? WHERE job = ? AND owner = ?`+cond,
			append([]any{fmtTime(tx.now.Add(ttl)), job, owner}, args...)...)
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
// The row stays, ownerless, to keep the job's token growing.
func (db *DB) ReleaseLease(ctx context.Context, job, owner string) error {
	if owner == "" {
		return nil
	}
	cond, args := db.fenceFor(job)
	err := db.update(ctx, nil, func(tx *Tx) error {
		_, err := tx.exec(`UPDATE leases SET owner = '', host = '', pid = 0, acquired_at = '', expires_at = ''
			WHERE job = ? AND owner = ?`+cond, append([]any{job, owner}, args...)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", job, err)
	}
	return nil
}

// Lease returns job's lease row, live or expired (see Lease.Live).
func (db *DB) Lease(ctx context.Context, job string) (Lease, bool, error) {
	ls, err := db.leases(ctx, `AND job = ?`, job)
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
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+leaseCols+` FROM leases WHERE owner <> '' `+where+` ORDER BY job`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
