package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/state"
)

// source emits a fixed list of records, honouring the committed versions
// like a real source.
type source struct {
	recs    []engine.Record
	deleted []string
	failAt  int // emit this many records, then fail (0 = never)
}

func (s *source) Scan(ctx context.Context, known engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	var st engine.ScanStats
	for i, r := range s.recs {
		if s.failAt > 0 && i == s.failAt {
			return st, errors.New("source broke")
		}
		st.Seen++
		seen, err := known.Versions(ctx, []string{r.Key})
		if err != nil {
			return st, err
		}
		if v, ok := seen[r.Key]; ok && v == r.Version {
			st.Unchanged++
			continue
		}
		if err := emit(r); err != nil {
			return st, err
		}
	}
	for _, k := range s.deleted {
		if err := emit(engine.Record{Key: k, Deleted: true}); err != nil {
			return st, err
		}
	}
	return st, nil
}

// handler is a hand-written fake: apply decides each record's fate.
type handler struct {
	apply func(rec engine.Record) (engine.Outcome, error)
	calls atomic.Int32
	mu    sync.Mutex
	keys  []string
}

func (h *handler) Prepare(context.Context, *engine.RunInfo) error { return nil }
func (h *handler) Apply(ctx context.Context, _ *engine.RunInfo, rec engine.Record) (engine.Outcome, error) {
	h.calls.Add(1)
	h.mu.Lock()
	h.keys = append(h.keys, rec.Key)
	h.mu.Unlock()
	return h.apply(rec)
}

func upsert(rec engine.Record) (engine.Outcome, error) {
	if rec.Deleted {
		return engine.Outcome{Result: virtsync.Deleted, ForgetID: true}, nil
	}
	return engine.Outcome{Result: virtsync.Created, RemoteID: "v-" + rec.Key,
		Events: []virtsync.Payload{virtsync.CustomerUpserted{ExternalID: rec.Key, VirtposID: "v-" + rec.Key, Created: true}}}, nil
}

func records(n int, version string) []engine.Record {
	out := make([]engine.Record, n)
	for i := range out {
		out[i] = engine.Record{Key: fmt.Sprintf("k%03d", i), Version: version}
	}
	return out
}

func newRunner(t *testing.T) (*engine.Runner, *state.DB) {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &engine.Runner{
		DB: db, BatchSize: 10, Concurrency: 3, HoldMaxAttempts: 3, Owner: "test",
		NewEvent: func(kind, what string, data any) (state.Event, error) {
			b, err := json.Marshal(data)
			id := fmt.Sprintf("%d", time.Now().UnixNano())
			return state.Event{ID: id + kind + what + string(b), Subject: "t." + kind + "." + what, Data: b}, err
		},
	}, db
}

func job(src engine.Source, h engine.Handler) engine.JobSpec {
	return engine.JobSpec{Name: "customers", Kind: "customer", Source: src, Handler: h}
}

func events(t *testing.T, db *state.DB, subject string) int {
	t.Helper()
	evs, err := db.PendingEvents(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Subject == subject {
			n++
		}
	}
	return n
}

func TestRunCommitsVersionsIDsAndEvents(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	src := &source{recs: records(25, "v1")}
	h := &handler{apply: upsert}
	sum, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts[virtsync.Created] != 25 {
		t.Fatalf("created %d, want 25", sum.Counts[virtsync.Created])
	}
	vs, _ := db.Versions(ctx, "customers")
	if len(vs) != 25 || vs["k007"] != "v1" {
		t.Fatalf("versions = %d rows (k007=%q)", len(vs), vs["k007"])
	}
	if id, ok, _ := db.LookupID(ctx, "customer", "k007"); !ok || id != "v-k007" {
		t.Fatalf("id map k007 = %q %v", id, ok)
	}
	if n := events(t, db, "t.customer.upserted"); n != 25 {
		t.Fatalf("%d upserted events in the outbox, want 25", n)
	}
	if events(t, db, "t.run.started") != 1 || events(t, db, "t.run.finished") != 1 {
		t.Fatal("run.started/run.finished missing")
	}
	if in, _ := db.Intents(ctx, "customers"); len(in) != 0 {
		t.Fatalf("%d intents left after a clean run", len(in))
	}

	// Nothing changed: no record reaches the handler.
	h.calls.Store(0)
	sum, err = r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if err != nil || h.calls.Load() != 0 || sum.Counts[virtsync.Unchanged] != 25 {
		t.Fatalf("second run: err=%v calls=%d unchanged=%d", err, h.calls.Load(), sum.Counts[virtsync.Unchanged])
	}

	// A resync sends every record again.
	sum, err = r.Run(ctx, job(src, h), engine.ModeResync, nil)
	if err != nil || h.calls.Load() != 25 {
		t.Fatalf("resync: err=%v calls=%d, want 25", err, h.calls.Load())
	}

	// A deletion forgets the id and the version.
	src.recs, src.deleted = src.recs[1:], []string{"k000"}
	if _, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.LookupID(ctx, "customer", "k000"); ok {
		t.Fatal("deleted record still in the id map")
	}
	if _, ok, _ := db.Version(ctx, "customers", "k000"); ok {
		t.Fatal("deleted record still has a version")
	}
}

func TestRejectedRecordsBecomeDeadLettersAndTheRunGoesOn(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key == "k003" {
			return engine.Outcome{}, engine.Reject(errors.New("success=0"), "virtpos rejected %s", rec.Key)
		}
		return upsert(rec)
	}}
	src := &source{recs: records(8, "v1")}
	sum, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts[virtsync.Failed] != 1 || sum.Counts[virtsync.Created] != 7 || len(sum.Failures) != 1 || sum.Failures[0].Key != "k003" {
		t.Fatalf("summary %+v", sum)
	}
	dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen)
	if len(dls) != 1 || dls[0].Key != "k003" || dls[0].Attempts != 1 {
		t.Fatalf("dead letters %+v", dls)
	}
	if events(t, db, "t.customer.failed") != 1 {
		t.Fatal("no customer.failed event")
	}
	// Unchanged, it is not sent again; replayed, it is, and resolves.
	h.keys = nil
	r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if len(h.keys) != 0 {
		t.Fatalf("an unchanged dead letter was sent again: %v", h.keys)
	}
	h.apply = upsert
	if _, err := r.Run(ctx, job(src, h), engine.ModeReplay, []string{"k003"}); err != nil {
		t.Fatal(err)
	}
	if len(h.keys) != 1 || h.keys[0] != "k003" {
		t.Fatalf("replay sent %v, want only k003", h.keys)
	}
	if dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen); len(dls) != 0 {
		t.Fatalf("dead letter still open after a good replay: %+v", dls)
	}
}

func TestHeldRecordsWaitThenDeadLetter(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key == "k001" {
			return engine.Outcome{}, engine.Hold("owner not synced yet")
		}
		return upsert(rec)
	}}
	src := &source{recs: records(3, "v1")}
	for run := 1; run <= 3; run++ {
		sum, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantHeld, wantFailed := 1, 0
		if run == 3 {
			wantHeld, wantFailed = 0, 1
		}
		if sum.Counts[virtsync.Held] != wantHeld || sum.Counts[virtsync.Failed] != wantFailed {
			t.Fatalf("run %d: held %d failed %d, want %d %d", run, sum.Counts[virtsync.Held], sum.Counts[virtsync.Failed], wantHeld, wantFailed)
		}
	}
	dls, _ := db.DeadLetters(ctx, "customers", "")
	if len(dls) != 1 || dls[0].Key != "k001" {
		t.Fatalf("dead letters %+v", dls)
	}
	if holds, _ := db.Holds(ctx, "customers"); len(holds) != 0 {
		t.Fatalf("hold not released after dead-lettering: %+v", holds)
	}
}

func TestTransientFailureStopsTheRunAndLosesNothing(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	down := errors.New("virtpos: temporary failure (HTTP 503)")
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key >= "k015" {
			return engine.Outcome{}, down
		}
		return upsert(rec)
	}}
	src := &source{recs: records(40, "v1")}
	sum, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if !errors.Is(err, down) {
		t.Fatalf("err = %v, want the outage", err)
	}
	if int(h.calls.Load()) >= 40 {
		t.Fatalf("the run went on through the outage: %d calls", h.calls.Load())
	}
	vs, _ := db.Versions(ctx, "customers")
	for k := range vs {
		if k >= "k015" {
			t.Fatalf("record %s committed although it failed", k)
		}
	}
	if len(vs) != 15 || sum.Counts[virtsync.Created] != 15 {
		t.Fatalf("committed %d versions, counted %d, want the 15 that passed", len(vs), sum.Counts[virtsync.Created])
	}
	runs, _ := db.LastRuns(ctx, 1)
	if len(runs) != 1 || runs[0].Status != state.RunFailed || runs[0].Error == "" {
		t.Fatalf("run row %+v", runs)
	}
	if dls, _ := db.DeadLetters(ctx, "", ""); len(dls) != 0 {
		t.Fatal("an outage made dead letters")
	}
	// Back up: the next run does exactly the rest.
	h.apply, h.keys = upsert, nil
	if _, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil); err != nil {
		t.Fatal(err)
	}
	if len(h.keys) != 25 {
		t.Fatalf("resumed run sent %d records, want 25", len(h.keys))
	}
}

func TestCancelFinishesRecordsInFlight(t *testing.T) {
	r, db := newRunner(t)
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if started.Add(1) == 5 {
			cancel()
		}
		time.Sleep(5 * time.Millisecond) // in flight when the cancel lands
		return upsert(rec)
	}}
	src := &source{recs: records(100, "v1")}
	sum, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	vs, _ := db.Versions(context.Background(), "customers")
	if int(h.calls.Load()) != len(vs) || sum.Counts[virtsync.Created] != len(vs) {
		t.Fatalf("%d records started, %d committed, %d counted: every started record must be committed",
			h.calls.Load(), len(vs), sum.Counts[virtsync.Created])
	}
	if len(vs) >= 100 {
		t.Fatal("the cancel did not stop the run")
	}
}

func TestLeaseKeepsTwoRunsOfAJobApart(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	if _, err := db.AcquireLease(ctx, "customers", "someone-else", time.Minute); err != nil {
		t.Fatal(err)
	}
	h := &handler{apply: upsert}
	_, err := r.Run(ctx, job(&source{recs: records(3, "v1")}, h), engine.ModeOnce, nil)
	var held *state.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "someone-else" {
		t.Fatalf("err = %v, want the lease held by someone-else", err)
	}
	if h.calls.Load() != 0 {
		t.Fatal("records were processed without the lease")
	}
}

func TestSourceFailureKeepsWhatWasDone(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	src := &source{recs: records(30, "v1"), failAt: 25}
	_, err := r.Run(ctx, job(src, &handler{apply: upsert}), engine.ModeOnce, nil)
	if err == nil {
		t.Fatal("a broken source did not fail the run")
	}
	vs, _ := db.Versions(ctx, "customers")
	if len(vs) != 25 {
		t.Fatalf("%d versions committed, want the 25 records emitted before the failure", len(vs))
	}
}

func TestHeldRecordsDeadLetterByAge(t *testing.T) {
	r, db := newRunner(t)
	r.HoldMaxAttempts, r.HoldMaxAge = 100, 50*time.Millisecond
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		return engine.Outcome{}, engine.Hold("item 789 unknown")
	}}
	src := &source{recs: records(1, "v1")}
	if sum, _ := r.Run(ctx, job(src, h), engine.ModeOnce, nil); sum.Counts[virtsync.Held] != 1 {
		t.Fatalf("first run: %+v", sum.Counts)
	}
	time.Sleep(60 * time.Millisecond)
	if sum, _ := r.Run(ctx, job(src, h), engine.ModeOnce, nil); sum.Counts[virtsync.Failed] != 1 {
		t.Fatalf("after hold_max_age: %+v, want a dead letter", sum.Counts)
	}
	if dls, _ := db.DeadLetters(ctx, "customers", ""); len(dls) != 1 || !strings.Contains(dls[0].Reason, "item 789 unknown") {
		t.Fatalf("dead letters %+v", dls)
	}
}

// TestATakenOverRunCommitsNothingMore: when another process takes the
// job's lease over mid-run (this one was paused past its lease), the
// run's next commit is fenced off: nothing of it lands, the run stops, and
// the new holder keeps the lease.
func TestATakenOverRunCommitsNothingMore(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key == "k012" { // in the second batch
			// What the other host does once this one's lease expired.
			if err := db.ReleaseLease(ctx, "customers", "test"); err != nil {
				return engine.Outcome{}, err
			}
			if _, err := db.AcquireLease(ctx, "customers", "other-host", time.Minute); err != nil {
				return engine.Outcome{}, err
			}
		}
		return upsert(rec)
	}}
	_, err := r.Run(ctx, job(&source{recs: records(30, "v1")}, h), engine.ModeOnce, nil)
	if !errors.Is(err, state.ErrFenced) {
		t.Fatalf("err = %v, want the run fenced off", err)
	}
	vs, _ := db.Versions(ctx, "customers")
	if len(vs) != 10 {
		t.Errorf("%d versions committed, want the first batch's 10 only", len(vs))
	}
	if _, ok, _ := db.LookupID(ctx, "customer", "k012"); ok {
		t.Error("the fenced batch's id map landed")
	}
	if n := events(t, db, "t.customer.upserted"); n != 10 {
		t.Errorf("%d upsert events, want the first batch's 10", n)
	}
	if l, ok, _ := db.Lease(ctx, "customers"); !ok || l.Owner != "other-host" {
		t.Errorf("lease = %+v, %v; the fenced run must not release the new holder's lease", l, ok)
	}
	runs, _ := db.LastRuns(ctx, 1)
	if len(runs) != 1 || runs[0].Status != state.RunCrashed {
		t.Errorf("runs = %+v; want the run the takeover marked crashed, not finished by the fenced process", runs)
	}
}

// TestSchedulerNext: while the scheduler runs, Next says when each job
// runs next (as cron has it); before and after, and for a job it does not
// schedule, it says it does not know.
func TestSchedulerNext(t *testing.T) {
	r, _ := newRunner(t)
	s := &engine.Scheduler{Runner: r, Jobs: []engine.Scheduled{{Spec: job(&source{}, &handler{}), Schedule: "@every 1h"}}}
	if _, ok := s.Next("customers"); ok {
		t.Fatal("a next run before the scheduler started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	var next time.Time
	for ok := false; !ok; next, ok = s.Next("customers") {
		if time.Now().After(deadline) {
			t.Fatal("no next run while the scheduler runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Until(next); d < 59*time.Minute || d > time.Hour {
		t.Errorf("next run in %s, want about an hour", d)
	}
	if _, ok := s.Next("orders"); ok {
		t.Error("a next run for a job not scheduled")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Next("customers"); ok {
		t.Error("a next run after the scheduler stopped")
	}
}
