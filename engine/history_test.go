package engine_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/state"
)

// keyedHandler records the fingerprint key each run hands it.
type keyedHandler struct {
	handler
	mu   sync.Mutex
	keys [][]byte
}

func (h *keyedHandler) Prepare(_ context.Context, run *engine.RunInfo) error {
	h.mu.Lock()
	h.keys = append(h.keys, run.FingerprintKey)
	h.mu.Unlock()
	return nil
}

// TestOutcomeLogged: each committed outcome lands in its record's log with
// the run's id, the result, the ids of the events the outcome put in the
// outbox and the handler's fingerprint; a rejection with its failed event,
// a hold with none.
func TestOutcomeLogged(t *testing.T) {
	r, db := newRunner(t)
	ctx := context.Background()
	version := "v1"
	h := &keyedHandler{handler: handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		switch rec.Key {
		case "k001":
			return engine.Outcome{}, engine.Reject(nil, "bad phone")
		case "k002":
			return engine.Outcome{}, engine.Hold("owner not synced")
		}
		out, err := upsert(rec)
		if version == "v2" {
			out.Result = virtsync.Updated
		}
		out.Fingerprint = "fp-" + rec.Version
		return out, err
	}}}
	src := &source{recs: records(3, version)}
	first, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if err != nil {
		t.Fatal(err)
	}
	outbox, err := db.PendingEvents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	version = "v2"
	src.recs = records(3, version)
	second, err := r.Run(ctx, job(src, h), engine.ModeOnce, nil)
	if err != nil {
		t.Fatal(err)
	}

	key, err := db.FingerprintKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.keys) != 2 || !bytes.Equal(h.keys[0], key) || !bytes.Equal(h.keys[1], key) {
		t.Errorf("the runs handed the handler keys %x, want the state's key each time", h.keys)
	}

	// The ids logged are the ids of the outbox rows the run added.
	byID := map[string]state.Event{}
	for _, ev := range outbox {
		byID[ev.ID] = ev
	}
	log0, err := db.RecordLog(ctx, "customers", "k000")
	if err != nil {
		t.Fatal(err)
	}
	if len(log0) != 2 {
		t.Fatalf("k000 log = %+v, want the two runs", log0)
	}
	for i, want := range []struct {
		run, result, fp string
	}{{first.RunID, "created", "fp-v1"}, {second.RunID, "updated", "fp-v2"}} {
		e := log0[i]
		if e.RunID != want.run || e.Result != want.result || e.Fingerprint != want.fp || e.At.IsZero() {
			t.Errorf("k000 entry %d = %+v, want run %s %s %s", i, e, want.run, want.result, want.fp)
		}
		if len(e.Events) != 1 || e.Events[0].Type != "customer.upserted" {
			t.Errorf("k000 entry %d events = %+v, want one customer.upserted", i, e.Events)
		}
	}
	ev, ok := byID[log0[0].Events[0].ID]
	if !ok || ev.Subject != "t.customer.upserted" || !bytes.Contains(ev.Data, []byte(`"external_id":"k000"`)) {
		t.Errorf("the logged event id %q is not k000's outbox row (%+v)", log0[0].Events[0].ID, ev)
	}

	failed, err := db.RecordLog(ctx, "customers", "k001")
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) == 0 || failed[0].Result != "failed" || failed[0].Fingerprint != "" ||
		len(failed[0].Events) != 1 || failed[0].Events[0].Type != "customer.failed" {
		t.Fatalf("k001 log = %+v, want failed with its customer.failed event", failed)
	}
	if ev, ok := byID[failed[0].Events[0].ID]; !ok || ev.Subject != "t.customer.failed" {
		t.Errorf("k001's failed event %q is not in the outbox", failed[0].Events[0].ID)
	}

	held, err := db.RecordLog(ctx, "customers", "k002")
	if err != nil {
		t.Fatal(err)
	}
	// Held in both runs: a hold after a hold is one entry, moved forward.
	if len(held) != 1 || held[0].Result != "held" || len(held[0].Events) != 0 {
		t.Errorf("k002 log = %+v, want one held entry, no events", held)
	}
}
