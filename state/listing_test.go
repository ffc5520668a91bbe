package state_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

// pages feeds rows to add in pages of size.
func pages(rows []state.ListedRow, size int) func(add func([]state.ListedRow) error) error {
	return func(add func([]state.ListedRow) error) error {
		for len(rows) > 0 {
			n := min(size, len(rows))
			if err := add(rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	}
}

func listedRows(n int, id func(i int) string) []state.ListedRow {
	out := make([]state.ListedRow, n)
	for i := range out {
		out[i] = state.ListedRow{Ref: fmt.Sprintf("ref-%06d", i), RemoteID: id(i)}
	}
	return out
}

func mustListed(t *testing.T, db *state.DB, kind, run, ref string) (string, bool) {
	t.Helper()
	id, ok, err := db.Listed(context.Background(), kind, run, ref)
	if err != nil {
		t.Fatalf("Listed(%s, %s, %s): %v", kind, run, ref, err)
	}
	return id, ok
}

func TestListing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()

		t.Run("a run reads its own listing only", func(t *testing.T) {
			db, _ := b.Open(t)
			if err := db.ReplaceListing(ctx, "customer", "run1", pages(listedRows(25, func(i int) string { return fmt.Sprint(100 + i) }), 10)); err != nil {
				t.Fatal(err)
			}
			if id, ok := mustListed(t, db, "customer", "run1", "ref-000024"); !ok || id != "124" {
				t.Fatalf("ref-000024 = %q, %v; want 124", id, ok)
			}
			if _, ok := mustListed(t, db, "customer", "run1", "ref-000025"); ok {
				t.Fatal("a ref never listed was found")
			}
			if _, ok := mustListed(t, db, "customer", "run0", "ref-000001"); ok {
				t.Fatal("another run's listing answered")
			}
			if _, ok := mustListed(t, db, "card", "run1", "ref-000001"); ok {
				t.Fatal("another kind's listing answered")
			}

			// The next listing replaces it whole: rows it lacks are gone.
			if err := db.ReplaceListing(ctx, "customer", "run2", pages(listedRows(5, func(i int) string { return fmt.Sprint(200 + i) }), 2)); err != nil {
				t.Fatal(err)
			}
			if id, ok := mustListed(t, db, "customer", "run2", "ref-000004"); !ok || id != "204" {
				t.Fatalf("ref-000004 = %q, %v; want 204", id, ok)
			}
			for _, run := range []string{"run1", "run2"} {
				if _, ok := mustListed(t, db, "customer", run, "ref-000020"); ok {
					t.Fatalf("%s: a row of the replaced listing is still there", run)
				}
			}
		})

		t.Run("a ref listed twice keeps its first id", func(t *testing.T) {
			db, _ := b.Open(t)
			rows := []state.ListedRow{{Ref: "a", RemoteID: "1"}, {Ref: "b", RemoteID: "2"}, {Ref: "a", RemoteID: "3"}}
			if err := db.ReplaceListing(ctx, "customer", "r", pages(rows, 2)); err != nil {
				t.Fatal(err)
			}
			if id, _ := mustListed(t, db, "customer", "r", "a"); id != "1" {
				t.Fatalf("a = %q, want the first listed, 1", id)
			}
		})

		t.Run("a failed listing leaves nothing", func(t *testing.T) {
			db, _ := b.Open(t)
			if err := db.ReplaceListing(ctx, "customer", "old", pages(listedRows(3, func(i int) string { return "9" }), 3)); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("page 2 did not add up")
			err := db.ReplaceListing(ctx, "customer", "new", func(add func([]state.ListedRow) error) error {
				if err := add(listedRows(4, func(i int) string { return "1" })); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want fill's error", err)
			}
			for _, run := range []string{"old", "new"} {
				if _, ok := mustListed(t, db, "customer", run, "ref-000001"); ok {
					t.Fatalf("%s: rows left after a failed listing", run)
				}
			}
		})

		t.Run("bad rows and arguments are refused", func(t *testing.T) {
			db, _ := b.Open(t)
			err := db.ReplaceListing(ctx, "customer", "r", pages([]state.ListedRow{{Ref: "a", RemoteID: "1"}, {Ref: "b"}}, 5))
			if err == nil || err.Error() != `add listed customer: row 1 has ref "b" and remote id ""; both are required` {
				t.Fatalf("err = %v", err)
			}
			if _, ok := mustListed(t, db, "customer", "r", "a"); ok {
				t.Fatal("the page with a bad row was half stored")
			}
			if err := db.ReplaceListing(ctx, "customer", "", pages(nil, 1)); err == nil {
				t.Fatal("an empty run id was accepted")
			}
		})

		t.Run("clearing a large listing of one kind", func(t *testing.T) {
			db, _ := b.Open(t)
			const n = 25_001 // more than two delete batches
			if err := db.ReplaceListing(ctx, "customer", "r", pages(listedRows(n, func(i int) string { return fmt.Sprint(i + 1) }), 5000)); err != nil {
				t.Fatal(err)
			}
			if err := db.ReplaceListing(ctx, "card", "r", pages(listedRows(3, func(i int) string { return "7" }), 5)); err != nil {
				t.Fatal(err)
			}
			if got := b.Raw(t, db, "SELECT COUNT(*) FROM listed"); got != fmt.Sprint(n+3) {
				t.Fatalf("%s rows listed, want %d", got, n+3)
			}
			if err := db.ClearListing(ctx, "customer"); err != nil {
				t.Fatal(err)
			}
			if got := b.Raw(t, db, "SELECT COUNT(*) FROM listed WHERE kind = 'customer'"); got != "0" {
				t.Fatalf("%s customer rows left", got)
			}
			if _, ok := mustListed(t, db, "card", "r", "ref-000002"); !ok {
				t.Fatal("clearing customers dropped the cards' listing")
			}
			if err := db.ClearListing(ctx, "customer"); err != nil {
				t.Fatalf("clearing nothing: %v", err)
			}
		})
	})
}

// A file written by the previous schema gains the listing table and keeps
// its data.
func TestMigrateAddsListing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(v1), "PRAGMA user_version = 1",
		`INSERT INTO idmap (kind, ref, remote_id, updated_at) VALUES ('customer', 'r1', '5', '')`,
		`INSERT INTO leases (job, owner, pid, host, acquired_at, expires_at)
			VALUES ('customers', 'old', 1, 'h', '2026-03-01T09:00:00.000000000Z', '2026-03-01T09:01:00.000000000Z')`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	raw.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	db := mustOpenPath(t, path, newClock())
	if got := rawQuery(t, path, "PRAGMA user_version"); got != fmt.Sprint(state.SchemaVersion()) {
		t.Fatalf("user_version = %s, want %d", got, state.SchemaVersion())
	}
	if id, ok, err := db.LookupID(context.Background(), "customer", "r1"); err != nil || !ok || id != "5" {
		t.Fatalf("id map after the upgrade: %q %v %v", id, ok, err)
	}
	err = db.ReplaceListing(context.Background(), "customer", "r", pages([]state.ListedRow{{Ref: "r2", RemoteID: "6"}}, 1))
	if err != nil {
		t.Fatalf("listing after the upgrade: %v", err)
	}
	if l, err := db.AcquireLease(context.Background(), "customers", "new", time.Minute); err != nil || l.Token != 1 {
		t.Fatalf("lease after the upgrade = %+v, %v; want token 1", l, err)
	}
}
