package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/statuspage"
	"github.com/virtsync/virtsync/state"
)

// httpServer serves /livez, /readyz and /metrics.
func httpServer(p *app.Parts, ep *eventsPipe, s *engine.Scheduler) *http.Server {
	mux := http.NewServeMux()
	// The status page: read-only, from the state and the scheduler.
	mux.Handle("/{$}", statuspage.New(statuspage.StateSource{DB: p.DB, Next: s.Next}, statuspage.Options{Log: p.Log}))
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
func (m *Main) runDaemon(ctx context.Context, p *app.Parts) int {
	// The host is part of the owner: two containers can both be pid 1, and
	// a lease whose owner matches is taken as one's own.
	host, _ := os.Hostname()
	owner := fmt.Sprintf("daemon:%s:%d", host, os.Getpid())
	if m.Owner != "" {
		owner = "daemon:" + m.Owner
	}
	ttl := p.Config.State.LeaseTTL.D()
	var stopStandbyServer func(context.Context)
	stopStandby := func() {
		if stopStandbyServer != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			stopStandbyServer(sctx)
			cancel()
			stopStandbyServer = nil
		}
	}
	defer stopStandby()
	startStandby := func() {
		if addr, on := httpListen(p.Config); on {
			stop, err := standbyServer(p, addr)
			if err != nil {
				p.Log.Error("standby: http.listen", "addr", addr, "err", err)
				return
			}
			stopStandbyServer = stop
		}
	}
	if err := takeDaemonLease(ctx, p, virtsync.DaemonLease, owner, ttl, startStandby); err != nil {
		if ctx.Err() != nil {
			p.Log.Info("virtsync daemon stopped (standby)")
			return ExitOK
		}
		var held *state.LeaseHeldError
		if errors.As(err, &held) {
			fmt.Fprintf(m.Stderr, "virtsync: another daemon runs on %s: %v\n", p.DB.Path(), err)
			return ExitUsage
		}
		fmt.Fprintf(m.Stderr, "virtsync: take the daemon's lease on %s: %v\n", p.DB.Path(), err)
		return ExitFailed
	}
	defer p.DB.ReleaseLease(context.WithoutCancel(ctx), virtsync.DaemonLease, owner)
	// Nothing the daemon started may outlive Run: the state file is closed
	// after it, and in a test the process goes on.
	ctx, cancel := context.WithCancel(ctx)
	renewing := make(chan struct{})
	defer func() {
		cancel()
		<-renewing
	}()
	var lost atomic.Bool
	// Renewing starts at once: the handover below may take a while.
	go func() {
		defer close(renewing)
		engine.KeepLease(ctx, p.DB, virtsync.DaemonLease, owner, ttl, daemonLeaseFailed(p.Log, &lost, cancel))
	}()
	stopStandby() // the full server takes its address

	ep, err := startEvents(ctx, p, true)
	if err != nil {
		p.Log.Error("events", "err", err)
		return ExitFailed
	}
	m.events = ep
	r := m.newRunner(p, ep)

	s := newScheduler(p, r)
	var srv *http.Server
	if addr, on := httpListen(p.Config); on {
		srv = httpServer(p, ep, s)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			ep.shutdown()
			fmt.Fprintf(m.Stderr, "virtsync: http.listen %s: %v\n", addr, err)
			return ExitUsage
		}
		go func() { _ = srv.Serve(ln) }()
		p.Log.Info("serving / (status page) /livez /readyz /metrics", "addr", ln.Addr().String())
	}

	p.Log.Info("virtsync daemon started", "jobs", len(s.Jobs), "state", p.DB.Path())
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
	if lost.Load() {
		p.Log.Error("virtsync daemon stopped: another daemon is active now")
		return ExitFailed
	}
	p.Log.Info("virtsync daemon stopped")
	return ExitOK
}
