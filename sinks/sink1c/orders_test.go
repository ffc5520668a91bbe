package sink1c_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/sink1c"
	"github.com/virtsync/virtsync/state"
)

const (
	orderKey   = "vp-8d1e4f2a-0001"
	customerID = "42" // virtpos customer mapped to the 1C partner
)

// env: the fake 1C and the fake virtpos over real HTTP, the real clients,
// a real state DB, and one client partner with its counterparty.
type env struct {
	onec    *onectest.Server
	onecURL string
	vp      *virtpostest.Server
	db      *state.DB
	run     *engine.RunInfo
	h       *sink1c.Orders
	partner string
	cp      string
	items   map[string]string // Code -> Ref_Key
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{items: map[string]string{}}
	var base string
	e.onec, base = onectest.StartTest(t, onectest.Options{User: "sync", Password: "pw"}, onectest.DemoSeed(10, 0, 1, 1))
	e.onecURL = base
	oc, err := onecapi.New(onecapi.Config{BaseURL: base, User: "sync", Password: "pw",
		Retry: onecapi.Retry{MaxAttempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatalf("onec.New: %v", err)
	}
	e.vp = virtpostest.NewServer(t, virtpostest.Options{APIKey: "k"})
	vc, err := virtposapi.New(virtposapi.Config{BaseURL: e.vp.URL, APIKey: "k",
		Retry: virtposapi.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatalf("virtpos.New: %v", err)
	}
	e.db, err = state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatalf("state.Open: %v", err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.run = &engine.RunInfo{ID: "r", Job: "orders", Mode: engine.ModeOnce, IDs: e.db, Log: slog.New(slog.DiscardHandler)}

	for _, p := range e.onec.All(onectest.SetPartners) {
		if p["Клиент"] == true {
			e.partner = p["Ref_Key"].(string)
			break
		}
	}
	for _, c := range e.onec.All(onectest.SetCounterpty) {
		if c["Партнер_Key"] == e.partner {
			e.cp = c["Ref_Key"].(string)
		}
	}
	for _, it := range e.onec.All(onectest.SetItems) {
		e.items[it["Code"].(string)] = it["Ref_Key"].(string)
	}
	if e.partner == "" || e.cp == "" || e.items[onectest.DemoItemCode(0)] == "" {
		t.Fatalf("demo seed: partner %q counterparty %q items %v", e.partner, e.cp, e.items)
	}
	e.putID(t, "customer", e.partner, customerID)

	prof, err := mapping.LoadProfile(mapping.ProfileUT11)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := prof.Compile()
	if err != nil {
		t.Fatal(err)
	}
	e.h = &sink1c.Orders{OneC: oc, Customers: vc, Refs: e.db, Settings: sink1c.OrderSettings{
		Doc: comp.Order, Counterparty: prof.Orders.Counterparty, Items: prof.Orders.Items,
		Operation: prof.Orders.Operation, Status: "КОбеспечению", CancelledStatus: "Закрыт",
		ShopZone: time.FixedZone("YEKT", 5*3600),
	}}
	if err := e.h.Prepare(context.Background(), e.run); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return e
}

func (e *env) putID(t *testing.T, kind, ref, id string) {
	t.Helper()
	if err := e.db.Update(context.Background(), func(tx *state.Tx) error { return tx.PutID(kind, ref, id, "") }); err != nil {
		t.Fatalf("PutID: %v", err)
	}
}

// docs returns the order documents carrying key in the marker field.
func (e *env) docs(key string) []onectest.Object {
	var out []onectest.Object
	for _, d := range e.onec.All(onectest.SetOrders) {
		if d["НомерПоДаннымКлиента"] == key {
			out = append(out, d)
		}
	}
	return out
}

func (e *env) oneDoc(t *testing.T) onectest.Object {
	t.Helper()
	ds := e.docs(orderKey)
	if len(ds) != 1 {
		t.Fatalf("%d documents for %s, want 1", len(ds), orderKey)
	}
	return ds[0]
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// seedOrder is the order of the seed: 3.450 x 100.10 - 10.20 = 335.15, plus
// 2 x 320.72 = 641.44; amount 976.59, discount 10.20.
func seedOrder() *virtposapi.Order {
	return &virtposapi.Order{
		CustomerID: customerID, CreatedDate: "2017-08-24 18:45:08", GUID: orderKey,
		Amount: dec("976.59"), Discount: dec("10.20"), ShippingCost: dec("0"),
		ShippingAddress: "г. Екатеринбург, ул. Ленина, 1", Comment: "позвонить",
		Items: []virtposapi.Item{
			{ItemID: onectest.DemoItemCode(0), ItemName: "Молоко", Quantity: dec("3.450"), UnitBasePrice: dec("100.10"), Discount: dec("10.20"), Amount: dec("335.15")},
			{ItemID: onectest.DemoItemCode(1), ItemName: "Хлеб", Quantity: dec("2.000"), UnitBasePrice: dec("320.72"), Discount: dec("0.00"), Amount: dec("641.44")},
		},
	}
}

func orderRec(o *virtposapi.Order) engine.Record {
	return engine.Record{Key: orderKey, Version: "fp1", Data: o}
}

// eventData is an event's data as subscribers get it: its JSON.
func eventData(t *testing.T, p virtsync.Payload) map[string]any {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func eventKinds(out engine.Outcome) []string {
	var s []string
	for _, ev := range out.Events {
		s = append(s, ev.Kind()+"."+ev.What())
	}
	return s
}

func wantEvents(t *testing.T, out engine.Outcome, want ...string) {
	t.Helper()
	if got := strings.Join(eventKinds(out), ","); got != strings.Join(want, ",") {
		t.Fatalf("events = %s, want %s", got, strings.Join(want, ","))
	}
}

func TestOrderNewCreatesDocument(t *testing.T) {
	e := newEnv(t)
	out, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	doc := e.oneDoc(t)
	if out.Result != virtsync.Created || out.RemoteID != doc["Ref_Key"] || out.Extra != doc["Number"] || out.Extra == "" {
		t.Fatalf("outcome = %+v, doc ref %v number %v", out, doc["Ref_Key"], doc["Number"])
	}
	if out.Warning != "" || out.Version != "" {
		t.Fatalf("unexpected warning/version: %+v", out)
	}
	if e.onec.Writes(onectest.SetOrders) != 1 {
		t.Fatalf("writes = %d", e.onec.Writes(onectest.SetOrders))
	}
	for field, want := range map[string]any{
		"Партнер_Key": e.partner, "Контрагент_Key": e.cp, "Date": "2017-08-24T18:45:08",
		"Статус": "КОбеспечению", "АдресДоставки": "г. Екатеринбург, ул. Ленина, 1", "Posted": false,
		"Комментарий": "virtpos: позвонить",
	} {
		if doc[field] != want {
			t.Errorf("%s = %v, want %v", field, doc[field], want)
		}
	}
	if s := doc["СуммаДокумента"].(decimal.Decimal); s.String() != "976.59" {
		t.Errorf("СуммаДокумента = %s", s)
	}
	rows := doc["Товары"].([]onectest.Object)
	if len(rows) != 2 {
		t.Fatalf("Товары = %v", rows)
	}
	for i, want := range []struct{ item, qty, price, sum, disc string }{
		{onectest.DemoItemCode(0), "3.450", "100.10", "335.15", "10.20"},
		{onectest.DemoItemCode(1), "2", "320.72", "641.44", "0"},
	} {
		r := rows[i]
		if r["Номенклатура_Key"] != e.items[want.item] {
			t.Errorf("row %d item = %v, want %s (%s)", i, r["Номенклатура_Key"], e.items[want.item], want.item)
		}
		for field, w := range map[string]string{"Количество": want.qty, "КоличествоУпаковок": want.qty,
			"Цена": want.price, "Сумма": want.sum, "СуммаРучнойСкидки": want.disc} {
			if got := r[field].(decimal.Decimal); !got.Equal(dec(w)) {
				t.Errorf("row %d %s = %s, want exactly %s", i, field, got, w)
			}
		}
	}
	if got := rows[0]["Сумма"].(decimal.Decimal).String(); got != "335.15" {
		t.Errorf("Сумма text = %s", got)
	}
	wantEvents(t, out, "order.new", "order.exported")
	ex := eventData(t, out.Events[1])
	if ex["document_ref"] != doc["Ref_Key"] || ex["number"] != doc["Number"] || ex["key"] != orderKey {
		t.Fatalf("exported = %v", ex)
	}
	if _, ok := ex["sum_mismatch"]; ok {
		t.Fatalf("sums add up, yet: %v", ex)
	}
	nd := eventData(t, out.Events[0])
	if nd["amount"] != "976.59" || nd["customer_id"] != customerID {
		t.Fatalf("order.new data = %v", nd)
	}
}

// TestOrderLostCreateAnswerIsFoundInTheSameRun: 1C saves the document and
// the connection drops before the answer. The handler looks the marker up
// at once, finds the document and reports it created: nothing is sent
// twice and the run goes on.
func TestOrderLostCreateAnswerIsFoundInTheSameRun(t *testing.T) {
	e := newEnv(t)
	e.onec.ResetAfterNextWrites(1)
	out, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	doc := e.oneDoc(t)
	if out.Result != virtsync.Created || out.RemoteID != doc["Ref_Key"] || out.Extra != doc["Number"] {
		t.Fatalf("outcome = %+v, document %v %v", out, doc["Ref_Key"], doc["Number"])
	}
	if n := e.onec.Requests("POST", onectest.SetOrders); n != 1 {
		t.Fatalf("POST requests = %d, want the one lost create only", n)
	}
	wantEvents(t, out, "order.new", "order.exported")
}

// unsentCreates loses the first n creates before they reach 1C, as a
// timeout while 1C is still busy with the request would look.
type unsentCreates struct {
	sink1c.Client
	n int
}

func (u *unsentCreates) Create(ctx context.Context, entity string, body map[string]any) (onecapi.Entity, error) {
	if u.n > 0 {
		u.n--
		return nil, fmt.Errorf("onec: create %s: %w: context deadline exceeded", entity, onecapi.ErrOutcomeUnknown)
	}
	return u.Client.Create(ctx, entity, body)
}

// TestOrderLostCreateNotFoundStopsTheRun: after an unknown outcome the
// marker is not there (1C may still be working on it): nothing is created
// again in this run; the run stops, and the next one (the engine marks
// the record interrupted) looks again and creates.
func TestOrderLostCreateNotFoundStopsTheRun(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.h.OneC = &unsentCreates{Client: e.h.OneC, n: 1}
	_, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	var re *engine.RejectedError
	var he *engine.HeldError
	if !errors.Is(err, onecapi.ErrOutcomeUnknown) || errors.As(err, &re) || errors.As(err, &he) {
		t.Fatalf("err = %v (%T), want the run-stopping outcome-unknown error", err, err)
	}
	if n := e.onec.Requests("POST", onectest.SetOrders); n != 0 || len(e.docs(orderKey)) != 0 {
		t.Fatalf("POST requests = %d, documents %d: nothing may be created again in the run", n, len(e.docs(orderKey)))
	}
	rec := orderRec(seedOrder())
	rec.Interrupted = true
	out, err := e.h.Apply(ctx, e.run, rec)
	if err != nil || out.Result != virtsync.Created || out.RemoteID != e.oneDoc(t)["Ref_Key"] {
		t.Fatalf("next run: %+v, %v", out, err)
	}
}

// TestOrderOfAnInterruptedCreateFoundIsCreated: a crash after the create
// and before the commit; the next run (the record marked interrupted)
// finds the document by its marker and reports it created, not adopted.
func TestOrderOfAnInterruptedCreateFoundIsCreated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatal(err)
	}
	// The outcome was never committed: the id map does not know it.
	rec := orderRec(seedOrder())
	rec.Interrupted = true
	out, err := e.h.Apply(ctx, e.run, rec)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if out.Result != virtsync.Created || out.RemoteID != first.RemoteID || e.oneDoc(t)["Ref_Key"] != first.RemoteID {
		t.Fatalf("retry outcome = %+v, first %v", out, first.RemoteID)
	}
	if n := e.onec.Requests("POST", onectest.SetOrders); n != 1 {
		t.Fatalf("POST requests = %d, want the first create only", n)
	}
	wantEvents(t, out, "order.new", "order.exported")
}

func TestOrderMarkedByHandIsAdopted(t *testing.T) {
	e := newEnv(t)
	put, err := e.onec.Put(onectest.SetOrders, onectest.Object{"Date": "2017-08-24T18:45:08", "НомерПоДаннымКлиента": orderKey,
		"Партнер_Key": e.partner})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if out.Result != virtsync.Updated || out.RemoteID != put["Ref_Key"] || out.Extra != put["Number"] {
		t.Fatalf("outcome = %+v", out)
	}
	if n := e.onec.Writes(onectest.SetOrders); n != 1 || e.onec.Requests("POST", onectest.SetOrders) != 0 {
		t.Fatalf("writes = %d, posts = %d", n, e.onec.Requests("POST", onectest.SetOrders))
	}
	if rows := e.oneDoc(t)["Товары"].([]onectest.Object); len(rows) != 2 {
		t.Fatalf("adopted document not filled: %v", rows)
	}
}

func TestOrderChangedFlagsUpdates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatal(err)
	}
	e.putID(t, "order", orderKey, first.RemoteID)
	e.onec.ResetCounters()

	o := seedOrder()
	o.Paid, o.Cancelled = true, true
	rec := orderRec(o)
	rec.Version = "fp2"
	out, err := e.h.Apply(ctx, e.run, rec)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if out.Result != virtsync.Updated || out.RemoteID != first.RemoteID {
		t.Fatalf("outcome = %+v", out)
	}
	if e.onec.Requests("PATCH", onectest.SetOrders) != 1 || e.onec.Requests("POST", onectest.SetOrders) != 0 {
		t.Fatalf("PATCH %d POST %d", e.onec.Requests("PATCH", onectest.SetOrders), e.onec.Requests("POST", onectest.SetOrders))
	}
	if n := e.onec.Requests("GET", onectest.SetOrders); n != 0 {
		t.Fatalf("%d marker look-ups for a known order, want 0", n)
	}
	doc := e.oneDoc(t)
	if doc["Комментарий"] != "virtpos (оплачен, отменён): позвонить" || doc["Статус"] != "Закрыт" {
		t.Fatalf("document after change: comment %q status %q", doc["Комментарий"], doc["Статус"])
	}
	if rows := doc["Товары"].([]onectest.Object); len(rows) != 2 {
		t.Fatalf("rows replaced badly: %v", rows)
	}
	wantEvents(t, out, "order.changed", "order.exported")
	if d := eventData(t, out.Events[0]); d["paid"] != true || d["cancelled"] != true {
		t.Fatalf("order.changed data = %v", d)
	}
}

func TestOrderNotReady(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(o *virtposapi.Order)
		vpSeed   string
		wantHeld bool
		wantRej  bool
		mention  string
		waitsFor string // the job a hold names
	}{
		{name: "unknown item", edit: func(o *virtposapi.Order) { o.Items[1].ItemID = "999999" },
			wantHeld: true, mention: "999999"},
		{name: "unknown customer waits for the customers job", edit: func(o *virtposapi.Order) { o.CustomerID = "77" },
			wantHeld: true, mention: "77", waitsFor: "customers"},
		{name: "customer without external id waits for the customers job", edit: func(o *virtposapi.Order) { o.CustomerID = "77" },
			vpSeed: `{"customers":[{"id":"77","lname":"Без связи"}]}`, wantHeld: true, mention: "77", waitsFor: "customers"},
		{name: "no customer", edit: func(o *virtposapi.Order) { o.CustomerID = "" }, wantRej: true},
		{name: "a line without an item is rejected, not held", edit: func(o *virtposapi.Order) { o.Items[1].ItemID = " " },
			wantRej: true, mention: "items[1].item_id: empty"},
		{name: "garbage created_date", edit: func(o *virtposapi.Order) { o.CreatedDate = "24.08.2017 18:45" },
			wantRej: true, mention: "created_date"},
		{name: "empty created_date", edit: func(o *virtposapi.Order) { o.CreatedDate = "" },
			wantRej: true, mention: "created_date"},
		{name: "an order virtpos sent damaged is rejected naming the field", edit: func(o *virtposapi.Order) {
			o.Comment = "" // the decoder leaves a damaged field empty
			o.Problems = []string{"comment: not valid UTF-8 at byte 12", "items[1].item_name: control character U+0001 at byte 3"}
		}, wantRej: true, mention: "order " + orderKey + " cannot be used as virtpos sent it: comment: not valid UTF-8 at byte 12; items[1].item_name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.vpSeed != "" {
				if err := e.vp.LoadSeed(strings.NewReader(tc.vpSeed)); err != nil {
					t.Fatal(err)
				}
			}
			o := seedOrder()
			tc.edit(o)
			out, err := e.h.Apply(context.Background(), e.run, orderRec(o))
			var he *engine.HeldError
			var re *engine.RejectedError
			if errors.As(err, &he) != tc.wantHeld || errors.As(err, &re) != tc.wantRej {
				t.Fatalf("Apply = %+v, %v (%T); want held=%v rejected=%v", out, err, err, tc.wantHeld, tc.wantRej)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not name %q", err, tc.mention)
			}
			if he != nil && he.WaitsFor != tc.waitsFor {
				t.Fatalf("hold waits for %q, want %q", he.WaitsFor, tc.waitsFor)
			}
			if n := e.onec.Writes(onectest.SetOrders); n != 0 || len(e.docs(orderKey)) != 0 {
				t.Fatalf("writes = %d for an order that cannot pass", n)
			}
		})
	}
}

// A virtpos customer not in the id map but carrying the partner's Ref_Key as
// external_id is resolved through virtpos.
func TestOrderCustomerResolvedThroughVirtpos(t *testing.T) {
	e := newEnv(t)
	if err := e.vp.LoadSeed(strings.NewReader(`{"customers":[{"id":"77","external_id":"` + e.partner + `"}]}`)); err != nil {
		t.Fatal(err)
	}
	o := seedOrder()
	o.CustomerID = "77"
	out, err := e.h.Apply(context.Background(), e.run, orderRec(o))
	if err != nil || out.Result != virtsync.Created {
		t.Fatalf("Apply = %+v, %v", out, err)
	}
	if doc := e.oneDoc(t); doc["Партнер_Key"] != e.partner || doc["Контрагент_Key"] != e.cp {
		t.Fatalf("document partner %v counterparty %v", doc["Партнер_Key"], doc["Контрагент_Key"])
	}
}

func TestOrderPosting(t *testing.T) {
	e := newEnv(t)
	e.h.Settings.Post = true
	ctx := context.Background()

	e.onec.FailNextPosts(1)
	out, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatalf("Apply with a failing post: %v", err)
	}
	if out.Result != virtsync.Created || !strings.HasPrefix(out.Version, "unposted:") || out.Version == "unposted:" {
		t.Fatalf("outcome = %+v, want created with an unposted: version", out)
	}
	if out.Warning == "" || !strings.Contains(out.Warning, "not posted") {
		t.Fatalf("warning = %q", out.Warning)
	}
	doc := e.oneDoc(t)
	if doc["Posted"] != false || out.RemoteID != doc["Ref_Key"] {
		t.Fatalf("document %v posted=%v", doc["Ref_Key"], doc["Posted"])
	}
	ex := eventData(t, out.Events[1])
	if ex["posted"] != false || ex["post_error"] == nil {
		t.Fatalf("exported = %v", ex)
	}

	// The engine stored the id and the unposted version; the next run
	// retries: the same document is posted, nothing is created.
	e.putID(t, "order", orderKey, out.RemoteID)
	out2, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if out2.Version != "" || out2.Warning != "" || out2.RemoteID != out.RemoteID {
		t.Fatalf("second outcome = %+v", out2)
	}
	if doc := e.oneDoc(t); doc["Posted"] != true {
		t.Fatalf("document not posted on the retry")
	}
	if ex := eventData(t, out2.Events[1]); ex["posted"] != true {
		t.Fatalf("exported = %v", ex)
	}
}

func TestOrderCancelledIsNotPosted(t *testing.T) {
	e := newEnv(t)
	e.h.Settings.Post = true
	o := seedOrder()
	o.Cancelled = true
	out, err := e.h.Apply(context.Background(), e.run, orderRec(o))
	if err != nil {
		t.Fatal(err)
	}
	if doc := e.oneDoc(t); doc["Posted"] != false || doc["Статус"] != "Закрыт" {
		t.Fatalf("cancelled order: posted %v status %v", doc["Posted"], doc["Статус"])
	}
	if _, ok := eventData(t, out.Events[1])["posted"]; ok || out.Version != "" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestOrderSumMismatchIsReportedNotFixed(t *testing.T) {
	e := newEnv(t)
	o := seedOrder()
	o.Amount = dec("976.60")
	out, err := e.h.Apply(context.Background(), e.run, orderRec(o))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Warning, "amount") {
		t.Fatalf("warning = %q", out.Warning)
	}
	if ms, ok := eventData(t, out.Events[1])["sum_mismatch"]; !ok || len(ms.([]any)) != 1 {
		t.Fatalf("exported = %v", out.Events[1])
	}
	if s := e.oneDoc(t)["СуммаДокумента"].(decimal.Decimal); !s.Equal(dec("976.60")) {
		t.Fatalf("СуммаДокумента = %s, want the amount as sent", s)
	}
}

// A virtpos customer linked to something that is not a 1C partner (another
// system's external_id) holds the order; nothing is written to 1C.
func TestOrderCustomerWithForeignExternalID(t *testing.T) {
	e := newEnv(t)
	if err := e.vp.LoadSeed(strings.NewReader(`{"customers":[{"id":"77","external_id":"CRM-123"}]}`)); err != nil {
		t.Fatal(err)
	}
	o := seedOrder()
	o.CustomerID = "77"
	_, err := e.h.Apply(context.Background(), e.run, orderRec(o))
	var he *engine.HeldError
	// The foreign value may be a phone or an e-mail: its length is told,
	// never the value.
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "a 7-character text") || strings.Contains(err.Error(), "CRM-123") ||
		he.WaitsFor != "customers" {
		t.Fatalf("err = %v, want a hold on the customers job saying the reference's shape, not its value", err)
	}
	if n := e.onec.Writes(onectest.SetOrders); n != 0 {
		t.Fatalf("writes = %d", n)
	}
}

// The runner applies several records of a batch at once: the per-run caches
// must hold up under -race, and every order gets its own document.
func TestOrdersConcurrentApply(t *testing.T) {
	e := newEnv(t)
	const n = 6
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			rec := orderRec(seedOrder())
			rec.Key = fmt.Sprintf("%s-%d", orderKey, i)
			_, err := e.h.Apply(context.Background(), e.run, rec)
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if ds := e.docs(fmt.Sprintf("%s-%d", orderKey, i)); len(ds) != 1 {
			t.Fatalf("order %d: %d documents", i, len(ds))
		}
	}
	// Items and the counterparty are cached per run: far fewer look-ups
	// than one per order and line.
	if got := e.onec.Requests("GET", onectest.SetItems); got > 2*n || got < 2 {
		t.Fatalf("item look-ups = %d", got)
	}
	e.onec.ResetCounters()
	rec := orderRec(seedOrder())
	rec.Key = orderKey + "-late"
	if _, err := e.h.Apply(context.Background(), e.run, rec); err != nil {
		t.Fatal(err)
	}
	if e.onec.Requests("GET", onectest.SetItems) != 0 || e.onec.Requests("GET", onectest.SetCounterpty) != 0 {
		t.Fatalf("cached look-ups repeated: items %d counterparties %d",
			e.onec.Requests("GET", onectest.SetItems), e.onec.Requests("GET", onectest.SetCounterpty))
	}
	// A new run starts with empty caches (an item added in 1C is found).
	if err := e.h.Prepare(context.Background(), e.run); err != nil {
		t.Fatal(err)
	}
	rec.Key = orderKey + "-next-run"
	if _, err := e.h.Apply(context.Background(), e.run, rec); err != nil {
		t.Fatal(err)
	}
	if e.onec.Requests("GET", onectest.SetItems) != 2 {
		t.Fatalf("item look-ups after Prepare = %d, want 2", e.onec.Requests("GET", onectest.SetItems))
	}
}

// A document deleted by hand in 1C while the id map still has it must not
// stall the job (every run would stop on it): the marker is looked up again,
// and the order is adopted or created anew, with a warning.
func TestOrderKnownDocumentGone(t *testing.T) {
	const staleRef = "0b1e4f2a-0000-4000-8000-000000000001"
	for _, tc := range []struct {
		name        string
		otherMarked bool // another document already carries the marker
		want        virtsync.Result
	}{
		{name: "recreated", want: virtsync.Created},
		{name: "adopts the marked one", otherMarked: true, want: virtsync.Updated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.putID(t, "order", orderKey, staleRef)
			if tc.otherMarked {
				if _, err := e.onec.Put(onectest.SetOrders, onectest.Object{"Date": "2017-08-24T18:45:08", "НомерПоДаннымКлиента": orderKey}); err != nil {
					t.Fatal(err)
				}
			}
			out, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			doc := e.oneDoc(t)
			if out.Result != tc.want || out.RemoteID != doc["Ref_Key"] || out.RemoteID == staleRef {
				t.Fatalf("outcome = %+v, doc %v", out, doc["Ref_Key"])
			}
			if !strings.Contains(out.Warning, staleRef) {
				t.Fatalf("warning = %q", out.Warning)
			}
			if rows := doc["Товары"].([]onectest.Object); len(rows) != 2 {
				t.Fatalf("rows = %v", rows)
			}
			wantEvents(t, out, "order.changed", "order.exported")
		})
	}
}

// TestOrderSetupFaultsStopTheRun: 1C refusing the credentials or the
// rights is no fault of the order: the error stops the run (neither a
// rejection nor a hold) and stays typed, so the run says what to fix.
func TestOrderSetupFaultsStopTheRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env)
		want  string
	}{
		{name: "a wrong password", want: "onec.password", setup: func(t *testing.T, e *env) {
			oc, err := onecapi.New(onecapi.Config{BaseURL: e.onecURL, User: "sync", Password: "wrong"})
			if err != nil {
				t.Fatal(err)
			}
			e.h.OneC = oc
		}},
		{name: "no rights on the marker look-up", want: "rights", setup: func(t *testing.T, e *env) {
			// Another order first, so the item and counterparty caches are
			// warm and the refusal lands on the document itself.
			rec := orderRec(seedOrder())
			rec.Key = orderKey + "-warm"
			if _, err := e.h.Apply(context.Background(), e.run, rec); err != nil {
				t.Fatal(err)
			}
			e.onec.ExceptionOnNext(100)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(t, e)
			_, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
			var re *engine.RejectedError
			var he *engine.HeldError
			if err == nil || errors.As(err, &re) || errors.As(err, &he) || !onecapi.IsAuth(err) {
				t.Fatalf("err = %v (%T), want a run-stopping onec.IsAuth error", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%q does not say %q", err, tc.want)
			}
		})
	}
}
