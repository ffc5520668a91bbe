package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/virtsync/virtsync/state"
)

// A dry run (`-once -dry-run`, `-resync JOBS -dry-run`) reads what a run
// reads and writes nothing anywhere: no remote write, and in the state
// store no version, id, intent, outbox row, run row, hold, dead letter,
// checkpoint, nor the job's lease (a dry run is safe beside a daemon that
// runs the job). What the source sees is compared with the committed
// versions as usual (the run's set of seen keys is a TEMP table on a
// connection of its own, which never touches the file), and every record
// the source emits goes to the handler's Plan instead of Apply.

// Action is what a dry run found a handler would do with one record.
type Action string

// Actions of a plan.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	// ActionUnchanged: the other side already holds what would be
	// written. A record the source skipped (its version was committed)
	// counts as unchanged too, in PlanSummary.Counts, without a Planned.
	ActionUnchanged Action = "unchanged"
	ActionDelete    Action = "delete"
	ActionBlock     Action = "block" // a card blocked instead of deleted
	// ActionSkip: nothing to do for the record (a customer deleted in 1C
	// stays in virtpos, which cannot delete one).
	ActionSkip Action = "skip"
	// ActionHold: the record would wait for another one (an owner, an
	// item); Reason says for what.
	ActionHold Action = "hold"
	// ActionReject: the record would become a dead letter; Reason says
	// why (a field and its expected shape, never a value).
	ActionReject Action = "reject"
)

// Actions lists every Action in the order a report shows them.
var Actions = []Action{ActionCreate, ActionUpdate, ActionDelete, ActionBlock, ActionSkip, ActionHold,
	ActionReject, ActionUnchanged}

// Planned is what a dry run would do with one record.
type Planned struct {
	Job    string // set by the engine
	Key    string // the record's key; set by the engine
	Action Action
	// Fields names what an update would change: virtpos parameters or 1C
	// document fields whose values differ from what the other side holds.
	// Names only, never values: they may be personal data.
	Fields   []string
	RemoteID string // the record's id on the other side, when known
	Reason   string // why a hold, a reject, a skip; what could not be read
}

// Planner is a Handler that can tell what it would do without doing it.
// The dry run needs it: a handler without it cannot be dry-run.
//
// Both methods may read the other side and the state (through
// RunInfo.IDs) and must write to neither. Plan may return the errors
// Apply would: a *RejectedError is planned as ActionReject, a *HeldError
// as ActionHold (or ActionReject once the hold would outlast the runner's
// limits), and any other error stops the dry run.
type Planner interface {
	// PreparePlan is Prepare for a dry run.
	PreparePlan(ctx context.Context, run *RunInfo) error
	// Plan says what Apply would do with rec.
	Plan(ctx context.Context, run *RunInfo, rec Record) (Planned, error)
}

// PlanSummary is the result of one job's dry run.
type PlanSummary struct {
	RunID    string // the dry run's own id, for its log lines; stored nowhere
	Job      string
	Mode     Mode
	Started  time.Time
	Duration time.Duration
	Seen     int            // records the source looked at
	Counts   map[Action]int // records per action, unchanged ones the source skipped included
	Err      error          // why the dry run stopped early, if it did
}

// Plan is a dry run of job in mode (ModeOnce or ModeResync; only, when
// not empty, limits it to those keys and forces them through, as Run
// does). emit is told each planned record, on one goroutine, in the
// source's order within a batch; its error stops the dry run. Nothing is
// written: see the comment at the top of this file.
func (r *Runner) Plan(ctx context.Context, job JobSpec, mode Mode, only []string, emit func(Planned) error) (PlanSummary, error) {
	// As Run: the defaults go into a copy, never into a shared Runner.
	rc := *r
	rc.defaults()
	r = &rc
	sum := PlanSummary{RunID: NewRunID(), Job: job.Name, Mode: mode, Started: time.Now(), Counts: map[Action]int{}}
	err := r.plan(ctx, job, mode, only, emit, &sum)
	sum.Duration = time.Since(sum.Started)
	sum.Err = err
	return sum, err
}

func (r *Runner) plan(ctx context.Context, job JobSpec, mode Mode, only []string, emit func(Planned) error, sum *PlanSummary) error {
	p, ok := job.Handler.(Planner)
	if !ok {
		return fmt.Errorf("%s: dry run: its handler (%T) cannot plan: it has no Plan method", job.Name, job.Handler)
	}
	log := r.Log.With("run_id", sum.RunID, "job", job.Name, "dry_run", true)
	info := &RunInfo{ID: sum.RunID, Job: job.Name, Mode: mode, IDs: r.DB, Log: log}
	if err := p.PreparePlan(ctx, info); err != nil {
		return fmt.Errorf("%s: prepare: %w", job.Name, err)
	}
	interrupted, err := r.interrupted(ctx, job)
	if err != nil {
		return err
	}
	holds, err := r.DB.Holds(ctx, job.Name)
	if err != nil {
		return fmt.Errorf("%s: load holds: %w", job.Name, err)
	}
	pl := &planner{r: r, job: job, p: p, info: info, emit: emit, sum: sum,
		holds: make(map[string]state.Hold, len(holds)), finished: map[string]bool{}}
	for _, h := range holds {
		pl.holds[h.Key] = h
	}

	sw, err := r.DB.OpenSweep(ctx, job.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", job.Name, err)
	}
	defer func() {
		if err := sw.Close(); err != nil {
			log.Warn("close sweep", "err", err)
		}
	}()
	// What Run forces through and filters, read the same way.
	known, filter, err := r.scope(ctx, job, sw, mode, only)
	if err != nil {
		return err
	}

	stats, err := r.batches(ctx, job, known, filter, interrupted, &pl.pending, func() error { return pl.flush(ctx) })
	if err == nil {
		err = pl.flush(ctx)
	} else if ctx.Err() == nil && len(pl.pending) > 0 {
		// The source failed part-way: what it emitted is still worth
		// showing, as Run still commits it.
		if ferr := pl.flush(ctx); ferr != nil {
			log.Warn("plan the records read before the source failed", "err", ferr)
		}
	}
	sum.Seen = stats.Seen
	sum.Counts[ActionUnchanged] += stats.Unchanged
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", job.Name, context.Cause(ctx))
		}
		return fmt.Errorf("%s: %w", job.Name, err)
	}
	return nil
}

// planner holds one dry run's pending batch.
type planner struct {
	r        *Runner
	job      JobSpec
	p        Planner
	info     *RunInfo
	emit     func(Planned) error
	sum      *PlanSummary
	pending  []Record
	done     int
	holds    map[string]state.Hold // the job's holds when the dry run began
	finished map[string]bool       // per awaited job: has it ever finished a run
}

type planned struct {
	pl  Planned
	err error
	ran bool
}

// flush plans the pending batch with the runner's concurrency and emits
// the results in the batch's order. A failure that would stop a run
// stops the dry run after the records planned before it are emitted.
func (pl *planner) flush(ctx context.Context) error {
	recs := pl.pending
	pl.pending = nil
	if len(recs) == 0 {
		return ctx.Err()
	}
	results := make([]planned, len(recs))
	stop := make(chan struct{})
	var stopOnce sync.Once
	fanOut(ctx, len(recs), pl.r.Concurrency, stop, func(i int) {
		rctx, cancel := context.WithTimeout(ctx, pl.r.RecordTimeout)
		p, err := pl.p.Plan(rctx, pl.info, recs[i])
		cancel()
		results[i] = planned{pl: p, err: err, ran: true}
		if err != nil && resultOf(err) == "" {
			stopOnce.Do(func() { close(stop) })
		}
	})

	var stopErr error
	for i, res := range results {
		if !res.ran {
			continue
		}
		if res.err != nil && resultOf(res.err) == "" {
			if stopErr == nil {
				stopErr = fmt.Errorf("record %s: %w", recs[i].Key, res.err)
			}
			continue
		}
		p := pl.classify(ctx, recs[i], res)
		pl.sum.Counts[p.Action]++
		pl.done++
		if err := pl.emit(p); err != nil {
			return err
		}
	}
	if pl.r.Progress != nil {
		pl.r.Progress(pl.job.Name, pl.done, 0)
	}
	if stopErr != nil {
		return stopErr
	}
	return ctx.Err()
}

// classify turns a handler's answer into the Planned a report shows: a
// rejection or a hold becomes its action, and a hold that the run would
// turn into a dead letter (it waited too many runs, or too long) becomes
// a reject, as Run's commit would decide it.
func (pl *planner) classify(ctx context.Context, rec Record, res planned) Planned {
	p := res.pl
	p.Job, p.Key = pl.job.Name, rec.Key
	var he *HeldError
	switch {
	case res.err == nil:
		if p.Action == "" {
			p.Action = ActionUnchanged
		}
		return p
	case errors.As(res.err, &he):
		p.Action, p.Reason, p.Fields = ActionHold, res.err.Error(), nil
		if he.WaitsFor != "" && !pl.waitedDone(ctx, he.WaitsFor) {
			return p
		}
		h, seen := pl.holds[rec.Key]
		attempts, firstAt := 1, time.Now()
		if seen {
			attempts, firstAt = h.Attempts+1, h.FirstAt
		}
		if !pl.r.holdOutlived(attempts, firstAt) {
			return p
		}
		p.Action, p.Reason = ActionReject, holdOutlivedReason(attempts, firstAt, he.Reason)
		return p
	default: // a *RejectedError: classify is not given the others
		p.Action, p.Reason, p.Fields = ActionReject, res.err.Error(), nil
		return p
	}
}

// waitedDone reports whether job has ever finished a run, as Run reads it.
func (pl *planner) waitedDone(ctx context.Context, job string) bool {
	return finishedOnce(ctx, pl.r.DB, pl.finished, job)
}
