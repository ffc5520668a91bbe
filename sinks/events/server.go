package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ReadyTimeoutDefault bounds a zero Options.ReadyTimeout.
const ReadyTimeoutDefault = 10 * time.Second

// Options configures [StartEmbedded].
type Options struct {
	// StoreDir is where JetStream keeps its files (the server adds a
	// "jetstream" directory under it). Required: without it nats-server
	// picks a directory under os.TempDir and events vanish on reboot.
	// virtsync puts it beside the state file.
	StoreDir string

	// Listen is a host:port on which the server also accepts TCP clients
	// (the nats CLI, consumers on this host); port 0 picks a free one.
	// Empty, the default, opens no socket at all: only [Embedded.Connect]
	// reaches the server, so no other user of the host can read the
	// stream or publish a forged event. A listener requires User and
	// Password.
	Listen string

	// User and Password are the one account every client, the in-process
	// one included, must log in with. Both or neither; required when
	// Listen is set. The password is used as given: a bcrypt hash is
	// refused, because the process's own client must send the password
	// itself.
	User     string
	Password string

	// SyncAlways makes JetStream fsync every message before acking it.
	// Default false: the file store syncs every 2 minutes, so an acked event
	// survives a process crash but may be lost on power loss, after the
	// relay already removed it from the outbox. Set it when consumers must
	// see every event even then; it costs a disk flush per event.
	SyncAlways bool

	// ReadyTimeout bounds the wait for the server to accept clients.
	// 0 means [ReadyTimeoutDefault].
	ReadyTimeout time.Duration

	// Logger receives the server's own log lines, at debug level when
	// the logger enables debug. nil discards them. Protocol tracing is
	// never enabled: it would log every event's payload.
	Logger *slog.Logger
}

// Embedded is an in-process nats-server with JetStream.
type Embedded struct {
	srv            *server.Server
	lock           *storeLock
	user, password string
	once           sync.Once
}

// StartEmbedded starts a nats-server with JetStream inside the process and
// waits until it accepts clients. By default it opens no socket: connect
// with [Embedded.Connect]. The caller must call [Embedded.Shutdown].
//
// The server owns StoreDir: StartEmbedded first takes an exclusive lock on
// [LockFileName] there and holds it until Shutdown (or the process dies).
// When another process or [Embedded] holds it, StartEmbedded starts nothing
// and returns a [*StoreLockedError] (errors.Is [ErrStoreLocked]).
func StartEmbedded(opts Options) (e *Embedded, err error) {
	sopts, err := serverOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	opts.ReadyTimeout = cmp.Or(opts.ReadyTimeout, ReadyTimeoutDefault) // serverOptions refused a negative one
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

	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	nl := newNATSLogger(opts.Logger, opts.Password)
	debug := nl.log.Enabled(context.Background(), slog.LevelDebug)
	srv.SetLoggerV2(nl, debug, false, false)

	where := "in-process"
	if opts.Listen != "" {
		where = "on " + opts.Listen
	}
	srv.Start()
	if !waitReady(srv, nl, opts.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if f := nl.fatal(); f != "" {
			return nil, fmt.Errorf("start embedded nats %s (store %s): %s", where, opts.StoreDir, f)
		}
		return nil, fmt.Errorf("start embedded nats %s (store %s): not ready after %s",
			where, opts.StoreDir, opts.ReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start embedded nats (store %s): JetStream not enabled: %s", opts.StoreDir, nl.fatal())
	}
	return &Embedded{srv: srv, lock: lock, user: opts.User, password: opts.Password}, nil
}

// StartEmbeddedWhenFree is [StartEmbedded] for a daemon that may start
// while a one-shot run owns the store: as long as the store is locked it
// tries again every interval (0 means 1 second) until it gets the store or
// ctx ends. It logs the wait once, at info, to opts.Logger. Any other
// error returns at once. When ctx ends first, the error matches both
// [ErrStoreLocked] and ctx's error.
func StartEmbeddedWhenFree(ctx context.Context, opts Options, interval time.Duration) (*Embedded, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	logged := false
	for {
		e, err := StartEmbedded(opts)
		if !errors.Is(err, ErrStoreLocked) {
			return e, err
		}
		if !logged {
			discardIfNil(opts.Logger).Info("embedded NATS store is owned by another process; waiting for it", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up waiting: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// serverOptions checks opts and translates them for nats-server.
func serverOptions(opts Options) (*server.Options, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("StoreDir is required")
	}
	if opts.ReadyTimeout < 0 {
		return nil, fmt.Errorf("negative ReadyTimeout %s", opts.ReadyTimeout)
	}
	if (opts.User == "") != (opts.Password == "") {
		return nil, errors.New("a user needs a password and a password a user: set both or neither")
	}
	if isBcrypt(opts.Password) {
		return nil, errors.New("the password looks like a bcrypt hash; give the password itself: the embedded server's own client logs in with it")
	}
	sopts := &server.Options{
		ServerName: "virtsync-embedded",
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		SyncAlways: opts.SyncAlways,
		// The daemon owns SIGTERM/SIGINT; nats-server would otherwise
		// install its own handlers and exit the process on a signal.
		NoSigs: true,
		// No monitoring, cluster, leafnode or websocket listeners.
		HTTPPort: 0,
		Username: opts.User,
		Password: opts.Password,
	}
	if opts.Listen == "" {
		sopts.DontListen = true
		return sopts, nil
	}
	host, portStr, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: want host:port such as 127.0.0.1:4222: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: port %q is not a number from 0 to 65535", opts.Listen, portStr)
	}
	if opts.User == "" {
		return nil, fmt.Errorf("listen address %s needs a user and a password (nats.embedded_user, nats.embedded_password): "+
			"without them anyone who reaches the port can read every event and publish forged ones", opts.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		// nats-server would read "" as its default; say it: every interface.
		host = "0.0.0.0"
	}
	sopts.Host, sopts.Port = host, port
	return sopts, nil
}

// isBcrypt mirrors nats-server's test: such a password is compared as a
// hash, so sending it as given would never log in.
func isBcrypt(password string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2x$", "$2y$"} {
		if strings.HasPrefix(password, p) {
			return true
		}
	}
	return false
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

// ClientURL returns the nats:// URL of the TCP listener (with the actual
// port when it was picked at random), without credentials; "" when the
// server does not listen ([Options.Listen] empty). The process itself
// connects with [Embedded.Connect] either way.
func (e *Embedded) ClientURL() string {
	addr, ok := e.srv.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip := addr.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "nats://" + net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))
}

// Port returns the TCP port the server listens on, 0 when it does not.
func (e *Embedded) Port() int {
	if addr, ok := e.srv.Addr().(*net.TCPAddr); ok {
		return addr.Port
	}
	return 0
}

// Connect connects to the server through an in-memory pipe, not a socket,
// logging in with [Options.User] and [Options.Password] when they are set.
// The connection behaves like one from [Connect]; it lives as long as this
// server: close it before [Embedded.Shutdown].
func (e *Embedded) Connect(ctx context.Context, opts ConnOptions) (*Conn, error) {
	extra := []nats.Option{nats.InProcessServer(e.srv)}
	if e.user != "" {
		extra = append(extra, nats.UserInfo(e.user, e.password))
	}
	return connect(ctx, inProcessURL, opts, extra...)
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
	log     *slog.Logger
	secrets []string // the password as given and as quoted: cut from every line

	mu        sync.Mutex
	lastFatal string
}

// Noticef goes to debug: the embedded server's start-up banner is twenty
// lines an operator of virtsync has no use for at info level.
func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(l.line(format, v)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(l.line(format, v)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(l.line(format, v)) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log.Debug(l.line(format, v)) }

// Warnf keeps the server's warnings except its advice to use bcrypt or
// nkeys instead of a plaintext password: virtsync's own client must log in
// with the password itself, so an operator could not act on it at every
// start.
func (l *natsLogger) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, "Plaintext passwords detected") {
		l.log.Debug(l.line(format, v))
		return
	}
	l.log.Warn(l.line(format, v))
}

// Fatalf must not exit: nats-server's own logger calls os.Exit here, which
// would kill the whole daemon over a bad store directory.
func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := l.line(format, v)
	l.mu.Lock()
	l.lastFatal = msg
	l.mu.Unlock()
	l.log.Error(msg)
}

// newNATSLogger returns the adapter for a server whose password is
// password ("" for none).
func newNATSLogger(log *slog.Logger, password string) *natsLogger {
	l := &natsLogger{log: discardIfNil(log).With("component", "nats-server")}
	if password == "" {
		return l
	}
	// A protocol line carries the password JSON-escaped, a Go error
	// message %q-quoted: a quote or a backslash in it changes its bytes.
	js, _ := json.Marshal(password)
	for _, v := range []string{
		password,
		string(js[1 : len(js)-1]),
		strings.Trim(strconv.Quote(password), `"`),
		strings.Trim(strconv.QuoteToASCII(password), `"`),
	} {
		if !slices.Contains(l.secrets, v) {
			l.secrets = append(l.secrets, v)
		}
	}
	return l
}

// line formats a server log line. nats-server redacts passwords where it
// knows it prints them; this also covers the places it does not.
func (l *natsLogger) line(format string, v []any) string {
	msg := fmt.Sprintf(format, v...)
	for _, s := range l.secrets {
		msg = strings.ReplaceAll(msg, s, "[REDACTED]")
	}
	return msg
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
