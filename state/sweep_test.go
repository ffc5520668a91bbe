package state_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/virtsync/virtsync/state"
)

func TestSweep(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		mustUpdate(t, db, func(tx *state.Tx) error {
			for _, k := range []string{"a", "b", "c", "d"} {
				if err := tx.SetVersion("customers", k, "v-"+k); err != nil {
					return err
				}
			}
			return tx.SetVersion("cards", "x", "v-x")
		})
		sw, err := db.OpenSweep(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		defer sw.Close()
		if n, err := sw.Count(ctx); err != nil || n != 4 {
			t.Fatalf("Count = %d, %v; want 4", n, err)
		}
		got, err := sw.Versions(ctx, []string{"a", "c", "new", "x"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got["a"] != "v-a" || got["c"] != "v-c" {
			t.Errorf("Versions = %v; want a and c only (x belongs to cards)", got)
		}
		fresh, err := sw.Mark(ctx, []string{"a", "new", "a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{true, true, false, true}; !slices.Equal(fresh, want) {
			t.Errorf("Mark = %v; want %v", fresh, want)
		}
		fresh, _ = sw.Mark(ctx, []string{"b", "c"})
		if want := []bool{false, true}; !slices.Equal(fresh, want) {
			t.Errorf("second Mark = %v; want %v", fresh, want)
		}
		var left []string
		if err := sw.Unmarked(ctx, 1, func(keys []string) error { left = append(left, keys...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(left, []string{"d"}) {
			t.Errorf("Unmarked = %v; want [d]", left)
		}
	})
}

// A key committed during the sweep after it was marked is not a deletion
// candidate, and two sweeps (two jobs) do not see each other's marks.
func TestSweepConcurrentCommitsAndJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, be *backend) {
		ctx := context.Background()
		db, _ := be.Open(t)
		a, err := db.OpenSweep(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := db.OpenSweep(ctx, "cards")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var keys []string
		for i := range 2500 {
			keys = append(keys, fmt.Sprintf("k%05d", i))
		}
		if _, err := a.Mark(ctx, keys); err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *state.Tx) error {
			for _, k := range keys {
				if err := tx.SetVersion("customers", k, "1"); err != nil {
					return err
				}
			}
			return tx.SetVersion("customers", "zz-old", "1")
		})
		var left []string
		if err := a.Unmarked(ctx, 1000, func(k []string) error { left = append(left, k...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(left, []string{"zz-old"}) {
			t.Errorf("Unmarked = %v; want [zz-old]", left)
		}
		if fresh, _ := b.Mark(ctx, keys[:1]); !fresh[0] {
			t.Error("a mark of the customers sweep leaked into the cards sweep")
		}
	})
}

func TestLookupIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		var refs []string
		mustUpdate(t, db, func(tx *state.Tx) error {
			for i := range 1500 { // more than one statement's chunk
				ref := fmt.Sprintf("r%04d", i)
				refs = append(refs, ref)
				if i%3 == 0 {
					continue
				}
				if err := tx.PutID("customer", ref, fmt.Sprint(i), ""); err != nil {
					return err
				}
			}
			return tx.PutID("card", "r0000", "c0", "")
		})
		got, err := db.LookupIDs(ctx, "customer", refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1000 {
			t.Errorf("LookupIDs found %d ids, want 1000", len(got))
		}
		if _, ok := got["r0000"]; ok {
			t.Error("r0000 has only a card id, yet LookupIDs(customer) found it")
		}
		if got["r1499"] != "1499" {
			t.Errorf("r1499 -> %q, want 1499", got["r1499"])
		}
	})
}

func TestSweepChanged(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		mustUpdate(t, db, func(tx *state.Tx) error {
			for _, k := range []string{"a", "b", "c"} {
				if err := tx.SetVersion("customers", k, "v1"); err != nil {
					return err
				}
			}
			return tx.SetVersion("cards", "new", "v1")
		})
		sw, err := db.OpenSweep(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		defer sw.Close()
		changed, stored, err := sw.Changed(ctx, []string{"a", "b", "new", "c"}, []string{"v1", "v2", "v1", "v1"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for i, k := range changed {
			got[k] = stored[i]
		}
		if len(got) != 2 || got["b"] != true || got["new"] != false {
			t.Errorf("Changed = %v %v; want b (stored) and new (not stored: its version is the cards job's)", changed, stored)
		}
		if _, _, err := sw.Changed(ctx, []string{"a"}, nil); err == nil {
			t.Error("Changed with fewer versions than keys did not fail")
		}
	})
}
