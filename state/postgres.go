package state

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// Drivers [OpenDriver] knows: the config's state.driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// OpenDriver opens the store of driver: for [DriverSQLite] (or "") target
// is the file's path and this is [Open]; for [DriverPostgres] it is the
// DSN and this is [OpenPostgres].
func OpenDriver(ctx context.Context, driver, target string, opts ...Option) (*DB, error) {
	switch driver {
	case "", DriverSQLite:
		return Open(target, opts...)
	case DriverPostgres:
		return OpenPostgres(ctx, target, opts...)
	default:
		return nil, fmt.Errorf("open state: unknown driver %q (want %s or %s)", driver, DriverSQLite, DriverPostgres)
	}
}

// Session settings of the writer connection, unless the DSN sets them.
const (
	// lockTimeout bounds a wait for a row another process locked, as
	// SQLite's busy timeout does: a lease held mid-commit by a stopped
	// process makes AcquireLease fail after it instead of hanging.
	lockTimeout = "5s"
	// idleInTxTimeout ends the session of a process stopped (SIGSTOP, a
	// frozen VM) inside a transaction: its locks go, and its transaction
	// is rolled back, so it commits nothing when it wakes.
	idleInTxTimeout = "30s"
)

// OpenPostgres opens the store in the PostgreSQL database dsn names (a
// URL, postgres://user@host:5432/db?sslmode=..., or key=value pairs) and
// brings its schema up to date, creating the tables on first use. The
// database must exist; the user needs CREATE on its schema for the first
// run and for upgrades.
//
// With [MustExist], a database virtsync never ran on is refused with an
// error wrapping [ErrNoStateFile]. A database written by a newer virtsync
// is refused with an error wrapping [ErrNewerSchema]. Errors name the
// database by user, host, port and name, never with the password.
//
// Runs left 'running' by a process that died (their job has no live lease)
// are marked 'crashed'.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := newOptions(opts)
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("open state: empty PostgreSQL DSN (state.dsn)")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error carries the DSN (best-effort redacted by pgx):
		// keep its words, scrubbed, and drop the error itself.
		return nil, fmt.Errorf("open state: state.dsn is not a valid PostgreSQL DSN: %s", scrub(err.Error(), ""))
	}
	name := dsnName(cfg)
	fail := func(err error) error {
		return &dsnError{msg: fmt.Sprintf("open state %s: %s", name, scrub(err.Error(), cfg.Password)), err: err}
	}
	pool := func(params map[string]string) *sqlx.DB {
		c := cfg.Copy()
		if c.RuntimeParams == nil {
			c.RuntimeParams = map[string]string{}
		}
		if _, ok := c.RuntimeParams["application_name"]; !ok {
			c.RuntimeParams["application_name"] = "virtsync"
		}
		for k, v := range params {
			if _, ok := c.RuntimeParams[k]; !ok {
				c.RuntimeParams[k] = v
			}
		}
		return sqlx.NewDb(stdlib.OpenDB(*c), "pgx")
	}

	writer := pool(map[string]string{"lock_timeout": lockTimeout, "idle_in_transaction_session_timeout": idleInTxTimeout})
	// One writer, as with SQLite: the process's transactions queue in
	// database/sql rather than interleave, so Update means the same on
	// both backends.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fail(err)
	}
	host, _ := os.Hostname()
	db := &DB{Now: o.now, Host: host, PID: os.Getpid(), path: name, dl: postgresDialect, writer: writer, readOnly: o.readOnly}
	if o.mustExist {
		var exists bool
		if err := writer.GetContext(ctx, &exists, `SELECT to_regclass('virtsync_schema') IS NOT NULL`); err != nil {
			writer.Close()
			return nil, fail(err)
		}
		if !exists {
			writer.Close()
			return nil, fmt.Errorf("%w in PostgreSQL database %s: virtsync has not run with this config yet (state.dsn)",
				ErrNoStateFile, name)
		}
	}
	if err := db.migrate(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open state %s: %w", name, err)
	}
	db.setReader(pool(map[string]string{"default_transaction_read_only": "on"}))
	db.reader.SetMaxOpenConns(o.readers)
	db.reader.SetMaxIdleConns(o.readers)
	db.scratch = pool(nil)
	// A closed session takes its temp tables with it.
	db.scratch.SetMaxIdleConns(0)
	if err := db.ready(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", name, err)
	}
	return db, nil
}

// dsnName names the database for messages: postgres://user@host:port/db,
// with no password and no other parameter.
func dsnName(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
	}
	return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, host, cfg.Database)
}

// dsnError is an error met while connecting. It does not unwrap: pgx's
// connect and parse errors keep the whole config, password included, for
// anyone who asks with errors.As.
type dsnError struct {
	msg string
	err error
}

func (e *dsnError) Error() string { return e.msg }

// Is keeps context errors recognisable.
func (e *dsnError) Is(target error) bool {
	return (target == context.Canceled || target == context.DeadlineExceeded) && errors.Is(e.err, target)
}

var (
	passwordKV  = regexp.MustCompile(`(?i)(password\s*=\s*)('(\\'|[^'])*'|\S+)`)
	urlUserinfo = regexp.MustCompile(`(://[^:/@\s]*):[^@\s]*@`)
)

// scrub removes passwords from text: password=... pairs, the password of a
// URL's user info, and the known password wherever it appears.
func scrub(text, password string) string {
	text = passwordKV.ReplaceAllString(text, "${1}xxxxx")
	text = urlUserinfo.ReplaceAllString(text, "${1}:xxxxx@")
	if password != "" {
		text = strings.ReplaceAll(text, password, "xxxxx")
	}
	return text
}
