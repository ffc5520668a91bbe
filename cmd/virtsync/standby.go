package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/state"
)

// Two hosts, one active: on a state both hosts reach (state.driver:
// postgres) the daemon that holds the daemon's lease is the active one,
// and a second daemon waits as the standby until that lease expires (the
// active host stopped, hung or lost the database) or is released (it
// stopped cleanly). The jobs' own leases and their fencing keep the two
// apart during the handover.

// standbyPollMax bounds how long a standby sleeps between tries: the
// takeover comes at most this long after the lease expired.
const standbyPollMax = 5 * time.Second

// takeDaemonLease takes the daemon's lease for owner. While another
// daemon holds it, a daemon on SQLite gives up with the *LeaseHeldError
// (one host: a second daemon there is a mistake), and one on PostgreSQL
// waits as the standby, trying every third of ttl (at most every
// standbyPollMax), until it has the lease or ctx ends (ctx's error).
// standby, when not nil, is called once as the waiting begins.
func takeDaemonLease(ctx context.Context, p *app.Parts, lease, owner string, ttl time.Duration, standby func()) error {
	err := engine.AcquireLease(ctx, p.DB, p.Log, lease, owner, ttl)
	var held *state.LeaseHeldError
	if err == nil || p.DB.Driver() != state.DriverPostgres || !errors.As(err, &held) {
		return err
	}
	p.Log.Info("standby: another daemon is active; taking over when its lease expires",
		"active", held.Owner, "host", held.Host, "expires", held.Expires)
	if standby != nil {
		standby()
	}
	t := time.NewTicker(min(ttl/3, standbyPollMax))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		last := *held
		err := engine.AcquireLease(ctx, p.DB, p.Log, lease, owner, ttl)
		switch {
		case err == nil:
			p.Log.Warn("taking over as the active daemon: the lease of the active one expired or was released",
				"was", last.Owner, "host", last.Host)
			return nil
		case errors.As(err, &held):
			if held.Owner != last.Owner {
				p.Log.Info("standby: another daemon became active", "active", held.Owner, "host", held.Host)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			// The database is away: the active daemon cannot renew
			// either, and whoever reaches it first after its TTL wins.
			held = &last
			p.Log.Warn("standby: could not reach the daemon's lease; trying again", "err", err)
		}
	}
}

// daemonLeaseFailed is what the daemon does when a renewal of its lease
// fails. A lease another daemon took (this one was paused or cut off from
// the state past the TTL) ends this one: lost is set and stop called, so
// it exits 1 and a supervisor's restart makes it the standby. Any other
// failure (a busy or unreachable database) is tried again at the next
// tick: the runs' own leases fence what they write meanwhile.
func daemonLeaseFailed(log *slog.Logger, lost *atomic.Bool, stop func()) func(error) bool {
	return func(err error) bool {
		if !errors.Is(err, state.ErrLeaseLost) {
			log.Error("renew daemon lease", "err", err)
			return false
		}
		log.Error("another daemon took over while this one was paused or cut off from the state: stopping", "err", err)
		lost.Store(true)
		stop()
		return true
	}
}

// standbyServer answers the health checks of a standby while it waits, so
// that a supervisor's liveness probe does not kill it: /livez 200
// ("standby"); /readyz 503, since it syncs nothing until it takes over;
// /metrics. The daemon's full server replaces it on the same address.
func standbyServer(p *app.Parts, addr string) (stop func(context.Context), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok: standby")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "standby: another daemon is active; this one takes over when its lease expires",
			http.StatusServiceUnavailable)
	})
	mux.Handle("/metrics", p.Metrics.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	p.Log.Info("standby: serving /livez /readyz /metrics", "addr", ln.Addr().String())
	return func(ctx context.Context) {
		_ = srv.Shutdown(ctx)
		// Shutdown closes only the listeners Serve has taken: close this
		// one too, so that the full server can bind the address at once
		// even if Serve had not started yet.
		_ = ln.Close()
	}, nil
}
