package state_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

func TestRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)

		var ids []int64
		for i, job := range []string{"customers", "customers", "customers", "cards"} {
			id, err := db.StartRun(ctx, job, "scheduled", "run"+string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			c.Add(time.Second)
		}
		res := state.RunResult{Status: state.RunPartial, Created: 1, Updated: 2, Unchanged: 3, Deleted: 4, Failed: 5, Held: 6, Error: ""}
		if err := db.FinishRun(ctx, ids[2], res); err != nil {
			t.Fatal(err)
		}

		t.Run("finish errors", func(t *testing.T) {
			if err := db.FinishRun(ctx, 999, state.RunResult{Status: state.RunOK}); !errors.Is(err, state.ErrNotFound) {
				t.Errorf("unknown id: %v", err)
			}
			for _, s := range []string{"", state.RunRunning, state.RunCrashed, "bogus"} {
				if err := db.FinishRun(ctx, ids[0], state.RunResult{Status: s}); err == nil {
					t.Errorf("status %q accepted", s)
				}
			}
		})

		runs, err := db.LastRuns(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
		}
		// cards first (job order), then customers newest first, two per job.
		if want := []int64{ids[3], ids[2], ids[1]}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("LastRuns ids = %v, want %v", got, want)
		}
		r := runs[1]
		if r.Status != state.RunPartial || r.Created != 1 || r.Updated != 2 || r.Unchanged != 3 || r.Deleted != 4 ||
			r.Failed != 5 || r.Held != 6 || r.RunID != "runc" || r.Mode != "scheduled" || r.FinishedAt.IsZero() {
			t.Errorf("finished run = %+v", r)
		}
		if runs[0].Status != state.RunRunning || !runs[0].FinishedAt.IsZero() {
			t.Errorf("running run = %+v", runs[0])
		}
		if one, _ := db.LastRuns(ctx, 0); len(one) != 2 {
			t.Errorf("LastRuns(0) = %d rows, want one per job", len(one))
		}
	})
}

func TestLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		// A second handle on the file: the other process.
		other := b.Again(t, db, c)
		other.PID = 4242
		other.Host = "other-host"
		const ttl = time.Minute

		l, err := db.AcquireLease(ctx, "customers", "daemon", ttl)
		if err != nil {
			t.Fatal(err)
		}
		host, _ := os.Hostname()
		if l.Owner != "daemon" || l.PID != os.Getpid() || l.Host != host || !l.ExpiresAt.Equal(c.Now().Add(ttl)) {
			t.Errorf("lease = %+v", l)
		}
		acquired := l.AcquiredAt

		t.Run("contention", func(t *testing.T) {
			_, err := other.AcquireLease(ctx, "customers", "cli-resync", ttl)
			var held *state.LeaseHeldError
			if !errors.As(err, &held) || !errors.Is(err, state.ErrLeaseHeld) {
				t.Fatalf("err = %v, want *LeaseHeldError", err)
			}
			if held.Owner != "daemon" || held.Job != "customers" || held.PID != os.Getpid() || !held.Since.Equal(acquired) ||
				!held.Expires.Equal(acquired.Add(ttl)) {
				t.Errorf("held = %+v", held)
			}
			if !strings.Contains(err.Error(), "daemon") {
				t.Errorf("message %q does not name the owner", err)
			}
			// Another job is free.
			if _, err := other.AcquireLease(ctx, "cards", "cli-resync", ttl); err != nil {
				t.Errorf("other job: %v", err)
			}
		})

		t.Run("renew and re-acquire by owner", func(t *testing.T) {
			c.Add(50 * time.Second)
			if err := db.RenewLease(ctx, "customers", "daemon", ttl); err != nil {
				t.Fatal(err)
			}
			c.Add(50 * time.Second) // past the first expiry, within the renewed one
			if _, err := other.AcquireLease(ctx, "customers", "cli-resync", ttl); !errors.Is(err, state.ErrLeaseHeld) {
				t.Fatalf("renewed lease taken: %v", err)
			}
			l, err := db.AcquireLease(ctx, "customers", "daemon", ttl)
			if err != nil || !l.AcquiredAt.Equal(acquired) {
				t.Errorf("re-acquire = %+v, %v; want AcquiredAt kept", l, err)
			}
		})

		t.Run("takeover after expiry", func(t *testing.T) {
			runID, err := db.StartRun(ctx, "customers", "scheduled", "r1")
			if err != nil {
				t.Fatal(err)
			}
			c.Add(2 * ttl)
			l, err := other.AcquireLease(ctx, "customers", "cli-resync", ttl)
			if err != nil {
				t.Fatalf("takeover: %v", err)
			}
			if l.Owner != "cli-resync" || l.PID != 4242 || l.Host != "other-host" {
				t.Errorf("lease = %+v", l)
			}
			// The old owner finds out on renewal, and its release is harmless.
			if err := db.RenewLease(ctx, "customers", "daemon", ttl); !errors.Is(err, state.ErrLeaseLost) {
				t.Errorf("renew after takeover: %v", err)
			}
			if err := db.ReleaseLease(ctx, "customers", "daemon"); err != nil {
				t.Errorf("foreign release: %v", err)
			}
			got, ok, err := db.Lease(ctx, "customers")
			if err != nil || !ok || got.Owner != "cli-resync" || !got.Live(c.Now()) {
				t.Errorf("Lease = %+v, %v, %v", got, ok, err)
			}
			// The run the dead owner left behind is marked crashed.
			runs, _ := db.LastRuns(ctx, 1)
			for _, r := range runs {
				if r.ID == runID && (r.Status != state.RunCrashed || r.Error == "") {
					t.Errorf("orphan run = %+v", r)
				}
			}
		})

		t.Run("release", func(t *testing.T) {
			if err := other.ReleaseLease(ctx, "customers", "cli-resync"); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := db.Lease(ctx, "customers"); ok || err != nil {
				t.Errorf("lease after release: %v, %v", ok, err)
			}
			if err := other.RenewLease(ctx, "customers", "cli-resync", ttl); !errors.Is(err, state.ErrLeaseLost) {
				t.Errorf("renew after release: %v", err)
			}
			ls, err := db.Leases(ctx)
			if err != nil || len(ls) != 1 || ls[0].Job != "cards" {
				t.Errorf("Leases = %+v, %v", ls, err)
			}
		})

		t.Run("bad arguments", func(t *testing.T) {
			if _, err := db.AcquireLease(ctx, "x", "", ttl); err == nil {
				t.Error("empty owner accepted")
			}
			if _, err := db.AcquireLease(ctx, "x", "o", 0); err == nil {
				t.Error("zero ttl accepted")
			}
		})
	})
}

// TestOpenMarksCrashedRuns: a run left 'running' whose lease has expired
// belonged to a process that died; one under a live lease is left alone.
func TestOpenMarksCrashedRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		if _, err := db.AcquireLease(ctx, "customers", "dead", time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AcquireLease(ctx, "cards", "alive", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartRun(ctx, "customers", "once", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartRun(ctx, "cards", "once", "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartRun(ctx, "orders", "once", "c"); err != nil { // no lease at all
			t.Fatal(err)
		}
		c.Add(10 * time.Minute)

		again := b.Again(t, db, c)
		runs, err := again.LastRuns(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"cards": state.RunRunning, "customers": state.RunCrashed, "orders": state.RunCrashed}
		for _, r := range runs {
			if r.Status != want[r.Job] {
				t.Errorf("%s run status = %s, want %s", r.Job, r.Status, want[r.Job])
			}
			if r.Status == state.RunCrashed && !r.FinishedAt.Equal(c.Now()) {
				t.Errorf("%s crashed run FinishedAt = %v", r.Job, r.FinishedAt)
			}
		}
	})
}
