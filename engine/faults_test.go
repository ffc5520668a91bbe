package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/state"
)

func TestRejectionsAlikeStopTheRunAsASystemFault(t *testing.T) {
	cases := []struct {
		name       string
		n          int
		reject     func(rec engine.Record) bool
		reason     func(rec engine.Record) string
		wantFault  bool
		wantFailed int
	}{
		{
			name:      "every record rejected with one reason is a system fault and nothing is dead-lettered",
			n:         100,
			reject:    func(engine.Record) bool { return true },
			reason:    func(rec engine.Record) string { return "virtpos rejected customer " + rec.Key + ": invalid apikey" },
			wantFault: true,
		},
		{
			name:      "an empty info for everything is a system fault too",
			n:         60,
			reject:    func(engine.Record) bool { return true },
			reason:    func(engine.Record) string { return "rejected (success=0, no info)" },
			wantFault: true,
		},
		{
			name:       "rejections with different reasons are record faults",
			n:          40,
			reject:     func(engine.Record) bool { return true },
			reason:     func(rec engine.Record) string { return "bad field " + rec.Key[len(rec.Key)-1:] + rec.Key[1:2] },
			wantFailed: 40,
		},
		{
			name:       "one reason interrupted by successes is a record fault",
			n:          60,
			reject:     func(rec engine.Record) bool { return rec.Key[len(rec.Key)-1] != '0' },
			reason:     func(engine.Record) string { return "Неверный формат телефона" },
			wantFailed: 54,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, db := newRunner(t)
			r.MaxIdenticalRejections = 20
			r.Concurrency = 1 // the "in a row" of the last case depends on order
			ctx := context.Background()
			h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
				if tc.reject(rec) {
					return engine.Outcome{}, engine.Reject(nil, "%s", tc.reason(rec))
				}
				return upsert(rec)
			}}
			src := &source{recs: records(tc.n, "v1")}
			sum, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
			var fault *engine.SystemFaultError
			if got := errors.As(err, &fault); got != tc.wantFault {
				t.Fatalf("system fault = %v (err %v), want %v", got, err, tc.wantFault)
			}
			dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen)
			if len(dls) != tc.wantFailed || sum.Counts[virtsync.Failed] != tc.wantFailed {
				t.Fatalf("%d dead letters, %d failed; want %d", len(dls), sum.Counts[virtsync.Failed], tc.wantFailed)
			}
			if !tc.wantFault {
				return
			}
			if calls := h.calls.Load(); calls > 25 {
				t.Fatalf("the run went on for %d records after the fault was plain", calls)
			}
			vs, _ := db.Versions(ctx, "customers")
			if len(vs) != 0 {
				t.Fatalf("%d versions committed for records that were not really rejected", len(vs))
			}
			if strings.Contains(err.Error(), "k00") {
				t.Fatalf("the fault names one record as if it were its own: %v", err)
			}
			// Fixed (the key, the account): the next run pushes everything.
			h.apply = upsert
			sum, err = r.Run(ctx, job(src, h), engine.ModeOnce, nil)
			if err != nil || sum.Counts[virtsync.Created] != tc.n {
				t.Fatalf("after the fix: err=%v created=%d, want %d", err, sum.Counts[virtsync.Created], tc.n)
			}
		})
	}
}

func TestAStreakAcrossBatchesIsJudgedWhole(t *testing.T) {
	r, db := newRunner(t)
	r.MaxIdenticalRejections = 15 // BatchSize is 10: the streak spans batches
	r.Concurrency = 1
	ctx := context.Background()
	// 5 good records, then everything rejected alike.
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key < "k005" {
			return upsert(rec)
		}
		return engine.Outcome{}, engine.Reject(nil, "account suspended")
	}}
	_, err := r.Run(ctx, job(&source{recs: records(50, "v1")}, h), engine.ModeOnce, nil)
	var fault *engine.SystemFaultError
	if !errors.As(err, &fault) {
		t.Fatalf("err = %v, want a system fault", err)
	}
	dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen)
	if len(dls) != 0 {
		t.Fatalf("%d dead letters; the first batch's share of the streak must not be committed either", len(dls))
	}
	if vs, _ := db.Versions(ctx, "customers"); len(vs) != 5 {
		t.Fatalf("%d versions, want the 5 records really pushed", len(vs))
	}
}

func TestAShortStreakAtTheEndIsCommittedAsDeadLetters(t *testing.T) {
	r, db := newRunner(t)
	r.MaxIdenticalRejections = 15
	r.Concurrency = 1
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key >= "k015" {
			return engine.Outcome{}, engine.Reject(nil, "phone format")
		}
		return upsert(rec)
	}}
	sum, err := r.Run(ctx, job(&source{recs: records(22, "v1")}, h), engine.ModeOnce, nil)
	if err != nil || sum.Counts[virtsync.Failed] != 7 {
		t.Fatalf("err=%v failed=%d, want the 7 rejections as dead letters", err, sum.Counts[virtsync.Failed])
	}
	if dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen); len(dls) != 7 {
		t.Fatalf("%d dead letters, want 7", len(dls))
	}
}

func TestASystemErrorStopsDispatchingAtOnce(t *testing.T) {
	r, db := newRunner(t)
	r.BatchSize = 200
	r.Concurrency = 4
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		return engine.Outcome{}, errors.New("virtpos unavailable")
	}}
	_, err := r.Run(ctx, job(&source{recs: records(200, "v1")}, h), engine.ModeOnce, nil)
	if err == nil || !strings.Contains(err.Error(), "virtpos unavailable") {
		t.Fatalf("err = %v", err)
	}
	if calls := h.calls.Load(); calls > 8 {
		t.Fatalf("%d records were sent after the first system error, want at most a worker's share", calls)
	}
	if vs, _ := db.Versions(ctx, "customers"); len(vs) != 0 {
		t.Fatalf("%d versions committed", len(vs))
	}
}

func TestAHoldDoesNotAgeWhileTheJobItWaitsForHasNeverFinished(t *testing.T) {
	r, db := newRunner(t) // HoldMaxAttempts 3
	ctx := context.Background()
	waiting := true
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if waiting {
			return engine.Outcome{}, engine.HoldFor("customers", "customer %s not in virtpos yet", rec.Key)
		}
		return upsert(rec)
	}}
	orders := engine.JobSpec{Name: "orders", Kind: "order", Source: &source{recs: records(5, "v1")}, Handler: h}
	for i := 0; i < 10; i++ {
		sum, err := r.Run(ctx, orders, engine.ModeScheduled, nil)
		if err != nil || sum.Counts[virtsync.Held] != 5 || sum.Counts[virtsync.Failed] != 0 {
			t.Fatalf("run %d during the first load: err=%v held=%d failed=%d", i, err, sum.Counts[virtsync.Held], sum.Counts[virtsync.Failed])
		}
	}
	// The customers job finishes its first run: from now on holds age.
	if err := db.Update(ctx, func(tx *state.Tx) error { return tx.MarkSuccess("customers", time.Now()) }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		sum, _ := r.Run(ctx, orders, engine.ModeScheduled, nil)
		wantFailed := 0
		if i == 3 {
			wantFailed = 5
		}
		if sum.Counts[virtsync.Failed] != wantFailed {
			t.Fatalf("run %d after the first load: failed=%d, want %d", i, sum.Counts[virtsync.Failed], wantFailed)
		}
	}
}

func TestInterruptedCreatesAreMarkedForTheHandler(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx *state.Tx) error { return tx.PutIntent("customers", "k001", "create", nil) }); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		got[rec.Key] = rec.Interrupted
		return upsert(rec)
	}}
	r.Concurrency = 1
	if _, err := r.Run(ctx, job(&source{recs: records(3, "v1")}, h), engine.ModeOnce, nil); err != nil {
		t.Fatal(err)
	}
	if !got["k001"] || got["k000"] || got["k002"] {
		t.Fatalf("interrupted flags %v, want only k001", got)
	}
	if in, _ := db.Intents(ctx, "customers"); len(in) != 0 {
		t.Fatalf("%d intents left", len(in))
	}
}

func TestASmallRunRejectedAlikeIsASystemFault(t *testing.T) {
	r, db := newRunner(t) // MaxIdenticalRejections defaults to 25: far above this run
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		return engine.Outcome{}, engine.Reject(nil, "virtpos customer_update: rejected (success=0, no info)")
	}}
	_, err := r.Run(ctx, job(&source{recs: records(5, "v1")}, h), engine.ModeOnce, nil)
	var fault *engine.SystemFaultError
	if !errors.As(err, &fault) {
		t.Fatalf("err = %v, want a system fault", err)
	}
	if dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen); len(dls) != 0 {
		t.Fatalf("%d dead letters", len(dls))
	}
	// Two records rejected alike are still their own fault.
	r2, db2 := newRunner(t)
	sum, err := r2.Run(ctx, job(&source{recs: records(2, "v1")}, h), engine.ModeOnce, nil)
	if err != nil || sum.Counts[virtsync.Failed] != 2 {
		t.Fatalf("two records: err=%v failed=%d", err, sum.Counts[virtsync.Failed])
	}
	if dls, _ := db2.DeadLetters(ctx, "customers", state.DeadLetterOpen); len(dls) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dls))
	}
}

func TestRejectionsJustBeforeASystemErrorAreNotDeadLettered(t *testing.T) {
	r, db := newRunner(t)
	r.Concurrency = 1
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		switch {
		case rec.Key < "k003":
			return upsert(rec)
		case rec.Key < "k008":
			return engine.Outcome{}, engine.Reject(nil, "rejected (success=0, no info)")
		}
		return engine.Outcome{}, errors.New("virtpos unavailable: HTTP 502")
	}}
	_, err := r.Run(ctx, job(&source{recs: records(30, "v1")}, h), engine.ModeOnce, nil)
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v", err)
	}
	if dls, _ := db.DeadLetters(ctx, "customers", state.DeadLetterOpen); len(dls) != 0 {
		t.Fatalf("%d dead letters: the rejections that led into the outage were committed", len(dls))
	}
	if vs, _ := db.Versions(ctx, "customers"); len(vs) != 3 {
		t.Fatalf("%d versions, want the 3 records really pushed", len(vs))
	}
}

func TestIntentsOfRecordsNeverSentAreDropped(t *testing.T) {
	r, db := newRunner(t)
	r.BatchSize, r.Concurrency = 50, 1
	ctx := context.Background()
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if rec.Key == "k002" {
			return engine.Outcome{}, errors.New("virtpos unavailable")
		}
		return upsert(rec)
	}}
	if _, err := r.Run(ctx, job(&source{recs: records(50, "v1")}, h), engine.ModeOnce, nil); err == nil {
		t.Fatal("the run did not stop")
	}
	in, _ := db.Intents(ctx, "customers")
	if len(in) != 1 || in[0].Key != "k002" {
		t.Fatalf("intents left %v, want only the record whose call failed (k002)", in)
	}
}

func TestAHoldUnsureOfItsCreateKeepsTheIntent(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	interrupted := map[string]bool{}
	first := true
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		interrupted[rec.Key] = rec.Interrupted
		if first {
			return engine.Outcome{}, &engine.HeldError{Reason: "reply lost, not listed yet", KeepIntent: true}
		}
		return upsert(rec)
	}}
	src := &source{recs: records(1, "v1")}
	if sum, _ := r.Run(ctx, job(src, h), engine.ModeOnce, nil); sum.Counts[virtsync.Held] != 1 {
		t.Fatalf("held %d", sum.Counts[virtsync.Held])
	}
	if in, _ := db.Intents(ctx, "customers"); len(in) != 1 {
		t.Fatalf("%d intents after the unsure hold, want 1", len(in))
	}
	first = false
	if _, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil); err != nil {
		t.Fatal(err)
	}
	if !interrupted["k000"] {
		t.Fatal("the next run did not tell the handler about the unsure create")
	}
}
