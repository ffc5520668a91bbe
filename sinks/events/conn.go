package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of a zero ConnOptions, and of nats.connect_timeout.
const (
	ConnNameDefault          = "virtsync"
	PublishAckTimeoutDefault = 10 * time.Second
	ReconnectWaitDefault     = 2 * time.Second
	// ConnectTimeoutDefault is the config's nats.connect_timeout, and the
	// dial timeout of a Connect whose ctx has no deadline.
	ConnectTimeoutDefault = 5 * time.Second
)

// ConnOptions configures [Connect]. The zero value works.
type ConnOptions struct {
	// Name is the client name shown by the server (nats server report
	// connections). Empty means [ConnNameDefault].
	Name string

	// PublishAckTimeout bounds the wait for each asynchronous publish ack;
	// a publish not acked in time fails and is retried from the outbox.
	// 0 means [PublishAckTimeoutDefault].
	PublishAckTimeout time.Duration

	// ReconnectWait is the pause between reconnect attempts (plus jitter).
	// 0 means [ReconnectWaitDefault].
	ReconnectWait time.Duration

	// Logger receives connection events (disconnected, reconnected, async
	// errors). nil discards them.
	Logger *slog.Logger
}

// Conn is a NATS connection with its JetStream context, made for a daemon:
// it reconnects forever and starts even when the server is down.
type Conn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	mu     sync.Mutex
	stream string // last stream EnsureStream made sure of; checked by Ready
}

// Connect connects to url. The server need not be up: the connection keeps
// retrying in the background (MaxReconnects(-1), RetryOnFailedConnect), so
// NATS being down never stops the daemon from starting or syncing; events
// wait in the outbox meanwhile. ctx only cancels Connect itself; it is not
// kept by the connection.
//
// The reconnect buffer is disabled: a publish while disconnected fails at
// once instead of sitting in memory, because the outbox is the buffer and
// keeps the event durable.
func Connect(ctx context.Context, url string, opts ConnOptions) (*Conn, error) {
	if url == "" {
		return nil, errors.New("connect nats: empty url")
	}
	return connect(ctx, url, opts)
}

// inProcessURL stands in for the server address of an in-process
// connection: nats.go needs one in its pool (and names it in the connect
// log lines) but never dials it.
const inProcessURL = "nats://in-process"

// connect is [Connect] with extra nats.go options, such as the in-process
// server of [Embedded.Connect].
func connect(ctx context.Context, url string, opts ConnOptions, extra ...nats.Option) (*Conn, error) {
	if opts.PublishAckTimeout < 0 || opts.ReconnectWait < 0 {
		return nil, errors.New("connect nats: negative timeout")
	}
	// Negative durations were refused above, so only zero is left to fill.
	opts.Name = cmp.Or(opts.Name, ConnNameDefault)
	opts.PublishAckTimeout = cmp.Or(opts.PublishAckTimeout, PublishAckTimeoutDefault)
	opts.ReconnectWait = cmp.Or(opts.ReconnectWait, ReconnectWaitDefault)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	log := discardIfNil(opts.Logger).With("component", "nats")
	dialTimeout := ConnectTimeoutDefault
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < dialTimeout {
		dialTimeout = max(time.Until(dl), time.Millisecond)
	}

	nopts := append([]nats.Option{
		nats.Name(opts.Name),
		nats.Timeout(dialTimeout),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(opts.ReconnectWait),
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("nats connected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected; events wait in the outbox", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug("nats reconnect attempt failed", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Debug("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats async error", "err", err)
		}),
	}, extra...)
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		// With RetryOnFailedConnect this is a bad URL or option, not an
		// unreachable server. nats.go does not put credentials in it.
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(opts.PublishAckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect nats: jetstream: %w", err)
	}
	if !nc.IsConnected() {
		log.Warn("nats not reachable yet; retrying in the background")
	}
	return &Conn{nc: nc, js: js, log: log}, nil
}

// JetStream returns the JetStream context, configured with the publish ack
// timeout that a [Relay] relies on.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// NATS returns the underlying connection.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// Close closes the connection. Publishes not yet acked fail; their events
// stay in the outbox.
func (c *Conn) Close() { c.nc.Close() }

// Healthy reports whether the connection is up right now.
func (c *Conn) Healthy() bool { return c.nc.IsConnected() }

// Ready checks for /readyz that the connection is up, JetStream answers and,
// once [Conn.EnsureStream] ran, that the stream still exists (a stream
// deleted behind our back makes every publish fail with "no response from
// stream"). Give ctx a short deadline: JetStream requests wait for it.
func (c *Conn) Ready(ctx context.Context) error {
	if !c.nc.IsConnected() {
		return fmt.Errorf("nats: %s", c.nc.Status())
	}
	c.mu.Lock()
	name := c.stream
	c.mu.Unlock()
	if name == "" {
		if _, err := c.js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("nats: jetstream: %w", err)
		}
		return nil
	}
	if _, err := c.js.Stream(ctx, name); err != nil {
		return fmt.Errorf("nats: stream %s: %w", name, err)
	}
	return nil
}

// EnsureStream creates the file-backed stream name capturing subjects (for
// virtsync "<prefix>.>"), or brings an existing one to these subjects and
// this duplicate window. dedupe 0 means [DedupeWindowDefault]; it must exceed
// the outbox's worst relay delay (see there).
//
// An existing stream is updated field by field rather than replaced with
// CreateOrUpdateStream: limits an operator set by hand (max age, max bytes,
// replicas) survive a daemon restart.
func (c *Conn) EnsureStream(ctx context.Context, name string, subjects []string, dedupe time.Duration) (jetstream.Stream, error) {
	s, err := ensureStream(ctx, c.js, name, subjects, dedupe, c.log)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.stream = name
	c.mu.Unlock()
	return s, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, name string, subjects []string, dedupe time.Duration, log *slog.Logger) (jetstream.Stream, error) {
	if name == "" || len(subjects) == 0 {
		return nil, errors.New("ensure stream: name and subjects are required")
	}
	if dedupe < 0 {
		return nil, fmt.Errorf("ensure stream %s: negative dedupe window %s", name, dedupe)
	}
	dedupe = cmp.Or(dedupe, DedupeWindowDefault) // negative refused above
	// Two attempts: another process may create the stream between our
	// lookup and our create.
	for range 2 {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = js.CreateStream(ctx, jetstream.StreamConfig{
				Name:       name,
				Subjects:   subjects,
				Storage:    jetstream.FileStorage,
				Retention:  jetstream.LimitsPolicy,
				Discard:    jetstream.DiscardOld,
				Duplicates: dedupe,
			})
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("create stream %s: %w", name, err)
			}
			log.Info("created stream", "stream", name, "subjects", subjects, "dedupe", dedupe)
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", name, err)
		}
		cfg := s.CachedInfo().Config
		if slices.Equal(cfg.Subjects, subjects) && cfg.Duplicates == dedupe {
			return s, nil
		}
		old, oldDedupe := cfg.Subjects, cfg.Duplicates
		cfg.Subjects = subjects
		cfg.Duplicates = dedupe
		s, err = js.UpdateStream(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("update stream %s: %w", name, err)
		}
		log.Info("updated stream", "stream", name,
			"subjects", subjects, "was_subjects", old, "dedupe", dedupe, "was_dedupe", oldDedupe)
		return s, nil
	}
	return nil, fmt.Errorf("ensure stream %s: created concurrently and still not found", name)
}
