package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Checkpoint is where a job stands.
type Checkpoint struct {
	Job string
	// Cursor is the source's opaque position for resuming a scan mid-way;
	// "" means start from the beginning.
	Cursor string
	// LastSuccessAt is when the job last finished a run without error;
	// zero if never.
	LastSuccessAt time.Time
	// UpdatedAt is when the row last changed; zero if there is none.
	UpdatedAt time.Time
}

// SetCheckpoint stores job's cursor. Commit it in the same transaction as
// the versions of the records it covers, so the two never disagree.
func (tx *Tx) SetCheckpoint(job, cursor string) error {
	_, err := tx.exec(`INSERT INTO checkpoints (job, cursor, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (job) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
		job, cursor, fmtTime(tx.now))
	if err != nil {
		return fmt.Errorf("set checkpoint %s: %w", job, err)
	}
	return nil
}

// MarkSuccess records that job finished a run without error at at. It
// leaves the cursor alone: whether a finished scan restarts from "" is the
// engine's decision (SetCheckpoint(job, "")).
func (tx *Tx) MarkSuccess(job string, at time.Time) error {
	_, err := tx.exec(`INSERT INTO checkpoints (job, last_success_at, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (job) DO UPDATE SET last_success_at = excluded.last_success_at, updated_at = excluded.updated_at`,
		job, fmtTime(at), fmtTime(tx.now))
	if err != nil {
		return fmt.Errorf("mark success %s: %w", job, err)
	}
	return nil
}

const checkpointCols = `job, cursor, last_success_at, updated_at`

func scanCheckpoint(sc interface{ Scan(...any) error }) (Checkpoint, error) {
	var c Checkpoint
	err := sc.Scan(&c.Job, &c.Cursor, (*stamp)(&c.LastSuccessAt), (*stamp)(&c.UpdatedAt))
	return c, err
}

// Checkpoint returns job's checkpoint. A job never checkpointed gets a zero
// Checkpoint (with Job set) and no error: it starts from the beginning.
func (db *DB) Checkpoint(ctx context.Context, job string) (Checkpoint, error) {
	row := db.read.QueryRowxContext(ctx, `SELECT `+checkpointCols+` FROM checkpoints WHERE job = ?`, job)
	c, err := scanCheckpoint(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{Job: job}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint %s: %w", job, err)
	}
	return c, nil
}

// Checkpoints returns every job's checkpoint, ordered by job.
func (db *DB) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := db.read.QueryxContext(ctx, `SELECT `+checkpointCols+` FROM checkpoints ORDER BY job`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// SetVersion records version (opaque: a 1C DataVersion or a content hash)
// as the last one of job's record key that the sink confirmed.
func (tx *Tx) SetVersion(job, key, version string) error {
	_, err := tx.exec(`INSERT INTO records (job, key, version, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (job, key) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
		job, key, version, fmtTime(tx.now))
	if err != nil {
		return fmt.Errorf("set version %s/%s: %w", job, key, err)
	}
	return nil
}

// DeleteVersion forgets job's record key (it was deleted at the source and
// the deletion was pushed). Unknown keys are not an error.
func (tx *Tx) DeleteVersion(job, key string) error {
	if _, err := tx.exec(`DELETE FROM records WHERE job = ? AND key = ?`, job, key); err != nil {
		return fmt.Errorf("delete version %s/%s: %w", job, key, err)
	}
	return nil
}

// ClearVersions forgets every version of job, so the next run re-pushes
// everything (a persistent resync). It returns how many were removed.
func (tx *Tx) ClearVersions(job string) (int, error) {
	res, err := tx.exec(`DELETE FROM records WHERE job = ?`, job)
	if err != nil {
		return 0, fmt.Errorf("clear versions %s: %w", job, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Version returns the last pushed version of job's record key.
func (db *DB) Version(ctx context.Context, job, key string) (version string, ok bool, err error) {
	err = db.read.GetContext(ctx, &version, `SELECT version FROM records WHERE job = ? AND key = ?`, job, key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read version %s/%s: %w", job, key, err)
	}
	return version, true, nil
}

// Versions returns every pushed version of job, by record key: the engine
// loads it once per run for change detection.
func (db *DB) Versions(ctx context.Context, job string) (map[string]string, error) {
	m, err := db.pairs(ctx, `SELECT key, version FROM records WHERE job = ?`, job)
	if err != nil {
		return nil, fmt.Errorf("read versions %s: %w", job, err)
	}
	return m, nil
}

// pairs runs a two-column text query into a map.
func (db *DB) pairs(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, rows.Err()
}

// IDEntry is one id map row. For customers and cards Ref is the 1C
// reference and RemoteID the virtpos id; for orders Ref is the virtpos
// order key and RemoteID the 1C document Ref_Key, with Extra holding e.g.
// the document Number or DataVersion.
type IDEntry struct {
	Kind, Ref, RemoteID, Extra string
	UpdatedAt                  time.Time
}

// PutID maps (kind, ref) to remoteID, replacing any earlier mapping.
func (tx *Tx) PutID(kind, ref, remoteID, extra string) error {
	_, err := tx.exec(`INSERT INTO idmap (kind, ref, remote_id, extra, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, ref) DO UPDATE SET remote_id = excluded.remote_id, extra = excluded.extra,
			updated_at = excluded.updated_at`,
		kind, ref, remoteID, extra, fmtTime(tx.now))
	if err != nil {
		return fmt.Errorf("put id %s/%s: %w", kind, ref, err)
	}
	return nil
}

// DeleteID removes the mapping of (kind, ref). Unknown refs are not an error.
func (tx *Tx) DeleteID(kind, ref string) error {
	if _, err := tx.exec(`DELETE FROM idmap WHERE kind = ? AND ref = ?`, kind, ref); err != nil {
		return fmt.Errorf("delete id %s/%s: %w", kind, ref, err)
	}
	return nil
}

// LookupID returns the remote id mapped to (kind, ref).
func (db *DB) LookupID(ctx context.Context, kind, ref string) (remoteID string, ok bool, err error) {
	e, ok, err := db.IDEntry(ctx, kind, ref)
	return e.RemoteID, ok, err
}

// IDEntry returns the whole id map row of (kind, ref), Extra included.
func (db *DB) IDEntry(ctx context.Context, kind, ref string) (IDEntry, bool, error) {
	var e IDEntry
	err := db.idEntry.QueryRowxContext(ctx, kind, ref).
		Scan(&e.Kind, &e.Ref, &e.RemoteID, &e.Extra, (*stamp)(&e.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return IDEntry{}, false, nil
	}
	if err != nil {
		return IDEntry{}, false, fmt.Errorf("lookup id %s/%s: %w", kind, ref, err)
	}
	return e, true, nil
}

// LookupIDs returns the remote ids of those refs of kind that the id map
// holds: one query for a batch instead of one per record.
func (db *DB) LookupIDs(ctx context.Context, kind string, refs []string) (map[string]string, error) {
	out := make(map[string]string, len(refs))
	err := pairsIn(ctx, db.read, `SELECT ref, remote_id FROM idmap WHERE kind = ? AND ref IN (%s)`, kind, refs,
		func(ref, id string) { out[ref] = id })
	if err != nil {
		return nil, fmt.Errorf("lookup ids %s: %w", kind, err)
	}
	return out, nil
}

// LookupRefs is LookupRef for a batch: remote id -> the refs of kind
// mapped to it, for those of ids the id map holds.
func (db *DB) LookupRefs(ctx context.Context, kind string, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	err := pairsIn(ctx, db.read, `SELECT remote_id, ref FROM idmap INDEXED BY idmap_remote
		WHERE kind = ? AND remote_id IN (%s) ORDER BY remote_id, updated_at DESC`, kind, ids,
		func(id, ref string) { out[id] = append(out[id], ref) })
	if err != nil {
		return nil, fmt.Errorf("lookup refs %s: %w", kind, err)
	}
	return out, nil
}

// queryer is a pool or a connection.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// pairsIn runs a two-column text query whose %s is an IN list over keys,
// a statement per sweepChunk keys, first bound before them, and calls fn
// for every row.
func pairsIn(ctx context.Context, q queryer, query string, first any, keys []string, fn func(a, b string)) error {
	for start := 0; start < len(keys); start += sweepChunk {
		chunk := keys[start:min(start+sweepChunk, len(keys))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, first)
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := q.QueryContext(ctx, fmt.Sprintf(query, placeholders(len(chunk))), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return err
			}
			fn(a, b)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
	}
	return nil
}

// LookupRef is the reverse of LookupID: the ref mapped to remoteID. If
// several refs map to it, the most recently updated wins.
//
// INDEXED BY: without statistics SQLite searches the primary key by kind
// alone here, a scan of every id of the kind (0.8 ms a call at 20,000,
// called once per pushed record); the reverse index answers in
// microseconds at any size.
func (db *DB) LookupRef(ctx context.Context, kind, remoteID string) (ref string, ok bool, err error) {
	err = db.read.GetContext(ctx, &ref,
		`SELECT ref FROM idmap INDEXED BY idmap_remote WHERE kind = ? AND remote_id = ? ORDER BY updated_at DESC LIMIT 1`, kind, remoteID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("lookup ref %s/%s: %w", kind, remoteID, err)
	}
	return ref, true, nil
}

// IDs returns the whole id map of kind, ref -> remote id, for a run to
// resolve references without a query per record.
func (db *DB) IDs(ctx context.Context, kind string) (map[string]string, error) {
	m, err := db.pairs(ctx, `SELECT ref, remote_id FROM idmap WHERE kind = ?`, kind)
	if err != nil {
		return nil, fmt.Errorf("read ids %s: %w", kind, err)
	}
	return m, nil
}

// Intent is a remote write announced before it was made. An intent still
// present after a restart means the call may or may not have happened: the
// engine must look the record up remotely before creating it again.
type Intent struct {
	Job, Key, Op string
	Payload      []byte
	CreatedAt    time.Time
}

// PutIntent records (or replaces) the intent to do op on job's record key.
func (tx *Tx) PutIntent(job, key, op string, payload []byte) error {
	_, err := tx.exec(`INSERT INTO intents (job, key, op, payload, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (job, key) DO UPDATE SET op = excluded.op, payload = excluded.payload,
			created_at = excluded.created_at`,
		job, key, op, payload, fmtTime(tx.now))
	if err != nil {
		return fmt.Errorf("put intent %s/%s: %w", job, key, err)
	}
	return nil
}

// ClearIntent removes the intent of job's record key, normally in the
// transaction that commits the outcome. Unknown keys are not an error.
func (tx *Tx) ClearIntent(job, key string) error {
	if _, err := tx.exec(`DELETE FROM intents WHERE job = ? AND key = ?`, job, key); err != nil {
		return fmt.Errorf("clear intent %s/%s: %w", job, key, err)
	}
	return nil
}

// RecordIntent is PutIntent in its own transaction, committed before it
// returns: an intent must be durable before the remote call it announces.
func (db *DB) RecordIntent(ctx context.Context, job, key, op string, payload []byte) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.PutIntent(job, key, op, payload) })
}

// Intents returns job's outstanding intents, oldest first.
func (db *DB) Intents(ctx context.Context, job string) ([]Intent, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT job, key, op, payload, created_at FROM intents WHERE job = ? ORDER BY created_at, key`, job)
	if err != nil {
		return nil, fmt.Errorf("read intents %s: %w", job, err)
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		var in Intent
		if err := rows.Scan(&in.Job, &in.Key, &in.Op, &in.Payload, (*stamp)(&in.CreatedAt)); err != nil {
			return nil, fmt.Errorf("read intents %s: %w", job, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read intents %s: %w", job, err)
	}
	return out, nil
}
