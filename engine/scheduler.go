package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/virtsync/virtsync/internal/schedule"
	"github.com/virtsync/virtsync/state"
)

// StopTimeoutDefault bounds the wait for runs in flight at shutdown when
// Scheduler.StopTimeout is not set (config shutdown_timeout).
const StopTimeoutDefault = 30 * time.Second

// Scheduled is one job on its schedule.
type Scheduled struct {
	Spec     JobSpec
	Schedule string
}

// Scheduler runs jobs on cron schedules until its context ends.
type Scheduler struct {
	Runner *Runner
	Jobs   []Scheduled
	Log    *slog.Logger
	// Location of schedules without CRON_TZ=; default UTC, because local
	// time skips or repeats runs around daylight-saving changes.
	Location *time.Location
	// OnRun, when set, receives every finished run (summary, metrics).
	OnRun func(Summary, error)
	// StopTimeout bounds the wait for runs in flight after the context
	// ends; they are cancelled at once and finish their current record.
	StopTimeout time.Duration

	mu      sync.Mutex
	cron    *cron.Cron
	entries map[string]cron.EntryID // job -> its cron entry, while Run runs
}

// Next returns when job runs next, as cron has it (for @every, one
// interval after the last start, not after now). ok is false before Run
// has scheduled the job, after it stopped, or for a job not scheduled.
func (s *Scheduler) Next(job string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.entries[job]
	if !ok || s.cron == nil {
		return time.Time{}, false
	}
	next := s.cron.Entry(id).Next
	return next, !next.IsZero()
}

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// Run schedules the jobs and blocks until ctx ends, then stops: no new
// runs, runs in flight cancelled (each finishes its record in flight and
// commits), and waits up to StopTimeout for them.
func (s *Scheduler) Run(ctx context.Context) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	cl := cronLogger{log}
	// Recover: a panic in a job must not take the daemon down.
	// SkipIfStillRunning: a slow run is never doubled by its own schedule.
	c := cron.New(cron.WithParser(schedule.Parser{}), cron.WithLocation(loc), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	entries := map[string]cron.EntryID{}
	for _, j := range s.Jobs {
		job := j
		id, err := c.AddFunc(job.Schedule, func() {
			if runCtx.Err() != nil {
				return
			}
			sum, err := s.Runner.Run(runCtx, job.Spec, ModeScheduled, nil)
			var held *state.LeaseHeldError
			if errors.As(err, &held) {
				log.Info("skipping scheduled run: the job is running elsewhere", "job", job.Spec.Name,
					"owner", held.Owner, "since", held.Since)
				return
			}
			if err != nil {
				log.Error("run failed", "job", job.Spec.Name, "run_id", sum.RunID, "err", err)
			}
			if s.OnRun != nil {
				s.OnRun(sum, err)
			}
		})
		if err != nil {
			return fmt.Errorf("schedule %s %q: %w", job.Spec.Name, job.Schedule, err)
		}
		entries[job.Spec.Name] = id
		log.Info("scheduled", "job", job.Spec.Name, "schedule", job.Schedule)
	}
	c.Start()
	s.mu.Lock()
	s.cron, s.entries = c, entries
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cron, s.entries = nil, nil
		s.mu.Unlock()
	}()
	<-ctx.Done()
	log.Info("stopping: no new runs; finishing the records in flight")
	stopped := c.Stop() // stops scheduling; does not cancel running jobs
	cancelRuns()
	timeout := s.StopTimeout
	if timeout <= 0 {
		timeout = StopTimeoutDefault
	}
	select {
	case <-stopped.Done():
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("runs still in flight after %s", timeout)
	}
}
