package state

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Dead letter statuses.
const (
	// DeadLetterOpen: failed permanently, waiting for a person.
	DeadLetterOpen = "open"
	// DeadLetterReplay: queued by `failures -replay`; the next run of the
	// job forces the record through again.
	DeadLetterReplay = "replay"
	// DeadLetterResolved: went through later; kept for the record.
	DeadLetterResolved = "resolved"
)

// DeadLetter is a record that failed permanently.
type DeadLetter struct {
	ID            int64
	Job, Key      string
	Reason        string
	Attempts      int
	Payload       []byte
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	Status        string
}

// AddDeadLetter records that job's record key failed for reason. A key
// already dead-lettered gets its attempts incremented, reason and last
// failure time updated, and goes back to open; one that was resolved
// starts counting again. A nil payload keeps the stored one.
func (tx *Tx) AddDeadLetter(job, key, reason string, payload []byte) error {
	now := fmtTime(tx.now)
	_, err := tx.exec(`INSERT INTO dead_letters
			(job, key, reason, attempts, payload, first_failed_at, last_failed_at, status)
		VALUES (?, ?, ?, 1, ?, ?, ?, 'open')
		ON CONFLICT (job, key) DO UPDATE SET
			attempts = CASE WHEN dead_letters.status = 'resolved' THEN 1 ELSE dead_letters.attempts + 1 END,
			first_failed_at = CASE WHEN dead_letters.status = 'resolved' THEN excluded.first_failed_at
				ELSE dead_letters.first_failed_at END,
			reason = excluded.reason,
			payload = COALESCE(excluded.payload, dead_letters.payload),
			last_failed_at = excluded.last_failed_at,
			status = 'open'`,
		job, key, reason, payload, now, now)
	if err != nil {
		return fmt.Errorf("add dead letter %s/%s: %w", job, key, err)
	}
	return nil
}

// ResolveDeadLetter marks job's record key resolved (it went through).
// A key with no dead letter is not an error.
func (tx *Tx) ResolveDeadLetter(job, key string) error {
	_, err := tx.exec(`UPDATE dead_letters SET status = 'resolved'
		WHERE job = ? AND key = ? AND status <> 'resolved'`, job, key)
	if err != nil {
		return fmt.Errorf("resolve dead letter %s/%s: %w", job, key, err)
	}
	return nil
}

// DeadLetters lists dead letters, most recently failed first. job "" means
// every job, status "" every status.
func (db *DB) DeadLetters(ctx context.Context, job, status string) ([]DeadLetter, error) {
	var where []string
	var args []any
	if job != "" {
		where, args = append(where, "job = ?"), append(args, job)
	}
	if status != "" {
		where, args = append(where, "status = ?"), append(args, status)
	}
	query := `SELECT id, job, key, reason, attempts, payload, first_failed_at, last_failed_at, status
		FROM dead_letters`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY last_failed_at DESC, id DESC"
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		if err := rows.Scan(&d.ID, &d.Job, &d.Key, &d.Reason, &d.Attempts, &d.Payload,
			(*stamp)(&d.FirstFailedAt), (*stamp)(&d.LastFailedAt), &d.Status); err != nil {
			return nil, fmt.Errorf("read dead letters: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	return out, nil
}

// QueueReplay moves job's open dead letters (every job's if job is "") to
// replay and returns how many it moved.
func (db *DB) QueueReplay(ctx context.Context, job string) (n int, err error) {
	err = db.Update(ctx, func(tx *Tx) error {
		res, err := tx.execOnce(`UPDATE dead_letters SET status = 'replay'
			WHERE status = 'open' AND (? = '' OR job = ?)`, job, job)
		if err != nil {
			return err
		}
		affected, err := res.RowsAffected()
		n = int(affected)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue replay %s: %w", job, err)
	}
	return n, nil
}

// ReplayKeys returns the keys of job's dead letters queued for replay.
func (db *DB) ReplayKeys(ctx context.Context, job string) ([]string, error) {
	var keys []string
	err := db.read.SelectContext(ctx, &keys,
		`SELECT key FROM dead_letters WHERE job = ? AND status = 'replay' ORDER BY id`, job)
	if err != nil {
		return nil, fmt.Errorf("read replay keys %s: %w", job, err)
	}
	return keys, nil
}

// Hold is a record waiting for a dependency: a card whose owner is not
// synced yet, an order whose item is unknown.
type Hold struct {
	Job, Key string
	Reason   string
	Attempts int
	FirstAt  time.Time
	LastAt   time.Time
}

// Hold records that job's record key waits for a dependency, and returns
// how many runs have now held it and since when, so the engine can turn a
// hold that lasts too long into a dead letter.
func (tx *Tx) Hold(job, key, reason string) (attempts int, firstAt time.Time, err error) {
	now := fmtTime(tx.now)
	err = tx.queryRow(`INSERT INTO holds (job, key, reason, attempts, first_at, last_at)
		VALUES (?, ?, ?, 1, ?, ?)
		ON CONFLICT (job, key) DO UPDATE SET attempts = holds.attempts + 1, reason = excluded.reason,
			last_at = excluded.last_at
		RETURNING attempts, first_at`, job, key, reason, now, now).
		Scan(&attempts, (*stamp)(&firstAt))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("hold %s/%s: %w", job, key, err)
	}
	return attempts, firstAt, nil
}

// Release removes the hold on job's record key. Unknown keys are not an error.
func (tx *Tx) Release(job, key string) error {
	if _, err := tx.exec(`DELETE FROM holds WHERE job = ? AND key = ?`, job, key); err != nil {
		return fmt.Errorf("release %s/%s: %w", job, key, err)
	}
	return nil
}

// Holds lists job's holds (every job's if job is ""), oldest first.
func (db *DB) Holds(ctx context.Context, job string) ([]Hold, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT job, key, reason, attempts, first_at, last_at
		FROM holds WHERE ? = '' OR job = ? ORDER BY first_at, job, key`, job, job)
	if err != nil {
		return nil, fmt.Errorf("read holds %s: %w", job, err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		var h Hold
		if err := rows.Scan(&h.Job, &h.Key, &h.Reason, &h.Attempts, (*stamp)(&h.FirstAt), (*stamp)(&h.LastAt)); err != nil {
			return nil, fmt.Errorf("read holds %s: %w", job, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read holds %s: %w", job, err)
	}
	return out, nil
}

// JobTally is how many holds or dead letters a job has, and since when.
type JobTally struct {
	Count  int
	Oldest time.Time
}

// HoldTally counts the holds of every job, with the oldest, reading no
// hold itself.
func (db *DB) HoldTally(ctx context.Context) (map[string]JobTally, error) {
	return db.tally(ctx, `SELECT job, COUNT(*), MIN(first_at) FROM holds GROUP BY job`)
}

// DeadLetterTally counts the dead letters of every job in status, with
// the oldest, reading neither a reason nor a payload.
func (db *DB) DeadLetterTally(ctx context.Context, status string) (map[string]JobTally, error) {
	return db.tally(ctx, `SELECT job, COUNT(*), MIN(first_failed_at) FROM dead_letters WHERE status = ? GROUP BY job`, status)
}

func (db *DB) tally(ctx context.Context, query string, args ...any) (map[string]JobTally, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	defer rows.Close()
	out := map[string]JobTally{}
	for rows.Next() {
		var job string
		var t JobTally
		if err := rows.Scan(&job, &t.Count, (*stamp)(&t.Oldest)); err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
		out[job] = t
	}
	return out, rows.Err()
}

// NewestDeadLetters returns the newest n dead letters of job in status,
// without their payloads.
func (db *DB) NewestDeadLetters(ctx context.Context, job, status string, n int) ([]DeadLetter, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, job, key, reason, attempts, first_failed_at, last_failed_at, status
		FROM dead_letters WHERE job = ? AND status = ? ORDER BY last_failed_at DESC, id DESC LIMIT ?`, job, status, n)
	if err != nil {
		return nil, fmt.Errorf("read dead letters of %s: %w", job, err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		if err := rows.Scan(&d.ID, &d.Job, &d.Key, &d.Reason, &d.Attempts,
			(*stamp)(&d.FirstFailedAt), (*stamp)(&d.LastFailedAt), &d.Status); err != nil {
			return nil, fmt.Errorf("read dead letters of %s: %w", job, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
