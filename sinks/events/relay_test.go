package events_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/sinks/events"
	"github.com/virtsync/virtsync/state"
)

// makeEvents builds n envelopes under prefix, cycling through every kind.
func makeEvents(t *testing.T, prefix string, n int) []state.Event {
	t.Helper()
	pairs := [][2]string{
		{"customer", "upserted"}, {"customer", "failed"}, {"card", "upserted"}, {"card", "deleted"},
		{"card", "failed"}, {"order", "new"}, {"order", "changed"}, {"order", "exported"},
		{"order", "failed"}, {"run", "started"}, {"run", "finished"},
	}
	now := time.Now()
	evs := make([]state.Event, n)
	for i := range evs {
		p := pairs[i%len(pairs)]
		env, err := events.New("virtsync/test", "", prefix, p[0], p[1], map[string]int{"n": i}, now)
		if err != nil {
			t.Fatal(err)
		}
		if evs[i], err = env.Event(); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// verifyStream checks that stream holds exactly want: one message per event,
// Nats-Msg-Id = envelope id = outbox id, on the event's subject.
func verifyStream(t *testing.T, js jetstream.JetStream, stream string, want []state.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if n := streamMsgs(t, js, stream); n != uint64(len(want)) {
		t.Fatalf("stream %s holds %d messages, want %d", stream, n, len(want))
	}
	byID := make(map[string]state.Event, len(want))
	for _, ev := range want {
		byID[ev.ID] = ev
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, len(want))
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		env, err := events.Decode(msg.Data)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if ct := msg.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("message %d: Content-Type %q", seq, ct)
		}
		if hdr := msg.Header.Get(jetstream.MsgIDHeader); hdr != env.ID {
			t.Errorf("message %d: Nats-Msg-Id %q, envelope id %q", seq, hdr, env.ID)
		}
		ev, ok := byID[env.ID]
		if !ok {
			t.Fatalf("message %d: unexpected event id %s", seq, env.ID)
		}
		if seen[env.ID] {
			t.Fatalf("message %d: event %s stored twice", seq, env.ID)
		}
		seen[env.ID] = true
		if msg.Subject != ev.Subject {
			t.Errorf("event %s on %q, want %q", env.ID, msg.Subject, ev.Subject)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d distinct events in the stream, want %d", len(seen), len(want))
	}
}

// runRelay runs r until the test ends and checks that Run returned nil.
func runRelay(t *testing.T, r *events.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func TestRelay(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		srv := mustStartEmbedded(t, t.TempDir())
		testRelay(t, mustConnectEmbedded(t, srv), "VIRTSYNC", "virtsync")
	})
	t.Run("external", func(t *testing.T) {
		c := externalConn(t)
		name, prefix := uniqueNames(t)
		deleteStreamAtEnd(t, c.JetStream(), name)
		testRelay(t, c, name, prefix)
	})
}

func testRelay(t *testing.T, c *events.Conn, stream, prefix string) {
	if _, err := c.EnsureStream(t.Context(), stream, []string{prefix + ".>"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	ob := newOutbox(t)
	var published atomic.Int64
	r, err := events.NewRelay(ob, c.JetStream(), events.RelayOptions{
		BatchSize: 64,
		// Only Kick can wake the relay within the test's timeouts.
		Interval:    time.Hour,
		Logger:      testLogger(t),
		OnPublished: func(n int) { published.Add(int64(n)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, r)

	const n = 500
	evs := makeEvents(t, prefix, n)
	ob.add(t, evs...)
	r.Kick()
	eventually(t, 30*time.Second, "the outbox to empty", func() bool { return ob.count(t) == 0 })
	verifyStream(t, c.JetStream(), stream, evs)
	if got := published.Load(); got != n {
		t.Errorf("OnPublished counted %d, want %d", got, n)
	}

	// A crash between the ack and the delete leaves the rows behind: the
	// same ids go out again and the server stores nothing new.
	ob.add(t, evs...)
	r.Kick()
	eventually(t, 30*time.Second, "the re-added rows to go", func() bool { return ob.count(t) == 0 })
	verifyStream(t, c.JetStream(), stream, evs)
}

// NATS dies while the relay is half way through a backlog; events keep
// arriving; a new server on the same store and port comes up. Every event
// must end up in the stream exactly once. The relay connects over TCP, as
// to an external server: an in-process connection ends with its server.
func TestRelaySurvivesOutage(t *testing.T) {
	dir := t.TempDir()
	srv := mustStartListening(t, dir, "127.0.0.1:0")
	port := srv.Port()
	c := mustConnect(t, authURL(t, srv))
	if _, err := c.EnsureStream(t.Context(), "VIRTSYNC", []string{"virtsync.>"}, 0); err != nil {
		t.Fatal(err)
	}

	ob := newOutbox(t)
	firstBatch := make(chan struct{})
	var once sync.Once
	r, err := events.NewRelay(ob, c.JetStream(), events.RelayOptions{
		BatchSize:      50,
		Interval:       50 * time.Millisecond,
		PublishTimeout: 2 * time.Second,
		MaxBackoff:     300 * time.Millisecond,
		Logger:         quietLogger(t),
		OnPublished:    func(int) { once.Do(func() { close(firstBatch) }) },
	})
	if err != nil {
		t.Fatal(err)
	}

	before := makeEvents(t, "virtsync", 2000)
	ob.add(t, before...)
	runRelay(t, r)
	<-firstBatch
	srv.Shutdown()
	left := ob.count(t)
	if left == 0 {
		t.Fatal("the relay finished before the server went down; the test proves nothing")
	}
	t.Logf("server stopped with %d of %d events still in the outbox", left, len(before))

	// While NATS is down, syncing goes on and the outbox only grows.
	during := makeEvents(t, "virtsync", 300)
	ob.add(t, during...)
	r.Kick()
	time.Sleep(700 * time.Millisecond)
	if got := ob.count(t); got < len(during) {
		t.Fatalf("outbox has %d rows while NATS is down, want at least %d", got, len(during))
	}
	if c.Healthy() {
		t.Fatal("connection healthy with the server down")
	}

	srv2 := mustStartListening(t, dir, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if srv2.Port() != port {
		t.Fatalf("restarted on port %d, want %d", srv2.Port(), port)
	}
	eventually(t, 30*time.Second, "the outbox to drain after the restart", func() bool { return ob.count(t) == 0 })
	verifyStream(t, c.JetStream(), "VIRTSYNC", append(before, during...))
}

func TestRelayDrain(t *testing.T) {
	srv := mustStartEmbedded(t, t.TempDir())
	c := mustConnectEmbedded(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	ob := newOutbox(t)
	r, err := events.NewRelay(ob, c.JetStream(), events.RelayOptions{BatchSize: 32, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(t, "virtsync", 100)
	ob.add(t, evs...)

	t.Run("no stream yet", func(t *testing.T) {
		// Nothing captures the subjects: publishes fail and every row
		// stays until the deadline.
		dctx, dcancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer dcancel()
		err := r.Drain(dctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("drain error %v, want the deadline", err)
		}
		if !strings.Contains(err.Error(), "no response from stream") {
			t.Errorf("drain error %q does not say why publishing failed", err)
		}
		if got := ob.count(t); got != len(evs) {
			t.Fatalf("%d rows left, want all %d", got, len(evs))
		}
	})

	t.Run("stream created", func(t *testing.T) {
		if _, err := c.EnsureStream(ctx, "VIRTSYNC", []string{"virtsync.>"}, 0); err != nil {
			t.Fatal(err)
		}
		if err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := ob.count(t); got != 0 {
			t.Fatalf("%d rows left after drain", got)
		}
		verifyStream(t, c.JetStream(), "VIRTSYNC", evs)
	})

	t.Run("empty outbox", func(t *testing.T) {
		if err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("server down", func(t *testing.T) {
		more := makeEvents(t, "virtsync", 10)
		ob.add(t, more...)
		srv.Shutdown()
		dctx, dcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer dcancel()
		start := time.Now()
		if err := r.Drain(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("drain error %v, want the deadline", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("drain took %s with a 500ms deadline", el)
		}
		if got := ob.count(t); got != len(more) {
			t.Fatalf("%d rows left, want %d", got, len(more))
		}
	})
}

// An event the stream can never take must not wedge the outbox.
func TestRelayDropsOversizedEvent(t *testing.T) {
	srv := mustStartEmbedded(t, t.TempDir())
	c := mustConnectEmbedded(t, srv)
	ctx := t.Context()
	s, err := c.EnsureStream(ctx, "VIRTSYNC", []string{"virtsync.>"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgSize = 2048
	if _, err := c.JetStream().UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	ob := newOutbox(t)
	small := makeEvents(t, "virtsync", 3)
	env, err := events.New("virtsync/test", "", "virtsync", "order", "new", strings.Repeat("x", 4096), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	big, err := env.Event()
	if err != nil {
		t.Fatal(err)
	}
	ob.add(t, small[0], big, small[1], small[2])

	r, err := events.NewRelay(ob, c.JetStream(), events.RelayOptions{Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Drain(dctx); err != nil {
		t.Fatal(err)
	}
	if got := ob.count(t); got != 0 {
		t.Fatalf("%d rows left", got)
	}
	verifyStream(t, c.JetStream(), "VIRTSYNC", small)
}

func TestNewRelayRejects(t *testing.T) {
	srv := mustStartEmbedded(t, t.TempDir())
	c := mustConnectEmbedded(t, srv)
	ob := newOutbox(t)
	tests := map[string]func() (*events.Relay, error){
		"nil outbox":    func() (*events.Relay, error) { return events.NewRelay(nil, c.JetStream(), events.RelayOptions{}) },
		"nil jetstream": func() (*events.Relay, error) { return events.NewRelay(ob, nil, events.RelayOptions{}) },
		"negative batch": func() (*events.Relay, error) {
			return events.NewRelay(ob, c.JetStream(), events.RelayOptions{BatchSize: -1})
		},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := f(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// A daemon that started while NATS was down, or a server that lost its
// store, has no stream: the relay re-creates it through EnsureStream.
func TestRelayEnsuresStream(t *testing.T) {
	srv := mustStartEmbedded(t, t.TempDir())
	c := mustConnectEmbedded(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	var ensured atomic.Int32
	ob := newOutbox(t)
	r, err := events.NewRelay(ob, c.JetStream(), events.RelayOptions{
		Logger: quietLogger(t),
		EnsureStream: func(ctx context.Context) error {
			ensured.Add(1)
			_, err := c.EnsureStream(ctx, "VIRTSYNC", []string{"virtsync.>"}, 0)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	first := makeEvents(t, "virtsync", 20)
	ob.add(t, first...)
	if err := r.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	verifyStream(t, c.JetStream(), "VIRTSYNC", first)

	if err := c.JetStream().DeleteStream(ctx, "VIRTSYNC"); err != nil {
		t.Fatal(err)
	}
	second := makeEvents(t, "virtsync", 20)
	ob.add(t, second...)
	if err := r.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	verifyStream(t, c.JetStream(), "VIRTSYNC", second)
	if got := ensured.Load(); got != 2 {
		t.Errorf("EnsureStream called %d times, want 2 (start, after the loss)", got)
	}
}
