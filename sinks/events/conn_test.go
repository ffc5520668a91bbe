package events_test

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/sinks/events"
)

func TestEnsureStream(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		srv := mustStartEmbedded(t, t.TempDir())
		testEnsureStream(t, mustConnectEmbedded(t, srv), "VIRTSYNC", "virtsync")
	})
	t.Run("external", func(t *testing.T) {
		c := externalConn(t)
		name, prefix := uniqueNames(t)
		deleteStreamAtEnd(t, c.JetStream(), name)
		testEnsureStream(t, c, name, prefix)
	})
}

func testEnsureStream(t *testing.T, c *events.Conn, name, prefix string) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	js := c.JetStream()
	subjects := []string{prefix + ".>"}

	config := func() jetstream.StreamConfig {
		t.Helper()
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.Config
	}

	// Create.
	if _, err := c.EnsureStream(ctx, name, subjects, time.Minute); err != nil {
		t.Fatal(err)
	}
	cfg := config()
	if !slices.Equal(cfg.Subjects, subjects) || cfg.Duplicates != time.Minute || cfg.Storage != jetstream.FileStorage {
		t.Fatalf("created config: subjects %v duplicates %s storage %s", cfg.Subjects, cfg.Duplicates, cfg.Storage)
	}

	// An operator caps the stream by hand; the daemon must not undo it.
	cfg.MaxAge = 72 * time.Hour
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	// Update: a new dedupe window from the config.
	if _, err := c.EnsureStream(ctx, name, subjects, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	cfg = config()
	if cfg.Duplicates != 5*time.Minute {
		t.Errorf("duplicates %s after update, want 5m", cfg.Duplicates)
	}
	if cfg.MaxAge != 72*time.Hour {
		t.Errorf("max age %s after update, want the operator's 72h kept", cfg.MaxAge)
	}

	// Unchanged config, default window.
	if _, err := c.EnsureStream(ctx, name, subjects, 0); err != nil {
		t.Fatal(err)
	}
	if d := config().Duplicates; d != events.DedupeWindowDefault {
		t.Errorf("duplicates %s with 0, want the default %s", d, events.DedupeWindowDefault)
	}

	if err := c.Ready(ctx); err != nil {
		t.Errorf("ready: %v", err)
	}
	// Ready watches the ensured stream: deleting it makes /readyz fail.
	if err := js.DeleteStream(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err == nil {
		t.Error("ready with the stream deleted")
	}
	if _, err := c.EnsureStream(ctx, name, subjects, 0); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureStreamRejects(t *testing.T) {
	srv := mustStartEmbedded(t, t.TempDir())
	c := mustConnectEmbedded(t, srv)
	ctx := t.Context()
	if _, err := c.EnsureStream(ctx, "", []string{"a.>"}, 0); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := c.EnsureStream(ctx, "A", nil, 0); err == nil {
		t.Error("no subjects accepted")
	}
	if _, err := c.EnsureStream(ctx, "A", []string{"a.>"}, -time.Second); err == nil {
		t.Error("negative window accepted")
	}
}

// A daemon starts while NATS is down and connects once it comes up.
func TestConnectBeforeServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := mustConnect(t, withUser(t, "nats://"+addr, url.UserPassword(testUser, testPassword)))
	if c.Healthy() {
		t.Fatal("healthy with no server")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err == nil {
		t.Fatal("ready with no server")
	}

	srv := mustStartListening(t, t.TempDir(), addr)
	eventually(t, 10*time.Second, "connection after the server started", c.Healthy)
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}

	srv.Shutdown()
	eventually(t, 10*time.Second, "unhealthy after the server stopped", func() bool { return !c.Healthy() })
}

func TestConnectRejects(t *testing.T) {
	if _, err := events.Connect(t.Context(), "", events.ConnOptions{}); err == nil {
		t.Error("empty url accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := events.Connect(ctx, "nats://127.0.0.1:1", events.ConnOptions{}); err == nil {
		t.Error("cancelled context accepted")
	}
}
