package sink1c_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/sinks/sink1c"
	"github.com/virtsync/virtsync/state"
)

// records is a source of a few given records.
type records []engine.Record

func (rs records) Scan(ctx context.Context, _ engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	for _, r := range rs {
		if err := emit(r); err != nil {
			return engine.ScanStats{}, err
		}
	}
	return engine.ScanStats{Seen: len(rs)}, nil
}

// plan dry-runs the orders job over recs on the env's state file and
// returns the plan by key. It fails the test if either fake saw a write
// or the state file changed.
func (e *env) plan(t *testing.T, recs ...engine.Record) map[string]engine.Planned {
	t.Helper()
	e.onec.ResetCounters()
	vpBefore := e.vp.Counts()
	path := e.db.Path()
	before, _ := os.ReadFile(path)
	beforeWAL, _ := os.ReadFile(path + "-wal")
	r := &engine.Runner{DB: e.db, Owner: "test", Concurrency: 4, BatchSize: 2,
		NewEvent: func(string, string, any) (state.Event, error) {
			t.Fatal("an event in a dry run")
			return state.Event{}, nil
		}}
	out := map[string]engine.Planned{}
	_, err := r.Plan(context.Background(), engine.JobSpec{Name: virtsync.JobOrders, Kind: virtsync.KindOrder,
		Source: records(recs), Handler: e.h}, engine.ModeOnce, nil, func(p engine.Planned) error {
		out[p.Key] = p
		return nil
	})
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	for _, set := range []string{onectest.SetOrders, onectest.SetPartners, onectest.SetCounterpty, onectest.SetItems} {
		if n := e.onec.Writes(set); n != 0 {
			t.Errorf("1C: %d writes to %s during a dry run", n, set)
		}
		for _, m := range []string{"POST", "PATCH", "DELETE"} {
			if n := e.onec.Requests(m, set); n != 0 {
				t.Errorf("1C: %d %s requests to %s during a dry run", n, m, set)
			}
		}
	}
	if e.onec.Requests("GET", onectest.SetOrders) == 0 {
		t.Error("the dry run read no order document from 1C")
	}
	c := e.vp.Counts()
	if c.CustomersCreated+c.CustomersUpdated+c.CardsCreated+c.CardsUpdated+c.CardsDeleted+c.GroupsCreated+c.CardTypesCreated != 0 {
		t.Errorf("virtpos wrote during a dry run: %+v", c)
	}
	for _, p := range []string{virtpostest.PathCustomerUpdate, virtpostest.PathCardUpdate, virtpostest.PathCardInsert, virtpostest.PathCardDelete} {
		if c.Requests[p] != vpBefore.Requests[p] {
			t.Errorf("virtpos: %s called during a dry run", p)
		}
	}
	after, _ := os.ReadFile(path)
	afterWAL, _ := os.ReadFile(path + "-wal")
	if !bytes.Equal(before, after) || !bytes.Equal(beforeWAL, afterWAL) {
		t.Errorf("the dry run changed the state file (WAL %d -> %d bytes)", len(beforeWAL), len(afterWAL))
	}
	return out
}

func keyed(key string, o *virtposapi.Order) engine.Record {
	return engine.Record{Key: key, Version: "fp", Data: o}
}

func TestDryRunOfOrdersPlansEveryClassAndWritesNothing(t *testing.T) {
	const (
		kSame    = orderKey
		kChanged = "vp-8d1e4f2a-0002"
		kNew     = "vp-8d1e4f2a-0003"
		kNoItem  = "vp-8d1e4f2a-0004"
		kBroken  = "vp-8d1e4f2a-0005"
		kNoBuyer = "vp-8d1e4f2a-0006"
	)
	e := newEnv(t)
	ctx := context.Background()
	// Two documents exist: one the id map knows, one only its marker finds.
	out, err := e.h.Apply(ctx, e.run, keyed(kSame, seedOrder()))
	if err != nil {
		t.Fatal(err)
	}
	e.putID(t, virtsync.KindOrder, kSame, out.RemoteID)
	out2, err := e.h.Apply(ctx, e.run, keyed(kChanged, seedOrder()))
	if err != nil {
		t.Fatal(err)
	}

	changed := seedOrder()
	changed.Comment = "не звонить"
	changed.Items[1].Quantity = dec("3")
	noItem := seedOrder()
	noItem.Items[0].ItemID = "no-such-item"
	broken := seedOrder()
	broken.Problems = []string{"comment: not valid UTF-8 at byte 12"}
	noBuyer := seedOrder()
	noBuyer.CustomerID = "77"
	got := e.plan(t,
		keyed(kSame, seedOrder()),
		keyed(kChanged, changed),
		keyed(kNew, seedOrder()),
		keyed(kNoItem, noItem),
		keyed(kBroken, broken),
		keyed(kNoBuyer, noBuyer),
	)
	check := func(key string, action engine.Action, fields []string, remote, reason string) {
		t.Helper()
		p, ok := got[key]
		if !ok || p.Action != action || !slices.Equal(p.Fields, fields) || p.RemoteID != remote || !strings.Contains(p.Reason, reason) {
			t.Errorf("%s: planned %+v (%v), want %s %v remote %q reason containing %q", key, p, ok, action, fields, remote, reason)
		}
	}
	check(kSame, engine.ActionUnchanged, nil, out.RemoteID, "")
	check(kChanged, engine.ActionUpdate, []string{"Комментарий", "Товары"}, out2.RemoteID, "")
	check(kNew, engine.ActionCreate, nil, "", "")
	check(kNoItem, engine.ActionHold, nil, "", "item no-such-item not found in Catalog_Номенклатура")
	check(kBroken, engine.ActionReject, nil, "", "comment: not valid UTF-8")
	check(kNoBuyer, engine.ActionHold, nil, "", "virtpos customer 77 is not linked to a 1C partner yet")
	if len(e.docs(kNew)) != 0 || len(e.docs(kSame)) != 1 || len(e.docs(kChanged)) != 1 {
		t.Fatal("documents changed in 1C")
	}
}

func TestDryRunOfOrdersSaysAnUnpostedDocumentWouldBePosted(t *testing.T) {
	e := newEnv(t)
	out, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatal(err)
	}
	e.h.Settings.Post = true
	got := e.plan(t, orderRec(seedOrder()))
	if p := got[orderKey]; p.Action != engine.ActionUpdate || !slices.Equal(p.Fields, []string{"Posted"}) || p.RemoteID != out.RemoteID {
		t.Fatalf("planned %+v, want an update of Posted alone", p)
	}
}

var _ engine.Planner = (*sink1c.Orders)(nil)
