package state_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

// batch is what one of a job's batches commits: every kind of row.
func batch(job, key string) func(tx *state.Tx) error {
	return func(tx *state.Tx) error {
		for _, step := range []func() error{
			func() error { return tx.SetVersion(job, key, "v1") },
			func() error { return tx.PutID("customer", key, "id-"+key, "") },
			func() error { return tx.ClearIntent(job, key) },
			func() error { return tx.AddEvent(state.Event{ID: job + "-" + key, Subject: "s", Data: []byte("{}")}) },
			func() error { return tx.AddDeadLetter(job, key+"-bad", "rejected", nil) },
			func() error { _, _, err := tx.Hold(job, key+"-held", "waiting"); return err },
			func() error { return tx.SetCheckpoint(job, "after-"+key) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestFencing: a lease holder paused past its lease's expiry, while
// another process took the job over, commits nothing when it wakes.
func TestFencing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		const ttl = time.Minute
		hostA, c := b.Open(t)
		hostB := b.Again(t, hostA, c)

		leaseA, err := hostA.AcquireLease(ctx, "customers", "a", ttl)
		if err != nil {
			t.Fatal(err)
		}
		a := hostA.Fenced(leaseA)
		if err := a.Update(ctx, batch("customers", "k1")); err != nil {
			t.Fatalf("A's commit while it holds the lease: %v", err)
		}
		runA, err := a.StartRun(ctx, "customers", "scheduled", "run-a")
		if err != nil {
			t.Fatal(err)
		}

		// A stops (SIGSTOP, a long GC pause); its lease expires and B takes over.
		c.Add(2 * ttl)
		leaseB, err := hostB.AcquireLease(ctx, "customers", "b", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if leaseB.Token != leaseA.Token+1 {
			t.Fatalf("B's token = %d, want A's %d + 1", leaseB.Token, leaseA.Token)
		}

		// A wakes and commits its next batch: refused, and nothing of it lands.
		called := false
		err = a.Update(ctx, func(tx *state.Tx) error { called = true; return batch("customers", "k2")(tx) })
		var fenced *state.FencedError
		if !errors.As(err, &fenced) || !errors.Is(err, state.ErrFenced) || !errors.Is(err, state.ErrLeaseLost) {
			t.Fatalf("A's commit after the takeover: %v, want a *FencedError", err)
		}
		if called {
			t.Error("the fenced transaction ran its function")
		}
		if fenced.Job != "customers" || fenced.Owner != "a" || fenced.Token != leaseA.Token ||
			fenced.Holder != "b" || fenced.HolderToken != leaseB.Token {
			t.Errorf("FencedError = %+v", fenced)
		}
		for _, want := range []string{"customers", "a", "b", "token"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not mention %q", err, want)
			}
		}
		if err := a.FinishRun(ctx, runA, state.RunResult{Status: state.RunOK}); !errors.Is(err, state.ErrFenced) {
			t.Errorf("A's FinishRun after the takeover: %v", err)
		}
		if _, err := a.StartRun(ctx, "customers", "scheduled", "run-a2"); !errors.Is(err, state.ErrFenced) {
			t.Errorf("A's StartRun after the takeover: %v", err)
		}
		if err := a.RecordIntent(ctx, "customers", "k3", "create", nil); !errors.Is(err, state.ErrFenced) {
			t.Errorf("A's RecordIntent after the takeover: %v", err)
		}
		if err := a.RenewLease(ctx, "customers", "a", ttl); !errors.Is(err, state.ErrLeaseLost) {
			t.Errorf("A's renewal after the takeover: %v", err)
		}
		if err := a.ReleaseLease(ctx, "customers", "a"); err != nil {
			t.Errorf("A's release after the takeover: %v", err)
		}
		assertNoTrace(t, hostB, "k2")
		if _, ok, err := hostB.Version(ctx, "customers", "k1"); err != nil || !ok {
			t.Fatalf("A's first commit lost: %v", err)
		}

		// B's commits go through, and A's run is the crashed one B found.
		fb := hostB.Fenced(leaseB)
		if err := fb.Update(ctx, batch("customers", "k4")); err != nil {
			t.Fatalf("B's commit: %v", err)
		}
		if v, ok, err := hostA.Version(ctx, "customers", "k4"); err != nil || !ok || v != "v1" {
			t.Errorf("B's version = %q, %v, %v", v, ok, err)
		}
		runs, err := hostA.LastRuns(ctx, 1)
		if err != nil || len(runs) != 1 || runs[0].ID != runA || runs[0].Status != state.RunCrashed {
			t.Errorf("runs = %+v, %v; want A's run crashed", runs, err)
		}

		// Even after B released the job and A acquired it anew, the old
		// view stays fenced: the token moved on.
		if err := fb.ReleaseLease(ctx, "customers", "b"); err != nil {
			t.Fatal(err)
		}
		again, err := hostA.AcquireLease(ctx, "customers", "a", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if again.Token != leaseB.Token+1 {
			t.Errorf("token after release and acquire = %d, want %d", again.Token, leaseB.Token+1)
		}
		if err := a.Update(ctx, batch("customers", "k5")); !errors.Is(err, state.ErrFenced) {
			t.Errorf("A's old view after A re-acquired: %v", err)
		}
		if err := hostA.Fenced(again).Update(ctx, batch("customers", "k5")); err != nil {
			t.Errorf("A's new view: %v", err)
		}
	})
}

// assertNoTrace checks that key's batch left no row anywhere.
func assertNoTrace(t *testing.T, db *state.DB, key string) {
	t.Helper()
	ctx := context.Background()
	if _, ok, err := db.Version(ctx, "customers", key); ok || err != nil {
		t.Errorf("version of %s committed (%v)", key, err)
	}
	if _, ok, err := db.LookupID(ctx, "customer", key); ok || err != nil {
		t.Errorf("id of %s committed (%v)", key, err)
	}
	evs, err := db.PendingEvents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if strings.HasSuffix(ev.ID, "-"+key) {
			t.Errorf("event %s committed", ev.ID)
		}
	}
	dls, err := db.DeadLetters(ctx, "customers", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		if strings.HasPrefix(d.Key, key+"-") {
			t.Errorf("dead letter %s committed", d.Key)
		}
	}
	holds, err := db.Holds(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holds {
		if strings.HasPrefix(h.Key, key+"-") {
			t.Errorf("hold %s committed", h.Key)
		}
	}
	if cp, err := db.Checkpoint(ctx, "customers"); err != nil || cp.Cursor == "after-"+key {
		t.Errorf("checkpoint = %+v, %v", cp, err)
	}
	if ins, err := db.Intents(ctx, "customers"); err != nil || len(ins) != 0 {
		t.Errorf("intents = %+v, %v", ins, err)
	}
}

// TestLeaseTokens: the token moves on with every new holder and never
// with an extension or a renewal.
func TestLeaseTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		const ttl = time.Minute
		acquire := func(owner string) state.Lease {
			t.Helper()
			l, err := db.AcquireLease(ctx, "cards", owner, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		if l := acquire("a"); l.Token != 1 {
			t.Fatalf("first token = %d, want 1", l.Token)
		}
		if l := acquire("a"); l.Token != 1 {
			t.Errorf("extension moved the token to %d", l.Token)
		}
		if err := db.RenewLease(ctx, "cards", "a", ttl); err != nil {
			t.Fatal(err)
		}
		if l, _, _ := db.Lease(ctx, "cards"); l.Token != 1 {
			t.Errorf("renewal moved the token to %d", l.Token)
		}
		// An expired lease nobody took: renewing keeps it, fenced writes pass.
		c.Add(2 * ttl)
		if err := db.Fenced(state.Lease{Job: "cards", Owner: "a", Token: 1}).Update(ctx, batch("cards", "x")); err != nil {
			t.Errorf("fenced commit on an expired lease nobody took: %v", err)
		}
		// Re-acquired after expiry, even by the same owner: a new token.
		if l := acquire("a"); l.Token != 2 {
			t.Errorf("token after expiry = %d, want 2", l.Token)
		}
		if err := db.ReleaseLease(ctx, "cards", "a"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.Lease(ctx, "cards"); ok {
			t.Error("released lease still listed")
		}
		if l := acquire("b"); l.Token != 3 {
			t.Errorf("token after release = %d, want 3", l.Token)
		}
		// Each job counts for itself.
		if l, err := db.AcquireLease(ctx, "orders", "b", ttl); err != nil || l.Token != 1 {
			t.Errorf("other job = %+v, %v", l, err)
		}
		// A lease that was never acquired fences nothing in.
		for _, l := range []state.Lease{{}, {Job: "cards"}, {Job: "nobody", Owner: "x", Token: 0}} {
			if err := db.Fenced(l).Update(ctx, func(*state.Tx) error { return nil }); err == nil {
				t.Errorf("fenced with %+v: no error", l)
			}
		}
	})
}

// TestTakeoverWaitsForACommitUnderWay: a fenced commit that passed its
// check finishes before another process's takeover, never after it.
func TestTakeoverWaitsForACommitUnderWay(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		const ttl = time.Minute
		hostA, c := b.Open(t)
		hostB := b.Again(t, hostA, c)
		leaseA, err := hostA.AcquireLease(ctx, "customers", "a", ttl)
		if err != nil {
			t.Fatal(err)
		}
		inside, proceed := make(chan struct{}), make(chan struct{})
		committed := make(chan error, 1)
		go func() {
			committed <- hostA.Fenced(leaseA).Update(ctx, func(tx *state.Tx) error {
				close(inside)
				<-proceed
				return batch("customers", "k1")(tx)
			})
		}()
		<-inside
		c.Add(2 * ttl)
		took := make(chan error, 1)
		go func() {
			_, err := hostB.AcquireLease(ctx, "customers", "b", ttl)
			took <- err
		}()
		select {
		case err := <-took:
			t.Fatalf("takeover did not wait for the commit under way: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(proceed)
		if err := <-committed; err != nil {
			t.Fatalf("A's commit: %v", err)
		}
		if err := <-took; err != nil {
			t.Fatalf("B's takeover: %v", err)
		}
		if _, ok, err := hostB.Version(ctx, "customers", "k1"); !ok || err != nil {
			t.Errorf("A's commit lost: %v", err)
		}
		if err := hostA.Fenced(leaseA).Update(ctx, batch("customers", "k2")); !errors.Is(err, state.ErrFenced) {
			t.Errorf("A's next commit: %v", err)
		}
	})
}

// A process stopped inside a transaction on PostgreSQL loses its session
// (idle_in_transaction_session_timeout, set short here through the DSN):
// its locks go, the job can be taken over, and it commits nothing.
func TestPostgresStoppedWriterLosesItsTransaction(t *testing.T) {
	ctx := context.Background()
	dsn := freshPostgres(t)
	c := newClock()
	hostA := pg.OpenAt(t, dsn+"&idle_in_transaction_session_timeout=300ms", c)
	hostB := pg.OpenAt(t, dsn, c)
	leaseA, err := hostA.AcquireLease(ctx, "customers", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = hostA.Fenced(leaseA).Update(ctx, func(tx *state.Tx) error {
		if err := batch("customers", "k1")(tx); err != nil {
			return err
		}
		time.Sleep(time.Second) // stopped mid-transaction
		return nil
	})
	if err == nil {
		t.Fatal("a transaction idle past the timeout committed")
	}
	assertNoTrace(t, hostB, "k1")
	c.Add(2 * time.Minute)
	if _, err := hostB.AcquireLease(ctx, "customers", "b", time.Minute); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	// The writer's pool reconnects; the old lease is fenced off.
	if err := hostA.Fenced(leaseA).Update(ctx, batch("customers", "k2")); !errors.Is(err, state.ErrFenced) {
		t.Errorf("A's next commit: %v", err)
	}
}
