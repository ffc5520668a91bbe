package state_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/state"
)

func TestCheckpoints(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)

		got, err := db.Checkpoint(ctx, "customers")
		if err != nil || got != (state.Checkpoint{Job: "customers"}) {
			t.Fatalf("missing checkpoint = %+v, %v; want zero with Job", got, err)
		}

		t0 := c.Now()
		mustUpdate(t, db, func(tx *state.Tx) error { return tx.SetCheckpoint("customers", "page=3") })
		c.Add(time.Minute)
		success := time.Date(2026, 3, 1, 10, 0, 30, 123456789, time.FixedZone("MSK", 3*3600))
		mustUpdate(t, db, func(tx *state.Tx) error {
			if err := tx.MarkSuccess("customers", success); err != nil {
				return err
			}
			return tx.MarkSuccess("cards", success)
		})

		got, err = db.Checkpoint(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		if got.Cursor != "page=3" {
			t.Errorf("cursor = %q: MarkSuccess must keep it", got.Cursor)
		}
		if !got.LastSuccessAt.Equal(success) || got.LastSuccessAt.Location() != time.UTC {
			t.Errorf("LastSuccessAt = %v, want %v in UTC", got.LastSuccessAt, success)
		}
		if !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("UpdatedAt = %v", got.UpdatedAt)
		}

		all, err := db.Checkpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].Job != "cards" || all[1].Job != "customers" || all[0].Cursor != "" {
			t.Errorf("Checkpoints = %+v", all)
		}
	})
}

func TestVersions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)

		mustUpdate(t, db, func(tx *state.Tx) error {
			for k, v := range map[string]string{"a": "1", "b": "1", "c": "1"} {
				if err := tx.SetVersion("customers", k, v); err != nil {
					return err
				}
			}
			return tx.SetVersion("cards", "a", "9")
		})
		// Prepared once per transaction, the upsert must still update (the
		// ON CONFLICT path) rather than fail or duplicate.
		mustUpdate(t, db, func(tx *state.Tx) error {
			if err := tx.SetVersion("customers", "a", "2"); err != nil {
				return err
			}
			if err := tx.SetVersion("customers", "a", "3"); err != nil {
				return err
			}
			return tx.DeleteVersion("customers", "b")
		})

		tests := []struct {
			job, key string
			want     string
			ok       bool
		}{
			{"customers", "a", "3", true},
			{"customers", "b", "", false},
			{"customers", "c", "1", true},
			{"cards", "a", "9", true},
			{"cards", "zz", "", false},
		}
		for _, tt := range tests {
			v, ok, err := db.Version(ctx, tt.job, tt.key)
			if err != nil || v != tt.want || ok != tt.ok {
				t.Errorf("Version(%s, %s) = %q, %v, %v; want %q, %v", tt.job, tt.key, v, ok, err, tt.want, tt.ok)
			}
		}
		vs, err := db.Versions(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"a": "3", "c": "1"}; !maps.Equal(vs, want) {
			t.Errorf("Versions = %v, want %v", vs, want)
		}

		var n int
		mustUpdate(t, db, func(tx *state.Tx) (err error) { n, err = tx.ClearVersions("customers"); return err })
		if n != 2 {
			t.Errorf("ClearVersions removed %d, want 2", n)
		}
		vs, _ = db.Versions(ctx, "customers")
		cards, _ := db.Versions(ctx, "cards")
		if len(vs) != 0 || len(cards) != 1 {
			t.Errorf("after clear: customers %v, cards %v", vs, cards)
		}
	})
}

func TestIDMap(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)

		mustUpdate(t, db, func(tx *state.Tx) error {
			if err := tx.PutID(virtsync.KindCustomer, "ref-1", "vp-1", ""); err != nil {
				return err
			}
			if err := tx.PutID(virtsync.KindCustomer, "ref-2", "vp-2", ""); err != nil {
				return err
			}
			if err := tx.PutID(virtsync.KindOrder, "order-7", "doc-guid", "00-000123"); err != nil {
				return err
			}
			return tx.PutID(virtsync.KindCustomer, "ref-1", "vp-1b", "x") // replaces
		})

		tests := []struct {
			kind, ref, want string
			ok              bool
		}{
			{virtsync.KindCustomer, "ref-1", "vp-1b", true},
			{virtsync.KindCustomer, "ref-2", "vp-2", true},
			{virtsync.KindCard, "ref-1", "", false}, // kinds are separate namespaces
			{virtsync.KindOrder, "order-7", "doc-guid", true},
		}
		for _, tt := range tests {
			id, ok, err := db.LookupID(ctx, tt.kind, tt.ref)
			if err != nil || id != tt.want || ok != tt.ok {
				t.Errorf("LookupID(%s, %s) = %q, %v, %v", tt.kind, tt.ref, id, ok, err)
			}
		}
		e, ok, err := db.IDEntry(ctx, virtsync.KindOrder, "order-7")
		if err != nil || !ok || e.Extra != "00-000123" || e.UpdatedAt.IsZero() {
			t.Errorf("IDEntry = %+v, %v, %v", e, ok, err)
		}
		ref, ok, err := db.LookupRef(ctx, virtsync.KindCustomer, "vp-2")
		if err != nil || !ok || ref != "ref-2" {
			t.Errorf("LookupRef = %q, %v, %v", ref, ok, err)
		}
		if _, ok, _ := db.LookupRef(ctx, virtsync.KindCustomer, "vp-1"); ok {
			t.Error("LookupRef found the replaced id")
		}

		mustUpdate(t, db, func(tx *state.Tx) error { return tx.DeleteID(virtsync.KindCustomer, "ref-2") })
		ids, err := db.IDs(ctx, virtsync.KindCustomer)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"ref-1": "vp-1b"}; !maps.Equal(ids, want) {
			t.Errorf("IDs = %v, want %v", ids, want)
		}
	})
}

func TestIntents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)

		if err := db.RecordIntent(ctx, "customers", "k1", "create", []byte(`{"a":1}`)); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Second)
		mustUpdate(t, db, func(tx *state.Tx) error {
			if err := tx.PutIntent("customers", "k2", "create", nil); err != nil {
				return err
			}
			return tx.PutIntent("cards", "k1", "delete", nil)
		})

		// RecordIntent committed on its own: visible to a second handle at once,
		// as it would be after a crash.
		other := b.Again(t, db, c)
		got, err := other.Intents(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Key != "k1" || string(got[0].Payload) != `{"a":1}` || got[0].Op != "create" ||
			got[1].Key != "k2" || got[1].Payload != nil || !got[1].CreatedAt.After(got[0].CreatedAt) {
			t.Fatalf("Intents = %+v", got)
		}

		mustUpdate(t, db, func(tx *state.Tx) error { return tx.ClearIntent("customers", "k1") })
		got, _ = db.Intents(ctx, "customers")
		cards, _ := db.Intents(ctx, "cards")
		if len(got) != 1 || got[0].Key != "k2" || len(cards) != 1 {
			t.Errorf("after clear: %+v, cards %+v", got, cards)
		}
	})
}
