package state

import "fmt"

// HoldWaiting records that job's record key waits for a job that has never
// finished a run (a first load still going on). Such a wait does not age:
// the hold's count and age start anew, so the record's hold limit counts
// only the runs after the awaited job first finished.
func (tx *Tx) HoldWaiting(job, key, reason string) error {
	now := fmtTime(tx.now)
	_, err := tx.exec(`INSERT INTO holds (job, key, reason, attempts, first_at, last_at)
		VALUES (?, ?, ?, 0, ?, ?)
		ON CONFLICT (job, key) DO UPDATE SET attempts = 0, reason = excluded.reason,
			first_at = excluded.first_at, last_at = excluded.last_at`, job, key, reason, now, now)
	if err != nil {
		return fmt.Errorf("hold %s/%s: %w", job, key, err)
	}
	return nil
}
