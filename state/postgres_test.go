package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

var pg = backends[1]

func TestOpenPostgres(t *testing.T) {
	ctx := context.Background()
	postgresServer(t)

	t.Run("fresh database is migrated", func(t *testing.T) {
		db, _ := pg.Open(t)
		if got, want := pg.Raw(t, db, `SELECT version FROM virtsync_schema`), fmt.Sprint(state.SchemaVersion()); got != want {
			t.Errorf("schema version = %s, want %s", got, want)
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
		if db.Driver() != state.DriverPostgres {
			t.Errorf("Driver() = %q", db.Driver())
		}
		if !strings.HasPrefix(db.Path(), "postgres://postgres@127.0.0.1:5432/virtsync_test_") && os.Getenv("VIRTSYNC_TEST_POSTGRES") == "" {
			t.Errorf("Path() = %q", db.Path())
		}
		// Text compares byte by byte, as on SQLite, whatever the locale.
		if got := pg.Raw(t, db, `SELECT collation_name FROM information_schema.columns
			WHERE table_name = 'records' AND column_name = 'key'`); got != "C" {
			t.Errorf("records.key collation = %q, want C", got)
		}
	})

	t.Run("reopen by driver keeps data and version", func(t *testing.T) {
		db, c := pg.Open(t)
		mustUpdate(t, db, func(tx *state.Tx) error { return tx.SetVersion("customers", "k1", "v1") })
		dsn := pg.target(t, db)
		again, err := state.OpenDriver(ctx, state.DriverPostgres, dsn, state.WithNow(c.Now), state.MustExist())
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if v, ok, err := again.Version(ctx, "customers", "k1"); err != nil || !ok || v != "v1" {
			t.Errorf("Version after reopen = %q, %v, %v", v, ok, err)
		}
	})

	t.Run("newer schema is refused and left alone", func(t *testing.T) {
		db, c := pg.Open(t)
		pg.Raw(t, db, `UPDATE virtsync_schema SET version = 99`)
		_, err := state.OpenPostgres(ctx, pg.target(t, db), state.WithNow(c.Now))
		if !errors.Is(err, state.ErrNewerSchema) {
			t.Fatalf("err = %v, want ErrNewerSchema", err)
		}
		for _, want := range []string{"99", fmt.Sprintf("version %d", state.SchemaVersion()), "upgrade virtsync", "database"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if got := pg.Raw(t, db, `SELECT version FROM virtsync_schema`); got != "99" {
			t.Errorf("version changed to %s", got)
		}
	})

	t.Run("MustExist refuses a database virtsync never ran on", func(t *testing.T) {
		dsn := freshPostgres(t)
		_, err := state.OpenPostgres(ctx, dsn, state.MustExist())
		if !errors.Is(err, state.ErrNoStateFile) || !strings.Contains(err.Error(), "state.dsn") {
			t.Fatalf("err = %v, want ErrNoStateFile naming state.dsn", err)
		}
		if got := rawOn(t, "pgx", dsn, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`); got != "0" {
			t.Errorf("%s tables created", got)
		}
	})

	t.Run("two processes opening at once migrate once", func(t *testing.T) {
		dsn := freshPostgres(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				db, err := state.OpenPostgres(ctx, dsn)
				if err == nil {
					err = db.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if got := rawOn(t, "pgx", dsn, `SELECT count(*) FROM virtsync_schema`); got != "1" {
			t.Errorf("virtsync_schema has %s rows", got)
		}
	})
}

// A database at schema version 1 gains the later tables and columns and
// keeps its rows: the same migration files as SQLite, rewritten.
func TestPostgresMigratesFromVersion1(t *testing.T) {
	ctx := context.Background()
	dsn := freshPostgres(t)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	rawOn(t, "pgx", dsn, state.PostgresDDL(string(v1)),
		`CREATE TABLE virtsync_schema (version INTEGER NOT NULL)`,
		`INSERT INTO virtsync_schema VALUES (1)`,
		`INSERT INTO idmap (kind, ref, remote_id, updated_at) VALUES ('customer', 'r1', '5', '')`,
		`INSERT INTO leases (job, owner, pid, host, acquired_at, expires_at)
			VALUES ('customers', 'old', 1, 'h', '2026-03-01T09:00:00.000000000Z', '2026-03-01T09:01:00.000000000Z')`)
	c := newClock()
	db := pg.OpenAt(t, dsn, c)
	if got := rawOn(t, "pgx", dsn, `SELECT version FROM virtsync_schema`); got != fmt.Sprint(state.SchemaVersion()) {
		t.Fatalf("version = %s, want %d", got, state.SchemaVersion())
	}
	if id, ok, err := db.LookupID(ctx, "customer", "r1"); err != nil || !ok || id != "5" {
		t.Fatalf("id map after the upgrade: %q %v %v", id, ok, err)
	}
	err = db.ReplaceListing(ctx, "customer", "r", pages([]state.ListedRow{{Ref: "r2", RemoteID: "6"}}, 1))
	if err != nil {
		t.Fatalf("listing after the upgrade: %v", err)
	}
	l, err := db.AcquireLease(ctx, "customers", "new", time.Minute)
	if err != nil || l.Token != 1 {
		t.Fatalf("lease after the upgrade = %+v, %v; want token 1", l, err)
	}
}

// The DSN's password never shows in an error, whichever way it is given
// and whatever fails.
func TestPostgresErrorsHideThePassword(t *testing.T) {
	const pw = "s3cr3t-Pa55"
	ctx := context.Background()
	dsns := map[string]string{
		"url, nothing listening":       "postgres://virtsync:" + pw + "@127.0.0.1:1/state?sslmode=disable&connect_timeout=2",
		"key=value, nothing listening": "host=127.0.0.1 port=1 user=virtsync password=" + pw + " dbname=state connect_timeout=2",
		"quoted key=value":             "host=127.0.0.1 port=1 user=virtsync password='" + pw + " x' dbname=state connect_timeout=2",
		"url, bad parameter":           "postgres://virtsync:" + pw + "@127.0.0.1:5432/state?sslmode=bogus",
		"url, bad port":                "postgres://virtsync:" + pw + "@127.0.0.1:notaport/state",
		"key=value, bad syntax":        "host=127.0.0.1 password=" + pw + " dbname='state",
	}
	if _, err := pgAdmin(); err == nil {
		// Trust auth takes any password: the database is what fails.
		dsns["server up, no such database"] = "postgres://postgres:" + pw + "@127.0.0.1:5432/virtsync_no_such_db?sslmode=disable"
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			db, err := state.OpenPostgres(ctx, dsn)
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
				t.Errorf("error shows the password: %v", err)
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.Contains(fmt.Sprintf("%#v", e), pw) {
					t.Errorf("an error in the chain holds the password: %T", e)
				}
			}
			t.Log(err)
		})
	}
	if _, err := state.OpenPostgres(ctx, " "); err == nil || !strings.Contains(err.Error(), "state.dsn") {
		t.Errorf("empty DSN: %v", err)
	}
}
