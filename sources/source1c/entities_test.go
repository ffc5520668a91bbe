package source1c_test

import (
	"context"
	"testing"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/sources/source1c"
)

func TestEntitiesScan(t *testing.T) {
	fake, base := onectest.StartTest(t, onectest.Options{User: "u", Password: "p"}, onectest.DemoSeed(30, 10, 2, 4))
	c, err := onecapi.New(onecapi.Config{BaseURL: base, User: "u", Password: "p", PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	src := &source1c.Entities{Client: c, Entity: onectest.SetCards, Select: []string{"Ref_Key", "DataVersion", "DeletionMark", "Штрихкод"}}
	scanKnown := func(known engine.Known) []engine.Record {
		var got []engine.Record
		if _, err := src.Scan(context.Background(), known, func(r engine.Record) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	scan := func(seen map[string]string) []engine.Record { return scanKnown(engine.NewKnownMap(seen, false)) }
	first := scan(nil)
	if len(first) != 10 {
		t.Fatalf("first scan: %d records, want 10", len(first))
	}
	seen := map[string]string{}
	for _, r := range first {
		if r.Version == "" || r.Deleted || r.Marked {
			t.Fatalf("odd record %+v", r)
		}
		if _, ok := r.Data.(onecapi.Entity); !ok {
			t.Fatalf("record data is %T, want onec.Entity", r.Data)
		}
		seen[r.Key] = r.Version
	}
	if got := scan(seen); len(got) != 0 {
		t.Fatalf("no change, yet %d records", len(got))
	}
	fake.ResetCounters()
	marked, gone := first[0].Key, first[1].Key
	if err := fake.SoftDelete(onectest.SetCards, marked); err != nil {
		t.Fatal(err)
	}
	if err := fake.Delete(onectest.SetCards, gone); err != nil {
		t.Fatal(err)
	}
	got := scan(seen)
	if len(got) != 2 {
		t.Fatalf("after a mark and a deletion: %+v", got)
	}
	for _, r := range got {
		switch r.Key {
		case marked:
			if !r.Marked || r.Deleted {
				t.Errorf("marked record came as %+v", r)
			}
		case gone:
			if !r.Deleted {
				t.Errorf("deleted record came as %+v", r)
			}
		default:
			t.Errorf("unexpected record %s", r.Key)
		}
	}
	// A resync forces every record through, and still finds the gone one.
	got = scanKnown(engine.NewKnownMap(seen, true))
	if len(got) != 10 {
		t.Fatalf("resync: %d records, want 9 present and 1 gone", len(got))
	}
	for _, r := range got {
		if r.Deleted != (r.Key == gone) {
			t.Errorf("resync: record %s came as %+v", r.Key, r)
		}
	}
}
