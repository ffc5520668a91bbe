package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// VIRTSYNC_CPUPROFILE writes a profile of the process, whatever the exit
// code; a path that cannot be written is said and the run goes on.
func TestCPUProfileFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "virtsync.yaml")
	if err := os.WriteFile(cfg, []byte("state: {path: "+filepath.Join(dir, "missing.db")+"}\n"+
		"virtpos: {base_url: http://127.0.0.1:9/api, apikey: k}\n"+
		"onec: {base_url: http://127.0.0.1:9/odata/standard.odata, user: u, password: p}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		wantFile   bool
		wantWarn   bool
	}{
		{"writable", filepath.Join(dir, "cpu.pprof"), true, false},
		{"unwritable", filepath.Join(dir, "no", "such", "dir", "cpu.pprof"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			m := &Main{Stdout: &bytes.Buffer{}, Stderr: &stderr, LookupEnv: func(k string) (string, bool) {
				if k == "VIRTSYNC_CPUPROFILE" {
					return tc.path, true
				}
				return "", false
			}}
			// status on a missing state file exits 1 after the profile started.
			if code := runMain(t, m, "-config", cfg, "status"); code != ExitFailed {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitFailed, stderr.String())
			}
			st, err := os.Stat(tc.path)
			if tc.wantFile && (err != nil || st.Size() == 0) {
				t.Errorf("profile %s: %v (size %v)", tc.path, err, st)
			}
			if got := bytes.Contains(stderr.Bytes(), []byte("VIRTSYNC_CPUPROFILE")); got != tc.wantWarn {
				t.Errorf("warning said = %v, want %v; stderr: %s", got, tc.wantWarn, stderr.String())
			}
		})
	}
}
