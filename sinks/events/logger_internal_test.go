package events

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/syncbuf"
)

// nats-server redacts the passwords it knows it prints; the adapter cuts
// the password from any other line a future server version might print.
func TestNATSLoggerCutsThePassword(t *testing.T) {
	const password = `pw:Секрет@"7f3a9c`
	var buf syncbuf.Buffer
	nl := newNATSLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), password)
	lines := map[string]func(string, ...any){
		"notice": nl.Noticef, "warn": nl.Warnf, "error": nl.Errorf,
		"debug": nl.Debugf, "trace": nl.Tracef, "fatal": nl.Fatalf,
	}
	for name, logf := range lines {
		// As a protocol trace would (JSON), as an error would (%q), raw.
		logf("%s: CONNECT {\"user\":\"u\",\"pass\":%s} quoted %q raw %s", name, mustJSON(t, password), password, password)
	}
	out := buf.String()
	if strings.Contains(out, password) || strings.Contains(out, "Секрет") {
		t.Fatalf("log shows the password:\n%s", out)
	}
	if got := strings.Count(out, "[REDACTED]"); got != 3*len(lines) {
		t.Errorf("%d redactions, want %d:\n%s", got, 3*len(lines), out)
	}
	if strings.Contains(nl.fatal(), password) {
		t.Errorf("fatal message kept for the start error shows the password: %q", nl.fatal())
	}
}

func TestNATSLoggerQuietsThePlaintextPasswordAdvice(t *testing.T) {
	var buf syncbuf.Buffer
	nl := newNATSLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), "")
	nl.Warnf("Plaintext passwords detected, use nkeys or bcrypt")
	nl.Warnf("Filestore usage drift of %d bytes", 42)
	out := buf.String()
	if strings.Contains(out, "Plaintext") {
		t.Errorf("the advice virtsync cannot follow is a warning:\n%s", out)
	}
	if !strings.Contains(out, "usage drift of 42 bytes") {
		t.Errorf("other warnings lost:\n%s", out)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
