package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// The state file is created for its owner only, and a file someone opened
// to others is named at start with the fix.
func TestStateFileIsPrivateAndAWiderOneIsWarnedAbout(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(5, 0, 1, 31), "")
	w.mustRun(0, "-once", "-job", "customers")
	db := filepath.Join(w.dir, "state.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("state file mode %o, want 600", mode)
	}
	if r := w.mustRun(0, "status"); strings.Contains(r.stderr, "chmod") {
		t.Fatalf("a private state file was warned about:\n%s", r.stderr)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	r := w.mustRun(0, "status")
	if !strings.Contains(r.stderr, "chmod 600") || !strings.Contains(r.stderr, "state.db") {
		t.Fatalf("no warning naming the file and the fix for a state file readable by others:\n%s", tail(r.stderr, 2000))
	}
}
