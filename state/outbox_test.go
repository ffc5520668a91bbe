package state_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

func TestOutbox(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)

		n, oldest, err := db.OutboxBacklog(ctx)
		if err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("empty backlog = %d, %v, %v", n, oldest, err)
		}

		first := c.Now()
		// IDs deliberately out of lexical order: order is by insertion.
		ids := []string{"z", "a", "m", "b", "y"}
		for _, id := range ids {
			mustUpdate(t, db, func(tx *state.Tx) error {
				return tx.AddEvent(state.Event{ID: id, Subject: "virtsync.customer.upserted", Data: []byte("data-" + id)})
			})
			c.Add(time.Millisecond)
		}
		explicit := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		mustUpdate(t, db, func(tx *state.Tx) error {
			return tx.AddEvent(state.Event{ID: "late", Subject: "s", CreatedAt: explicit})
		})

		t.Run("duplicate or empty id is refused and rolls back", func(t *testing.T) {
			for _, ev := range []state.Event{{ID: "a", Subject: "s"}, {ID: "", Subject: "s"}} {
				err := db.Update(ctx, func(tx *state.Tx) error {
					if err := tx.AddEvent(state.Event{ID: "never", Subject: "s"}); err != nil {
						return err
					}
					return tx.AddEvent(ev)
				})
				if err == nil {
					t.Errorf("AddEvent(%q) succeeded", ev.ID)
				}
			}
		})

		t.Run("pending oldest first", func(t *testing.T) {
			evs, err := db.PendingEvents(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 3 {
				t.Fatalf("got %d events", len(evs))
			}
			for i, ev := range evs {
				if ev.ID != ids[i] || string(ev.Data) != "data-"+ids[i] {
					t.Errorf("event %d = %+v, want id %s", i, ev, ids[i])
				}
				if i > 0 && ev.Seq <= evs[i-1].Seq {
					t.Errorf("seq not increasing: %d after %d", ev.Seq, evs[i-1].Seq)
				}
			}
			if !evs[0].CreatedAt.Equal(first) {
				t.Errorf("CreatedAt = %v, want DB.Now %v", evs[0].CreatedAt, first)
			}
			all, err := db.PendingEvents(ctx, 0)
			if err != nil || len(all) != 6 || all[5].ID != "late" || !all[5].CreatedAt.Equal(explicit) || all[5].Data == nil {
				t.Errorf("PendingEvents(0) = %+v, %v", all, err)
			}
		})

		t.Run("backlog", func(t *testing.T) {
			n, oldest, err := db.OutboxBacklog(ctx)
			// Oldest is the first in seq order, the row the relay waits on.
			if err != nil || n != 6 || !oldest.Equal(first) {
				t.Errorf("backlog = %d, %v, %v; want 6, %v", n, oldest, err, first)
			}
		})

		t.Run("delete", func(t *testing.T) {
			if err := db.DeleteEvents(ctx, []string{"z", "m", "unknown"}); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteEvents(ctx, nil); err != nil {
				t.Fatal(err)
			}
			evs, _ := db.PendingEvents(ctx, 10)
			var got []string
			for _, ev := range evs {
				got = append(got, ev.ID)
			}
			if fmt.Sprint(got) != "[a b y late]" {
				t.Errorf("remaining = %v", got)
			}
		})

		t.Run("delete more than one chunk", func(t *testing.T) {
			var many []string
			mustUpdate(t, db, func(tx *state.Tx) error {
				for i := range 1234 {
					id := fmt.Sprintf("bulk-%d", i)
					many = append(many, id)
					if err := tx.AddEvent(state.Event{ID: id, Subject: "s", Data: []byte{1}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err := db.DeleteEvents(ctx, many); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := db.OutboxBacklog(ctx); n != 4 {
				t.Errorf("backlog after bulk delete = %d, want 4", n)
			}
		})
	})
}
