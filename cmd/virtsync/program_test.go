package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/state"
)

// runMain runs the program as main does, on m's streams and environment.
func runMain(t *testing.T, m *Main, args ...string) int {
	t.Helper()
	code := ExitUsage
	if err := m.ParseFlags(args); err == nil {
		code = m.Run(context.Background())
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after virtsync %v: %v", args, err)
	}
	return code
}

// Close closes the state file Run opened, and a second Close, or a Close
// after a Run that opened nothing, does nothing.
func TestCloseTwice(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "virtsync.yaml")
	db := filepath.Join(dir, "state.db")
	if err := os.WriteFile(cfg, []byte("state: {path: "+db+"}\n"+
		"virtpos: {base_url: http://127.0.0.1:9/api, apikey: k}\n"+
		"onec: {base_url: http://127.0.0.1:9/odata/standard.odata, user: u, password: p}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sdb, err := state.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	var stdout, stderr strings.Builder
	m := &Main{Stdout: &stdout, Stderr: &stderr}
	if err := m.ParseFlags([]string{"-config", cfg, "status"}); err != nil {
		t.Fatal(err)
	}
	if code := m.Run(context.Background()); code != ExitOK {
		t.Fatalf("status exited %d, want %d:\n%s", code, ExitOK, stderr.String())
	}
	if m.db == nil {
		t.Fatal("Run closed the state file itself; Close is to")
	}
	for i := 0; i < 2; i++ {
		if err := m.Close(); err != nil {
			t.Fatalf("Close %d: %v", i+1, err)
		}
	}
	if err := (&Main{Stdout: io.Discard, Stderr: io.Discard}).Close(); err != nil {
		t.Fatalf("Close without Run: %v", err)
	}
}
