package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/state"
)

// Defaults of the Runner's zero fields. The config's defaults of the keys
// wired to them (virtpos.concurrency, jobs.*.batch_size,
// onec.orders.hold_max_attempts and hold_max_age) are these same constants.
const (
	// ConcurrencyDefault matches the virtpos client's cap
	// (virtposapi.ConcurrencyDefault): more would only queue there.
	ConcurrencyDefault = 4
	// BatchSizeDefault is records per state transaction.
	BatchSizeDefault = 200
	// HoldMaxAttemptsDefault is the runs a record may wait for a dependency.
	HoldMaxAttemptsDefault = 10
	// HoldMaxAgeDefault is the config's onec.orders.hold_max_age. A zero
	// Runner.HoldMaxAge is no limit by age, not this: the field has no
	// other way to say "no limit".
	HoldMaxAgeDefault = 72 * time.Hour
	// LeaseTTLDefault is a job lease's life without renewal.
	LeaseTTLDefault = 2 * time.Minute
	// RecordTimeoutDefault bounds one record's remote work.
	RecordTimeoutDefault = 2 * time.Minute
	// MaxIdenticalRejectionsDefault is the rejections in a row, for one
	// reason, that make a system fault.
	MaxIdenticalRejectionsDefault = 25
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
	// Concurrency is how many records of a batch are in flight.
	// Default [ConcurrencyDefault].
	Concurrency int
	// BatchSize is how many records share one state transaction.
	// Default [BatchSizeDefault].
	BatchSize int
	// HoldMaxAttempts is how many runs a record may wait for a dependency
	// before it becomes a dead letter. Default [HoldMaxAttemptsDefault].
	HoldMaxAttempts int
	// HoldMaxAge is how long a record may wait, whatever the number of
	// runs; 0 means no limit by age (the config sets [HoldMaxAgeDefault]).
	HoldMaxAge time.Duration
	// LeaseTTL is how long a job lease lives without renewal. Default
	// [LeaseTTLDefault]; it is renewed every third of that while the
	// run goes on.
	LeaseTTL time.Duration
	// Owner names this process in leases. Default host:pid.
	Owner string
	// RecordTimeout bounds one record's remote work once it has started;
	// a cancelled run lets the record in flight finish within it.
	// Default [RecordTimeoutDefault].
	RecordTimeout time.Duration
	// MaxIdenticalRejections is how many records in a row may be rejected
	// for the same reason before the run takes it for a system fault and
	// stops without marking any of them failed. Default
	// [MaxIdenticalRejectionsDefault]; negative disables the check.
	MaxIdenticalRejections int
	// Observe, when set, is told every outcome (metrics).
	Observe func(job string, r virtsync.Result)
	// Progress, when set, is told how many records a run has finished.
	Progress func(job string, done, total int)
	// Committed, when set, is called after every committed batch (to wake
	// the outbox relay).
	Committed func()

	// lease is the sure life of the lease of the run this Runner (a
	// copy Run makes) serves; nil outside a run.
	lease *leaseClock
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
	// FingerprintKey is the state's key for Outcome.Fingerprint (see
	// Fingerprint); nil in a dry run, which pushes nothing.
	FingerprintKey []byte
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
	Counts   map[virtsync.Result]int
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
	// <= 0 rather than cmp.Or: a negative count or duration is as unusable
	// as zero and takes the default too.
	if r.Concurrency <= 0 {
		r.Concurrency = ConcurrencyDefault
	}
	if r.BatchSize <= 0 {
		r.BatchSize = BatchSizeDefault
	}
	if r.HoldMaxAttempts <= 0 {
		r.HoldMaxAttempts = HoldMaxAttemptsDefault
	}
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = LeaseTTLDefault
	}
	if r.RecordTimeout <= 0 {
		r.RecordTimeout = RecordTimeoutDefault
	}
	// Only zero: a negative value disables the check.
	r.MaxIdenticalRejections = cmp.Or(r.MaxIdenticalRejections, MaxIdenticalRejectionsDefault)
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
	// The scheduler runs several jobs at once on one Runner: the defaults
	// go into a copy, not into the shared fields.
	rc := *r
	rc.defaults()
	r = &rc
	sum := Summary{RunID: NewRunID(), Job: job.Name, Mode: mode, Started: time.Now(), Counts: map[virtsync.Result]int{}}
	log := r.Log.With("run_id", sum.RunID, "job", job.Name)

	acquiring := time.Now()
	lease, err := acquireLease(ctx, r.DB, log, job.Name, r.Owner, r.LeaseTTL)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", job.Name, err)
	}
	// Every write of the run, its lease's renewal and release included,
	// checks this lease's fencing token: a process paused past its lease
	// while another took the job over commits nothing when it wakes.
	fenced := *r
	fenced.DB = r.DB.Fenced(lease)
	fenced.lease = newLeaseClock(acquiring, r.LeaseTTL)
	r = &fenced
	leaseCtx, stopLease := context.WithCancel(context.WithoutCancel(ctx))
	leaseLost := make(chan error, 1)
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		r.keepLease(leaseCtx, job.Name, leaseLost)
	}()
	defer func() {
		stopLease()
		<-renewing // no renewal may race the release, or outlive Run
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
	if err := r.commitEvents(ctx, virtsync.RunStarted{RunID: sum.RunID, Job: job.Name, Mode: string(mode)}); err != nil {
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
	case sum.Counts[virtsync.Failed] > 0:
		status = "partial"
	}
	fin := context.WithoutCancel(ctx)
	res := state.RunResult{
		Status:    status,
		Created:   sum.Counts[virtsync.Created],
		Updated:   sum.Counts[virtsync.Updated],
		Unchanged: sum.Counts[virtsync.Unchanged],
		Deleted:   sum.Counts[virtsync.Deleted],
		Failed:    sum.Counts[virtsync.Failed],
		Held:      sum.Counts[virtsync.Held],
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
	data := virtsync.RunFinished{RunID: sum.RunID, Job: job.Name, Mode: string(mode), Status: status,
		Counts: counts, DurationSeconds: sum.Duration.Seconds()}
	if runErr != nil {
		data.Error = runErr.Error()
	}
	err = r.DB.Update(fin, func(tx *state.Tx) error {
		if runErr == nil {
			if err := tx.MarkSuccess(job.Name, time.Now()); err != nil {
				return err
			}
		}
		_, err := r.addEvents(tx, data)
		return err
	})
	if err != nil {
		log.Error("record run end", "err", err)
	}
	r.committed()
	log.Info("run finished", "status", status, "created", sum.Counts[virtsync.Created], "updated", sum.Counts[virtsync.Updated],
		"unchanged", sum.Counts[virtsync.Unchanged], "deleted", sum.Counts[virtsync.Deleted], "failed", sum.Counts[virtsync.Failed],
		"held", sum.Counts[virtsync.Held], "duration", sum.Duration.Round(time.Millisecond))
	return sum, runErr
}

// batches scans job's source (through filter; a key of interrupted is
// marked so) into *pending, calling flush each time it holds a batch of
// the job's size; what is left at the end is the caller's.
func (r *Runner) batches(ctx context.Context, job JobSpec, known *stateKnown, filter, interrupted map[string]bool,
	pending *[]Record, flush func() error) (ScanStats, error) {
	size := r.BatchSize
	if job.BatchSize > 0 {
		size = job.BatchSize
	}
	return r.scan(ctx, job, known, size, func(rec Record) error {
		if filter != nil && !filter[rec.Key] {
			return nil
		}
		rec.Interrupted = interrupted[rec.Key]
		*pending = append(*pending, rec)
		if len(*pending) >= size {
			return flush()
		}
		return ctx.Err()
	})
}

// fanOut calls do(i) for i in [0, n) on up to workers goroutines, handing
// out indexes in order until ctx ends or stop is closed; indexes not
// handed out are left undone. It returns when every started call did.
func fanOut(ctx context.Context, n, workers int, stop <-chan struct{}, do func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(max(workers, 1), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				do(i)
			}
		}()
	}
dispatch:
	for i := range n {
		select {
		case <-ctx.Done():
			break dispatch
		case <-stop:
			break dispatch
		case work <- i:
		}
	}
	close(work)
	wg.Wait()
}

// scope is what a run (or a dry run) reads against and lets through: the
// committed versions, all forced by a resync; with only, just those keys,
// forced; otherwise the replays queued by `failures -replay`, forced, with
// whatever changed. filter is nil when every record passes.
func (r *Runner) scope(ctx context.Context, job JobSpec, sw *state.Sweep, mode Mode, only []string) (*stateKnown, map[string]bool, error) {
	known := &stateKnown{sw: sw, forced: mode == ModeResync}
	var filter map[string]bool
	switch {
	case mode == ModeResync:
	case len(only) > 0:
		filter = make(map[string]bool, len(only))
		for _, k := range only {
			filter[k] = true
		}
		known.force = filter
	default:
		keys, err := r.DB.ReplayKeys(ctx, job.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: load replays: %w", job.Name, err)
		}
		if len(keys) > 0 {
			known.force = make(map[string]bool, len(keys))
			for _, k := range keys {
				known.force[k] = true
			}
		}
	}
	return known, filter, nil
}

func (r *Runner) keepLease(ctx context.Context, job string, lost chan<- error) {
	keepLease(ctx, r.DB, job, r.Owner, r.LeaseTTL, func(err error) bool {
		lost <- fmt.Errorf("lease lost: %w", err)
		return true
	}, r.lease.renewed)
}

func (r *Runner) committed() {
	if r.Committed != nil {
		r.Committed()
	}
}

// run does the work between the run's start and end records.
func (r *Runner) run(ctx context.Context, job JobSpec, info *RunInfo, only []string, sum *Summary) error {
	key, err := r.DB.FingerprintKey(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", job.Name, err)
	}
	info.FingerprintKey = key
	if err := job.Handler.Prepare(ctx, info); err != nil {
		return fmt.Errorf("%s: prepare: %w", job.Name, err)
	}
	// Interrupted creates: their versions were never committed, so the
	// source emits them again; the handler is told, so that it looks them
	// up remotely before creating and reports one it finds as created.
	interrupted, err := r.interrupted(ctx, job)
	if err != nil {
		return err
	}
	if len(interrupted) > 0 {
		info.Log.Warn("reconciling creates interrupted by an earlier crash or a lost reply", "records", len(interrupted))
	}
	sw, err := r.DB.OpenSweep(ctx, job.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", job.Name, err)
	}
	defer func() {
		if err := sw.Close(); err != nil {
			info.Log.Warn("close sweep", "err", err)
		}
	}()
	known, filter, err := r.scope(ctx, job, sw, info.Mode, only)
	if err != nil {
		return err
	}

	b := &batcher{r: r, job: job, info: info, sum: sum, finished: map[string]bool{}}
	stats, err := r.batches(ctx, job, known, filter, interrupted, &b.pending, func() error { return b.flush(ctx, false) })
	if err == nil {
		err = b.flush(ctx, true)
	} else if ctx.Err() == nil || len(b.pending) > 0 || len(b.streak) > 0 {
		// Records already handed to us are still worth committing when the
		// source fails part-way (the cancelled context still lets a flush
		// commit what was done before it).
		if ferr := b.flush(ctx, true); ferr != nil && !errors.Is(ferr, context.Canceled) {
			info.Log.Warn("flush after source error", "err", ferr)
		}
	}
	sum.Seen = stats.Seen
	sum.Counts[virtsync.Unchanged] += stats.Unchanged
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", job.Name, context.Cause(ctx))
		}
		return fmt.Errorf("%s: %w", job.Name, err)
	}
	return nil
}

// scan runs the job's source in a goroutine of its own, ahead of the
// engine by at most queue records: 1C is read while the previous batch is
// pushed, and memory stays bounded by the queue whatever the base's size.
// handle is called on this goroutine for every record; its error stops
// the source. A source error is returned after every record it emitted
// before it was handled.
func (r *Runner) scan(ctx context.Context, job JobSpec, known Known, queue int,
	handle func(Record) error) (ScanStats, error) {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	recs := make(chan Record, queue)
	type scanned struct {
		st  ScanStats
		err error
	}
	done := make(chan scanned, 1)
	go func() {
		st, err := job.Source.Scan(sctx, known, func(rec Record) error {
			select {
			case recs <- rec:
				return nil
			case <-sctx.Done():
				return sctx.Err()
			}
		})
		close(recs)
		done <- scanned{st, err}
	}()
	var herr error
	for rec := range recs {
		if herr != nil {
			continue // drain: the source is stopping
		}
		if herr = handle(rec); herr != nil {
			stop()
		}
	}
	res := <-done
	if herr != nil {
		return res.st, herr
	}
	if res.err != nil && errors.Is(res.err, context.Canceled) && ctx.Err() != nil {
		return res.st, ctx.Err()
	}
	return res.st, res.err
}

// batchIDs answers a handler's look-ups of its own batch's ids from the
// batch's one query; everything else (another kind, another key, the
// reverse look-up) goes to the store. Within a batch nothing is committed,
// so the answers are what the store would give.
type batchIDs struct {
	IDLookup
	kind  string
	batch map[string]bool
	ids   map[string]string
}

func (b *batchIDs) LookupID(ctx context.Context, kind, ref string) (string, bool, error) {
	if kind == b.kind && b.batch[ref] {
		id, ok := b.ids[ref]
		return id, ok, nil
	}
	return b.IDLookup.LookupID(ctx, kind, ref)
}

// stateKnown is the engine's Known: the state's committed versions through
// a Sweep, with a resync or a replay forcing keys through.
type stateKnown struct {
	sw     *state.Sweep
	forced bool
	force  map[string]bool // keys forced through (a replay); few
}

func (k *stateKnown) Count(ctx context.Context) (int, error) { return k.sw.Count(ctx) }
func (k *stateKnown) Forced() bool                           { return k.forced }

func (k *stateKnown) Versions(ctx context.Context, keys []string) (map[string]string, error) {
	v, err := k.sw.Versions(ctx, keys)
	if err != nil {
		return nil, err
	}
	if k.forced || len(k.force) > 0 {
		for key := range v {
			if k.forced || k.force[key] {
				v[key] = ""
			}
		}
	}
	return v, nil
}

func (k *stateKnown) Changed(ctx context.Context, keys, versions []string) ([]string, []bool, error) {
	if k.forced {
		// Everything is changed; only whether it was stored is asked.
		v, err := k.sw.Versions(ctx, keys)
		if err != nil {
			return nil, nil, err
		}
		stored := make([]bool, len(keys))
		for i, key := range keys {
			_, stored[i] = v[key]
		}
		return keys, stored, nil
	}
	changed, stored, err := k.sw.Changed(ctx, keys, versions)
	if err != nil || len(k.force) == 0 {
		return changed, stored, err
	}
	// A replay forces its few keys through even when unchanged.
	in := make(map[string]bool, len(changed))
	for _, key := range changed {
		in[key] = true
	}
	var forced []string
	for _, key := range keys {
		if k.force[key] && !in[key] {
			forced = append(forced, key)
		}
	}
	if len(forced) > 0 {
		v, err := k.sw.Versions(ctx, forced)
		if err != nil {
			return nil, nil, err
		}
		for _, key := range forced {
			_, ok := v[key]
			changed, stored = append(changed, key), append(stored, ok)
		}
	}
	return changed, stored, nil
}

func (k *stateKnown) Mark(ctx context.Context, keys []string) ([]bool, error) {
	return k.sw.Mark(ctx, keys)
}

func (k *stateKnown) Unmarked(ctx context.Context, n int, fn func(keys []string) error) error {
	return k.sw.Unmarked(ctx, n, fn)
}

// SystemFaultError stops a run in which many records in a row were
// rejected for the same reason: that is a fault of the whole system (a
// revoked key, a suspended account, a server that answers one error to
// everything), not of the records, so none of them is marked failed.
type SystemFaultError struct {
	Records int    // how many records in a row
	Reason  string // the reason of the first of them, its key elided
}

func (e *SystemFaultError) Error() string {
	return fmt.Sprintf("%d records in a row were rejected for the same reason (%s): taken for a fault of the "+
		"system, not of the records; none was marked failed, and the next run tries them again", e.Records, e.Reason)
}

// batcher holds the records of the current batch.
type batcher struct {
	r       *Runner
	job     JobSpec
	info    *RunInfo
	sum     *Summary
	pending []Record
	done    int
	// streak is the run's trailing rejections with one reason, not
	// committed yet: if the next batch continues it past the limit, none
	// of them becomes a dead letter.
	streak []result
	// finished caches, per job a hold waits for, whether it has ever
	// finished a run.
	finished map[string]bool
	// stopped is set once a batch stopped the run.
	stopped bool
	// succeeded counts records of the run that the other side took.
	succeeded int
	// leaseErr is set when a record was not started because the run's
	// lease may have gone (see leaseClock); it stops the run.
	leaseErr error
}

type result struct {
	rec Record
	out Outcome
	err error
	ran bool
	seq int // completion order within the run's batches
}

// sameReason is a rejection's reason with the record's key elided, so
// that "customer A: invalid apikey" and "customer B: invalid apikey" read
// alike.
func sameReason(res result) string {
	return strings.ReplaceAll(res.err.Error(), res.rec.Key, "…")
}

// flush processes and commits the pending batch: write-ahead intents for
// records that may be created, the remote calls with bounded concurrency,
// then one transaction for every outcome. final says no batch follows.
func (b *batcher) flush(ctx context.Context, final bool) error {
	if len(b.pending) == 0 && len(b.streak) == 0 {
		return ctx.Err()
	}
	recs := b.pending
	b.pending = nil
	r, job := b.r, b.job

	// The batch's ids in one query: the intents below need them, and so
	// does every handler (through RunInfo.IDs).
	keys := make([]string, 0, len(recs))
	for _, rec := range recs {
		keys = append(keys, rec.Key)
	}
	ids, err := r.DB.LookupIDs(ctx, job.Kind, keys)
	if err != nil {
		return fmt.Errorf("read the batch's ids: %w", err)
	}
	// Intent before the remote call: a crash after the call but before the
	// commit leaves the intent, and the next run reconciles by looking the
	// record up remotely before it creates anything.
	err = r.DB.Update(context.WithoutCancel(ctx), func(tx *state.Tx) error {
		for _, rec := range recs {
			if _, known := ids[rec.Key]; rec.Deleted || known {
				continue
			}
			if err := tx.PutIntent(job.Name, rec.Key, "create", nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record intents: %w", err)
	}

	inBatch := make(map[string]bool, len(keys))
	for _, k := range keys {
		inBatch[k] = true
	}
	b.info.IDs = &batchIDs{IDLookup: r.DB, kind: job.Kind, batch: inBatch, ids: ids}
	results := b.apply(ctx, recs)
	sort.Slice(results, func(i, j int) bool { return results[i].seq < results[j].seq })
	if err := b.checkIDs(ctx, results); err != nil {
		return err
	}
	// Records never sent (dispatch stopped) keep no intent: nothing was
	// attempted, and a stale intent would make the next run report a
	// record it finds in virtpos as created by virtsync.
	sent := make(map[string]bool, len(results))
	for _, res := range results {
		sent[res.rec.Key] = true
	}
	var unsent []string
	for _, rec := range recs {
		if !sent[rec.Key] && !rec.Deleted {
			unsent = append(unsent, rec.Key)
		}
	}

	// A failure that is neither a rejection nor a hold stops the run after
	// this batch: the system on the other side is down or misconfigured,
	// and hammering it record by record helps nobody.
	var stopErr error
	for _, res := range results {
		if res.err != nil && resultOf(res.err) == "" {
			stopErr = fmt.Errorf("record %s: %w", res.rec.Key, res.err)
			break
		}
	}
	if stopErr == nil {
		stopErr = b.leaseErr
	}
	// When the run stops (a system error, a cancel), rejections still in
	// an open streak are not committed: they may be the first answers of
	// the failing system rather than faults of their records, and the next
	// run sends them again at no cost.
	stopping := stopErr != nil || ctx.Err() != nil || b.stopped
	inRun := b.done + len(b.streak) + len(results)
	commit, dropped, fault := b.screen(results, final && !stopping, stopping, inRun)
	if fault != nil {
		b.info.Log.Error("run stopped: records rejected alike", "records", fault.Records, "reason", fault.Reason)
		if stopErr == nil {
			stopErr = fault
		}
	}
	if stopErr != nil {
		b.stopped = true
	}
	for _, res := range dropped {
		unsent = append(unsent, res.rec.Key) // rejected: surely not created
	}

	var failures []Failure
	err = r.DB.Update(context.WithoutCancel(ctx), func(tx *state.Tx) error {
		failures = failures[:0]
		for _, k := range unsent {
			if err := tx.ClearIntent(job.Name, k); err != nil {
				return err
			}
		}
		for _, res := range commit {
			f, err := b.commit(ctx, tx, res)
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
	for _, res := range commit {
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

// apply runs the handler over recs with bounded concurrency. Dispatch stops
// at the first failure that stops the run, and as soon as the run's
// identical rejections reach the limit: records not started are left for
// the next run.
func (b *batcher) apply(ctx context.Context, recs []Record) []result {
	r, job := b.r, b.job
	results := make([]result, len(recs))
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }

	var mu sync.Mutex
	seq := 0
	if n := len(b.streak); n > 0 {
		seq = b.streak[n-1].seq
	}
	reason, alike := "", len(b.streak)
	if alike > 0 {
		reason = sameReason(b.streak[0])
	}
	limit := r.MaxIdenticalRejections
	handed := make(map[string]string, len(recs)) // remote id -> key, this batch

	fanOut(ctx, len(recs), r.Concurrency, stop, func(i int) {
		if r.lease != nil {
			if err := r.lease.check(job.Name, time.Now()); err != nil {
				// Not sent: the record is left for the next run.
				mu.Lock()
				if b.leaseErr == nil {
					b.leaseErr = err
				}
				mu.Unlock()
				halt()
				return
			}
		}
		// The record in flight finishes even if the run is cancelled, but
		// not past the lease's sure life: a write a handler starts late in
		// a long record (an order's post after its create) must not land
		// after another process took the job over. A call cut there is an
		// unknown outcome, which the write intent settles next run.
		deadline := time.Now().Add(r.RecordTimeout)
		if r.lease != nil {
			if d := r.lease.deadline(); d.Before(deadline) {
				deadline = d
			}
		}
		rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		out, err := job.Handler.Apply(rctx, b.info, recs[i])
		cancel()
		mu.Lock()
		if err == nil && out.RemoteID != "" && !out.ForgetID {
			if other, dup := handed[out.RemoteID]; dup && other != recs[i].Key {
				err = &IDConflictError{Kind: job.Kind, ID: out.RemoteID, Ref: recs[i].Key, Other: other}
			} else {
				handed[out.RemoteID] = recs[i].Key
			}
		}
		seq++
		results[i] = result{rec: recs[i], out: out, err: err, ran: true, seq: seq}
		switch resultOf(err) {
		case virtsync.Failed:
			if why := sameReason(results[i]); why == reason {
				alike++
			} else {
				reason, alike = why, 1
			}
			if limit > 0 && alike >= limit {
				halt()
			}
		case virtsync.Held:
		default:
			if err != nil {
				halt()
			} else {
				alike = 0
			}
		}
		mu.Unlock()
	})
	ran := results[:0]
	for _, res := range results {
		if res.ran {
			ran = append(ran, res)
		}
	}
	return ran
}

// screen decides which results to commit. Rejections are held back while
// they form a streak with one reason: past MaxIdenticalRejections the
// streak is a system fault and none of it is committed; so is a run whose
// every record (3 or more, ran in all) was rejected alike, which is how a
// small run sees a server that answers one error to everything. A streak
// still open at the end of a batch waits for the next one unless last is
// set; with stopping set it is dropped (returned in dropped, uncommitted).
func (b *batcher) screen(results []result, last, stopping bool, ran int) (commit, dropped []result, fault *SystemFaultError) {
	limit := b.r.MaxIdenticalRejections
	cur := b.streak
	b.streak = nil
	reason := ""
	if len(cur) > 0 {
		reason = sameReason(cur[0])
	}
	end := func() {
		if limit > 0 && len(cur) >= limit {
			if fault == nil {
				fault = &SystemFaultError{Records: len(cur), Reason: reason}
			} else {
				fault.Records += len(cur)
			}
			dropped = append(dropped, cur...)
		} else {
			commit = append(commit, cur...)
		}
		cur, reason = nil, ""
	}
	for _, res := range results {
		switch resultOf(res.err) {
		case virtsync.Failed:
			why := sameReason(res)
			if len(cur) > 0 && why != reason {
				end()
			}
			if len(cur) == 0 {
				reason = why
			}
			cur = append(cur, res)
		case virtsync.Held:
			commit = append(commit, res)
		default:
			if res.err == nil {
				b.succeeded++
				end()
			}
			commit = append(commit, res)
		}
	}
	if len(cur) == 0 {
		return commit, dropped, fault
	}
	switch {
	case limit > 0 && len(cur) >= limit:
		end()
	case stopping:
		dropped = append(dropped, cur...)
	case last && limit > 0 && b.succeeded == 0 && len(cur) >= 3 && len(cur) == ran:
		fault = &SystemFaultError{Records: len(cur), Reason: reason}
		dropped = append(dropped, cur...)
	case last || limit <= 0:
		end()
	default:
		b.streak = cur
	}
	return commit, dropped, fault
}

// IDConflictError stops a run whose remote side handed one id to two
// records: committing it would map two source records to one remote
// record. It is a fault of the remote system (it is not honouring ids),
// not of the record.
type IDConflictError struct {
	Kind, ID, Ref, Other string
}

func (e *IDConflictError) Error() string {
	return fmt.Sprintf("the other side returned %s id %s for %s, already mapped to %s: it is not honouring ids",
		e.Kind, e.ID, e.Ref, e.Other)
}

// checkIDs turns every successful outcome whose remote id the id map
// already holds for another key into an *IDConflictError: one query per
// batch. (Two records of one batch with one id are caught as they finish.)
func (b *batcher) checkIDs(ctx context.Context, results []result) error {
	var ids []string
	for _, res := range results {
		if res.err == nil && res.out.RemoteID != "" && !res.out.ForgetID {
			ids = append(ids, res.out.RemoteID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	refs, err := b.r.DB.LookupRefs(context.WithoutCancel(ctx), b.job.Kind, ids)
	if err != nil {
		return fmt.Errorf("check the batch's ids: %w", err)
	}
	for i, res := range results {
		if res.err != nil || res.out.RemoteID == "" || res.out.ForgetID {
			continue
		}
		for _, other := range refs[res.out.RemoteID] {
			if other != res.rec.Key {
				results[i].err = &IDConflictError{Kind: b.job.Kind, ID: res.out.RemoteID, Ref: res.rec.Key, Other: other}
				break
			}
		}
	}
	return nil
}

// clearIntent drops rec's create intent unless the hold says the handler
// could not tell whether its create went through.
func (b *batcher) clearIntent(tx *state.Tx, key string, he *HeldError) error {
	if he != nil && he.KeepIntent {
		return nil
	}
	return tx.ClearIntent(b.job.Name, key)
}

// waitedDone reports whether job has ever finished a run.
func (b *batcher) waitedDone(ctx context.Context, job string) bool {
	return finishedOnce(ctx, b.r.DB, b.finished, job)
}

// finishedOnce reports whether job has ever finished a run, remembering
// the answer in seen for the rest of the run; a failure to read says yes,
// so that holds keep their limit. A cancelled run still commits its
// batch: it reads regardless, or the failed read would age first-load
// holds.
func finishedOnce(ctx context.Context, db *state.DB, seen map[string]bool, job string) bool {
	if done, ok := seen[job]; ok {
		return done
	}
	cp, err := db.Checkpoint(context.WithoutCancel(ctx), job)
	done := err != nil || !cp.LastSuccessAt.IsZero()
	seen[job] = done
	return done
}

// interrupted are the keys of job whose creates an earlier run started
// and never committed (a crash, a lost reply): their versions were never
// committed, so the source emits them again, and the handler is told to
// look them up remotely before creating.
func (r *Runner) interrupted(ctx context.Context, job JobSpec) (map[string]bool, error) {
	intents, err := r.DB.Intents(ctx, job.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: load intents: %w", job.Name, err)
	}
	keys := make(map[string]bool, len(intents))
	for _, in := range intents {
		keys[in.Key] = true
	}
	return keys, nil
}

// holdOutlived reports whether a record held attempts runs since firstAt
// has waited past the limits and becomes a dead letter.
func (r *Runner) holdOutlived(attempts int, firstAt time.Time) bool {
	young := r.HoldMaxAge <= 0 || time.Since(firstAt) < r.HoldMaxAge
	return attempts >= r.HoldMaxAttempts || !young
}

// holdOutlivedReason is the dead letter's reason of a hold that outlived
// its limits.
func holdOutlivedReason(attempts int, firstAt time.Time, reason string) string {
	return fmt.Sprintf("still waiting after %d runs since %s: %s", attempts, firstAt.Local().Format("2006-01-02 15:04"), reason)
}

// commit writes one outcome into the batch transaction and counts it.
func (b *batcher) commit(ctx context.Context, tx *state.Tx, res result) (*Failure, error) {
	r, job, rec := b.r, b.job, res.rec
	count := func(x virtsync.Result) {
		b.sum.Counts[x]++
		if r.Observe != nil {
			r.Observe(job.Name, x)
		}
	}
	switch resultOf(res.err) {
	case virtsync.Held:
		var he *HeldError
		errors.As(res.err, &he)
		if he.WaitsFor != "" && !b.waitedDone(ctx, he.WaitsFor) {
			// What it waits for has not had a chance yet: no aging.
			if err := tx.HoldWaiting(job.Name, rec.Key, he.Reason); err != nil {
				return nil, err
			}
			if err := b.log(tx, rec.Key, virtsync.Held, nil, ""); err != nil {
				return nil, err
			}
			count(virtsync.Held)
			b.info.Log.Info("record held until "+he.WaitsFor+" finishes a run", "key", rec.Key, "reason", he.Reason)
			return nil, b.clearIntent(tx, rec.Key, he)
		}
		attempts, firstAt, err := tx.Hold(job.Name, rec.Key, he.Reason)
		if err != nil {
			return nil, err
		}
		if !r.holdOutlived(attempts, firstAt) {
			if err := b.log(tx, rec.Key, virtsync.Held, nil, ""); err != nil {
				return nil, err
			}
			count(virtsync.Held)
			b.info.Log.Info("record held", "key", rec.Key, "reason", he.Reason, "attempt", attempts)
			return nil, b.clearIntent(tx, rec.Key, he)
		}
		if err := tx.Release(job.Name, rec.Key); err != nil {
			return nil, err
		}
		res.err = Reject(nil, "%s", holdOutlivedReason(attempts, firstAt, he.Reason))
		fallthrough
	case virtsync.Failed:
		count(virtsync.Failed)
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
		evs, err := b.r.addEvents(tx, virtsync.RecordFailed{RecordKind: job.Kind, Key: rec.Key, Reason: reason, RunID: b.info.ID})
		if err != nil {
			return nil, err
		}
		return &Failure{Key: rec.Key, Reason: reason}, b.log(tx, rec.Key, virtsync.Failed, evs, "")
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
	evs, err := b.r.addEvents(tx, out.Events...)
	if err != nil {
		return nil, err
	}
	return nil, b.log(tx, rec.Key, out.Result, evs, out.Fingerprint)
}

// log adds the outcome to the record's log, in the batch's transaction:
// `explain` tells each run that touched a record and the events it
// published about it.
func (b *batcher) log(tx *state.Tx, key string, result virtsync.Result, evs []state.LogEvent, fingerprint string) error {
	return tx.LogRecord(state.LogEntry{Job: b.job.Name, Key: key, RunID: b.info.ID, Result: string(result),
		Events: evs, Fingerprint: fingerprint})
}

// addEvents puts evs in the outbox and returns their ids and types.
func (r *Runner) addEvents(tx *state.Tx, evs ...virtsync.Payload) ([]state.LogEvent, error) {
	var added []state.LogEvent
	for _, e := range evs {
		row, err := r.NewEvent(e.Kind(), e.What(), e)
		if err != nil {
			return nil, fmt.Errorf("build %s.%s event: %w", e.Kind(), e.What(), err)
		}
		if err := tx.AddEvent(row); err != nil {
			return nil, err
		}
		added = append(added, state.LogEvent{ID: row.ID, Type: e.Kind() + "." + e.What()})
	}
	return added, nil
}

func (r *Runner) commitEvents(ctx context.Context, evs ...virtsync.Payload) error {
	err := r.DB.Update(ctx, func(tx *state.Tx) error {
		_, err := r.addEvents(tx, evs...)
		return err
	})
	if err == nil {
		r.committed()
	}
	return err
}
