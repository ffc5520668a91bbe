package main_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// TestStandbyAnswersHealthChecks: on PostgreSQL a second daemon waits as
// the standby. While it waits it answers /livez (so that a supervisor's
// liveness probe does not kill it) and /readyz 503; when the active one
// stops it takes over and its full server serves the same address.
func TestStandbyAnswersHealthChecks(t *testing.T) {
	dsn, _ := failoverPostgres(t)
	w := newWorld(t, onectest.DemoSeed(6, 4, 1, 2), "")
	set := func(line, to string) {
		t.Helper()
		b, err := os.ReadFile(w.config)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^` + line + `:.*$`)
		if !re.Match(b) {
			t.Fatalf("no %s line in the config", line)
		}
		if err := os.WriteFile(w.config, re.ReplaceAll(b, []byte(line+": "+to)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set("state", fmt.Sprintf(`{driver: postgres, path: %q, dsn: %q, lease_ttl: 3s}`, w.dir+"/state.db", dsn))
	addrA := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	set("http", fmt.Sprintf(`{listen: %q}`, addrA))
	active := startDaemon(t, w)
	waitFor(t, active, 30*time.Second, "the active daemon's /readyz", func() bool {
		code, _ := get(addrA, "/readyz")
		return code == 200
	})

	addrB := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	set("http", fmt.Sprintf(`{listen: %q}`, addrB))
	standby := startDaemon(t, w)
	waitFor(t, standby, 30*time.Second, "the standby's /livez", func() bool {
		code, body := get(addrB, "/livez")
		return code == 200 && strings.Contains(body, "standby")
	})
	if code, body := get(addrB, "/readyz"); code != 503 || !strings.Contains(body, "standby") {
		t.Errorf("the standby's /readyz = %d %q, want 503 saying standby", code, body)
	}

	if code, took := active.stop(30 * time.Second); code != 0 {
		t.Fatalf("the active daemon exited %d after %s", code, took)
	}
	waitFor(t, standby, 30*time.Second, "the standby taking over: its full /readyz", func() bool {
		code, body := get(addrB, "/readyz")
		return code == 200 && !strings.Contains(body, "standby")
	})
	if code, body := get(addrB, "/"); code != 200 || !strings.Contains(body, "customers") {
		t.Errorf("the new active daemon's status page = %d", code)
	}
}
