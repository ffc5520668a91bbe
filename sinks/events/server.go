package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures [StartEmbedded].
type Options struct {
	// StoreDir is where JetStream keeps its files (the server adds a
	// "jetstream" directory under it). Required: without it nats-server
	// picks a directory under os.TempDir and events vanish on reboot.
	// virtsync puts it beside the state file.
	StoreDir string

	// Port is the loopback TCP port. 0 picks a free port; a fixed port
	// lets other local tools (the nats CLI) find the server.
	Port int

	// SyncAlways makes JetStream fsync every message before acking it.
	// Default false: the file store syncs every 2 minutes, so an acked event
	// survives a process crash but may be lost on power loss, after the
	// relay already removed it from the outbox. Set it when consumers must
	// see every event even then; it costs a disk flush per event.
	SyncAlways bool

	// ReadyTimeout bounds the wait for the server to accept clients.
	// 0 means 10 seconds.
	ReadyTimeout time.Duration

	// Logger receives the server's own log lines, at debug level when
	// the logger enables debug. nil discards them.
	Logger *slog.Logger
}

// Embedded is an in-process nats-server with JetStream.
type Embedded struct {
	srv  *server.Server
	lock *storeLock
	once sync.Once
}

// StartEmbedded starts a nats-server with JetStream listening on 127.0.0.1
// and waits until it accepts clients. The caller must call
// [Embedded.Shutdown].
//
// The server owns StoreDir: StartEmbedded first takes an exclusive lock on
// [LockFileName] there and holds it until Shutdown (or the process dies).
// When another process or [Embedded] holds it, StartEmbedded starts nothing
// and returns a [*StoreLockedError] (errors.Is [ErrStoreLocked]).
func StartEmbedded(opts Options) (e *Embedded, err error) {
	if opts.StoreDir == "" {
		return nil, errors.New("start embedded nats: StoreDir is required")
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("start embedded nats: port %d out of range", opts.Port)
	}
	if opts.ReadyTimeout < 0 {
		return nil, fmt.Errorf("start embedded nats: negative ReadyTimeout %s", opts.ReadyTimeout)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	// 0700: the JetStream files hold every event, and the server would
	// create a missing directory with the process umask.
	if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	lock, err := lockStore(opts.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	defer func() {
		if err != nil {
			_ = lock.unlock()
		}
	}()

	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	sopts := &server.Options{
		ServerName: "virtsync-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		SyncAlways: opts.SyncAlways,
		// The daemon owns SIGTERM/SIGINT; nats-server would otherwise
		// install its own handlers and exit the process on a signal.
		NoSigs: true,
		// No monitoring, cluster, leafnode or websocket listeners: only
		// the loopback client port is opened.
		HTTPPort: 0,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	nl := &natsLogger{log: discardIfNil(opts.Logger).With("component", "nats-server")}
	debug := nl.log.Enabled(context.Background(), slog.LevelDebug)
	srv.SetLoggerV2(nl, debug, false, false)

	srv.Start()
	if !waitReady(srv, nl, opts.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if f := nl.fatal(); f != "" {
			return nil, fmt.Errorf("start embedded nats (store %s): %s", opts.StoreDir, f)
		}
		return nil, fmt.Errorf("start embedded nats on 127.0.0.1:%d (store %s): not ready after %s",
			opts.Port, opts.StoreDir, opts.ReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start embedded nats (store %s): JetStream not enabled: %s", opts.StoreDir, nl.fatal())
	}
	return &Embedded{srv: srv, lock: lock}, nil
}

// waitReady waits for srv to accept clients, giving up early when the
// server logged a fatal error (port taken, bad store dir): it will never
// become ready then, and the whole timeout would only delay the error.
func waitReady(srv *server.Server, nl *natsLogger, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if srv.ReadyForConnections(50 * time.Millisecond) {
			return true
		}
		if nl.fatal() != "" || time.Now().After(deadline) {
			return false
		}
	}
}

// ClientURL returns the nats:// URL clients connect to, with the actual
// port when it was picked at random.
func (e *Embedded) ClientURL() string {
	if addr, ok := e.srv.Addr().(*net.TCPAddr); ok {
		return "nats://" + net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))
	}
	return e.srv.ClientURL()
}

// Port returns the TCP port the server listens on.
func (e *Embedded) Port() int {
	if addr, ok := e.srv.Addr().(*net.TCPAddr); ok {
		return addr.Port
	}
	return 0
}

// Shutdown stops the server and waits until it has closed its clients and
// flushed JetStream's files, then releases the store lock. It is safe to
// call more than once.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		// Only now may another process open the store: the files are
		// flushed and closed.
		_ = e.lock.unlock()
	})
}

// natsLogger adapts nats-server's printf logger to slog. It remembers the
// last fatal message so that a failed start can say why.
type natsLogger struct {
	log *slog.Logger

	mu        sync.Mutex
	lastFatal string
}

// Noticef goes to debug: the embedded server's start-up banner is twenty
// lines an operator of virtsync has no use for at info level.
func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

// Fatalf must not exit: nats-server's own logger calls os.Exit here, which
// would kill the whole daemon over a bad store directory.
func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	l.lastFatal = msg
	l.mu.Unlock()
	l.log.Error(msg)
}

func (l *natsLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastFatal
}

func discardIfNil(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
