package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/events"
	"github.com/virtsync/virtsync/state"
)

// Exit codes (DESIGN section 6).
const (
	ExitOK     = 0
	ExitFailed = 1 // some records failed, or a run could not finish
	ExitUsage  = 2 // usage or config error
)

// Main is the virtsync program. main wires the process into it (the
// standard streams, the environment, SIGINT and SIGTERM as the end of
// Run's context, the exit code); the tests run it in their own process the
// same way. Set the fields, call ParseFlags, then Run, then Close.
type Main struct {
	// Stdout takes the tables and summaries, Stderr the log, the usage
	// and the errors. Both are required.
	Stdout, Stderr io.Writer
	// LookupEnv reads the environment: $VIRTSYNC_CONFIG,
	// $VIRTSYNC_CPUPROFILE and the ${VAR}s of the config. Nil reads none.
	LookupEnv func(string) (string, bool)
	// Terminal says Stderr is a terminal: a resync draws progress bars.
	Terminal bool
	// Owner names the program in the leases it takes on the state file:
	// "" is host:pid for a job and daemon:pid for the daemon, right for a
	// process of its own. Programs sharing one process and one state file
	// (tests) each need an owner of their own, or they would take each
	// other's leases as theirs.
	Owner string

	// Options are what ParseFlags read from the command line.
	Options

	// What Run opened, for Close.
	db      *state.DB
	events  *eventsPipe
	scratch string // a dry run's empty state directory, removed by Close
}

// ParseFlags reads the command line (without the program name) into
// m.Options. On an error it has said why on Stderr and the exit code is
// ExitUsage; -h and -help print the usage and end that way too.
func (m *Main) ParseFlags(args []string) error {
	opts, err := parseArgs(args, m.getenv, m.Stderr)
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(m.Stderr, "virtsync: %v\nRun 'virtsync -h' for usage.\n", strings.TrimPrefix(err.Error(), "usage: "))
		}
		return err
	}
	m.Options = opts
	return nil
}

// Run does what the command line asks and returns the exit code. The
// daemon runs until ctx ends; a one-shot command stops early when it does,
// as on SIGTERM. Run is called once, after ParseFlags succeeded.
func (m *Main) Run(ctx context.Context) int {
	stdout, stderr := m.Stdout, m.Stderr
	if m.Version {
		fmt.Fprintln(stdout, "virtsync", Version)
		return ExitOK
	}
	if m.Command == "check" {
		return m.runCheck(ctx)
	}
	cfg, err := config.Load(m.Config, m.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "virtsync: config: %v\n", err)
		return ExitUsage
	}
	defer startCPUProfile(m.getenv("VIRTSYNC_CPUPROFILE"), stderr)()
	log := app.NewLogger(cfg.Log, stderr)
	var openOpts []state.Option
	if m.Command == "status" || m.Command == "explain" || (m.Command == "failures" && !m.Replay) {
		// Reading commands must not leave an empty database behind a
		// mistyped path: that would hide the real state file.
		openOpts = append(openOpts, state.MustExist())
	}
	if m.DryRun || m.Command == "explain" {
		// Neither may change the state, even by marking a crashed run.
		openOpts = append(openOpts, state.ReadOnly())
	}
	db, err := openState(ctx, cfg, openOpts...)
	if m.DryRun && cfg.State.Driver != state.DriverPostgres {
		switch {
		case errors.Is(err, state.ErrNoStateFile):
			// A dry run before the first run: plan it against an empty
			// state kept in a temporary directory; the real path stays
			// untouched.
			db, err = m.scratchState(cfg.State.Path, log, false)
		case errors.Is(err, state.ErrReadOnly):
			// A state of an older schema (just after an upgrade): plan on
			// a migrated snapshot of it, never migrating the real one.
			db, err = m.scratchState(cfg.State.Path, log, true)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtsync: %v\n", err)
		if errors.Is(err, state.ErrNewerSchema) {
			return ExitUsage
		}
		return ExitFailed
	}
	m.db = db
	if w := state.PermissionWarning(cfg.State.Path); w != "" && db.Driver() == state.DriverSQLite {
		log.Warn(w)
	}
	switch m.Command {
	case "status":
		return printStatus(ctx, db, stdout)
	case "failures":
		if !m.Replay {
			return printFailures(ctx, db, m.Job, stdout)
		}
	}
	p, err := app.Build(cfg, log, db)
	if err != nil {
		fmt.Fprintf(stderr, "virtsync: %v\n", err)
		var ce *app.ConfigError
		if errors.As(err, &ce) {
			return ExitUsage
		}
		return ExitFailed
	}
	if code, ok := checkMetadata(ctx, p, stderr); !ok {
		return code
	}

	switch {
	case m.Command == "failures":
		return m.replay(ctx, p, m.Job)
	case m.Command == "explain":
		return m.runExplain(ctx, p)
	case m.Once:
		jobs := app.EnabledJobs(cfg)
		if m.Job != "" {
			jobs = []string{m.Job}
		}
		if m.DryRun {
			return m.runDryRun(ctx, p, jobs, engine.ModeOnce)
		}
		return m.runOnce(ctx, p, jobs, engine.ModeOnce, nil)
	case m.Resync != "":
		jobs, _ := m.ResyncJobs()
		if m.DryRun {
			return m.runDryRun(ctx, p, jobs, engine.ModeResync)
		}
		return m.runOnce(ctx, p, jobs, engine.ModeResync, nil)
	case m.Command != "":
		// Only the daemon runs without a command; a command that reaches
		// here has no code of its own and must not start one.
		fmt.Fprintf(stderr, "virtsync: %s: not available in this build\n", m.Command)
		return ExitUsage
	}
	return m.runDaemon(ctx, p)
}

// openState opens the state where state.driver says: the SQLite file at
// state.path, or the PostgreSQL database at state.dsn.
func openState(ctx context.Context, cfg config.Config, opts ...state.Option) (*state.DB, error) {
	target := cfg.State.Path
	if cfg.State.Driver == state.DriverPostgres {
		target = cfg.State.DSN
	}
	return state.OpenDriver(ctx, cfg.State.Driver, target, opts...)
}

// scratchState opens, for a dry run, a state in a new temporary directory
// that Close removes: an empty one when the state does not exist yet, or
// a snapshot of it (migrated as it opens) when it is of an older schema.
func (m *Main) scratchState(path string, log *slog.Logger, snapshot bool) (*state.DB, error) {
	dir, err := os.MkdirTemp("", "virtsync-dry-run-")
	if err != nil {
		return nil, fmt.Errorf("dry run: a temporary state: %w", err)
	}
	m.scratch = dir
	scratch := filepath.Join(dir, "state.db")
	if snapshot {
		if err := state.Snapshot(path, scratch); err != nil {
			return nil, fmt.Errorf("dry run: %w", err)
		}
		log.Info("the state is of an older schema: the dry run plans on an upgraded copy of it", "state", path)
	} else {
		log.Info("no state yet: the dry run plans a first run against an empty state", "state", path)
	}
	return state.Open(scratch)
}

// Close closes what Run left open: the events pipe (Run normally shuts it
// down itself, draining the outbox) and the state file. It may be called
// more than once, and after a Run that opened nothing.
func (m *Main) Close() error {
	m.events.shutdown()
	m.events = nil
	var err error
	if m.db != nil {
		err = m.db.Close()
		m.db = nil
	}
	if m.scratch != "" {
		err = errors.Join(err, os.RemoveAll(m.scratch))
		m.scratch = ""
	}
	return err
}

func (m *Main) getenv(k string) string {
	if m.LookupEnv == nil {
		return ""
	}
	v, _ := m.LookupEnv(k)
	return v
}

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// checkMetadata confirms that 1C publishes what the jobs need. A missing
// entity or field is a setup error (exit 2); 1C being unreachable is not
// decided here: the runs will say so.
func checkMetadata(ctx context.Context, p *app.Parts, stderr io.Writer) (int, bool) {
	cctx, cancel := context.WithTimeout(ctx, p.Config.OneC.Timeout.D())
	defer cancel()
	m, err := p.OneC.CheckMetadata(cctx, p.Profile.Needs())
	if err == nil {
		return 0, true
	}
	var me *onecapi.MetadataError
	if errors.As(err, &me) {
		mapping.Hint(me, m.HasEntity, p.Profile.Profile)
		fmt.Fprintf(stderr, "virtsync: 1C (profile %s): %v\n", p.Profile.Source, err)
		return ExitUsage, false
	}
	p.Log.Warn("could not check the 1C $metadata; going on", "err", err)
	return 0, true
}

// newRunner is the job runner of the one-shot commands and the daemon.
func (m *Main) newRunner(p *app.Parts, ep *eventsPipe) *engine.Runner {
	host, _ := os.Hostname()
	return &engine.Runner{
		Owner:           m.Owner,
		DB:              p.DB,
		Log:             p.Log,
		NewEvent:        events.Builder{Source: "virtsync/" + host, SubjectPrefix: p.Config.NATS.SubjectPrefix}.Event,
		Concurrency:     p.Config.Virtpos.Concurrency,
		HoldMaxAttempts: p.Config.OneC.Orders.HoldMaxAttempts,
		HoldMaxAge:      p.Config.OneC.Orders.HoldMaxAge.D(),
		LeaseTTL:        p.Config.State.LeaseTTL.D(),
		Observe:         p.Metrics.Record,
		Committed:       ep.kick,
	}
}
