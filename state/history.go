package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RecordLogKeep is how many log entries of one record the store keeps:
// [Tx.LogRecord] drops the older ones. A record changed every day still
// shows its last three weeks; the table stays at most this many rows per
// record the store has ever pushed, as the id map is one.
const RecordLogKeep = 20

// LogEntry is one outcome a run committed for a record: what `explain`
// tells. It holds keys, ids, a result and a hash, never a value of the
// record.
type LogEntry struct {
	Job, Key string
	RunID    string
	// Result is a virtsync.Result: created, updated, deleted, skipped,
	// failed or held.
	Result string
	// At is when the outcome was committed (set by LogRecord).
	At time.Time
	// Events are the events the outcome published, in order: their ids
	// are the outbox rows' ids and the Nats-Msg-Ids.
	Events []LogEvent
	// Fingerprint is the handler's keyed hash of what it pushed ("" when
	// nothing was pushed, or the handler does not say).
	Fingerprint string
}

// LogEvent is one event of a LogEntry.
type LogEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"` // kind.what, e.g. customer.upserted
}

// LogRecord adds e to the log of its record, stamped with the
// transaction's time, and drops the record's entries beyond the newest
// RecordLogKeep. Call it in the transaction that commits the outcome, so
// the log never tells of an outcome the store does not have.
func (tx *Tx) LogRecord(e LogEntry) error {
	events := e.Events
	if events == nil {
		events = []LogEvent{}
	}
	b, err := json.Marshal(events)
	if err != nil {
		return fmt.Errorf("log %s/%s: %w", e.Job, e.Key, err)
	}
	if e.Result == "held" && len(e.Events) == 0 {
		// A record held run after run (a card waiting for its owner) would
		// push its story out of the kept entries: a hold that follows a
		// hold moves the latest entry forward instead of adding one.
		res, err := tx.exec(`UPDATE record_log SET run_id = ?, at = ?, fingerprint = ?
			WHERE id = (SELECT id FROM record_log WHERE job = ? AND key = ? ORDER BY id DESC LIMIT 1) AND result = 'held'`,
			e.RunID, fmtTime(tx.now), e.Fingerprint, e.Job, e.Key)
		if err != nil {
			return fmt.Errorf("log %s/%s: %w", e.Job, e.Key, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
	}
	if _, err := tx.exec(`INSERT INTO record_log (job, key, run_id, result, at, events, fingerprint)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, e.Job, e.Key, e.RunID, e.Result, fmtTime(tx.now), string(b), e.Fingerprint); err != nil {
		return fmt.Errorf("log %s/%s: %w", e.Job, e.Key, err)
	}
	// Walks the record's index entries only: the cost does not grow with
	// the table.
	if _, err := tx.exec(`DELETE FROM record_log WHERE job = ? AND key = ? AND id <= (
			SELECT id FROM record_log WHERE job = ? AND key = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
		e.Job, e.Key, e.Job, e.Key, RecordLogKeep); err != nil {
		return fmt.Errorf("trim the log of %s/%s: %w", e.Job, e.Key, err)
	}
	return nil
}

// RecordLog returns the log of job's record key, oldest first: at most
// RecordLogKeep entries.
func (db *DB) RecordLog(ctx context.Context, job, key string) ([]LogEntry, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT run_id, result, at, events, fingerprint
		FROM record_log WHERE job = ? AND key = ? ORDER BY id`, job, key)
	if err != nil {
		return nil, fmt.Errorf("read the log of %s/%s: %w", job, key, err)
	}
	defer rows.Close()
	var out []LogEntry
	for rows.Next() {
		e := LogEntry{Job: job, Key: key}
		var events string
		if err := rows.Scan(&e.RunID, &e.Result, (*stamp)(&e.At), &events, &e.Fingerprint); err != nil {
			return nil, fmt.Errorf("read the log of %s/%s: %w", job, key, err)
		}
		if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
			return nil, fmt.Errorf("read the log of %s/%s: events of run %s: %w", job, key, e.RunID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the log of %s/%s: %w", job, key, err)
	}
	return out, nil
}

// fingerprintSecret names the fingerprint key in the secrets table.
const fingerprintSecret = "fingerprint"

// FingerprintKey returns the store's key for fingerprints (HMAC-SHA256),
// 32 random bytes made on first use and kept in the store. Two processes
// asking at once get the same key: the first insert wins. A store opened
// [ReadOnly] that has no key yet returns nil: it has no fingerprint to
// compare with either.
func (db *DB) FingerprintKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := db.read.GetContext(ctx, &key, `SELECT value FROM secrets WHERE name = ?`, fingerprintSecret)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the fingerprint key: %w", err)
	}
	if db.readOnly {
		return nil, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("make the fingerprint key: %w", err)
	}
	// Not fenced: the key belongs to the store, not to a job's lease.
	err = db.update(ctx, nil, func(tx *Tx) error {
		if _, err := tx.exec(`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			fingerprintSecret, fresh); err != nil {
			return err
		}
		return tx.queryRow(`SELECT value FROM secrets WHERE name = ?`, fingerprintSecret).Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("store the fingerprint key: %w", err)
	}
	return key, nil
}

// RecordJob is a job and the kind of record it moves (the id map's kind),
// for [DB.FindKey].
type RecordJob struct {
	Job, Kind string
}

// KeyMatch is a record a key names.
type KeyMatch struct {
	Job, Kind string
	// Key is the record's key in its job: the 1C reference of a customer
	// or card, the virtpos order key of an order.
	Key string
	// ByRemoteID says the key given was the record's id on the other side
	// (the id map's remote id: a virtpos id, a 1C document reference),
	// not its key.
	ByRemoteID bool
}

// FindKey returns the records of jobs that key names: as a record's own
// key (it has a version, an id, a log entry, a hold, a dead letter or an
// intent) or as its remote id in the id map. Every job is searched, since
// one text can name records of two jobs (a virtpos customer and card may
// share an id). A key that names nothing wraps [ErrNotFound].
func (db *DB) FindKey(ctx context.Context, key string, jobs []RecordJob) ([]KeyMatch, error) {
	var out []KeyMatch
	for _, j := range jobs {
		var known bool
		err := db.read.GetContext(ctx, &known, `SELECT
				EXISTS (SELECT 1 FROM records WHERE job = ? AND key = ?)
				OR EXISTS (SELECT 1 FROM idmap WHERE kind = ? AND ref = ?)
				OR EXISTS (SELECT 1 FROM record_log WHERE job = ? AND key = ?)
				OR EXISTS (SELECT 1 FROM holds WHERE job = ? AND key = ?)
				OR EXISTS (SELECT 1 FROM dead_letters WHERE job = ? AND key = ?)
				OR EXISTS (SELECT 1 FROM intents WHERE job = ? AND key = ?)`,
			j.Job, key, j.Kind, key, j.Job, key, j.Job, key, j.Job, key, j.Job, key)
		if err != nil {
			return nil, fmt.Errorf("find %s in %s: %w", key, j.Job, err)
		}
		if known {
			out = append(out, KeyMatch{Job: j.Job, Kind: j.Kind, Key: key})
		}
		refs, err := db.LookupRefs(ctx, j.Kind, []string{key})
		if err != nil {
			return nil, fmt.Errorf("find %s in %s: %w", key, j.Job, err)
		}
		for _, ref := range refs[key] {
			if ref != key {
				out = append(out, KeyMatch{Job: j.Job, Kind: j.Kind, Key: ref, ByRemoteID: true})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s is no record's key or id in the state", ErrNotFound, key)
	}
	return out, nil
}

// RecordStatus is what the store holds about one record beside its log,
// for `explain`.
type RecordStatus struct {
	// Version is the last version committed, when HasVersion; VersionAt
	// when it was.
	Version    string
	VersionAt  time.Time
	HasVersion bool
	// ID is the id map's row of the record, when HasID.
	ID    IDEntry
	HasID bool
	// Hold, DeadLetter and Intent are nil when the record has none.
	Hold       *Hold
	DeadLetter *DeadLetter
	Intent     *Intent
}

// RecordStatus reads what the store holds about job's record key, whose
// kind (the id map's) is kind: one look-up per table by its key, however
// many records the job has.
func (db *DB) RecordStatus(ctx context.Context, job, kind, key string) (RecordStatus, error) {
	var st RecordStatus
	fail := func(err error) (RecordStatus, error) {
		return RecordStatus{}, fmt.Errorf("read the status of %s/%s: %w", job, key, err)
	}
	err := db.read.QueryRowxContext(ctx, `SELECT version, updated_at FROM records WHERE job = ? AND key = ?`, job, key).
		Scan(&st.Version, (*stamp)(&st.VersionAt))
	switch {
	case err == nil:
		st.HasVersion = true
	case !errors.Is(err, sql.ErrNoRows):
		return fail(err)
	}
	if st.ID, st.HasID, err = db.IDEntry(ctx, kind, key); err != nil {
		return fail(err)
	}
	var h Hold
	err = db.read.QueryRowxContext(ctx, `SELECT job, key, reason, attempts, first_at, last_at
		FROM holds WHERE job = ? AND key = ?`, job, key).
		Scan(&h.Job, &h.Key, &h.Reason, &h.Attempts, (*stamp)(&h.FirstAt), (*stamp)(&h.LastAt))
	switch {
	case err == nil:
		st.Hold = &h
	case !errors.Is(err, sql.ErrNoRows):
		return fail(err)
	}
	// The payload stays in the store: it is the record as it failed.
	var d DeadLetter
	err = db.read.QueryRowxContext(ctx, `SELECT id, job, key, reason, attempts, first_failed_at, last_failed_at, status
		FROM dead_letters WHERE job = ? AND key = ?`, job, key).
		Scan(&d.ID, &d.Job, &d.Key, &d.Reason, &d.Attempts, (*stamp)(&d.FirstFailedAt), (*stamp)(&d.LastFailedAt), &d.Status)
	switch {
	case err == nil:
		st.DeadLetter = &d
	case !errors.Is(err, sql.ErrNoRows):
		return fail(err)
	}
	var in Intent
	err = db.read.QueryRowxContext(ctx, `SELECT job, key, op, created_at FROM intents WHERE job = ? AND key = ?`, job, key).
		Scan(&in.Job, &in.Key, &in.Op, (*stamp)(&in.CreatedAt))
	switch {
	case err == nil:
		st.Intent = &in
	case !errors.Is(err, sql.ErrNoRows):
		return fail(err)
	}
	return st, nil
}
