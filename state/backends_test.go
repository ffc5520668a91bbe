package state_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for raw queries

	"github.com/virtsync/virtsync/state"
)

// backend is one kind of store the tests run against.
type backend struct {
	name string
	// fresh returns the target (a path or a DSN) of a new, empty store.
	fresh func(t testing.TB) string
	// open opens target, as state.OpenDriver would.
	open func(target string, opts ...state.Option) (*state.DB, error)
	// driver is the database/sql driver for raw queries on a target.
	driver string
}

var backends = []*backend{
	{
		name:   state.DriverSQLite,
		fresh:  func(t testing.TB) string { return filepath.Join(t.TempDir(), "sub", "state.db") },
		open:   state.Open,
		driver: "sqlite3",
	},
	{
		name:  state.DriverPostgres,
		fresh: freshPostgres,
		open: func(dsn string, opts ...state.Option) (*state.DB, error) {
			return state.OpenPostgres(context.Background(), dsn, opts...)
		},
		driver: "pgx",
	},
}

// eachBackend runs fn as a subtest per backend; the PostgreSQL one skips
// when no server is reachable.
func eachBackend(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// targets remembers where each store a test opened lives, for Again and Raw.
var targets sync.Map // *state.DB -> string

// Open opens a fresh store with a test clock, closed when the test ends.
func (b *backend) Open(t testing.TB) (*state.DB, *clock) {
	t.Helper()
	c := newClock()
	return b.OpenAt(t, b.fresh(t), c), c
}

// OpenAt opens target with clock c, closed when the test ends.
func (b *backend) OpenAt(t testing.TB, target string, c *clock, opts ...state.Option) *state.DB {
	t.Helper()
	db, err := b.open(target, append([]state.Option{state.WithNow(c.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	targets.Store(db, target)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// Again opens a second handle on db's store, as another process would.
func (b *backend) Again(t testing.TB, db *state.DB, c *clock) *state.DB {
	t.Helper()
	return b.OpenAt(t, b.target(t, db), c)
}

func (b *backend) target(t testing.TB, db *state.DB) string {
	t.Helper()
	target, ok := targets.Load(db)
	if !ok {
		t.Fatal("store not opened through the backend")
	}
	return target.(string)
}

// Raw runs statements on the store of db with a plain connection and
// returns the first column of the last one's first row ("" if none).
func (b *backend) Raw(t testing.TB, db *state.DB, queries ...string) string {
	t.Helper()
	return rawOn(t, b.driver, b.target(t, db), queries...)
}

func rawOn(t testing.TB, driver, target string, queries ...string) string {
	t.Helper()
	if driver == "sqlite3" {
		target = "file:" + target
	}
	raw, err := sql.Open(driver, target)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v sql.NullString
	for _, q := range queries {
		if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") && !strings.HasPrefix(strings.TrimSpace(q), "PRAGMA") {
			// Exec: several statements in one string need PostgreSQL's
			// simple protocol, which pgx uses for an Exec without arguments.
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
			v = sql.NullString{}
			continue
		}
		rows, err := raw.Query(q)
		if err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
		v = sql.NullString{}
		if rows.Next() {
			if err := rows.Scan(&v); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	return v.String
}

// pgAdminDSN is the server the PostgreSQL tests use: the one this machine
// runs, unless $VIRTSYNC_TEST_POSTGRES names another (a URL).
func pgAdminDSN() string {
	if dsn := os.Getenv("VIRTSYNC_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5"
}

var pgAdmin = sync.OnceValues(func() (*sql.DB, error) {
	db, err := sql.Open("pgx", pgAdminDSN())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
})

// postgresServer skips the test when there is no server to test on.
func postgresServer(t testing.TB) *sql.DB {
	t.Helper()
	admin, err := pgAdmin()
	if err != nil {
		t.Skipf("PostgreSQL not reachable at 127.0.0.1:5432: %v; skipping", err)
	}
	return admin
}

// freshPostgres creates a database of its own for the test, dropped when
// the test ends (after the test's stores are closed), so that tests and
// parallel runs never see each other's rows.
func freshPostgres(t testing.TB) string {
	t.Helper()
	admin := postgresServer(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "virtsync_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(pgAdminDSN())
	if err != nil {
		t.Fatalf("$VIRTSYNC_TEST_POSTGRES must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestBackendsListed keeps the table honest: every driver OpenDriver
// knows is tested.
func TestBackendsListed(t *testing.T) {
	for _, b := range backends {
		target := filepath.Join(t.TempDir(), "x.db")
		if b.name == state.DriverPostgres {
			continue // needs a server; TestOpenPostgres opens it by driver
		}
		db, err := state.OpenDriver(context.Background(), b.name, target)
		if err != nil {
			t.Fatalf("OpenDriver(%s): %v", b.name, err)
		}
		if db.Driver() != b.name {
			t.Errorf("Driver() = %q, want %q", db.Driver(), b.name)
		}
		db.Close()
	}
	if _, err := state.OpenDriver(context.Background(), "mysql", "x"); err == nil {
		t.Error("unknown driver accepted")
	} else if want := fmt.Sprintf("want %s or %s", state.DriverSQLite, state.DriverPostgres); !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
}
