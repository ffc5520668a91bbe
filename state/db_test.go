package state_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/virtsync/virtsync/state"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// MustOpenDB opens a state file in a fresh temp dir with a test clock.
func MustOpenDB(t testing.TB) (*state.DB, *clock) {
	t.Helper()
	c := newClock()
	db := mustOpenPath(t, filepath.Join(t.TempDir(), "sub", "state.db"), c)
	return db, c
}

func mustOpenPath(t testing.TB, path string, c *clock) *state.DB {
	t.Helper()
	db, err := state.Open(path, state.WithNow(c.Now))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func mustUpdate(t testing.TB, db *state.DB, fn func(tx *state.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// rawQuery reads one value from the file with a plain connection.
func rawQuery(t *testing.T, path, query string) string {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v string
	if err := raw.QueryRow(query).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("fresh file is migrated and in WAL mode", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		if got := rawQuery(t, db.Path(), "PRAGMA journal_mode"); got != "wal" {
			t.Errorf("journal_mode = %q, want wal", got)
		}
		if got, want := rawQuery(t, db.Path(), "PRAGMA user_version"), fmt.Sprint(state.SchemaVersion()); got != want {
			t.Errorf("user_version = %s, want %s", got, want)
		}
		if state.SchemaVersion() < 1 {
			t.Errorf("SchemaVersion = %d", state.SchemaVersion())
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
	})

	t.Run("reopen keeps data and version", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		c := newClock()
		db, err := state.Open(path, state.WithNow(c.Now))
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *state.Tx) error { return tx.SetVersion("customers", "k1", "v1") })
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = mustOpenPath(t, path, c)
		v, ok, err := db.Version(ctx, "customers", "k1")
		if err != nil || !ok || v != "v1" {
			t.Errorf("Version after reopen = %q, %v, %v", v, ok, err)
		}
		if got := rawQuery(t, path, "PRAGMA user_version"); got != fmt.Sprint(state.SchemaVersion()) {
			t.Errorf("user_version = %s", got)
		}
	})

	t.Run("newer schema is refused and left alone", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		db, err := state.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		raw, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		raw.Close()

		_, err = state.Open(path)
		if !errors.Is(err, state.ErrNewerSchema) {
			t.Fatalf("err = %v, want ErrNewerSchema", err)
		}
		for _, want := range []string{"99", fmt.Sprintf("version %d", state.SchemaVersion()), "upgrade virtsync"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if got := rawQuery(t, path, "PRAGMA user_version"); got != "99" {
			t.Errorf("user_version changed to %s", got)
		}
	})

	t.Run("empty path", func(t *testing.T) {
		if _, err := state.Open(""); err == nil {
			t.Error("want error")
		}
	})
}

func TestUpdateRollsBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		boom := errors.New("boom")
		err := db.Update(ctx, func(tx *state.Tx) error {
			if err := tx.SetVersion("j", "k", "v"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic was swallowed")
				}
			}()
			_ = db.Update(ctx, func(tx *state.Tx) error {
				_ = tx.SetVersion("j", "p", "v")
				panic("bad")
			})
		}()
		vs, err := db.Versions(ctx, "j")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 0 {
			t.Errorf("rolled-back writes visible: %v", vs)
		}
		// The writer connection must be usable after both.
		mustUpdate(t, db, func(tx *state.Tx) error { return tx.SetVersion("j", "k", "v2") })
	})
}

// TestConcurrentHandles opens the store twice, as two processes would, and
// hammers both writers: on SQLite busy timeout plus BEGIN IMMEDIATE must
// serialise them without SQLITE_BUSY; on PostgreSQL the rows must add up.
func TestConcurrentHandles(t *testing.T) {
	eachBackend(t, func(t *testing.T, be *backend) {
		ctx := context.Background()
		c := newClock()
		a, _ := be.Open(t)
		b := be.Again(t, a, c)

		const workers, batches, rows = 4, 40, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*2)
		for _, h := range []struct {
			name string
			db   *state.DB
		}{{"a", a}, {"b", b}} {
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					job := fmt.Sprintf("%s%d", h.name, w)
					for i := range batches {
						err := h.db.Update(ctx, func(tx *state.Tx) error {
							if _, _, err := tx.Hold(job, "dep", "waiting"); err != nil {
								return err
							}
							for r := range rows {
								if err := tx.SetVersion(job, fmt.Sprintf("k%d-%d", i, r), "v"); err != nil {
									return err
								}
							}
							return tx.AddEvent(state.Event{ID: fmt.Sprintf("%s-%d", job, i), Subject: "s", Data: []byte("x")})
						})
						if err != nil {
							errs <- err
							return
						}
						// AcquireLease reads then writes in one transaction: the
						// pattern that fails at once under a DEFERRED begin.
						if _, err := h.db.AcquireLease(ctx, job, job, time.Minute); err != nil {
							errs <- err
							return
						}
						if _, err := h.db.Versions(ctx, job); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write: %v", err)
		}
		for _, job := range []string{"a0", "b3"} {
			vs, err := b.Versions(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != batches*rows {
				t.Errorf("%s: %d versions, want %d", job, len(vs), batches*rows)
			}
		}
		n, _, err := a.OutboxBacklog(ctx)
		if err != nil || n != 2*workers*batches {
			t.Errorf("backlog = %d, %v; want %d", n, err, 2*workers*batches)
		}
	})
}

func BenchmarkSetVersionBatch(b *testing.B) {
	db, _ := MustOpenDB(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		err := db.Update(ctx, func(tx *state.Tx) error {
			for r := range 1000 {
				if err := tx.SetVersion("bench", fmt.Sprintf("k%d", r), fmt.Sprint(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetVersionPerRowTx is the baseline: the same 1000 rows per
// operation, one transaction each.
func BenchmarkSetVersionPerRowTx(b *testing.B) {
	db, _ := MustOpenDB(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		for r := range 1000 {
			err := db.Update(ctx, func(tx *state.Tx) error {
				return tx.SetVersion("bench", fmt.Sprintf("k%d", r), fmt.Sprint(i))
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestReadOnly: a state opened ReadOnly reads, refuses every write with
// ErrReadOnly, marks no crashed run, and leaves the file's bytes alone.
func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := db.Update(ctx, func(tx *state.Tx) error { return tx.PutID("customer", "ref-1", "7", "") }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartRun(ctx, "customers", "once", "r1"); err != nil { // left running: a crash
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := state.Open(path, state.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if id, ok, err := ro.LookupID(ctx, "customer", "ref-1"); err != nil || !ok || id != "7" {
		t.Fatalf("read = %q %v %v", id, ok, err)
	}
	if err := ro.Update(ctx, func(tx *state.Tx) error { return tx.PutID("customer", "ref-2", "8", "") }); !errors.Is(err, state.ErrReadOnly) {
		t.Fatalf("write = %v, want ErrReadOnly", err)
	}
	runs, err := ro.LastRuns(ctx, 5)
	if err != nil || len(runs) != 1 || runs[0].Status != "running" {
		t.Fatalf("runs = %+v, %v; the crashed run must not be marked by a read-only open", runs, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a read-only open changed the state file")
	}
	if _, err := state.Open(filepath.Join(t.TempDir(), "none.db"), state.ReadOnly()); !errors.Is(err, state.ErrNoStateFile) {
		t.Errorf("a missing file opened read-only: %v", err)
	}
}

// TestReadOnlyBesideAWriter: a read-only open (a dry run) does not wait
// for the write lock a running daemon holds: it opens and reads while a
// write transaction is open.
func TestReadOnlyBesideAWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Update(ctx, func(tx *state.Tx) error { return tx.PutID("customer", "ref-1", "7", "") }); err != nil {
		t.Fatal(err)
	}
	inTx, done := make(chan struct{}), make(chan struct{})
	writer := make(chan error, 1)
	go func() {
		writer <- db.Update(ctx, func(tx *state.Tx) error {
			if err := tx.PutID("customer", "ref-2", "8", ""); err != nil {
				return err
			}
			close(inTx)
			<-done // hold the write lock until the reader is through
			return nil
		})
	}()
	<-inTx
	ro, err := state.Open(path, state.ReadOnly())
	if err == nil {
		_, _, err = ro.LookupID(ctx, "customer", "ref-1")
		ro.Close()
	}
	close(done)
	if err != nil {
		t.Fatalf("a read-only open beside a write transaction: %v", err)
	}
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
}

// TestOpenANewFileTwiceAtOnce: two processes that open a brand-new state
// file at the same moment both get it (the loser of the race to switch
// the file to WAL waits instead of failing with "database is locked").
func TestOpenANewFileTwiceAtOnce(t *testing.T) {
	for i := range 30 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("s%d.db", i))
		start := make(chan struct{})
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				<-start
				db, err := state.Open(path)
				if err == nil {
					err = db.Close()
				}
				errs <- err
			}()
		}
		close(start)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
		}
	}
}
