package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	for _, j := range s.Jobs {
		job := j
		if _, err := c.AddFunc(job.Schedule, func() {
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
		}); err != nil {
			return fmt.Errorf("schedule %s %q: %w", job.Spec.Name, job.Schedule, err)
		}
		log.Info("scheduled", "job", job.Spec.Name, "schedule", job.Schedule)
	}
	c.Start()
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
