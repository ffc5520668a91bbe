package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// TestCheckCommand runs `virtsync check` against the fakes: all lines OK
// and exit 0 on the world's config; a wrong apikey fails its line with the
// fix and exits 1; neither writes to a fake nor creates the state file.
func TestCheckCommand(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(10, 8, 2, 3), "")
	r := w.mustRun(0, "check")
	for _, want := range []string{"OK    virtpos apikey", "1C $metadata (profile shipped ut11)", "OK    state.path"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "FAIL") {
		t.Errorf("a FAIL line on a good config:\n%s", r.stdout)
	}

	w.setConfig("  apikey: ${VIRTPOS_APIKEY}\n", "  apikey: not-the-key\n")
	r = w.mustRun(1, "check")
	if !strings.Contains(r.stdout, "FAIL  virtpos apikey") || !strings.Contains(r.stdout, "fix: set virtpos.apikey") {
		t.Errorf("a wrong apikey is not named with its fix:\n%s", r.stdout)
	}
	if n := writes(w.vp.Counts()); n != 0 {
		t.Errorf("check wrote %d times to virtpos", n)
	}
	for _, set := range []string{onectest.SetPartners, onectest.SetCards, onectest.SetOrders} {
		if n := w.onec.Writes(set); n != 0 {
			t.Errorf("check wrote %d times to %s", n, set)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "state.db")); !os.IsNotExist(err) {
		t.Errorf("check created the state file: %v", err)
	}
}
