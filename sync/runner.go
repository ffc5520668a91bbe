package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	gosync "sync"
	"time"

	"github.com/virtsync/virtsync/state"
)

// Runner runs jobs against the state store. One Runner serves every job of
// a process; it holds no per-run state itself.
type Runner struct {
	DB *state.DB
	// Log is the base logger; each run adds run_id and job. Nil discards.
	Log *slog.Logger
	// NewEvent builds the outbox row of a domain event (CloudEvents
	// envelope, subject). Required.
	NewEvent func(kind, what string, data any) (state.Event, error)
	// Concurrency is how many records of a batch are in flight. Default 4
	// (match the virtpos client's cap: more would only queue there).
	Concurrency int
	// BatchSize is how many records share one state transaction. Default 200.
	BatchSize int
	// HoldMaxAttempts is how many runs a record may wait for a dependency
	// before it becomes a dead letter. Default 10.
	HoldMaxAttempts int
	// HoldMaxAge is how long a record may wait, whatever the number of
	// runs; 0 means no limit by age.
	HoldMaxAge time.Duration
	// LeaseTTL is how long a job lease lives without renewal. Default 2m;
	// it is renewed every third of that while the run goes on.
	LeaseTTL time.Duration
	// Owner names this process in leases. Default host:pid.
	Owner string
	// RecordTimeout bounds one record's remote work once it has started;
	// a cancelled run lets the record in flight finish within it. Default 2m.
	RecordTimeout time.Duration
	// Observe, when set, is told every outcome (metrics).
	Observe func(job string, r Result)
	// Progress, when set, is told how many records a run has finished.
	Progress func(job string, done, total int)
	// Committed, when set, is called after every committed batch (to wake
	// the outbox relay).
	Committed func()
}

// JobSpec is one job: where records come from and what pushes them.
type JobSpec struct {
	Name    string // customers, cards, orders
	Kind    string // customer, card, order: the id map's kind and the events' kind
	Source  Source
	Handler Handler
	// BatchSize overrides Runner.BatchSize for this job when positive.
	BatchSize int
}

// RunInfo is what a handler may know about the run it works in.
type RunInfo struct {
	ID   string
	Job  string
	Mode Mode
	IDs  IDLookup
	Log  *slog.Logger
}

// IDLookup resolves references through the committed id map, both ways.
type IDLookup interface {
	LookupID(ctx context.Context, kind, ref string) (string, bool, error)
	LookupRef(ctx context.Context, kind, remoteID string) (string, bool, error)
}

// Summary is the result of one run, for the one-screen report.
type Summary struct {
	RunID    string
	Job      string
	Mode     Mode
	Started  time.Time
	Duration time.Duration
	Seen     int
	Counts   map[Result]int
	Failures []Failure // records that failed in this run
	Warnings []string
	Err      error // why the run stopped early, if it did
}

// Failure is one record that became a dead letter in this run.
type Failure struct {
	Key    string
	Reason string
}

func (r *Runner) defaults() {
	if r.Concurrency <= 0 {
		r.Concurrency = 4
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 200
	}
	if r.HoldMaxAttempts <= 0 {
		r.HoldMaxAttempts = 10
	}
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = 2 * time.Minute
	}
	if r.RecordTimeout <= 0 {
		r.RecordTimeout = 2 * time.Minute
	}
	if r.Owner == "" {
		host, _ := os.Hostname()
		r.Owner = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
}

// NewRunID returns a short random id for a run.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run runs job once in mode. only, when not empty, limits the run to those
// keys (a replay of dead letters) and forces them through.
//
// Cancelling ctx stops the run at the next record: records already started
// finish (within RecordTimeout) and are committed, the rest are left for
// the next run, which finds them changed because their versions were never
// committed.
func (r *Runner) Run(ctx context.Context, job JobSpec, mode Mode, only []string) (Summary, error) {
	r.defaults()
	sum := Summary{RunID: NewRunID(), Job: job.Name, Mode: mode, Started: time.Now(), Counts: map[Result]int{}}
	log := r.Log.With("run_id", sum.RunID, "job", job.Name)

	if err := AcquireLease(ctx, r.DB, log, job.Name, r.Owner, r.LeaseTTL); err != nil {
		return sum, fmt.Errorf("%s: %w", job.Name, err)
	}
	leaseCtx, stopLease := context.WithCancel(context.WithoutCancel(ctx))
	leaseLost := make(chan error, 1)
	go r.keepLease(leaseCtx, job.Name, leaseLost)
	defer func() {
		stopLease()
		if err := r.DB.ReleaseLease(context.WithoutCancel(ctx), job.Name, r.Owner); err != nil {
			log.Warn("release lease", "err", err)
		}
	}()
	// A lost lease means another process may be running the job: stop.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case err := <-leaseLost:
			cancel(err)
		case <-ctx.Done():
		}
	}()

	runRow, err := r.DB.StartRun(ctx, job.Name, string(mode), sum.RunID)
	if err != nil {
		return sum, fmt.Errorf("%s: record run start: %w", job.Name, err)
	}
	if err := r.commitEvents(ctx, Event{Kind: "run", What: "started", Data: map[string]any{
		"run_id": sum.RunID, "job": job.Name, "mode": mode}}); err != nil {
		log.Warn("run.started event", "err", err)
	}
	log.Info("run started", "mode", mode)

	info := &RunInfo{ID: sum.RunID, Job: job.Name, Mode: mode, IDs: r.DB, Log: log}
	runErr := r.run(ctx, job, info, only, &sum)
	sum.Duration = time.Since(sum.Started)
	if cause := context.Cause(ctx); runErr == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = cause
	}
	sum.Err = runErr

	status := "ok"
	switch {
	case runErr != nil && errors.Is(runErr, context.Canceled):
		status = "cancelled"
	case runErr != nil:
		status = "failed"
	case sum.Counts[Failed] > 0:
		status = "partial"
	}
	fin := context.WithoutCancel(ctx)
	res := state.RunResult{
		Status:    status,
		Created:   sum.Counts[Created],
		Updated:   sum.Counts[Updated],
		Unchanged: sum.Counts[Unchanged],
		Deleted:   sum.Counts[Deleted],
		Failed:    sum.Counts[Failed],
		Held:      sum.Counts[Held],
	}
	if runErr != nil {
		res.Error = runErr.Error()
	}
	if err := r.DB.FinishRun(fin, runRow, res); err != nil {
		log.Error("record run end", "err", err)
	}
	counts := map[string]int{}
	for k, v := range sum.Counts {
		counts[string(k)] = v
	}
	data := map[string]any{"run_id": sum.RunID, "job": job.Name, "mode": mode, "status": status,
		"counts": counts, "duration_seconds": sum.Duration.Seconds()}
	if runErr != nil {
		data["error"] = runErr.Error()
	}
	err = r.DB.Update(fin, func(tx *state.Tx) error {
		if runErr == nil {
			if err := tx.MarkSuccess(job.Name, time.Now()); err != nil {
				return err
			}
		}
		return r.addEvents(tx, Event{Kind: "run", What: "finished", Data: data})
	})
	if err != nil {
		log.Error("record run end", "err", err)
	}
	r.committed()
	log.Info("run finished", "status", status, "created", sum.Counts[Created], "updated", sum.Counts[Updated],
		"unchanged", sum.Counts[Unchanged], "deleted", sum.Counts[Deleted], "failed", sum.Counts[Failed],
		"held", sum.Counts[Held], "duration", sum.Duration.Round(time.Millisecond))
	return sum, runErr
}

func (r *Runner) keepLease(ctx context.Context, job string, lost chan<- error) {
	t := time.NewTicker(r.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.DB.RenewLease(ctx, job, r.Owner, r.LeaseTTL); err != nil {
				if ctx.Err() != nil {
					return
				}
				lost <- fmt.Errorf("%s: lease lost: %w", job, err)
				return
			}
		}
	}
}

func (r *Runner) committed() {
	if r.Committed != nil {
		r.Committed()
	}
}

// run does the work between the run's start and end records.
func (r *Runner) run(ctx context.Context, job JobSpec, info *RunInfo, only []string, sum *Summary) error {
	if err := job.Handler.Prepare(ctx, info); err != nil {
		return fmt.Errorf("%s: prepare: %w", job.Name, err)
	}
	seen, err := r.DB.Versions(ctx, job.Name)
	if err != nil {
		return fmt.Errorf("%s: load versions: %w", job.Name, err)
	}
	// Interrupted creates: their versions were never committed, so the
	// source emits them again, and handlers look them up remotely before
	// creating. Say so, since it explains a slower run.
	if intents, err := r.DB.Intents(ctx, job.Name); err == nil && len(intents) > 0 {
		info.Log.Warn("reconciling creates interrupted by an earlier crash", "records", len(intents))
	}
	var filter map[string]bool
	switch {
	case info.Mode == ModeResync:
		for k := range seen {
			seen[k] = ""
		}
	case len(only) > 0:
		filter = make(map[string]bool, len(only))
		for _, k := range only {
			filter[k] = true
			if _, ok := seen[k]; ok {
				seen[k] = ""
			}
		}
	default:
		// Replays queued by `failures -replay` ride along with any run.
		keys, err := r.DB.ReplayKeys(ctx, job.Name)
		if err != nil {
			return fmt.Errorf("%s: load replays: %w", job.Name, err)
		}
		for _, k := range keys {
			if _, ok := seen[k]; ok {
				seen[k] = ""
			}
		}
	}

	b := &batcher{r: r, job: job, info: info, sum: sum}
	batchSize := r.BatchSize
	if job.BatchSize > 0 {
		batchSize = job.BatchSize
	}
	stats, err := job.Source.Scan(ctx, seen, func(rec Record) error {
		if filter != nil && !filter[rec.Key] {
			return nil
		}
		b.pending = append(b.pending, rec)
		if len(b.pending) >= batchSize {
			return b.flush(ctx)
		}
		return ctx.Err()
	})
	if err == nil {
		err = b.flush(ctx)
	} else if ctx.Err() == nil || len(b.pending) > 0 {
		// Records already handed to us are still worth committing when the
		// source fails part-way (the cancelled context still lets a flush
		// commit what was done before it).
		if ferr := b.flush(ctx); ferr != nil && !errors.Is(ferr, context.Canceled) {
			info.Log.Warn("flush after source error", "err", ferr)
		}
	}
	sum.Seen = stats.Seen
	sum.Counts[Unchanged] += stats.Unchanged
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", job.Name, context.Cause(ctx))
		}
		return fmt.Errorf("%s: %w", job.Name, err)
	}
	return nil
}

// batcher holds the records of the current batch.
type batcher struct {
	r       *Runner
	job     JobSpec
	info    *RunInfo
	sum     *Summary
	pending []Record
	done    int
}

type result struct {
	rec Record
	out Outcome
	err error
	ran bool
}

// flush processes and commits the pending batch: write-ahead intents for
// records that may be created, the remote calls with bounded concurrency,
// then one transaction for every outcome.
func (b *batcher) flush(ctx context.Context) error {
	if len(b.pending) == 0 {
		return ctx.Err()
	}
	recs := b.pending
	b.pending = nil
	r, job := b.r, b.job

	// Intent before the remote call: a crash after the call but before the
	// commit leaves the intent, and the next run reconciles by looking the
	// record up remotely before it creates anything.
	err := r.DB.Update(context.WithoutCancel(ctx), func(tx *state.Tx) error {
		for _, rec := range recs {
			if rec.Deleted {
				continue
			}
			if _, known, err := r.DB.LookupID(ctx, job.Kind, rec.Key); err != nil {
				return err
			} else if !known {
				if err := tx.PutIntent(job.Name, rec.Key, "create", nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record intents: %w", err)
	}

	results := make([]result, len(recs))
	work := make(chan int)
	var wg gosync.WaitGroup
	for w := 0; w < min(r.Concurrency, len(recs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				// The record in flight finishes even if the run is cancelled.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.RecordTimeout)
				out, err := job.Handler.Apply(rctx, b.info, recs[i])
				cancel()
				results[i] = result{rec: recs[i], out: out, err: err, ran: true}
			}
		}()
	}
	var stopErr error
dispatch:
	for i := range recs {
		select {
		case <-ctx.Done():
			break dispatch
		case work <- i:
		}
	}
	close(work)
	wg.Wait()

	// A failure that is neither a rejection nor a hold stops the run after
	// this batch: the system on the other side is down or misconfigured,
	// and hammering it record by record helps nobody.
	for _, res := range results {
		if res.ran && res.err != nil && classify(res.err) == "" {
			stopErr = fmt.Errorf("record %s: %w", res.rec.Key, res.err)
			break
		}
	}

	var failures []Failure
	err = r.DB.Update(context.WithoutCancel(ctx), func(tx *state.Tx) error {
		failures = failures[:0]
		for _, res := range results {
			if !res.ran {
				continue
			}
			f, err := b.commit(tx, res)
			if err != nil {
				return err
			}
			if f != nil {
				failures = append(failures, *f)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	b.sum.Failures = append(b.sum.Failures, failures...)
	for _, res := range results {
		if !res.ran {
			continue
		}
		b.done++
		if res.out.Warning != "" {
			b.sum.Warnings = append(b.sum.Warnings, res.rec.Key+": "+res.out.Warning)
			b.info.Log.Warn(res.out.Warning, "key", res.rec.Key)
		}
	}
	if r.Progress != nil {
		r.Progress(job.Name, b.done, 0)
	}
	r.committed()
	if stopErr != nil {
		return stopErr
	}
	return ctx.Err()
}

// commit writes one outcome into the batch transaction and counts it.
func (b *batcher) commit(tx *state.Tx, res result) (*Failure, error) {
	r, job, rec := b.r, b.job, res.rec
	count := func(x Result) {
		b.sum.Counts[x]++
		if r.Observe != nil {
			r.Observe(job.Name, x)
		}
	}
	switch classify(res.err) {
	case Held:
		var he *HeldError
		errors.As(res.err, &he)
		attempts, firstAt, err := tx.Hold(job.Name, rec.Key, he.Reason)
		if err != nil {
			return nil, err
		}
		young := r.HoldMaxAge <= 0 || time.Since(firstAt) < r.HoldMaxAge
		if attempts < r.HoldMaxAttempts && young {
			count(Held)
			b.info.Log.Info("record held", "key", rec.Key, "reason", he.Reason, "attempt", attempts)
			return nil, tx.ClearIntent(job.Name, rec.Key)
		}
		if err := tx.Release(job.Name, rec.Key); err != nil {
			return nil, err
		}
		res.err = Reject(nil, "still waiting after %d runs since %s: %s", attempts,
			firstAt.Local().Format("2006-01-02 15:04"), he.Reason)
		fallthrough
	case Failed:
		count(Failed)
		reason := res.err.Error()
		b.info.Log.Warn("record failed", "key", rec.Key, "reason", reason)
		if err := tx.AddDeadLetter(job.Name, rec.Key, reason, nil); err != nil {
			return nil, err
		}
		// The version is committed so the record is not pushed again
		// every run; a change at the source or `failures -replay` retries it.
		if rec.Version != "" {
			if err := tx.SetVersion(job.Name, rec.Key, rec.Version); err != nil {
				return nil, err
			}
		}
		if err := tx.ClearIntent(job.Name, rec.Key); err != nil {
			return nil, err
		}
		return &Failure{Key: rec.Key, Reason: reason}, b.r.addEvents(tx, Event{Kind: job.Kind, What: "failed",
			Data: map[string]any{"key": rec.Key, "reason": reason, "run_id": b.info.ID}})
	}
	if res.err != nil {
		return nil, nil // stops the run; the record is retried next time
	}
	out := res.out
	count(out.Result)
	switch {
	case rec.Deleted:
		if err := tx.DeleteVersion(job.Name, rec.Key); err != nil {
			return nil, err
		}
	default:
		v := out.Version
		if v == "" {
			v = rec.Version
		}
		if err := tx.SetVersion(job.Name, rec.Key, v); err != nil {
			return nil, err
		}
	}
	if out.ForgetID {
		if err := tx.DeleteID(job.Kind, rec.Key); err != nil {
			return nil, err
		}
	} else if out.RemoteID != "" {
		if err := tx.PutID(job.Kind, rec.Key, out.RemoteID, out.Extra); err != nil {
			return nil, err
		}
	}
	if err := tx.ClearIntent(job.Name, rec.Key); err != nil {
		return nil, err
	}
	if err := tx.Release(job.Name, rec.Key); err != nil {
		return nil, err
	}
	if err := tx.ResolveDeadLetter(job.Name, rec.Key); err != nil {
		return nil, err
	}
	return nil, b.r.addEvents(tx, out.Events...)
}

func (r *Runner) addEvents(tx *state.Tx, evs ...Event) error {
	for _, e := range evs {
		row, err := r.NewEvent(e.Kind, e.What, e.Data)
		if err != nil {
			return fmt.Errorf("build %s.%s event: %w", e.Kind, e.What, err)
		}
		if err := tx.AddEvent(row); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) commitEvents(ctx context.Context, evs ...Event) error {
	err := r.DB.Update(ctx, func(tx *state.Tx) error { return r.addEvents(tx, evs...) })
	if err == nil {
		r.committed()
	}
	return err
}
