package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

func TestDeadLetters(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		fail := func(job, key, reason string, payload []byte) {
			t.Helper()
			mustUpdate(t, db, func(tx *state.Tx) error { return tx.AddDeadLetter(job, key, reason, payload) })
			c.Add(time.Minute)
		}
		find := func(job, key string) state.DeadLetter {
			t.Helper()
			dls, err := db.DeadLetters(ctx, job, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range dls {
				if d.Key == key {
					return d
				}
			}
			t.Fatalf("no dead letter %s/%s", job, key)
			return state.DeadLetter{}
		}

		t0 := c.Now()
		fail("customers", "k1", "400 bad phone", []byte("p1"))
		fail("customers", "k1", "400 bad phone again", nil)
		fail("customers", "k1", "400 third", nil)
		fail("customers", "k2", "422", nil)
		fail("cards", "c1", "404 owner", nil)

		d := find("customers", "k1")
		if d.Attempts != 3 || d.Reason != "400 third" || string(d.Payload) != "p1" || d.Status != state.DeadLetterOpen {
			t.Errorf("k1 = %+v", d)
		}
		if !d.FirstFailedAt.Equal(t0) || !d.LastFailedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("k1 times = %v .. %v", d.FirstFailedAt, d.LastFailedAt)
		}

		tests := []struct {
			name, job, status string
			want              int
		}{
			{"all", "", "", 3},
			{"one job", "customers", "", 2},
			{"open", "", state.DeadLetterOpen, 3},
			{"replay none yet", "", state.DeadLetterReplay, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dls, err := db.DeadLetters(ctx, tt.job, tt.status)
				if err != nil || len(dls) != tt.want {
					t.Errorf("DeadLetters(%q, %q) = %d rows, %v; want %d", tt.job, tt.status, len(dls), err, tt.want)
				}
			})
		}
		if dls, _ := db.DeadLetters(ctx, "", ""); dls[0].Key != "c1" {
			t.Errorf("not most recent first: %+v", dls)
		}

		n, err := db.QueueReplay(ctx, "customers")
		if err != nil || n != 2 {
			t.Fatalf("QueueReplay = %d, %v", n, err)
		}
		keys, err := db.ReplayKeys(ctx, "customers")
		if err != nil || len(keys) != 2 || keys[0] != "k1" || keys[1] != "k2" {
			t.Errorf("ReplayKeys = %v, %v", keys, err)
		}
		if keys, _ := db.ReplayKeys(ctx, "cards"); len(keys) != 0 {
			t.Errorf("cards replay keys = %v", keys)
		}

		// The replay: k1 goes through, k2 fails again and is open again.
		mustUpdate(t, db, func(tx *state.Tx) error {
			if err := tx.ResolveDeadLetter("customers", "k1"); err != nil {
				return err
			}
			if err := tx.ResolveDeadLetter("customers", "never-failed"); err != nil {
				return err
			}
			return tx.AddDeadLetter("customers", "k2", "422 still", nil)
		})
		if d := find("customers", "k1"); d.Status != state.DeadLetterResolved {
			t.Errorf("k1 status = %s", d.Status)
		}
		if d := find("customers", "k2"); d.Status != state.DeadLetterOpen || d.Attempts != 2 {
			t.Errorf("k2 = %+v", d)
		}
		if keys, _ := db.ReplayKeys(ctx, "customers"); len(keys) != 0 {
			t.Errorf("replay keys after replay = %v", keys)
		}

		// A resolved record that fails again starts a new count.
		c.Add(time.Hour)
		fail("customers", "k1", "new problem", nil)
		if d := find("customers", "k1"); d.Attempts != 1 || d.Status != state.DeadLetterOpen || !d.FirstFailedAt.After(t0) {
			t.Errorf("k1 reopened = %+v", d)
		}

		if n, err := db.QueueReplay(ctx, ""); err != nil || n != 3 {
			t.Errorf("QueueReplay(all) = %d, %v; want 3", n, err)
		}
	})
}

func TestHolds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		t0 := c.Now()

		for i := 1; i <= 3; i++ {
			var attempts int
			var first time.Time
			mustUpdate(t, db, func(tx *state.Tx) (err error) {
				attempts, first, err = tx.Hold("cards", "c1", "owner not synced")
				return err
			})
			if attempts != i || !first.Equal(t0) {
				t.Errorf("hold %d: attempts %d, first %v", i, attempts, first)
			}
			c.Add(time.Minute)
		}
		mustUpdate(t, db, func(tx *state.Tx) error {
			if _, _, err := tx.Hold("cards", "c2", "owner"); err != nil {
				return err
			}
			_, _, err := tx.Hold("orders", "o1", "unknown item")
			return err
		})

		hs, err := db.Holds(ctx, "cards")
		if err != nil || len(hs) != 2 || hs[0].Key != "c1" || hs[0].Attempts != 3 || !hs[0].LastAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("Holds(cards) = %+v, %v", hs, err)
		}
		if all, _ := db.Holds(ctx, ""); len(all) != 3 {
			t.Errorf("Holds(all) = %d", len(all))
		}

		mustUpdate(t, db, func(tx *state.Tx) error { return tx.Release("cards", "c1") })
		hs, _ = db.Holds(ctx, "cards")
		if len(hs) != 1 || hs[0].Key != "c2" {
			t.Errorf("after release = %+v", hs)
		}
		// Held again after release: counting restarts.
		mustUpdate(t, db, func(tx *state.Tx) error {
			n, _, err := tx.Hold("cards", "c1", "owner")
			if n != 1 {
				t.Errorf("attempts after release = %d", n)
			}
			return err
		})
	})
}

// TestTallies: the counts the status page reads, per job, with the
// oldest, and the newest dead letters without their payloads.
func TestTallies(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		first := c.Now()
		mustUpdate(t, db, func(tx *state.Tx) error {
			for _, k := range []string{"a", "b"} {
				if _, _, err := tx.Hold("cards", k, "owner not synced"); err != nil {
					return err
				}
			}
			return tx.AddDeadLetter("orders", "o1", "1C refused", []byte(`{"phone":"+79990000000"}`))
		})
		c.Add(time.Minute)
		mustUpdate(t, db, func(tx *state.Tx) error {
			return tx.AddDeadLetter("orders", "o2", "1C refused again", []byte(`{}`))
		})
		holds, err := db.HoldTally(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h := holds["cards"]; h.Count != 2 || !h.Oldest.Equal(first) || len(holds) != 1 {
			t.Fatalf("holds = %+v", holds)
		}
		dead, err := db.DeadLetterTally(ctx, state.DeadLetterOpen)
		if err != nil {
			t.Fatal(err)
		}
		if d := dead["orders"]; d.Count != 2 || !d.Oldest.Equal(first) {
			t.Fatalf("dead letters = %+v", dead)
		}
		newest, err := db.NewestDeadLetters(ctx, "orders", state.DeadLetterOpen, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(newest) != 1 || newest[0].Key != "o2" || newest[0].Payload != nil {
			t.Fatalf("newest = %+v, want o2 without its payload", newest)
		}
	})
}
