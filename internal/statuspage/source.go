package statuspage

import (
	"context"
	"fmt"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/state"
)

// Source reads what the page shows. The page asks it once per request and
// never writes through it.
type Source interface {
	Status(ctx context.Context, q Query) (Status, error)
}

// Query says how much history a Source returns.
type Query struct {
	// Runs is how many of each job's most recent runs to return.
	Runs int
	// Failures is how many of each job's most recent open dead letters to
	// return with their reasons; the counts cover all of them.
	Failures int
	// Now is the clock a lease is judged live by.
	Now time.Time
}

// Status is everything the page shows.
type Status struct {
	Jobs   []Job
	Outbox Outbox
	// Daemon is the daemon's own lease, nil when no daemon holds one.
	Daemon *Lease
}

// Outbox is the events committed but not yet on NATS.
type Outbox struct {
	Count  int
	Oldest time.Time // zero when empty
}

// Job is one job's state.
type Job struct {
	Name string
	// Runs are the most recent runs, newest first.
	Runs        []Run
	LastSuccess time.Time // zero: never
	// Next is the scheduler's next run; zero when the job is not scheduled
	// (disabled, or a process other than the daemon serves the page).
	Next time.Time
	// Running is the live lease of the process running the job, nil when
	// none runs it.
	Running *Lease
	// Holds is how many records wait for a dependency; OldestHold is
	// when the longest-waiting one started.
	Holds      int
	OldestHold time.Time
	// DeadLetters counts open dead letters, Replays those queued for
	// replay; Failures are the newest open ones.
	DeadLetters, Replays int
	Failures             []Failure
}

// Run is one run of a job.
type Run struct {
	Mode, Status                                       string
	StartedAt, FinishedAt                              time.Time // FinishedAt is zero while running
	Created, Updated, Unchanged, Deleted, Failed, Held int
	Error                                              string
}

// Lease names the process running a job.
type Lease struct {
	Host  string
	PID   int
	Since time.Time
}

// Failure is one open dead letter. Key is a 1C reference or a virtpos id;
// the payload is never read.
type Failure struct {
	Key      string
	Reason   string
	Attempts int
	At       time.Time
}

// NextFunc returns a job's next scheduled run; ok is false when the job is
// not scheduled.
type NextFunc func(job string) (next time.Time, ok bool)

// StateSource is a Source over the state file. It uses only the state's
// read methods, which go through its query-only connections.
type StateSource struct {
	DB *state.DB
	// Jobs to show, in this order; nil means virtsync.Jobs().
	Jobs []string
	// Next gives the scheduler's next run times; nil shows none.
	Next NextFunc
}

// Status implements Source.
func (s StateSource) Status(ctx context.Context, q Query) (Status, error) {
	names := s.Jobs
	if names == nil {
		names = virtsync.Jobs()
	}
	db := s.DB
	runs, err := db.LastRuns(ctx, max(q.Runs, 1))
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}
	cps, err := db.Checkpoints(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}
	leases, err := db.Leases(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}
	// Counts, not rows: a large backlog costs the page nothing, and no
	// payload of a dead letter (personal data) is ever read for it.
	holds, err := db.HoldTally(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}
	open, err := db.DeadLetterTally(ctx, state.DeadLetterOpen)
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}
	replay, err := db.DeadLetterTally(ctx, state.DeadLetterReplay)
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}
	n, oldest, err := db.OutboxBacklog(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("status page: %w", err)
	}

	st := Status{Outbox: Outbox{Count: n, Oldest: oldest}}
	byName := make(map[string]*Job, len(names))
	st.Jobs = make([]Job, len(names))
	for i, name := range names {
		st.Jobs[i].Name = name
		byName[name] = &st.Jobs[i]
		if s.Next != nil {
			if t, ok := s.Next(name); ok {
				st.Jobs[i].Next = t
			}
		}
	}
	for _, r := range runs {
		if j := byName[r.Job]; j != nil && len(j.Runs) < q.Runs {
			j.Runs = append(j.Runs, Run{Mode: r.Mode, Status: r.Status, StartedAt: r.StartedAt,
				FinishedAt: r.FinishedAt, Created: r.Created, Updated: r.Updated, Unchanged: r.Unchanged,
				Deleted: r.Deleted, Failed: r.Failed, Held: r.Held, Error: r.Error})
		}
	}
	for _, c := range cps {
		if j := byName[c.Job]; j != nil {
			j.LastSuccess = c.LastSuccessAt
		}
	}
	for _, l := range leases {
		if !l.Live(q.Now) {
			continue
		}
		lease := &Lease{Host: l.Host, PID: l.PID, Since: l.AcquiredAt}
		if l.Job == virtsync.DaemonLease {
			st.Daemon = lease
		} else if j := byName[l.Job]; j != nil {
			j.Running = lease
		}
	}
	for name, j := range byName {
		j.Holds, j.OldestHold = holds[name].Count, holds[name].Oldest
		j.DeadLetters, j.Replays = open[name].Count, replay[name].Count
		if j.DeadLetters > 0 && q.Failures > 0 {
			newest, err := db.NewestDeadLetters(ctx, name, state.DeadLetterOpen, q.Failures)
			if err != nil {
				return Status{}, fmt.Errorf("status page: %w", err)
			}
			for _, d := range newest {
				j.Failures = append(j.Failures, Failure{Key: d.Key, Reason: d.Reason, Attempts: d.Attempts, At: d.LastFailedAt})
			}
		}
	}
	return st, nil
}
