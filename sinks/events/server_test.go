package events_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/sinks/events"
)

func TestStartEmbedded(t *testing.T) {
	dir := t.TempDir()
	srv, err := events.StartEmbedded(events.Options{StoreDir: dir, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	url := srv.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || srv.Port() == 0 || strings.HasSuffix(url, ":-1") {
		t.Fatalf("client url %q, port %d: want loopback with the real port", url, srv.Port())
	}

	c := mustConnect(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	js := c.JetStream()
	if _, err := c.EnsureStream(ctx, "S", []string{"s.>"}, 0); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "s.x", []byte("persisted"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != "S" || ack.Sequence != 1 {
		t.Fatalf("ack %+v", ack)
	}

	// JetStream files live under StoreDir, nowhere else.
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "$G", "streams", "S")); err != nil {
		t.Fatalf("stream files not under the store dir: %v", err)
	}

	port := srv.Port()
	srv.Shutdown()
	srv.Shutdown() // a second call must not block or panic
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond); err == nil {
		conn.Close()
		t.Fatal("server still accepts connections after Shutdown")
	}

	// A new server on the same store finds the stream and its message.
	srv2 := mustStartEmbedded(t, dir, 0)
	c2 := mustConnect(t, srv2.ClientURL())
	s, err := c2.JetStream().Stream(ctx, "S")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := s.GetMsg(ctx, 1)
	if err != nil || string(msg.Data) != "persisted" {
		t.Fatalf("message after restart: %v %q", err, msgData(msg))
	}
}

func TestStartEmbeddedErrors(t *testing.T) {
	t.Run("no store dir", func(t *testing.T) {
		_, err := events.StartEmbedded(events.Options{})
		if err == nil || !strings.Contains(err.Error(), "StoreDir is required") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		_, err = events.StartEmbedded(events.Options{StoreDir: t.TempDir(), Port: port, ReadyTimeout: 2 * time.Second})
		if err == nil {
			t.Fatal("started on a port already in use")
		}
		if !strings.Contains(err.Error(), strconv.Itoa(port)) {
			t.Errorf("error %q does not name the port", err)
		}
		t.Logf("error (for the reader): %v", err)
	})
	t.Run("store dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := events.StartEmbedded(events.Options{StoreDir: file, ReadyTimeout: 2 * time.Second})
		if err == nil {
			t.Fatal("started with a file as store dir")
		}
		t.Logf("error (for the reader): %v", err)
	})
}

func msgData(m *jetstream.RawStreamMsg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}
