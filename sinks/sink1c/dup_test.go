package sink1c_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/sources/sourcevp"
	"github.com/virtsync/virtsync/state"
)

// ordersJob is the orders job over the env's fakes: the real virtpos
// source and this handler, run by the real runner with 4 records of a
// batch in flight.
func (e *env) ordersJob(t *testing.T) (*engine.Runner, engine.JobSpec) {
	t.Helper()
	vc, err := virtposapi.New(virtposapi.Config{BaseURL: e.vp.URL, APIKey: "k",
		Retry: virtposapi.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	r := &engine.Runner{DB: e.db, Concurrency: 4, BatchSize: 200, Owner: "test",
		NewEvent: func(kind, what string, data any) (state.Event, error) {
			b, err := json.Marshal(data)
			seq++
			return state.Event{ID: fmt.Sprintf("ev-%d", seq), Subject: "t." + kind + "." + what, Data: b}, err
		}}
	return r, engine.JobSpec{Name: "orders", Kind: "order",
		Source:  &sourcevp.Orders{Client: vc, Full: true, Log: slog.New(slog.DiscardHandler)},
		Handler: e.h}
}

// TestOrderListedTwiceInOneResponseMakesOneDocument: virtpos lists one
// guid twice in a response; both copies would land in one batch and run
// at once. One document must come out.
func TestOrderListedTwiceInOneResponseMakesOneDocument(t *testing.T) {
	e := newEnv(t)
	// Every 1C call takes a while, so both copies are surely in flight
	// together, as on a real network.
	e.onec.SetLatency(20 * time.Millisecond)
	o := seedOrder()
	e.vp.AddOrder(*o)
	e.vp.AddOrder(*o)
	r, job := e.ordersJob(t)
	sum, err := r.Run(context.Background(), job, engine.ModeOnce, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if ds := e.docs("guid:" + orderKey); len(ds) != 1 {
		t.Fatalf("%d documents for the order listed twice, want 1 (summary %+v)", len(ds), sum.Counts)
	}
	if n := e.onec.Requests("POST", onectest.SetOrders); n != 1 {
		t.Fatalf("%d creates, want 1", n)
	}
}

// TestOrdersApplySameKeyConcurrently: the handler itself is safe when two
// records with one key run at once (a replay, a future source): the
// marker look-up and the create of one key never interleave.
func TestOrdersApplySameKeyConcurrently(t *testing.T) {
	e := newEnv(t)
	e.onec.SetLatency(20 * time.Millisecond)
	const n = 4
	errs := make(chan error, n)
	results := make(chan virtsync.Result, n)
	for range n {
		go func() {
			out, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
			errs <- err
			results <- out.Result
		}()
	}
	created := 0
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if <-results == virtsync.Created {
			created++
		}
	}
	if ds := e.docs(orderKey); len(ds) != 1 || created != 1 {
		t.Fatalf("%d documents, %d outcomes say created; want 1 and 1", len(ds), created)
	}
}

// TestLostRepliesOn1CWritesMakeNoDuplicate: 1C carries out a share of the
// writes (creates, updates, posting) and drops the reply. Runs of the
// orders job go on until one finishes clean; every order is then exactly
// one posted document: a create whose reply was lost is found by its
// marker, never sent again.
func TestLostRepliesOn1CWritesMakeNoDuplicate(t *testing.T) {
	e := newEnv(t)
	if err := e.onec.SetFaults(onectest.Faults{Seed: 7, LostReplyRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	e.h.Settings.Post = true
	const orders = 40
	for i := range orders {
		o := seedOrder()
		o.GUID = fmt.Sprintf("%s-%02d", orderKey, i)
		e.vp.AddOrder(*o)
	}
	r, job := e.ordersJob(t)
	runs := 0
	for ; ; runs++ {
		if runs == 30 {
			t.Fatal("no clean run in 30")
		}
		sum, err := r.Run(context.Background(), job, engine.ModeOnce, nil)
		if err == nil && sum.Counts[virtsync.Failed] == 0 && sum.Counts[virtsync.Held] == 0 {
			break
		}
	}
	lost := e.onec.FaultCounts()["lost_reply"]
	if lost == 0 {
		t.Fatal("no reply was lost: the test proves nothing")
	}
	for i := range orders {
		key := fmt.Sprintf("guid:%s-%02d", orderKey, i)
		ds := e.docs(key)
		if len(ds) != 1 {
			t.Fatalf("order %s: %d documents, want 1", key, len(ds))
		}
		if ds[0]["Posted"] != true {
			t.Fatalf("order %s: document not posted", key)
		}
	}
	if n := len(e.onec.All(onectest.SetOrders)); n != orders {
		t.Fatalf("%d documents in 1C for %d orders", n, orders)
	}
	t.Logf("%d replies lost; %d runs stopped before a clean one", lost, runs)
}
