// Package state is virtsync's store: checkpoints, record versions, the id
// map, write intents, the event outbox, dead letters, holds, runs and job
// leases. One API, two backends: [Open] keeps it in an SQLite file,
// [OpenPostgres] in a PostgreSQL database, and [OpenDriver] picks by the
// config's state.driver.
//
// # Which backend
//
// One host: SQLite, the default. Nothing to run or administer, and the
// fastest: a commit is a local write. Two hosts, one active (a standby
// that takes the jobs over when the active host stops or hangs):
// PostgreSQL, which both hosts reach. Either way a job runs on one process
// at a time, held by its lease; PostgreSQL does not make two active hosts
// share a job's work, it lets the second take over with the state as the
// first committed it. Never put the SQLite file on a network file system
// for two hosts: its locks do not hold there.
//
// # SQLite
//
// The file runs in WAL mode with a busy timeout, foreign keys on and
// synchronous=NORMAL. Each *DB has exactly one writer connection (every
// write goes through [DB.Update] as a BEGIN IMMEDIATE transaction) and a
// separate pool of query-only reader connections used by the read methods.
// Two processes may open the same file: their writers queue on SQLite's
// lock for up to the busy timeout instead of failing with SQLITE_BUSY.
//
// # PostgreSQL
//
// The same tables and the same migration files: the SQL is written once in
// SQLite's dialect and rewritten mechanically (placeholders, BLOB as
// BYTEA, identity columns, text in the "C" collation so it compares byte
// by byte as in SQLite). The schema version is the row of virtsync_schema;
// a migration runs in one transaction under an advisory lock. As with
// SQLite each *DB writes through one connection, a transaction per
// [DB.Update], so one process's writes are serialised; transactions are
// READ COMMITTED. Between processes, what must not interleave locks its
// rows: AcquireLease locks the lease row FOR UPDATE, and a fenced write
// locks it FOR SHARE, so a takeover waits for a commit under way (up to
// lock_timeout, 5s) and never lands in the middle of one. SERIALIZABLE
// with retries was not needed: the lease is the only read-then-write
// shared between processes, and a job's rows are written by its lease
// holder alone. A writer session stopped inside a transaction is ended by
// the server after idle_in_transaction_session_timeout (30s): its locks
// go and nothing of it commits. Either setting given in the DSN wins.
// Readers are read-only sessions; durability is the server's. Errors name
// the database as postgres://user@host:port/db, never with its password.
//
// # Fencing
//
// A lease carries a fencing token that grows every time the lease is
// acquired anew. [DB.Fenced] returns a view whose every transaction first
// checks, inside the transaction, that the lease still has its owner and
// token, and fails with a *[FencedError] otherwise: a process paused past
// its lease (a GC pause, SIGSTOP, a frozen VM) while another took the job
// over commits nothing when it wakes. The engine runs each job's run on
// such a view. This holds on both backends.
//
// # Data
//
// Timestamps are stored as UTC text in a fixed-width RFC 3339 form with
// nanoseconds, so text order is time order and the store is readable with
// the sqlite3 shell or psql. The store never holds URLs or credentials:
// the virtpos apikey lives only in the config and environment. It does
// hold customer ids and the id map, so a file Open creates is 0600 (and
// with it the -wal and -shm files, which SQLite gives the database file's
// mode) in a directory it creates 0700; on PostgreSQL, grant the database
// to virtsync's user alone.
package state

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNewerSchema is returned by [Open] when the file was written by a newer
// virtsync whose schema this binary does not know.
var ErrNewerSchema = errors.New("state file has a newer schema")

// ErrNotFound is returned when a row a caller names does not exist.
var ErrNotFound = errors.New("not found")

// DB is an open state store. It is safe for concurrent use; writes from
// one process are serialised on a single connection.
type DB struct {
	// Now returns the current time; every stored timestamp and lease
	// expiry check uses it. Open sets it to time.Now (or the WithNow
	// option). Set it before using the DB, not concurrently.
	Now func() time.Time

	// Host and PID are recorded with leases so `status` can say who runs a
	// job. Open sets them from the OS.
	Host string
	PID  int

	// path is the SQLite file, or the PostgreSQL DSN without its password.
	path     string
	dl       *dialect
	writer   *sqlx.DB
	readOnly bool
	reader   *sqlx.DB
	// read is reader with the dialect's rewrite: every read goes through it.
	read rewriting
	// idEntry is prepared once: a run looks ids up once per record (a
	// card's owner), and preparing costs more than the look-up.
	idEntry *sqlx.Stmt
	// listed is prepared once too: a run with a listing asks it per record.
	listed *sqlx.Stmt
	// scratch serves sweeps: each holds one connection for its TEMP
	// table (see Sweep) and writes nothing else.
	scratch *sqlx.DB
	// fence, on a view made by [DB.Fenced], is the lease every write
	// transaction checks first.
	fence *Lease
}

// Option configures [Open].
type Option func(*options)

type options struct {
	readers   int
	now       func() time.Time
	mustExist bool
	readOnly  bool
}

// ReadOnly opens an existing state for reading only: no migration (a
// state of an older schema is refused with [ErrReadOnly]), no marking of
// crashed runs, and every write fails with [ErrReadOnly]. A dry run opens
// the state this way, so it cannot change it even by mistake. It implies
// [MustExist].
func ReadOnly() Option { return func(o *options) { o.readOnly, o.mustExist = true, true } }

// ErrReadOnly is returned by a write to a state opened [ReadOnly], and by
// opening one whose schema would need a migration.
var ErrReadOnly = errors.New("the state is open read-only")

// newOptions applies opts over the defaults: both backends open with them.
func newOptions(opts []Option) options {
	o := options{readers: 4, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.readers <= 0 {
		o.readers = 4
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// WithReaders sets the size of the reader pool. 0 or less means 4.
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// WithNow sets the clock, also for the work Open itself does (marking
// crashed runs). nil means time.Now.
func WithNow(now func() time.Time) Option { return func(o *options) { o.now = now } }

// pragmas are applied by the driver to every connection it opens; an Exec
// of a PRAGMA would reach only one connection of a pool.
const pragmas = "_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_synchronous=NORMAL"

// pragmasReadOnly are those of a read-only open: no journal mode to set.
const pragmasReadOnly = "_busy_timeout=5000&_foreign_keys=on"

// Open opens the state file at path and brings its schema up to date. It
// creates a missing file 0600 and a missing directory 0700 (unless
// [MustExist] is given), saying plainly why when it cannot. A file written
// by a newer virtsync is refused with an error wrapping [ErrNewerSchema].
//
// Runs left 'running' by a process that died (their job has no live lease)
// are marked 'crashed'.
func Open(path string, opts ...Option) (*DB, error) {
	o := newOptions(opts)
	if path == "" {
		return nil, errors.New("open state: empty path")
	}
	check := create
	if o.mustExist {
		check = checkExists
	}
	if err := check(path); err != nil {
		return nil, err
	}
	// Escape the path: a '?' or '#' in a directory name would otherwise be
	// taken for the DSN's query. mode=rw: the file exists now, and if it
	// vanished SQLite must not recreate it with its own 0644 mode.
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=rw&" + pragmas
	writerDSN := base + "&_txlock=immediate"
	if o.readOnly {
		// Read-only all the way down: SQLite refuses writes, takes no write
		// lock (a dry run beside a busy daemon does not wait on it), never
		// checkpoints a WAL into the file, and leaves its journal mode be.
		base = "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&" + pragmasReadOnly
		writerDSN = base
	}
	writer, err := sqlx.Open("sqlite3", writerDSN)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	// One writer: SQLite allows one anyway, and queueing in database/sql is
	// cheaper and fairer than spinning in the busy handler.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	host, _ := os.Hostname()
	db := &DB{Now: o.now, Host: host, PID: os.Getpid(), path: path, dl: sqliteDialect, writer: writer, readOnly: o.readOnly}
	if err := migrateWhenFree(db); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	// Readers open after migration so a brand-new file is already in WAL
	// mode and has its schema when they first look at it.
	reader, err := sqlx.Open("sqlite3", base+"&_query_only=1")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	reader.SetMaxOpenConns(o.readers)
	reader.SetMaxIdleConns(o.readers)
	db.setReader(reader)
	scratch, err := sqlx.Open("sqlite3", base)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	// A closed connection takes its temp file with it.
	scratch.SetMaxIdleConns(0)
	db.scratch = scratch
	if err := db.ready(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return db, nil
}

// migrateWhenFree migrates a SQLite state, trying again for a while when
// the file is busy. Two processes opening a brand-new file at once race
// to switch it to WAL: SQLite answers the loser's journal-mode change
// with SQLITE_BUSY at once, without its busy handler, even though the
// winner's migration takes milliseconds.
func migrateWhenFree(db *DB) error {
	deadline := time.Now().Add(openBusyWait)
	for {
		err := db.migrate(context.Background())
		var se sqlite3.Error
		busy := errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
		if !busy || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openBusyWait bounds how long Open waits for another process's
// migration of the same file.
const openBusyWait = 15 * time.Second

func (db *DB) setReader(reader *sqlx.DB) {
	db.reader = reader
	db.read = rewriting{r: reader, dl: db.dl}
}

// ready is the last step of opening either backend, once the pools are
// set and the schema is current.
func (db *DB) ready(ctx context.Context) error {
	var err error
	if db.idEntry, err = db.reader.PreparexContext(ctx,
		db.dl.q(`SELECT kind, ref, remote_id, extra, updated_at FROM idmap WHERE kind = ? AND ref = ?`)); err != nil {
		return err
	}
	if db.listed, err = db.reader.PreparexContext(ctx,
		db.dl.q(`SELECT remote_id FROM listed WHERE kind = ? AND ref = ? AND run_id = ?`)); err != nil {
		return err
	}
	if db.readOnly {
		return nil
	}
	return db.markCrashedRuns(ctx)
}

// Path returns the file the DB was opened from; for PostgreSQL, the DSN
// without its password.
func (db *DB) Path() string { return db.path }

// Driver returns [DriverSQLite] or [DriverPostgres].
func (db *DB) Driver() string {
	if db.dl.postgres {
		return DriverPostgres
	}
	return DriverSQLite
}

// Ping checks that the store is readable, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.GetContext(ctx, &one, `SELECT 1`); err != nil {
		return fmt.Errorf("ping state: %w", err)
	}
	return nil
}

// Close closes the connection pools. On a view made by [DB.Fenced] it does
// nothing: the pools belong to the DB it was made from.
func (db *DB) Close() error {
	if db.fence != nil {
		return nil
	}
	var errs []error
	for _, st := range []*sqlx.Stmt{db.idEntry, db.listed} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if db.scratch != nil {
		errs = append(errs, db.scratch.Close())
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close state: %w", err)
	}
	return nil
}

// Tx is one write transaction, handed to the function given to
// [DB.Update]. It is not safe for concurrent use, and is only valid until
// that function returns.
type Tx struct {
	ctx   context.Context
	tx    *sqlx.Tx
	db    *DB
	now   time.Time
	stmts map[string]*sqlx.Stmt
	// rewritten caches the dialect's rewrites (PostgreSQL only).
	rewritten map[string]string
}

// Update runs fn in one write transaction: it commits if fn returns nil
// and rolls back otherwise (also on a panic, which is re-raised). The
// engine calls it once per batch of records, since a commit costs far more
// than a row. On SQLite the transaction is BEGIN IMMEDIATE; on PostgreSQL
// it is READ COMMITTED, and what must not interleave (leases, fencing)
// locks its rows.
//
// On a view made by [DB.Fenced], the transaction first checks that the
// view's lease still holds, and fails with a *[FencedError] without
// calling fn when it does not.
//
// fn must not call Update itself (the single writer connection is busy:
// it would wait forever). Reads through the DB inside fn do not see fn's
// uncommitted writes. All timestamps fn writes share one DB.Now reading.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return db.update(ctx, db.fence, fn)
}

// update is Update with the fence given: the lease methods pass nil, since
// they check the lease themselves.
func (db *DB) update(ctx context.Context, fence *Lease, fn func(tx *Tx) error) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	sqltx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin state transaction: %w", err)
	}
	tx := &Tx{ctx: ctx, tx: sqltx, db: db, now: db.Now(), stmts: map[string]*sqlx.Stmt{}}
	defer func() {
		if p := recover(); p != nil {
			_ = sqltx.Rollback()
			panic(p)
		}
	}()
	if fence != nil {
		if err := tx.Fence(*fence); err != nil {
			_ = sqltx.Rollback()
			return err
		}
	}
	if err := fn(tx); err != nil {
		if rbErr := sqltx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit state transaction: %w", err)
	}
	return nil
}

// exec runs query with args on a statement prepared once per transaction:
// per-row writes in a batch then cost one bind and step each. PostgreSQL's
// driver keeps prepared statements per connection by itself, so there the
// query only has its dialect rewritten, once per transaction.
func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	if tx.db.dl.postgres {
		q, ok := tx.rewritten[query]
		if !ok {
			q = tx.db.dl.q(query)
			if tx.rewritten == nil {
				tx.rewritten = map[string]string{}
			}
			tx.rewritten[query] = q
		}
		return tx.tx.ExecContext(tx.ctx, q, args...)
	}
	stmt, ok := tx.stmts[query]
	if !ok {
		var err error
		stmt, err = tx.tx.PreparexContext(tx.ctx, query)
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		// database/sql closes statements prepared on a Tx when it ends.
		tx.stmts[query] = stmt
	}
	return stmt.ExecContext(tx.ctx, args...)
}

// execOnce runs a statement whose text varies (an IN list), unprepared.
func (tx *Tx) execOnce(query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(tx.ctx, tx.db.dl.q(query), args...)
}

// queryRow runs a one-row query in the transaction.
func (tx *Tx) queryRow(query string, args ...any) *sqlx.Row {
	return tx.tx.QueryRowxContext(tx.ctx, tx.db.dl.q(query), args...)
}

// migration is one embedded numbered SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.sql files from fsys and checks they are
// numbered 1, 2, 3... without gaps or duplicates.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies the migrations the store lacks, all in one transaction
// so a failure leaves the store as it was. On SQLite the version is PRAGMA
// user_version, which lives in the file header and is covered by the
// transaction; on PostgreSQL it is the one row of virtsync_schema, and an
// advisory lock makes a second process opening the database at the same
// time wait for the first one's migration instead of repeating it.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return err
	}
	latest := len(ms)
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	current, err := db.schemaVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if current > latest {
		return fmt.Errorf("%w: the %s is at schema version %d but this virtsync knows only up to version %d; upgrade virtsync (do not delete the %[2]s)",
			ErrNewerSchema, db.storeNoun(), current, latest)
	}
	if db.readOnly && current != latest {
		return fmt.Errorf("%w: the %s is at schema version %d and this virtsync writes version %d; run virtsync once without -dry-run to bring it up to date",
			ErrReadOnly, db.storeNoun(), current, latest)
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, db.dl.ddl(m.sql)); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
	}
	if current == latest {
		return nil
	}
	if err := db.setSchemaVersion(ctx, tx, latest); err != nil {
		return fmt.Errorf("migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// storeNoun names the store in messages.
func (db *DB) storeNoun() string {
	if db.dl.postgres {
		return "database"
	}
	return "file"
}

// migrateLock is the advisory lock key migrations take on PostgreSQL
// (the bytes of "virtsync").
const migrateLock = 0x7669727473796e63

func (db *DB) schemaVersion(ctx context.Context, tx *sqlx.Tx) (int, error) {
	var v int
	if !db.dl.postgres {
		err := tx.GetContext(ctx, &v, `PRAGMA user_version`)
		return v, err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrateLock)); err != nil {
		return 0, err
	}
	// Created only when missing: CREATE TABLE IF NOT EXISTS wants CREATE
	// on the schema even when the table is there, a right the user of a
	// schema a DBA made need not have.
	var exists bool
	if err := tx.GetContext(ctx, &exists, `SELECT to_regclass('virtsync_schema') IS NOT NULL`); err != nil {
		return 0, err
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE virtsync_schema (version INTEGER NOT NULL)`); err != nil {
			return 0, err
		}
	}
	err := tx.GetContext(ctx, &v, `SELECT COALESCE(MAX(version), 0) FROM virtsync_schema`)
	return v, err
}

func (db *DB) setSchemaVersion(ctx context.Context, tx *sqlx.Tx, v int) error {
	if !db.dl.postgres {
		// PRAGMA takes no bound parameters; v is an int we computed.
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v))
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM virtsync_schema`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO virtsync_schema (version) VALUES ($1)`, v)
	return err
}

// timeLayout is fixed-width (unlike time.RFC3339Nano, which drops trailing
// zeros) so that comparing the text compares the times.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// fmtTime formats t for storage; the zero time is stored as ”.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// stamp scans a stored timestamp into a time.Time; ” and NULL are zero.
type stamp time.Time

// Scan implements sql.Scanner.
func (s *stamp) Scan(v any) error {
	var text string
	switch v := v.(type) {
	case nil:
		*s = stamp{}
		return nil
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("timestamp: unexpected %T", v)
	}
	if text == "" {
		*s = stamp{}
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", text, err)
	}
	*s = stamp(t.UTC())
	return nil
}

// Snapshot copies the SQLite state at path into a new file dest, as one
// consistent read (VACUUM INTO), without writing to path. A dry run on a
// state of an older schema plans on a migrated snapshot instead of
// migrating the real state.
func Snapshot(path, dest string) error {
	if err := checkExists(path); err != nil {
		return err
	}
	src := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&" + pragmasReadOnly
	db, err := sqlx.Open("sqlite3", src)
	if err != nil {
		return fmt.Errorf("snapshot state %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.Exec(`VACUUM INTO ?`, dest); err != nil {
		return fmt.Errorf("snapshot state %s: %w", path, err)
	}
	return nil
}
