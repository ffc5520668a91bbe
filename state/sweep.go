package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Sweep is one run's view of a job's committed versions plus the set of
// keys the run has seen so far. The set is a TEMP table on a connection
// of its own: it costs the process no memory however many keys a base
// has, never takes the file's write lock (so the engine's commits do not
// wait for it), and vanishes with the connection, also after a crash.
//
// A Sweep is used by one goroutine at a time (a mutex guards it anyway).
type Sweep struct {
	mu  sync.Mutex
	raw *sqlx.Conn
	// conn is raw with the dialect's rewrite.
	conn rewriting
	job  string
	gen  int64 // Mark calls so far
}

// sweepChunk bounds the keys bound into one statement (SQLite allows
// 32766 parameters; a page of 1C is at most a few thousand rows).
const sweepChunk = 1000

// OpenSweep starts a sweep of job's keys. Close it when the run ends.
func (db *DB) OpenSweep(ctx context.Context, job string) (*Sweep, error) {
	raw, err := db.scratch.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("open sweep %s: %w", job, err)
	}
	var setup []string
	if !db.dl.postgres {
		setup = []string{
			`PRAGMA temp_store = FILE`,
			// 2 MiB of cache (SQLite's default for a file) keeps the set's
			// upper levels in memory and the rest in the temp file: keys
			// arrive in key order, so a bigger cache bought no speed, only
			// memory that grew with the base up to its size.
			`PRAGMA temp.cache_size = -2048`,
		}
	}
	// The temp schema is per connection (per session on PostgreSQL); a
	// pooled connection could still hold an earlier sweep's table if a
	// Close failed half-way.
	setup = append(setup, `DROP TABLE IF EXISTS temp.swept`,
		// gen is the Mark call that added the key: telling which keys a
		// call added costs a look-up only when some were there before.
		db.dl.ddl(`CREATE TEMP TABLE swept (key TEXT PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID`))
	conn := rewriting{r: raw, dl: db.dl}
	for _, q := range setup {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			raw.Close()
			return nil, fmt.Errorf("open sweep %s: %w", job, err)
		}
	}
	return &Sweep{raw: raw, conn: conn, job: job}, nil
}

// Close drops the set and returns the connection.
func (s *Sweep) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.raw == nil {
		return nil
	}
	_, err := s.conn.ExecContext(context.Background(), `DROP TABLE IF EXISTS temp.swept`)
	if cerr := s.raw.Close(); err == nil {
		err = cerr
	}
	s.raw = nil
	if err != nil {
		return fmt.Errorf("close sweep %s: %w", s.job, err)
	}
	return nil
}

// Count returns how many keys of the job have a committed version.
func (s *Sweep) Count(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	if err := s.conn.GetContext(ctx, &n, `SELECT count(*) FROM main.records WHERE job = ?`, s.job); err != nil {
		return 0, fmt.Errorf("count versions %s: %w", s.job, err)
	}
	return n, nil
}

// Versions returns the committed versions of keys; a key never committed
// is absent.
func (s *Sweep) Versions(ctx context.Context, keys []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(keys))
	err := pairsIn(ctx, s.conn, `SELECT key, version FROM main.records WHERE job = ? AND key IN (%s)`, s.job, keys,
		func(k, v string) { out[k] = v })
	if err != nil {
		return nil, fmt.Errorf("read versions %s: %w", s.job, err)
	}
	return out, nil
}

// Changed returns those of keys whose committed version is not the one
// given beside it, with whether a version was committed at all. The
// comparison runs inside SQLite: unchanged keys cost no row.
func (s *Sweep) Changed(ctx context.Context, keys, versions []string) ([]string, []bool, error) {
	if len(keys) != len(versions) {
		return nil, nil, fmt.Errorf("changed versions %s: %d keys, %d versions", s.job, len(keys), len(versions))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []string
	var stored []bool
	for start := 0; start < len(keys); start += sweepChunk {
		end := min(start+sweepChunk, len(keys))
		args := make([]any, 0, 2*(end-start)+1)
		for i := start; i < end; i++ {
			args = append(args, keys[i], versions[i])
		}
		args = append(args, s.job)
		rows, err := s.conn.QueryContext(ctx, `SELECT p.column1, r.version IS NOT NULL
			FROM (VALUES `+repeatList("(?,?)", end-start)+`) AS p
			LEFT JOIN main.records r ON r.job = ? AND r.key = p.column1
			WHERE r.version IS NULL OR r.version <> p.column2`, args...)
		if err != nil {
			return nil, nil, fmt.Errorf("changed versions %s: %w", s.job, err)
		}
		for rows.Next() {
			var k string
			var ok bool
			if err := rows.Scan(&k, &ok); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("changed versions %s: %w", s.job, err)
			}
			changed, stored = append(changed, k), append(stored, ok)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, nil, fmt.Errorf("changed versions %s: %w", s.job, err)
		}
	}
	return changed, stored, nil
}

// Mark adds keys to the run's set and reports for each whether it was not
// in it before. A key twice in keys is fresh only the first time.
func (s *Sweep) Mark(ctx context.Context, keys []string) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := make([]bool, len(keys))
	for start := 0; start < len(keys); start += sweepChunk {
		chunk := keys[start:min(start+sweepChunk, len(keys))]
		s.gen++
		args := make([]any, 0, len(chunk)+1)
		args = append(args, s.gen)
		for _, k := range chunk {
			args = append(args, k)
		}
		res, err := s.conn.ExecContext(ctx, `INSERT INTO temp.swept (key, gen) SELECT column1, CAST(? AS INTEGER) FROM (VALUES `+
			repeatList("(?)", len(chunk))+`) AS v WHERE true ON CONFLICT (key) DO NOTHING`, args...)
		if err != nil {
			return nil, fmt.Errorf("mark swept keys %s: %w", s.job, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("mark swept keys %s: %w", s.job, err)
		}
		if int(n) == len(chunk) {
			for i := range chunk {
				fresh[start+i] = true
			}
			continue
		}
		// Some were there before (or twice in keys): ask which this call added.
		var added []string
		err = s.conn.SelectContext(ctx, &added, `SELECT key FROM temp.swept WHERE gen = ? AND key IN (`+
			placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("mark swept keys %s: %w", s.job, err)
		}
		isNew := make(map[string]bool, len(added))
		for _, k := range added {
			isNew[k] = true
		}
		for i, k := range chunk {
			if isNew[k] {
				fresh[start+i] = true
				delete(isNew, k) // a second copy in keys is not fresh
			}
		}
	}
	return fresh, nil
}

// Unmarked calls fn with the committed keys not marked by this run, in key
// order, at most n at a time. No read stays open while fn runs, so fn may
// use the Sweep and the engine may commit meanwhile: a key committed after
// it was marked is marked, and one deleted meanwhile is simply not listed.
func (s *Sweep) Unmarked(ctx context.Context, n int, fn func(keys []string) error) error {
	n = max(n, 1)
	after := ""
	for {
		keys, err := s.unmarked(ctx, after, n)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		after = keys[len(keys)-1]
		if err := fn(keys); err != nil {
			return err
		}
		if len(keys) < n {
			return nil
		}
	}
}

func (s *Sweep) unmarked(ctx context.Context, after string, n int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	err := s.conn.SelectContext(ctx, &keys, `SELECT r.key FROM main.records r
		WHERE r.job = ? AND r.key > ? AND NOT EXISTS (SELECT 1 FROM temp.swept s WHERE s.key = r.key)
		ORDER BY r.key LIMIT ?`, s.job, after, n)
	if err != nil {
		return nil, fmt.Errorf("list unswept keys %s: %w", s.job, err)
	}
	return keys, nil
}

func placeholders(n int) string { return repeatList("?", n) }

// repeatList is n copies of s, comma-separated: the placeholders of an IN
// list or of VALUES rows.
func repeatList(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+",", n), ",")
}
