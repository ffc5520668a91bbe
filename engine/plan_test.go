package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/state"
)

// sweepSource lists its records through the Known a real source uses:
// Changed for the page, Mark for what it saw, Unmarked for deletions (so
// a dry run exercises the sweep's TEMP table).
type sweepSource struct{ recs []engine.Record }

func (s *sweepSource) Scan(ctx context.Context, known engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	keys, versions := make([]string, len(s.recs)), make([]string, len(s.recs))
	for i, r := range s.recs {
		keys[i], versions[i] = r.Key, r.Version
	}
	st := engine.ScanStats{Seen: len(keys)}
	if _, err := known.Mark(ctx, keys); err != nil {
		return st, err
	}
	changed, _, err := known.Changed(ctx, keys, versions)
	if err != nil {
		return st, err
	}
	st.Unchanged = len(keys) - len(changed)
	for _, r := range s.recs {
		if slices.Contains(changed, r.Key) {
			if err := emit(r); err != nil {
				return st, err
			}
		}
	}
	err = known.Unmarked(ctx, 100, func(gone []string) error {
		for _, k := range gone {
			if err := emit(engine.Record{Key: k, Deleted: true}); err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}

// planHandler plans by key prefix: c create, u update, h hold, r reject,
// x a system failure; deletions are deleted. Apply must never be called.
type planHandler struct {
	applied  atomic.Int32
	prepared atomic.Int32
	planned  atomic.Int32
	interr   atomic.Int32 // Interrupted records seen
}

func (h *planHandler) Prepare(context.Context, *engine.RunInfo) error {
	return errors.New("Prepare called")
}
func (h *planHandler) Apply(context.Context, *engine.RunInfo, engine.Record) (engine.Outcome, error) {
	h.applied.Add(1)
	return engine.Outcome{}, errors.New("Apply called")
}
func (h *planHandler) PreparePlan(context.Context, *engine.RunInfo) error {
	h.prepared.Add(1)
	return nil
}
func (h *planHandler) Plan(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Planned, error) {
	h.planned.Add(1)
	if rec.Interrupted {
		h.interr.Add(1)
	}
	id, _, err := run.IDs.LookupID(ctx, "customer", rec.Key)
	if err != nil {
		return engine.Planned{}, err
	}
	switch {
	case rec.Deleted:
		return engine.Planned{Action: engine.ActionDelete, RemoteID: id}, nil
	case strings.HasPrefix(rec.Key, "c"):
		return engine.Planned{Action: engine.ActionCreate}, nil
	case strings.HasPrefix(rec.Key, "u"):
		return engine.Planned{Action: engine.ActionUpdate, Fields: []string{"email", "lname"}, RemoteID: id}, nil
	case strings.HasPrefix(rec.Key, "h"):
		return engine.Planned{}, engine.HoldFor("", "owner %s is not in virtpos yet", "o-"+rec.Key)
	case strings.HasPrefix(rec.Key, "r"):
		return engine.Planned{}, engine.Reject(nil, "customer %s: field phone (from Телефон): expected a phone number, got 5 digits", rec.Key)
	case strings.HasPrefix(rec.Key, "x"):
		return engine.Planned{}, errors.New("virtpos: invalid apikey")
	}
	return engine.Planned{Action: engine.ActionUnchanged, RemoteID: id}, nil
}

// snapshot is the state file's bytes and its WAL's.
type snapshot struct {
	db, wal []byte
}

func snap(t *testing.T, path string) snapshot {
	t.Helper()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return snapshot{db: db, wal: wal}
}

func (s snapshot) same(o snapshot) bool { return bytes.Equal(s.db, o.db) && bytes.Equal(s.wal, o.wal) }

// seedPlanState commits what earlier runs left: versions (one unchanged
// record, one changed, one gone from the source), ids, an intent, a hold
// near its limit, and closes the file so its WAL is folded in.
func seedPlanState(t *testing.T, path string) {
	t.Helper()
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx *state.Tx) error {
		for k, v := range map[string]string{"same": "v1", "u1": "v1", "gone": "v1"} {
			if err := tx.SetVersion("customers", k, v); err != nil {
				return err
			}
			if err := tx.PutID("customer", k, "id-"+k, ""); err != nil {
				return err
			}
		}
		if err := tx.PutIntent("customers", "c2", "create", nil); err != nil {
			return err
		}
		for range 2 { // two runs held h2 already: the next is its third
			if _, _, err := tx.Hold("customers", "h2", "waiting"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func planRunner(db *state.DB) *engine.Runner {
	return &engine.Runner{DB: db, BatchSize: 3, Concurrency: 3, HoldMaxAttempts: 3, Owner: "test",
		NewEvent: func(string, string, any) (state.Event, error) {
			return state.Event{}, errors.New("an event in a dry run")
		}}
}

func planRecords() []engine.Record {
	return []engine.Record{
		{Key: "c1", Version: "v1"}, {Key: "c2", Version: "v1"}, {Key: "u1", Version: "v2"},
		{Key: "same", Version: "v1"}, {Key: "h1", Version: "v1"}, {Key: "h2", Version: "v1"},
		{Key: "r1", Version: "v1"},
	}
}

func TestDryRunPlansEveryRecordAndWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	seedPlanState(t, path)
	before := snap(t, path)
	if before.wal != nil {
		t.Fatalf("a closed state file left a WAL of %d bytes", len(before.wal))
	}

	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opened := snap(t, path)
	h := &planHandler{}
	r := planRunner(db)
	var got []engine.Planned
	sum, err := r.Plan(context.Background(), job(&sweepSource{recs: planRecords()}, h), engine.ModeOnce, nil,
		func(p engine.Planned) error { got = append(got, p); return nil })
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if after := snap(t, path); !after.same(opened) {
		t.Fatalf("the dry run changed the state file: %d -> %d bytes, WAL %d -> %d bytes",
			len(opened.db), len(after.db), len(opened.wal), len(after.wal))
	}

	want := map[string]engine.Action{"c1": engine.ActionCreate, "c2": engine.ActionCreate, "u1": engine.ActionUpdate,
		"h1": engine.ActionHold, "h2": engine.ActionReject, "r1": engine.ActionReject, "gone": engine.ActionDelete}
	if len(got) != len(want) {
		t.Fatalf("planned %d records, want %d: %+v", len(got), len(want), got)
	}
	for _, p := range got {
		if p.Job != "customers" || want[p.Key] != p.Action {
			t.Errorf("%s: planned %+v, want %s", p.Key, p, want[p.Key])
		}
		switch p.Key {
		case "u1":
			if !slices.Equal(p.Fields, []string{"email", "lname"}) || p.RemoteID != "id-u1" {
				t.Errorf("update = %+v", p)
			}
		case "h1":
			if !strings.Contains(p.Reason, "owner o-h1 is not in virtpos yet") {
				t.Errorf("hold reason = %q", p.Reason)
			}
		case "h2":
			// Its third hold: Run would dead-letter it, and says so.
			if !strings.HasPrefix(p.Reason, "still waiting after 3 runs since ") {
				t.Errorf("outlasting hold's reason = %q", p.Reason)
			}
		case "r1":
			if !strings.Contains(p.Reason, "field phone") {
				t.Errorf("reject reason = %q", p.Reason)
			}
		case "gone":
			if p.RemoteID != "id-gone" {
				t.Errorf("delete = %+v", p)
			}
		}
	}
	wantCounts := map[engine.Action]int{engine.ActionCreate: 2, engine.ActionUpdate: 1, engine.ActionHold: 1,
		engine.ActionReject: 2, engine.ActionDelete: 1, engine.ActionUnchanged: 1}
	for _, a := range engine.Actions {
		if sum.Counts[a] != wantCounts[a] {
			t.Errorf("count %s = %d, want %d (all %v)", a, sum.Counts[a], wantCounts[a], sum.Counts)
		}
	}
	if sum.Seen != 7 || sum.Job != "customers" || sum.Mode != engine.ModeOnce || sum.Err != nil {
		t.Errorf("summary = %+v", sum)
	}
	if h.applied.Load() != 0 || h.prepared.Load() != 1 || h.interr.Load() != 1 {
		t.Errorf("handler: applied %d, prepared for a plan %d, interrupted seen %d; want 0, 1, 1",
			h.applied.Load(), h.prepared.Load(), h.interr.Load())
	}

	// Nothing committed anywhere a reader can see either.
	ctx := context.Background()
	if _, held, err := db.Lease(ctx, "customers"); err != nil || held {
		t.Errorf("lease after a dry run: %v %v", held, err)
	}
	if runs, err := db.LastRuns(ctx, 10); err != nil || len(runs) != 0 {
		t.Errorf("runs after a dry run: %+v %v", runs, err)
	}
	if evs, err := db.PendingEvents(ctx, 0); err != nil || len(evs) != 0 {
		t.Errorf("events after a dry run: %d %v", len(evs), err)
	}
	if cp, err := db.Checkpoint(ctx, "customers"); err != nil || !cp.LastSuccessAt.IsZero() {
		t.Errorf("checkpoint after a dry run: %+v %v", cp, err)
	}
	if dls, err := db.DeadLetters(ctx, "customers", ""); err != nil || len(dls) != 0 {
		t.Errorf("dead letters after a dry run: %+v %v", dls, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if closed := snap(t, path); !closed.same(before) {
		t.Fatalf("the state file differs from before the dry run: %d -> %d bytes", len(before.db), len(closed.db))
	}
}

func TestDryRunResyncPlansUnchangedRecordsToo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	seedPlanState(t, path)
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opened := snap(t, path)
	h := &planHandler{}
	n := 0
	sum, err := planRunner(db).Plan(context.Background(), job(&sweepSource{recs: planRecords()}, h), engine.ModeResync, nil,
		func(engine.Planned) error { n++; return nil })
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	// A resync ignores the committed versions: "same" is asked too.
	if n != 8 || h.planned.Load() != 8 || sum.Counts[engine.ActionUnchanged] != 1 {
		t.Fatalf("planned %d (handler %d), counts %v", n, h.planned.Load(), sum.Counts)
	}
	if !snap(t, path).same(opened) {
		t.Fatal("the resync dry run changed the state file")
	}
}

func TestDryRunOfOnlySomeKeys(t *testing.T) {
	r, _ := newRunner(t)
	r.BatchSize = 2
	var keys []string
	_, err := r.Plan(context.Background(), job(&sweepSource{recs: planRecords()}, &planHandler{}), engine.ModeReplay,
		[]string{"u1", "r1"}, func(p engine.Planned) error { keys = append(keys, p.Key); return nil })
	if err != nil || !slices.Equal(keys, []string{"u1", "r1"}) {
		t.Fatalf("planned %v, err %v; want u1 and r1 alone", keys, err)
	}
}

func TestDryRunStopsAtASystemFailure(t *testing.T) {
	r, db := newRunner(t)
	r.Concurrency = 1
	recs := append(planRecords()[:2], engine.Record{Key: "x1", Version: "v"}, engine.Record{Key: "c9", Version: "v"})
	var keys []string
	sum, err := r.Plan(context.Background(), job(&sweepSource{recs: recs}, &planHandler{}), engine.ModeOnce, nil,
		func(p engine.Planned) error { keys = append(keys, p.Key); return nil })
	if err == nil || !strings.Contains(err.Error(), "record x1: virtpos: invalid apikey") || sum.Err != err {
		t.Fatalf("err = %v, summary err %v", err, sum.Err)
	}
	// c9 may have started before the failure stopped dispatch.
	if len(keys) < 2 || !slices.Equal(keys[:2], []string{"c1", "c2"}) || slices.Contains(keys, "x1") {
		t.Fatalf("planned %v before the failure, want c1 c2 (and maybe c9)", keys)
	}
	if _, held, _ := db.Lease(context.Background(), "customers"); held {
		t.Fatal("a failed dry run left a lease")
	}
}

func TestDryRunBesideARunningJob(t *testing.T) {
	r, db := newRunner(t)
	// Another process runs the job: a dry run neither waits for nor takes
	// its lease.
	if _, err := db.AcquireLease(context.Background(), "customers", "daemon", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := r.Plan(context.Background(), job(&sweepSource{recs: planRecords()}, &planHandler{}), engine.ModeOnce, nil,
		func(engine.Planned) error { return nil })
	if err != nil {
		t.Fatalf("dry run beside a held lease: %v", err)
	}
	l, held, err := db.Lease(context.Background(), "customers")
	if err != nil || !held || l.Owner != "daemon" {
		t.Fatalf("lease = %+v %v %v, want the daemon's", l, held, err)
	}
}

func TestDryRunNeedsAPlanner(t *testing.T) {
	r, _ := newRunner(t)
	h := &handler{apply: upsert}
	_, err := r.Plan(context.Background(), job(&sweepSource{recs: planRecords()}, h), engine.ModeOnce, nil,
		func(engine.Planned) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot plan") || h.calls.Load() != 0 {
		t.Fatalf("err = %v, Apply calls %d", err, h.calls.Load())
	}
}

func TestDryRunHoldWaitingForAFirstLoadDoesNotAge(t *testing.T) {
	r, db := newRunner(t)
	r.HoldMaxAttempts = 1 // any aging hold would be a reject
	h := &waitingHandler{}
	var got []engine.Planned
	_, err := r.Plan(context.Background(), engine.JobSpec{Name: "cards", Kind: "card",
		Source: &sweepSource{recs: []engine.Record{{Key: "k1", Version: "v"}}}, Handler: h}, engine.ModeOnce, nil,
		func(p engine.Planned) error { got = append(got, p); return nil })
	if err != nil || len(got) != 1 || got[0].Action != engine.ActionHold {
		t.Fatalf("planned %+v, err %v; want one hold", got, err)
	}
	// Once customers has finished a run, the same hold ages out.
	if err := db.Update(context.Background(), func(tx *state.Tx) error {
		return tx.MarkSuccess(virtsync.JobCustomers, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	got = nil
	_, err = r.Plan(context.Background(), engine.JobSpec{Name: "cards", Kind: "card",
		Source: &sweepSource{recs: []engine.Record{{Key: "k1", Version: "v"}}}, Handler: h}, engine.ModeOnce, nil,
		func(p engine.Planned) error { got = append(got, p); return nil })
	if err != nil || len(got) != 1 || got[0].Action != engine.ActionReject {
		t.Fatalf("planned %+v, err %v; want one reject", got, err)
	}
}

type waitingHandler struct{ planHandler }

func (h *waitingHandler) Plan(context.Context, *engine.RunInfo, engine.Record) (engine.Planned, error) {
	return engine.Planned{}, engine.HoldFor(virtsync.JobCustomers, "owner o1 is not synced to virtpos yet")
}
