package main_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	_ "github.com/mattn/go-sqlite3"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// TestDryRun: -dry-run reads both systems and the state and writes
// nothing: before the first run it plans creates without creating the
// state file; after a run it plans the one change made in 1C as an update
// naming the parameters that differ, leaves the state file's bytes, both
// fakes and the outbox as they were, and -o json is one list.
func TestDryRun(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(12, 8, 2, 5), "")
	r := w.mustRun(0, "-once", "-dry-run")
	statePath := filepath.Join(w.dir, "state.db")
	if _, err := os.Stat(statePath); !os.IsNotExist(err) {
		t.Fatalf("a dry run created the state file: %v", err)
	}
	for _, want := range []string{"create", "customers", "cards", "dry run: nothing was written"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := writes(w.vp.Counts()); n != 0 {
		t.Fatalf("a dry run wrote %d times to virtpos", n)
	}

	w.mustRun(0, "-once")
	clients := w.clients()
	changed := str(clients[0]["Ref_Key"])
	if _, err := w.onec.Update(onectest.SetPartners, changed, onectest.Object{"Description": "Новикова Анна Сергеевна"}); err != nil {
		t.Fatal(err)
	}
	// The WAL holds what was written since the last checkpoint: both
	// files must stay as they are.
	files := func() []byte {
		t.Helper()
		db, err := os.ReadFile(statePath)
		if err != nil {
			t.Fatal(err)
		}
		wal, err := os.ReadFile(statePath + "-wal")
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return append(db, wal...)
	}
	before := files()
	vpBefore := writes(w.vp.Counts())
	w.onec.ResetCounters()

	r = w.mustRun(0, "-once", "-dry-run", "-o", "json")
	var plans []struct {
		Job, Key, Action string
		Fields           []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &plans); err != nil {
		t.Fatalf("-o json is not one JSON list: %v\n%s", err, r.stdout)
	}
	var found bool
	for _, p := range plans {
		if p.Key == changed {
			found = p.Job == "customers" && p.Action == "update" && strings.Contains(strings.Join(p.Fields, ","), "lname")
		}
	}
	if !found {
		t.Errorf("the changed customer %s is not planned as an update of lname: %+v", changed, plans)
	}
	if !strings.Contains(r.stderr, "dry run: nothing was written") {
		t.Errorf("the summary is not on stderr with -o json:\n%s", r.stderr)
	}
	if after := files(); !bytes.Equal(before, after) {
		t.Error("a dry run changed the state file")
	}
	if n := writes(w.vp.Counts()); n != vpBefore {
		t.Errorf("a dry run wrote %d times to virtpos", n-vpBefore)
	}
	for _, set := range []string{onectest.SetPartners, onectest.SetCards, onectest.SetOrders} {
		if n := w.onec.Writes(set); n != 0 {
			t.Errorf("a dry run wrote %d times to %s", n, set)
		}
	}
	for _, p := range clients[:3] {
		if name := str(p["Description"]); strings.Contains(r.stdout+r.stderr, name) {
			t.Errorf("the plan shows a name: %q", name)
		}
	}
}

// TestDryRunAfterAnUpgrade: right after an upgrade the state is of an
// older schema, which a read-only open may not migrate. The dry run plans
// on an upgraded copy of it and leaves the real state as it was.
func TestDryRunAfterAnUpgrade(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(6, 4, 1, 9), "")
	w.mustRun(0, "-once")
	statePath := filepath.Join(w.dir, "state.db")
	// The state as the release before record_log left it (schema 3).
	db, err := sql.Open("sqlite3", statePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE record_log`, `DROP TABLE secrets`, `PRAGMA user_version = 3`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	before, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	r := w.mustRun(0, "-once", "-dry-run")
	if !strings.Contains(r.stdout, "dry run: nothing was written") || !strings.Contains(r.stderr, "upgraded copy") {
		t.Fatalf("no plan on an upgraded copy:\n%s\n%s", r.stdout, r.stderr)
	}
	after, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the dry run changed the real state")
	}
	if entries, _ := filepath.Glob(filepath.Join(os.TempDir(), "virtsync-dry-run-*", "state.db")); len(entries) > 0 {
		t.Errorf("the dry run left its copy behind: %v", entries)
	}
}
