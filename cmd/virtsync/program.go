package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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

// Env is what Main takes from the process.
type Env struct {
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
	// Terminal says stderr is a terminal (progress bars).
	Terminal bool
}

// Main runs virtsync and returns its exit code. ctx ends on SIGINT/SIGTERM.
func Main(ctx context.Context, args []string, env Env) int {
	getenv := func(k string) string { v, _ := env.LookupEnv(k); return v }
	opts, err := ParseArgs(args, getenv, env.Stderr)
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(env.Stderr, "virtsync: %v\nRun 'virtsync -h' for usage.\n", strings.TrimPrefix(err.Error(), "usage: "))
		}
		return ExitUsage
	}
	if opts.Version {
		fmt.Fprintln(env.Stdout, "virtsync", Version)
		return ExitOK
	}
	cfg, err := config.Load(opts.Config, env.LookupEnv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "virtsync: config: %v\n", err)
		return ExitUsage
	}
	defer startCPUProfile(getenv("VIRTSYNC_CPUPROFILE"), env.Stderr)()
	log := app.NewLogger(cfg.Log, env.Stderr)
	var openOpts []state.Option
	if opts.Command == "status" || (opts.Command == "failures" && !opts.Replay) {
		// Reading commands must not leave an empty database behind a
		// mistyped path: that would hide the real state file.
		openOpts = append(openOpts, state.MustExist())
	}
	db, err := state.Open(cfg.State.Path, openOpts...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "virtsync: %v\n", err)
		if errors.Is(err, state.ErrNewerSchema) {
			return ExitUsage
		}
		return ExitFailed
	}
	defer db.Close()
	if w := state.PermissionWarning(cfg.State.Path); w != "" {
		log.Warn(w)
	}
	switch opts.Command {
	case "status":
		return printStatus(ctx, db, env.Stdout)
	case "failures":
		if !opts.Replay {
			return printFailures(ctx, db, opts.Job, env.Stdout)
		}
	}
	p, err := app.Build(cfg, log, db)
	if err != nil {
		fmt.Fprintf(env.Stderr, "virtsync: %v\n", err)
		var ce *app.ConfigError
		if errors.As(err, &ce) {
			return ExitUsage
		}
		return ExitFailed
	}
	if code, ok := checkMetadata(ctx, p, env.Stderr); !ok {
		return code
	}

	switch {
	case opts.Command == "failures":
		return replay(ctx, p, opts.Job, env)
	case opts.Once:
		jobs := app.EnabledJobs(cfg)
		if opts.Job != "" {
			jobs = []string{opts.Job}
		}
		return runOnce(ctx, p, jobs, engine.ModeOnce, nil, env)
	case opts.Resync != "":
		jobs, _ := opts.ResyncJobs()
		return runOnce(ctx, p, jobs, engine.ModeResync, nil, env)
	}
	return runDaemon(ctx, p, env)
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

func newRunner(p *app.Parts, ep *eventsPipe) *engine.Runner {
	host, _ := os.Hostname()
	return &engine.Runner{
		DB:              p.DB,
		Log:             p.Log,
		NewEvent:        events.Builder{Source: "virtsync/" + host, SubjectPrefix: p.Config.NATS.SubjectPrefix}.Event,
		Concurrency:     p.Config.Virtpos.Concurrency,
		HoldMaxAttempts: p.Config.OneC.Orders.HoldMaxAttempts,
		HoldMaxAge:      p.Config.OneC.Orders.HoldMaxAge.D(),
		Observe:         p.Metrics.Record,
		Committed:       ep.kick,
	}
}
