package state

import (
	"context"
	"fmt"
	"time"
)

// Run statuses. Mode is free text; the engine uses scheduled, once,
// resync and replay.
const (
	RunRunning   = "running"
	RunOK        = "ok"
	RunFailed    = "failed"
	RunPartial   = "partial"
	RunCancelled = "cancelled"
	// RunCrashed marks a run its process never finished (killed, power
	// loss). Set by Open and AcquireLease, never by the engine.
	RunCrashed = "crashed"
)

// Run is one job run.
type Run struct {
	ID                                                 int64
	RunID, Job, Mode, Status                           string
	StartedAt, FinishedAt                              time.Time // FinishedAt is zero while running
	Created, Updated, Unchanged, Deleted, Failed, Held int
	Error                                              string
}

// RunResult is how a run ended.
type RunResult struct {
	// Status is one of the Run* statuses other than running and crashed.
	Status                                             string
	Created, Updated, Unchanged, Deleted, Failed, Held int
	// Error is why the run stopped early, "" if it did not.
	Error string
}

// StartRun records that job started a run in mode with the engine's runID
// and returns the row id to give to FinishRun.
func (db *DB) StartRun(ctx context.Context, job, mode, runID string) (int64, error) {
	var id int64
	err := db.Update(ctx, func(tx *Tx) error {
		// RETURNING rather than LastInsertId, which PostgreSQL's driver
		// does not have.
		return tx.queryRow(`INSERT INTO runs (run_id, job, mode, started_at, status) VALUES (?, ?, ?, ?, 'running')
			RETURNING id`, runID, job, mode, fmtTime(tx.now)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("start run %s: %w", job, err)
	}
	return id, nil
}

// FinishRun records the end of run id. An unknown id wraps ErrNotFound.
func (db *DB) FinishRun(ctx context.Context, id int64, r RunResult) error {
	switch r.Status {
	case RunOK, RunFailed, RunPartial, RunCancelled:
	default:
		return fmt.Errorf("finish run %d: invalid status %q", id, r.Status)
	}
	err := db.Update(ctx, func(tx *Tx) error {
		res, err := tx.exec(`UPDATE runs SET finished_at = ?, status = ?, created = ?, updated = ?,
			unchanged = ?, deleted = ?, failed = ?, held = ?, error = ? WHERE id = ?`,
			fmtTime(tx.now), r.Status, r.Created, r.Updated, r.Unchanged, r.Deleted, r.Failed, r.Held, r.Error, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish run %d: %w", id, err)
	}
	return nil
}

// LastRuns returns the perJob most recent runs of every job, ordered by
// job and then newest first. perJob <= 0 means 1.
func (db *DB) LastRuns(ctx context.Context, perJob int) ([]Run, error) {
	if perJob <= 0 {
		perJob = 1
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, run_id, job, mode, status, started_at, finished_at,
			created, updated, unchanged, deleted, failed, held, error
		FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY job ORDER BY id DESC) AS n FROM runs) AS ranked
		WHERE n <= ? ORDER BY job, id DESC`, perJob)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		if err := rows.Scan(&r.ID, &r.RunID, &r.Job, &r.Mode, &r.Status, (*stamp)(&r.StartedAt),
			(*stamp)(&r.FinishedAt), &r.Created, &r.Updated, &r.Unchanged, &r.Deleted, &r.Failed,
			&r.Held, &r.Error); err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	return out, nil
}

// markCrashedRuns marks as crashed the runs still 'running' whose job has
// no live lease: the engine holds the lease for the whole run and renews
// it, so such a run's process is gone.
func (db *DB) markCrashedRuns(ctx context.Context) error {
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.exec(`UPDATE runs SET status = 'crashed', finished_at = ?,
				error = 'the process stopped before the run finished'
			WHERE status = 'running'
			AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.job = runs.job AND l.expires_at > ?)`,
			fmtTime(tx.now), fmtTime(tx.now))
		return err
	})
	if err != nil {
		return fmt.Errorf("mark crashed runs: %w", err)
	}
	return nil
}
