package sinkvp_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/sinkvp"
	"github.com/virtsync/virtsync/state"
)

// plan dry-runs job over recs with the real runner on env's state file
// and returns the plan by key. It fails the test if virtpos saw a write
// or the state file changed.
func (e *env) plan(t *testing.T, name, kind string, h engine.Handler, recs []engine.Record) map[string]engine.Planned {
	t.Helper()
	path := e.db.Path()
	before, _ := os.ReadFile(path)
	beforeWAL, _ := os.ReadFile(path + "-wal")
	r := &engine.Runner{DB: e.db, Owner: "test", Concurrency: 4, BatchSize: 3,
		NewEvent: func(string, string, any) (state.Event, error) {
			t.Fatal("an event in a dry run")
			return state.Event{}, nil
		}}
	out := map[string]engine.Planned{}
	_, err := r.Plan(context.Background(), engine.JobSpec{Name: name, Kind: kind, Source: &fixed{recs: recs}, Handler: h},
		engine.ModeOnce, nil, func(p engine.Planned) error {
			out[p.Key] = p
			return nil
		})
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	e.checkNoWrites(t)
	if e.srv.Counts().Requests[virtpostest.PathCustomer] == 0 {
		t.Fatal("the dry run read nothing from virtpos")
	}
	after, _ := os.ReadFile(path)
	afterWAL, _ := os.ReadFile(path + "-wal")
	if !bytes.Equal(before, after) || !bytes.Equal(beforeWAL, afterWAL) {
		t.Fatalf("the dry run changed the state file (WAL %d -> %d bytes)", len(beforeWAL), len(afterWAL))
	}
	return out
}

// checkNoWrites fails unless every write counter of the fake is zero and
// no write endpoint was called at all.
func (e *env) checkNoWrites(t *testing.T) {
	t.Helper()
	c := e.srv.Counts()
	if c.CustomersCreated+c.CustomersUpdated+c.CardsCreated+c.CardsUpdated+c.CardsDeleted+c.GroupsCreated+c.CardTypesCreated != 0 {
		t.Fatalf("virtpos wrote during a dry run: %+v", c)
	}
	for _, p := range []string{virtpostest.PathCustomerUpdate, virtpostest.PathCardUpdate, virtpostest.PathCardInsert, virtpostest.PathCardDelete} {
		if n := c.Requests[p]; n != 0 || len(e.sentTo(p)) != 0 {
			t.Fatalf("%d calls of %s during a dry run", n, p)
		}
	}
}

func want(t *testing.T, got map[string]engine.Planned, key string, action engine.Action, fields []string, remote, reason string) {
	t.Helper()
	p, ok := got[key]
	switch {
	case !ok:
		t.Errorf("%s: not planned", key)
	case p.Action != action || !slices.Equal(p.Fields, fields) || p.RemoteID != remote || !strings.Contains(p.Reason, reason):
		t.Errorf("%s: planned %+v, want %s %v remote %q reason containing %q", key, p, action, fields, remote, reason)
	}
}

func TestDryRunOfCustomersReadsAndPlansEveryClass(t *testing.T) {
	const (
		kNew  = "0f3c9a2e-0000-4000-8000-000000000002"
		kSame = "0f3c9a2e-0000-4000-8000-000000000003"
		kGone = "0f3c9a2e-0000-4000-8000-000000000004"
		kBad  = "0f3c9a2e-0000-4000-8000-000000000005"
		kWait = "0f3c9a2e-0000-4000-8000-000000000006"
		kLost = "0f3c9a2e-0000-4000-8000-000000000007"
	)
	e := newEnv(t)
	e.seed(t, `{"customers":[
		{"id":"5","external_id":"`+custKey+`","lname":"Иванов","fname":"Пётр","email":"Old@Example.ru","phone":"89001234567"},
		{"id":"7","external_id":"`+kSame+`","lname":"Сидоров","fname":"Пётр"},
		{"id":"8","external_id":"`+kLost+`","lname":"Орлов"}]}`)
	e.putID(t, virtsync.KindCustomer, custKey, "5")
	// kLost's id is stale (deleted in virtpos by hand): found again by external_id.
	e.putID(t, virtsync.KindCustomer, kLost, "99")
	const secret = "+7 900 12"
	m := &mapper{fn: func(ctx context.Context, rec engine.Record) (url.Values, error) {
		switch rec.Key {
		case kBad:
			return nil, engine.Reject(&mapping.FieldError{Param: "phone", From: "КонтактнаяИнформация",
				Expected: "a phone number (+7XXXXXXXXXX)", Shape: "7 digits"}, "customer %s: mapping", rec.Key)
		case kWait:
			return nil, engine.HoldFor(virtsync.JobCustomers, "field x: unresolved customer reference %s", kSame)
		}
		p, err := customerMap(ctx, rec)
		if rec.Key == custKey {
			p.Set("phone", "+7 (900) 123-45-67") // as virtpos holds it, spelled otherwise
		}
		return p, err
	}}
	h := &sinkvp.Customers{Client: e.client, Mapper: m, Listings: e.db}
	ent := func(key, desc, email string) engine.Record {
		return engine.Record{Key: key, Version: "v", Data: onecapi.Entity{"Ref_Key": key, "Description": desc, "email": email}}
	}
	got := e.plan(t, virtsync.JobCustomers, virtsync.KindCustomer, h, []engine.Record{
		ent(custKey, "Иванов Иван", "old@example.ru"), // fname differs; email and phone only in spelling
		ent(kNew, "Новиков Олег", ""),
		ent(kSame, "Сидоров   Пётр", ""),
		{Key: kGone, Deleted: true},
		ent(kBad, "Плохой", secret),
		ent(kWait, "Ждущий", ""),
		ent(kLost, "Орлов Игорь", ""),
	})
	want(t, got, custKey, engine.ActionUpdate, []string{"fname"}, "5", "")
	want(t, got, kNew, engine.ActionCreate, nil, "", "")
	want(t, got, kSame, engine.ActionUnchanged, nil, "7", "")
	want(t, got, kGone, engine.ActionSkip, nil, "", "virtpos has no call to delete a customer")
	want(t, got, kBad, engine.ActionReject, nil, "", "field phone (from КонтактнаяИнформация): expected a phone number")
	want(t, got, kWait, engine.ActionHold, nil, "", "unresolved customer reference")
	want(t, got, kLost, engine.ActionUpdate, []string{"fname"}, "8", "")
	for _, p := range got {
		if strings.Contains(p.Reason, secret) || strings.Contains(p.Reason, "Иван") {
			t.Errorf("%s: a value in the plan: %q", p.Key, p.Reason)
		}
	}
	if m.prepared != 1 {
		t.Errorf("mapper prepared %d times, want 1", m.prepared)
	}
}

func TestDryRunOfCardsReadsThemThroughTheirOwner(t *testing.T) {
	const (
		owner   = "11111111-2222-4333-8444-555555555555"
		noOwner = "11111111-2222-4333-8444-000000000000"
		kNew    = "5a6b7c8d-0000-4000-8000-000000000002"
		kSame   = "5a6b7c8d-0000-4000-8000-000000000003"
		kWait   = "5a6b7c8d-0000-4000-8000-000000000004"
		kGone   = "5a6b7c8d-0000-4000-8000-000000000005"
		kBad    = "5a6b7c8d-0000-4000-8000-000000000006"
		kLoose  = "5a6b7c8d-0000-4000-8000-000000000007"
		kLone   = "5a6b7c8d-0000-4000-8000-000000000008"
	)
	e := newEnv(t)
	e.seed(t, `{"card_types":[{"id":1,"name":"Дисконтная 5%"}],
		"customers":[{"id":"9","external_id":"`+owner+`"}],
		"cards":[
		{"id":"4","uid":"`+cardUID+`","external_id":"`+cardKey+`","status":"ACTIVE","medium":"PLASTIC","type_id":"1","customer_id":"9"},
		{"id":"5","uid":"2000100000003","external_id":"`+kSame+`","status":"active","medium":"PLASTIC","type_id":"1","customer_id":"9"}]}`)
	e.putID(t, virtsync.KindCard, cardKey, "4")
	e.putID(t, virtsync.KindCard, kGone, "6")
	e.putID(t, virtsync.KindCard, kLoose, "12")
	m := &mapper{fn: func(ctx context.Context, rec engine.Record) (url.Values, error) {
		if rec.Key == kBad {
			return nil, engine.Reject(&mapping.FieldError{Param: "uid", From: "Штрихкод, МагнитныйКод",
				Expected: "text", Shape: "empty"}, "card %s: mapping", rec.Key)
		}
		return cardMap(ctx, rec)
	}}
	card := func(key, uid, status, partner string) engine.Record {
		return engine.Record{Key: key, Version: "v", Data: onecapi.Entity{"Ref_Key": key, "Штрихкод": uid, "Статус": status,
			"Партнер_Key": partner}}
	}
	recs := []engine.Record{
		card(cardKey, cardUID, "НеДействует", owner),
		card(kNew, "2000100000002", "Действует", owner),
		card(kSame, "2000100000003", "Действует", owner),
		card(kWait, "2000100000004", "Действует", noOwner),
		{Key: kGone, Deleted: true},
		card(kBad, "", "Действует", owner),
		card(kLoose, "2000100000007", "Действует", owner), // known, but not among the owner's cards
		card(kLone, "2000100000008", "Действует", ""),
	}
	got := e.plan(t, virtsync.JobCards, virtsync.KindCard, &sinkvp.Cards{Client: e.client, Mapper: m}, recs)
	want(t, got, cardKey, engine.ActionUpdate, []string{"status"}, "4", "")
	want(t, got, kNew, engine.ActionCreate, nil, "", "")
	want(t, got, kSame, engine.ActionUnchanged, nil, "5", "")
	want(t, got, kWait, engine.ActionHold, nil, "", "its owner is not in virtpos yet")
	want(t, got, kGone, engine.ActionDelete, nil, "6", "")
	want(t, got, kBad, engine.ActionReject, nil, "", "field uid")
	want(t, got, kLoose, engine.ActionUpdate, []string{"customer_external_id", "external_id", "medium", "status", "type_name", "uid"},
		"12", "fields not readable in virtpos")
	want(t, got, kLone, engine.ActionCreate, nil, "", "without an owner")

	// With on_delete: block, a deletion is a block of the card's status.
	got = e.plan(t, virtsync.JobCards, virtsync.KindCard, &sinkvp.Cards{Client: e.client, Mapper: m, OnDelete: "block"},
		[]engine.Record{{Key: kGone, Marked: true}})
	want(t, got, kGone, engine.ActionBlock, []string{"status"}, "6", "")
}

var (
	_ engine.Planner = (*sinkvp.Customers)(nil)
	_ engine.Planner = (*sinkvp.Cards)(nil)
)
