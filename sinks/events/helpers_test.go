package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/url"
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

// Credentials of the test servers that listen. The password has a quote,
// a colon, an at sign and Cyrillic so that it must survive URLs and
// logging byte for byte.
const (
	testUser     = "virtsync-test"
	testPassword = "pw:Секрет@\"7f3a9c"
)

// mustStartEmbedded starts a server on storeDir with the defaults (no
// listener, no credentials) and shuts it down at the end of the test.
func mustStartEmbedded(t *testing.T, storeDir string) *events.Embedded {
	t.Helper()
	return mustStart(t, events.Options{StoreDir: storeDir})
}

// mustStartListening starts a server on storeDir that also listens on
// listen ("127.0.0.1:0" for a free port) for testUser/testPassword.
func mustStartListening(t *testing.T, storeDir, listen string) *events.Embedded {
	t.Helper()
	return mustStart(t, events.Options{StoreDir: storeDir, Listen: listen, User: testUser, Password: testPassword})
}

func mustStart(t *testing.T, opts events.Options) *events.Embedded {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger(t)
	}
	srv, err := events.StartEmbedded(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func testConnOptions(t *testing.T) events.ConnOptions {
	return events.ConnOptions{
		Name:              t.Name(),
		ReconnectWait:     50 * time.Millisecond,
		PublishAckTimeout: 2 * time.Second,
		Logger:            testLogger(t),
	}
}

// mustConnectEmbedded connects in-process to srv.
func mustConnectEmbedded(t *testing.T, srv *events.Embedded) *events.Conn {
	t.Helper()
	c, err := srv.Connect(t.Context(), testConnOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// authURL is the URL of a listening test server with its credentials in it.
func authURL(t *testing.T, srv *events.Embedded) string {
	t.Helper()
	return withUser(t, srv.ClientURL(), url.UserPassword(testUser, testPassword))
}

func withUser(t *testing.T, raw string, user *url.Userinfo) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		t.Fatalf("client url %q: %v", raw, err)
	}
	u.User = user
	return u.String()
}

func mustConnect(t *testing.T, url string) *events.Conn {
	t.Helper()
	c, err := events.Connect(t.Context(), url, testConnOptions(t))
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
