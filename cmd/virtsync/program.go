package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/virtsync/virtsync"
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

// daemonLease is the lease the daemon holds for its whole life: a second
// daemon on one state file refuses to start, and one-shot commands know to
// leave publishing to it.
const daemonLease = "daemon"

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
}

// startEvents starts publishing the outbox. When the daemon runs on this
// state file, a one-shot command publishes nothing itself: the daemon's
// relay picks its events up from the outbox within a second.
func startEvents(ctx context.Context, p *app.Parts, daemon bool) (*eventsPipe, error) {
	cfg := p.Config
	if !daemon {
		if l, ok, err := p.DB.Lease(ctx, daemonLease); err == nil && ok && l.Live(time.Now()) {
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
// in the outbox for the next start.
func (ep *eventsPipe) shutdown() {
	if ep == nil {
		return
	}
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

// runOnce runs jobs one after another (customers before cards before
// orders) and prints a summary. It waits for a job another process is
// running instead of overlapping it.
func runOnce(ctx context.Context, p *app.Parts, jobs []string, mode engine.Mode, only map[string][]string, env Env) int {
	ep, err := startEvents(ctx, p, false)
	if err != nil {
		// Events wait in the outbox; syncing does not depend on NATS.
		p.Log.Warn("events will wait in the outbox", "err", err)
	}
	defer ep.shutdown()
	r := newRunner(p, ep)
	var bars *progress
	if mode == engine.ModeResync && env.Terminal {
		bars = newProgress(env.Stderr)
		r.Progress = bars.update
	}
	code := ExitOK
	var sums []engine.Summary
	for _, name := range jobs {
		spec := p.Jobs[name]
		if mode == engine.ModeResync && name == "orders" {
			// A resync reads every order virtpos has, not a window.
			spec = resyncOrders(spec)
		}
		var keys []string
		if only != nil {
			keys = only[name]
		}
		sum, err := runWaiting(ctx, r, spec, mode, keys, env.Stderr)
		if bars != nil {
			bars.finish(name)
		}
		sums = append(sums, sum)
		p.Metrics.Run(sum)
		if err != nil || sum.Counts[virtsync.Failed] > 0 {
			code = ExitFailed
		}
		if ctx.Err() != nil {
			break
		}
	}
	printSummary(env.Stdout, sums)
	if ep == nil {
		// Nothing published here (NATS down, or another process owns the
		// embedded store): say where the events are, so nobody thinks
		// them lost.
		if n, _, err := p.DB.OutboxBacklog(context.WithoutCancel(ctx)); err == nil && n > 0 {
			fmt.Fprintf(env.Stderr, "virtsync: %d event(s) wait in the outbox of %s; the process that runs NATS, "+
				"or the next run that reaches it, publishes them\n", n, p.Config.State.Path)
		}
	}
	return code
}

// runWaiting runs a job, first waiting for another process's run of it
// (the daemon's, usually) to end, and says so.
func runWaiting(ctx context.Context, r *engine.Runner, spec engine.JobSpec, mode engine.Mode, only []string, stderr io.Writer) (engine.Summary, error) {
	told := false
	for {
		sum, err := r.Run(ctx, spec, mode, only)
		var held *state.LeaseHeldError
		if !errors.As(err, &held) {
			return sum, err
		}
		if !told {
			fmt.Fprintf(stderr, "%s: %s (pid %d on %s) is running this job since %s; waiting for it to finish, then running %s\n",
				spec.Name, held.Owner, held.PID, held.Host, held.Since.Local().Format("15:04:05"), mode)
			told = true
		}
		select {
		case <-ctx.Done():
			return sum, fmt.Errorf("%s: gave up waiting for the running job: %w", spec.Name, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// replay queues the dead letters again and runs their jobs now with only
// those records.
func replay(ctx context.Context, p *app.Parts, job string, env Env) int {
	only := map[string][]string{}
	var jobs []string
	for _, name := range app.JobNames() {
		if job != "" && name != job {
			continue
		}
		n, err := p.DB.QueueReplay(ctx, name)
		if err != nil {
			fmt.Fprintf(env.Stderr, "virtsync: queue replay of %s: %v\n", name, err)
			return ExitFailed
		}
		if n == 0 {
			continue
		}
		keys, err := p.DB.ReplayKeys(ctx, name)
		if err != nil {
			fmt.Fprintf(env.Stderr, "virtsync: %v\n", err)
			return ExitFailed
		}
		fmt.Fprintf(env.Stdout, "%s: replaying %d record(s)\n", name, n)
		only[name] = keys
		jobs = append(jobs, name)
	}
	if len(jobs) == 0 {
		fmt.Fprintln(env.Stdout, "no dead letters to replay")
		return ExitOK
	}
	return runOnce(ctx, p, jobs, engine.ModeReplay, only, env)
}

// httpServer serves /livez, /readyz and /metrics.
func httpServer(p *app.Parts, ep *eventsPipe) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		// Without the state nothing syncs: not ready. Without NATS
		// syncing goes on and events wait in the outbox: ready, degraded
		// (virtsync_nats_up says so too).
		if err := p.DB.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "state: "+err.Error())
			return
		}
		if err := ep.ready(ctx); err != nil {
			fmt.Fprintf(w, "degraded\nnats: %v: syncing goes on; events wait in the outbox until NATS takes them\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	p.Metrics.WatchNATS(ep.ready)
	mux.Handle("/metrics", p.Metrics.Handler())
	addr, _ := httpListen(p.Config)
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// httpListen is where the daemon serves /livez, /readyz and /metrics;
// on is false when http.listen is "" (no server).
func httpListen(cfg config.Config) (addr string, on bool) {
	return cfg.HTTP.Listen, cfg.HTTP.Listen != ""
}

// newScheduler puts the enabled jobs on their schedules.
func newScheduler(p *app.Parts, r *engine.Runner) *engine.Scheduler {
	var sched []engine.Scheduled
	for _, name := range app.EnabledJobs(p.Config) {
		sched = append(sched, engine.Scheduled{Spec: p.Jobs[name], Schedule: app.JobSchedule(p.Config, name)})
	}
	return &engine.Scheduler{Runner: r, Jobs: sched, Log: p.Log, StopTimeout: p.Config.ShutdownTimeout.D(),
		OnRun: func(sum engine.Summary, err error) { p.Metrics.Run(sum) }}
}

// runDaemon runs the jobs on their schedules until ctx ends.
func runDaemon(ctx context.Context, p *app.Parts, env Env) int {
	owner := fmt.Sprintf("daemon:%d", os.Getpid())
	ttl := time.Minute
	if err := engine.AcquireLease(ctx, p.DB, p.Log, daemonLease, owner, ttl); err != nil {
		fmt.Fprintf(env.Stderr, "virtsync: another daemon runs on %s: %v\n", p.Config.State.Path, err)
		return ExitUsage
	}
	defer p.DB.ReleaseLease(context.WithoutCancel(ctx), daemonLease, owner)
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.DB.RenewLease(ctx, daemonLease, owner, ttl); err != nil && ctx.Err() == nil {
					p.Log.Error("renew daemon lease", "err", err)
				}
			}
		}
	}()

	ep, err := startEvents(ctx, p, true)
	if err != nil {
		p.Log.Error("events", "err", err)
		return ExitFailed
	}
	r := newRunner(p, ep)

	var srv *http.Server
	if addr, on := httpListen(p.Config); on {
		srv = httpServer(p, ep)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			ep.shutdown()
			fmt.Fprintf(env.Stderr, "virtsync: http.listen %s: %v\n", addr, err)
			return ExitUsage
		}
		go func() { _ = srv.Serve(ln) }()
		p.Log.Info("serving /livez /readyz /metrics", "addr", ln.Addr().String())
	}

	s := newScheduler(p, r)
	p.Log.Info("virtsync daemon started", "jobs", len(s.Jobs), "state", p.Config.State.Path)
	serr := s.Run(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	ep.shutdown()
	if serr != nil {
		p.Log.Error("shutdown", "err", serr)
		return ExitFailed
	}
	p.Log.Info("virtsync daemon stopped")
	return ExitOK
}
