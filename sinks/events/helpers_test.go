package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/sinks/events"
)

// externalNATS is the machine's NATS server with JetStream, used as a second,
// independently built server (a different version than the embedded one).
const externalNATS = "nats://127.0.0.1:4222"

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// quietLogger keeps nats-server's start/stop notices out of the test output.
func quietLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// mustStartEmbedded starts a server on storeDir and port (0: random) and
// shuts it down at the end of the test.
func mustStartEmbedded(t *testing.T, storeDir string, port int) *events.Embedded {
	t.Helper()
	srv, err := events.StartEmbedded(events.Options{StoreDir: storeDir, Port: port, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func mustConnect(t *testing.T, url string) *events.Conn {
	t.Helper()
	c, err := events.Connect(t.Context(), url, events.ConnOptions{
		Name:              t.Name(),
		ReconnectWait:     50 * time.Millisecond,
		PublishAckTimeout: 2 * time.Second,
		Logger:            testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// externalConn connects to the machine's NATS, or skips the test.
func externalConn(t *testing.T) *events.Conn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", strings.TrimPrefix(externalNATS, "nats://"), time.Second)
	if err != nil {
		t.Skipf("NATS with JetStream on %s is not reachable (%v); start one (nats-server -js) to run this test", externalNATS, err)
	}
	raw.Close()
	c := mustConnect(t, externalNATS)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := c.JetStream().AccountInfo(ctx); err != nil {
		t.Skipf("NATS on %s has no JetStream: %v", externalNATS, err)
	}
	return c
}

// uniqueNames returns a stream name and subject prefix no other test (or
// other run on the shared external server) uses.
func uniqueNames(t *testing.T) (stream, prefix string) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(b[:])
	return "VSTEST_" + strings.ToUpper(suffix), "vstest_" + suffix
}

// deleteStreamAtEnd removes a stream from the shared external server.
func deleteStreamAtEnd(t *testing.T, js jetstream.JetStream, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Errorf("delete stream %s: %v", name, err)
		}
	})
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info.State.Msgs
}
