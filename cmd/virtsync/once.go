package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/sources/sourcevp"
	"github.com/virtsync/virtsync/state"
)

// runOnce runs jobs one after another (customers before cards before
// orders) and prints a summary. It waits for a job another process is
// running instead of overlapping it.
func (m *Main) runOnce(ctx context.Context, p *app.Parts, jobs []string, mode engine.Mode, only map[string][]string) int {
	ep, err := startEvents(ctx, p, false)
	if err != nil {
		// Events wait in the outbox; syncing does not depend on NATS.
		p.Log.Warn("events will wait in the outbox", "err", err)
	}
	m.events = ep
	defer ep.shutdown()
	r := m.newRunner(p, ep)
	var bars *progress
	if mode == engine.ModeResync && m.Terminal {
		bars = newProgress(m.Stderr)
		r.Progress = bars.update
	}
	code := ExitOK
	var sums []engine.Summary
	for _, name := range jobs {
		spec := p.Jobs[name]
		if mode == engine.ModeResync && name == virtsync.JobOrders {
			// A resync reads every order virtpos has, not a window.
			spec = resyncOrders(spec)
		}
		var keys []string
		if only != nil {
			keys = only[name]
		}
		sum, err := runWaiting(ctx, r, spec, mode, keys, m.Stderr)
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
	printSummary(m.Stdout, sums)
	if ep == nil {
		// Nothing published here (NATS down, or another process owns the
		// embedded store): say where the events are, so nobody thinks
		// them lost.
		if n, _, err := p.DB.OutboxBacklog(context.WithoutCancel(ctx)); err == nil && n > 0 {
			fmt.Fprintf(m.Stderr, "virtsync: %d event(s) wait in the outbox of %s; the process that runs NATS, "+
				"or the next run that reaches it, publishes them\n", n, p.DB.Path())
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

// resyncOrders returns the orders job reading everything virtpos has.
func resyncOrders(spec engine.JobSpec) engine.JobSpec {
	if src, ok := spec.Source.(*sourcevp.Orders); ok {
		full := *src
		full.Full = true
		spec.Source = &full
	}
	return spec
}
