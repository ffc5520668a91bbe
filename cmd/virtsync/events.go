package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/sinks/events"
)

// eventsPipe is the NATS side of a process: an optional embedded server,
// the connection and the relay from the outbox.
type eventsPipe struct {
	embedded *events.Embedded
	conn     *events.Conn
	relay    *events.Relay
	stop     context.CancelFunc
	done     chan struct{}
	log      *slog.Logger
	drain    time.Duration
	shut     sync.Once
}

// startEvents starts publishing the outbox. When the daemon runs on this
// state file, a one-shot command publishes nothing itself: the daemon's
// relay picks its events up from the outbox within a second.
func startEvents(ctx context.Context, p *app.Parts, daemon bool) (*eventsPipe, error) {
	cfg := p.Config
	if !daemon {
		if l, ok, err := p.DB.Lease(ctx, virtsync.DaemonLease); err == nil && ok && l.Live(time.Now()) {
			p.Log.Info("the daemon is running on this state file; it will publish this run's events",
				"daemon", l.Owner)
			return nil, nil
		}
	}
	es := eventsOptions(cfg)
	ep := &eventsPipe{log: p.Log, drain: es.Drain, done: make(chan struct{})}
	nlog := p.Log.With("system", "nats")
	copts := events.ConnOptions{Name: "virtsync", Logger: nlog}
	var conn *events.Conn
	if es.URL != "" {
		cctx, cancel := context.WithTimeout(ctx, es.ConnectTimeout)
		defer cancel()
		c, err := events.Connect(cctx, es.URL, copts)
		if err != nil {
			return nil, fmt.Errorf("connect NATS: %w", err)
		}
		conn = c
	} else {
		eopts := es.Embedded
		eopts.Logger = nlog
		var emb *events.Embedded
		var err error
		if daemon {
			// A one-shot run that started first owns the store until it
			// exits; the daemon takes it over then (SIGTERM ends the wait).
			emb, err = events.StartEmbeddedWhenFree(ctx, eopts, time.Second)
		} else {
			emb, err = events.StartEmbedded(eopts)
		}
		if !daemon && errors.Is(err, events.ErrStoreLocked) {
			// Two servers on one store lose acknowledged events. The owner's
			// relay publishes this run's events from the shared outbox.
			p.Log.Info("another virtsync process runs the embedded NATS; it will publish this run's events", "err", err)
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS in %s: %w", eopts.StoreDir, err)
		}
		ep.embedded = emb
		cctx, cancel := context.WithTimeout(ctx, es.ConnectTimeout)
		defer cancel()
		c, err := emb.Connect(cctx, copts)
		if err != nil {
			ep.close()
			return nil, fmt.Errorf("connect embedded NATS: %w", err)
		}
		conn = c
	}
	ep.conn = conn
	relay, err := events.NewRelay(p.DB, conn.JetStream(), events.RelayOptions{
		Interval: es.RelayInterval,
		Logger:   p.Log.With("system", "outbox"),
		EnsureStream: func(ctx context.Context) error {
			_, err := conn.EnsureStream(ctx, es.Stream, es.Subjects, es.DedupeWindow)
			return err
		},
	})
	if err != nil {
		ep.close()
		return nil, err
	}
	ep.relay = relay
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ep.stop = stop
	go func() {
		defer close(ep.done)
		_ = relay.Run(rctx)
	}()
	return ep, nil
}

// eventsSetup is what the nats.* and outbox.* keys set for publishing.
type eventsSetup struct {
	// URL of an external server; "" starts the embedded one.
	URL string
	// Embedded configures the embedded server (zero with URL); the caller
	// adds the logger.
	Embedded       events.Options
	ConnectTimeout time.Duration
	// Stream, its subjects and duplicate window.
	Stream       string
	Subjects     []string
	DedupeWindow time.Duration
	// RelayInterval polls the outbox; Drain bounds draining it at shutdown.
	RelayInterval time.Duration
	Drain         time.Duration
}

// eventsOptions maps the config to the events pipe's settings. Kept apart
// so a test can show that every key reaches the pipe.
func eventsOptions(cfg config.Config) eventsSetup {
	es := eventsSetup{
		URL:            cfg.NATS.URL,
		ConnectTimeout: cfg.NATS.ConnectTimeout.D(),
		Stream:         cfg.NATS.Stream,
		Subjects:       []string{cfg.NATS.SubjectPrefix + ".>"},
		DedupeWindow:   cfg.NATS.DedupeWindow.D(),
		RelayInterval:  cfg.Outbox.RelayInterval.D(),
		Drain:          cfg.Outbox.DrainTimeout.D(),
	}
	if es.URL == "" {
		es.Embedded = events.Options{
			StoreDir:   cfg.NATSStoreDir(),
			SyncAlways: cfg.NATS.SyncAlways,
			Listen:     cfg.NATS.EmbeddedListen,
			User:       cfg.NATS.EmbeddedUser,
			Password:   cfg.NATS.EmbeddedPassword,
		}
	}
	return es
}

// kick wakes the relay after a commit; safe on a nil pipe.
func (ep *eventsPipe) kick() {
	if ep != nil && ep.relay != nil {
		ep.relay.Kick()
	}
}

// shutdown stops the relay, drains the outbox for a bounded time and
// closes the connection and the embedded server. Events not published stay
// in the outbox for the next start. Only the first call does anything.
func (ep *eventsPipe) shutdown() {
	if ep == nil {
		return
	}
	ep.shut.Do(ep.stopAndDrain)
}

func (ep *eventsPipe) stopAndDrain() {
	if ep.stop != nil {
		ep.stop()
		<-ep.done
	}
	if ep.relay != nil && ep.drain > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), ep.drain)
		if err := ep.relay.Drain(ctx); err != nil {
			ep.log.Warn("outbox not fully drained; the rest is published on the next start", "err", err)
		}
		cancel()
	}
	ep.close()
}

func (ep *eventsPipe) close() {
	if ep.conn != nil {
		ep.conn.Close()
	}
	if ep.embedded != nil {
		ep.embedded.Shutdown()
	}
}

func (ep *eventsPipe) ready(ctx context.Context) error {
	if ep == nil || ep.conn == nil {
		return errors.New("NATS not connected")
	}
	return ep.conn.Ready(ctx)
}
