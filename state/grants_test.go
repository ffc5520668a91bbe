package state_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

// A user with no CREATE on the schema (PostgreSQL 15's default in public)
// opens and uses a store that a DBA's first run created, with only
// SELECT, INSERT, UPDATE and DELETE on its tables; its own first run is
// refused, naming the schema.
func TestPostgresUserWithoutCreate(t *testing.T) {
	ctx := context.Background()
	admin := postgresServer(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "virtsync_dml_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE ROLE ` + role + ` LOGIN PASSWORD 'dml-pw'`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Registered before the database, so run after it is dropped
		// with the role's grants.
		if _, err := admin.Exec(`DROP ROLE IF EXISTS ` + role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	dsn := freshPostgres(t)
	u, _ := url.Parse(dsn)
	u.User = url.UserPassword(role, "dml-pw")
	userDSN := u.String()

	if db, err := state.OpenPostgres(ctx, userDSN); err == nil {
		db.Close()
		t.Fatal("a user without CREATE on the schema made the store")
	}
	db, err := state.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	dba, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close()
	if _, err := dba.Exec(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + role); err != nil {
		t.Fatal(err)
	}

	db, err = state.OpenPostgres(ctx, userDSN)
	if err != nil {
		t.Fatalf("open with DML rights on a made schema: %v", err)
	}
	defer db.Close()
	l, err := db.AcquireLease(ctx, "customers", "host:1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := db.Fenced(l)
	if _, err := f.StartRun(ctx, "customers", "once", "r1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Update(ctx, func(tx *state.Tx) error {
		if err := tx.PutIntent("customers", "k", "create", nil); err != nil {
			return err
		}
		return tx.AddEvent(state.Event{ID: "e1", Subject: "virtsync.customer.upserted", Data: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
	sw, err := db.OpenSweep(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
}
