package virtposapi_test

// Tests of the client against the fake server (virtpostest) over real
// loopback HTTP, for every call in both formats and both methods.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// fakeKey is distinctive: Cyrillic, a slash and the characters that need
// escaping in a query, so every escaped form differs from the raw one.
const fakeKey = "K3y-Секрет/+&="

const seedFile = "virtpostest/testdata/seed.json"

// Seed customers (testdata/seed.json of virtpostest).
const (
	extIvan = "8d2f1c4e-0b7a-11ee-9c3a-00155d01a001" // id 3
	extOlga = "8d2f1c4e-0b7a-11ee-9c3a-00155d01a002" // id 4
)

var fakeCombos = []struct{ format, method string }{
	{"xml", "GET"}, {"xml", "POST"}, {"json", "GET"}, {"json", "POST"},
}

// fakeNow is the fake's clock for the tests that depend on it.
var fakeNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// keyLeaks returns the forms of the key found in s.
func keyLeaks(s string) []string {
	var found []string
	for _, k := range []string{fakeKey, url.QueryEscape(fakeKey), url.PathEscape(fakeKey), "K3y", "Секрет",
		url.QueryEscape("Секрет"), strings.ToLower(url.QueryEscape("Секрет"))} {
		if strings.Contains(s, k) {
			found = append(found, k)
		}
	}
	return found
}

func assertNoKeyIn(t testing.TB, what, s string) {
	t.Helper()
	if l := keyLeaks(s); len(l) > 0 {
		t.Errorf("%s leaks the apikey (%q): %s", what, l, s)
	}
}

type fakeEnv struct {
	t    *testing.T
	srv  *virtpostest.Server
	c    *virtposapi.Client
	logs *syncbuf.Buffer
	// quiet allows an empty client log: a request that never got an
	// answer and was not retried leaves no line.
	quiet bool
}

// newFakeEnv starts a fake and a client for one format/method. At the end
// of the test the client's log must not hold the key, and must not be empty
// when requests were made (so the check cannot pass vacuously).
func newFakeEnv(t *testing.T, format, method string, mod func(*virtposapi.Config)) *fakeEnv {
	t.Helper()
	srv := virtpostest.NewServer(t, virtpostest.Options{APIKey: fakeKey, Now: func() time.Time { return fakeNow }})
	logs := &syncbuf.Buffer{}
	cfg := virtposapi.Config{
		BaseURL: srv.URL, APIKey: fakeKey, Format: format, Method: method, Timeout: 5 * time.Second,
		Retry:  virtposapi.RetryPolicy{MaxAttempts: 4, Initial: time.Millisecond, Max: 20 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := virtposapi.New(cfg)
	if err != nil {
		t.Fatalf("virtpos.New: %v", err)
	}
	if c.Format() != format {
		t.Fatalf("client format %q, want %q", c.Format(), format)
	}
	e := &fakeEnv{t: t, srv: srv, c: c, logs: logs}
	t.Cleanup(func() {
		l := logs.String()
		assertNoKeyIn(t, "client log", l)
		if totalRequests(srv) > 0 && !e.quiet && !strings.Contains(l, "virtpos: ") {
			t.Errorf("client logged nothing for %d requests; log: %q", totalRequests(srv), l)
		}
	})
	return e
}

// check applies the key check to err and returns it.
func (e *fakeEnv) check(err error) error {
	e.t.Helper()
	if err != nil {
		assertNoKeyIn(e.t, "error", err.Error())
	}
	return err
}

func (e *fakeEnv) loadSeed() {
	e.t.Helper()
	if err := e.srv.LoadSeedFile(seedFile); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fakeEnv) requests(path string) int { return e.srv.Counts().Requests[path] }

func totalRequests(s *virtpostest.Server) int {
	n := 0
	for _, v := range s.Counts().Requests {
		n += v
	}
	return n
}

// eachCombo runs fn for the four format/method combinations as parallel
// subtests.
func eachCombo(t *testing.T, fn func(t *testing.T, format, method string)) {
	for _, cb := range fakeCombos {
		t.Run(cb.format+"/"+cb.method, func(t *testing.T) {
			t.Parallel()
			fn(t, cb.format, cb.method)
		})
	}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// orderDiff describes the first differences between got and want; "" when
// equal (decimals compared by value).
func orderDiff(got, want *virtposapi.Order) string {
	var diffs []string
	str := func(name, g, w string) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s=%q, want %q", name, g, w))
		}
	}
	dec := func(name string, g, w decimal.Decimal) {
		if !g.Equal(w) {
			diffs = append(diffs, fmt.Sprintf("%s=%s, want %s", name, g, w))
		}
	}
	flag := func(name string, g, w bool) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s=%v, want %v", name, g, w))
		}
	}
	flag("paid", got.Paid, want.Paid)
	flag("shipped", got.Shipped, want.Shipped)
	flag("cancelled", got.Cancelled, want.Cancelled)
	str("customer_id", got.CustomerID, want.CustomerID)
	str("shipping_address", got.ShippingAddress, want.ShippingAddress)
	dec("shipping_cost", got.ShippingCost, want.ShippingCost)
	str("pickup_receipt_id", got.PickupReceiptID, want.PickupReceiptID)
	str("comment", got.Comment, want.Comment)
	str("guid", got.GUID, want.GUID)
	str("created_date", got.CreatedDate, want.CreatedDate)
	dec("amount", got.Amount, want.Amount)
	dec("discount", got.Discount, want.Discount)
	str("pickup_from_warehouse_id", got.PickupFromWarehouseID, want.PickupFromWarehouseID)
	str("pickup_from_warehouse_name", got.PickupFromWarehouseName, want.PickupFromWarehouseName)
	str("delivery_type_id", got.DeliveryTypeID, want.DeliveryTypeID)
	str("delivery_type_name", got.DeliveryTypeName, want.DeliveryTypeName)
	str("payment_type_id", got.PaymentTypeID, want.PaymentTypeID)
	str("payment_type_name", got.PaymentTypeName, want.PaymentTypeName)
	if len(got.Items) != len(want.Items) {
		diffs = append(diffs, fmt.Sprintf("%d items, want %d", len(got.Items), len(want.Items)))
	} else {
		for i := range got.Items {
			g, w := &got.Items[i], &want.Items[i]
			p := fmt.Sprintf("items[%d].", i)
			str(p+"item_id", g.ItemID, w.ItemID)
			str(p+"item_name", g.ItemName, w.ItemName)
			str(p+"image", g.Image, w.Image)
			dec(p+"quantity", g.Quantity, w.Quantity)
			dec(p+"unit_base_price", g.UnitBasePrice, w.UnitBasePrice)
			dec(p+"discount", g.Discount, w.Discount)
			dec(p+"amount", g.Amount, w.Amount)
		}
	}
	return strings.Join(diffs, "; ")
}

// seedOrderWant is the order of virtpostest/testdata/seed.json, written out
// by hand (not read through the fake) so that the test is independent.
func seedOrderWant() virtposapi.Order {
	return virtposapi.Order{
		Paid: false, Shipped: false, Cancelled: false, CustomerID: "3",
		ShippingAddress: "Дом 3, корпус 5", ShippingCost: d("130.00"), PickupReceiptID: "",
		Comment: "После шести", GUID: "", CreatedDate: "2017-08-24 18:45:08",
		Amount: d("976.59"), Discount: d("10.20"),
		PickupFromWarehouseID: "2", PickupFromWarehouseName: "Просвещения проспект",
		DeliveryTypeID: "1", DeliveryTypeName: "Самовывоз", PaymentTypeID: "1", PaymentTypeName: "Оплата при получении",
		Items: []virtposapi.Item{
			{ItemID: "789", ItemName: `Коньяк "Анри" 3-летний 40,0% 0,5л`, Quantity: d("3.450"),
				UnitBasePrice: d("100.10"), Discount: d("10.20"), Amount: d("335.15")},
			{ItemID: "787", ItemName: `Коньяк "Father's Old Barrel' 3-летний 40% 0.5 л.`, Quantity: d("2.000"),
				UnitBasePrice: d("320.72"), Discount: d("0.00"), Amount: d("641.44")},
		},
	}
}

// ------------------------------------------------------------------ orders

func TestFakeOrdersSeedExactly(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		e.loadSeed()
		var got []virtposapi.Order
		err := e.check(e.c.Orders(context.Background(), virtposapi.OrdersQuery{}, func(o *virtposapi.Order) error {
			got = append(got, *o)
			return nil
		}))
		if err != nil {
			t.Fatalf("Orders: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("got %d orders, want 1: %v", len(got), got)
		}
		want := seedOrderWant()
		if diff := orderDiff(&got[0], &want); diff != "" {
			t.Errorf("seed order differs: %s", diff)
		}
		if m := got[0].CheckSums(); len(m) != 0 {
			t.Errorf("CheckSums of the seed order = %v, want none", m)
		}
		if n := e.requests(virtpostest.PathOrders); n != 1 {
			t.Errorf("%d requests to /orders, want 1", n)
		}
	})
}

func TestFakeOrdersGenerated5000(t *testing.T) {
	const n = 5000
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		e.srv.GenerateOrders(n, 1)
		i, bad := 0, 0
		err := e.check(e.c.Orders(context.Background(), virtposapi.OrdersQuery{}, func(o *virtposapi.Order) error {
			want, ok := e.srv.GeneratedOrder(i)
			if !ok {
				return fmt.Errorf("order %d: the fake has no such order", i)
			}
			if diff := orderDiff(o, &want); diff != "" {
				if bad++; bad <= 5 {
					t.Errorf("order %d differs: %s", i, diff)
				}
			}
			if m := o.CheckSums(); len(m) != 0 && bad < 5 {
				bad++
				t.Errorf("order %d: CheckSums = %v", i, m)
			}
			i++
			return nil
		}))
		if err != nil {
			t.Fatalf("Orders: %v", err)
		}
		if i != n {
			t.Errorf("streamed %d orders, want %d", i, n)
		}
		if bad > 0 {
			t.Errorf("%d orders differ", bad)
		}
		if r := e.requests(virtpostest.PathOrders); r != 1 {
			t.Errorf("%d requests to /orders, want 1", r)
		}
	})
}

func TestFakeOrdersFilters(t *testing.T) {
	day := func(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }
	msk := time.FixedZone("MSK", 3*3600)
	cases := []struct {
		name string
		q    virtposapi.OrdersQuery
		want []string // labels: guid, "seed" for the seed order
	}{
		{"no filter", virtposapi.OrdersQuery{}, []string{"seed", "a", "b", "c", "d", "e"}},
		{"id 3", virtposapi.OrdersQuery{CustomerID: "3"}, []string{"seed", "a", "d"}},
		{"id 4", virtposapi.OrdersQuery{CustomerID: "4"}, []string{"b", "e"}},
		{"id unknown", virtposapi.OrdersQuery{CustomerID: "999"}, nil},
		{"external_id Ivan", virtposapi.OrdersQuery{ExternalID: extIvan}, []string{"seed", "a", "d"}},
		{"external_id Olga", virtposapi.OrdersQuery{ExternalID: extOlga}, []string{"b", "e"}},
		{"external_id unknown", virtposapi.OrdersQuery{ExternalID: "no-such-customer"}, nil},
		{"datefrom", virtposapi.OrdersQuery{DateFrom: day(2026, 3, 10)}, []string{"b", "c", "d", "e"}},
		{"datefrom in its own zone", virtposapi.OrdersQuery{DateFrom: time.Date(2026, 3, 10, 1, 0, 0, 0, msk)}, []string{"b", "c", "d", "e"}},
		{"dateto inclusive", virtposapi.OrdersQuery{DateTo: day(2026, 3, 10)}, []string{"seed", "a", "b"}},
		{"datefrom+dateto", virtposapi.OrdersQuery{DateFrom: day(2026, 3, 10), DateTo: day(2026, 3, 11)}, []string{"b", "c"}},
		{"one day window", virtposapi.OrdersQuery{DateFrom: day(2017, 8, 24), DateTo: day(2017, 8, 24)}, []string{"seed"}},
		{"empty window", virtposapi.OrdersQuery{DateFrom: day(2026, 3, 12), DateTo: day(2026, 3, 13)}, nil},
		{"days 1", virtposapi.OrdersQuery{Days: 1}, []string{"d", "e"}},
		{"days 5", virtposapi.OrdersQuery{Days: 5}, []string{"b", "c", "d", "e"}},
		{"days 30", virtposapi.OrdersQuery{Days: 30}, []string{"a", "b", "c", "d", "e"}},
		{"id 3 + days 5", virtposapi.OrdersQuery{CustomerID: "3", Days: 5}, []string{"d"}},
		{"external_id Olga + datefrom", virtposapi.OrdersQuery{ExternalID: extOlga, DateFrom: day(2026, 3, 11)}, []string{"e"}},
	}
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		e.loadSeed() // customers 3 (Ivan) and 4 (Olga), the seed order (customer 3, 2017-08-24)
		add := func(guid, cust, created string) virtposapi.Order {
			o := virtposapi.Order{GUID: guid, CustomerID: cust, CreatedDate: created, Amount: d("10.00"),
				Items: []virtposapi.Item{{ItemID: "1", ItemName: "Хлеб " + guid, Quantity: d("1.000"),
					UnitBasePrice: d("10.00"), Amount: d("10.00")}}}
			e.srv.AddOrder(o)
			return o
		}
		stored := map[string]virtposapi.Order{"seed": seedOrderWant()}
		for _, o := range []virtposapi.Order{
			add("a", "3", "2026-03-01 00:00:00"),
			add("b", "4", "2026-03-10 23:59:59"),
			add("c", "5", "2026-03-11 00:00:00"),
			add("d", "3", "2026-03-14 12:00:00"), // exactly 1 day before fakeNow
			add("e", "4", "2026-03-15 11:59:59"),
		} {
			stored[o.GUID] = o
		}
		for _, tc := range cases {
			var got []string
			err := e.check(e.c.Orders(context.Background(), tc.q, func(o *virtposapi.Order) error {
				label := o.GUID
				if label == "" {
					label = "seed"
				}
				want, ok := stored[label]
				if !ok {
					return fmt.Errorf("unexpected order %v", o)
				}
				if diff := orderDiff(o, &want); diff != "" {
					t.Errorf("%s: order %s differs: %s", tc.name, label, diff)
				}
				got = append(got, label)
				return nil
			}))
			if err != nil {
				t.Errorf("%s: Orders: %v", tc.name, err)
				continue
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got orders %q, want %q", tc.name, got, tc.want)
			}
		}
		if n := e.requests(virtpostest.PathOrders); n != len(cases) {
			t.Errorf("%d requests to /orders, want %d", n, len(cases))
		}
	})
}

func TestFakeOrdersCallbackErrorStops(t *testing.T) {
	for _, stopAt := range []int{1, 10, 2000} {
		t.Run(fmt.Sprint("stop at ", stopAt), func(t *testing.T) {
			eachCombo(t, func(t *testing.T, format, method string) {
				e := newFakeEnv(t, format, method, nil)
				e.srv.GenerateOrders(5000, 3)
				stop := errors.New("stop here: 1C is down")
				calls := 0
				err := e.check(e.c.Orders(context.Background(), virtposapi.OrdersQuery{}, func(o *virtposapi.Order) error {
					calls++
					if calls == stopAt {
						return stop
					}
					return nil
				}))
				if err != stop {
					t.Errorf("Orders returned %v (%T), want the callback's error unchanged", err, err)
				}
				if calls != stopAt {
					t.Errorf("callback called %d times, want %d (the stream must stop)", calls, stopAt)
				}
				if n := e.requests(virtpostest.PathOrders); n != 1 {
					t.Errorf("%d requests to /orders, want 1 (a callback error is not retried)", n)
				}
			})
		})
	}
}

// A body cut in the middle of the stream: the orders before the cut arrive
// whole and equal to the fake's, then a transient error naming the endpoint;
// no retry (it would deliver the same orders again).
func TestFakeOrdersTruncatedMidStream(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		const n = 300
		e.srv.GenerateOrders(n, 5)
		e.srv.SetFaults(virtpostest.Faults{TruncateAfter: 40 << 10})
		delivered := 0
		err := e.check(e.c.Orders(context.Background(), virtposapi.OrdersQuery{}, func(o *virtposapi.Order) error {
			want, _ := e.srv.GeneratedOrder(delivered)
			if diff := orderDiff(o, &want); diff != "" {
				t.Errorf("order %d before the cut differs: %s", delivered, diff)
			}
			delivered++
			return nil
		}))
		if err == nil {
			t.Fatalf("Orders succeeded with a body cut after 40 KiB (%d of %d orders)", delivered, n)
		}
		if delivered == 0 || delivered >= n {
			t.Errorf("delivered %d orders, want some but not all of %d (is TruncateAfter too big/small?)", delivered, n)
		}
		if !virtposapi.IsTransient(err) {
			t.Errorf("error is not transient: %v", err)
		}
		if virtposapi.IsRejected(err) {
			t.Errorf("a cut body must not look like a rejection: %v", err)
		}
		if !strings.Contains(err.Error(), "virtpos orders") {
			t.Errorf("error does not name the endpoint: %v", err)
		}
		if r := e.requests(virtpostest.PathOrders); r != 1 {
			t.Errorf("%d requests to /orders, want 1 (not retried after orders were delivered)", r)
		}
	})
}

// --------------------------------------------------------------- customers

func TestFakeCustomers(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		ctx := context.Background()
		ext := "1c-ref/" + format + "-" + method + " & Ко" // escaping in query and form

		// Not found before it exists: ok=false and no error.
		if _, ok, err := e.c.FindCustomerByExternalID(ctx, ext); e.check(err) != nil || ok {
			t.Fatalf("FindCustomerByExternalID before create: ok=%v err=%v, want not found", ok, err)
		}

		created, err := e.c.UpdateCustomer(ctx, url.Values{"create_if_not_exist": {"1"}, "external_id": {ext},
			"fname": {"Пётр"}, "lname": {"Иванов-Щукин"}, "phone": {"79001112233"}, "gender": {"M"},
			"birth_day": {"29"}, "birth_month": {"2"}, "birth_year": {"1996"}, "group_name": {"Опт «Север»"}})
		if e.check(err) != nil {
			t.Fatalf("create: %v", err)
		}
		if !created.IsNew || created.ID == "" {
			t.Fatalf("create: got %+v, want isnew=true and an id", created)
		}
		fc, ok := e.srv.Customer(ext)
		if !ok || fc.ID != created.ID || fc.FName != "Пётр" || fc.LName != "Иванов-Щукин" || fc.GroupName != "Опт «Север»" {
			t.Fatalf("fake holds %+v (ok=%v) after create, want id %s with the sent fields", fc, ok, created.ID)
		}

		updated, err := e.c.UpdateCustomer(ctx, url.Values{"id": {created.ID}, "email": {"petr@example.ru"}, "mname": {"Ильич"}})
		if e.check(err) != nil {
			t.Fatalf("update: %v", err)
		}
		if updated.IsNew || updated.ID != created.ID {
			t.Fatalf("update: got %+v, want isnew=false id=%s", updated, created.ID)
		}
		if c := e.srv.Counts(); c.CustomersCreated != 1 || c.CustomersUpdated != 1 {
			t.Errorf("fake counts created=%d updated=%d, want 1/1", c.CustomersCreated, c.CustomersUpdated)
		}

		got, ok, err := e.c.FindCustomerByExternalID(ctx, ext)
		if e.check(err) != nil || !ok {
			t.Fatalf("FindCustomerByExternalID after create: ok=%v err=%v", ok, err)
		}
		want := virtposapi.Customer{ID: created.ID, ExternalID: ext, FName: "Пётр", LName: "Иванов-Щукин", MName: "Ильич",
			Email: "petr@example.ru", Phone: "79001112233", Gender: "M", BirthDay: "29", BirthMonth: "2", BirthYear: "1996",
			GroupID: fc.GroupID, GroupName: "Опт «Север»"}
		gotNoExtra := got
		gotNoExtra.Extra, gotNoExtra.Cards = nil, nil
		if fmt.Sprintf("%+v", gotNoExtra) != fmt.Sprintf("%+v", want) {
			t.Errorf("found customer\n got %+v\nwant %+v", gotNoExtra, want)
		}
		if got.GroupID == "" {
			t.Errorf("group_id is empty: %+v", got)
		}
		if got.Extra["register_date"] != fakeNow.Format(virtposapi.TimeLayout) {
			t.Errorf("Extra[register_date] = %q, want %q (Extra: %v)", got.Extra["register_date"], fakeNow.Format(virtposapi.TimeLayout), got.Extra)
		}

		if _, ok, err := e.c.FindCustomerByExternalID(ctx, ext+"-other"); e.check(err) != nil || ok {
			t.Errorf("FindCustomerByExternalID(unknown): ok=%v err=%v, want ok=false, nil", ok, err)
		}

		// Customers by id, and every customer with the seed loaded.
		e.loadSeed()
		page, err := e.c.Customers(ctx, virtposapi.CustomerQuery{ID: "3"})
		if e.check(err) != nil {
			t.Fatalf("Customers(id=3): %v", err)
		}
		if len(page.Customers) != 1 || page.Count != 1 {
			t.Fatalf("Customers(id=3): %d customers, count %d; want 1, 1", len(page.Customers), page.Count)
		}
		ivan, _ := e.srv.Customer(extIvan)
		if g := page.Customers[0]; g.ID != "3" || g.FName != "Иван" || g.MName != "Сергеевич" || g.GroupName != "Постоянные покупатели" ||
			g.Extra["custom_information"] != "Любит коньяк" || g.BirthDay != ivan.BirthDay || g.Email != ivan.Email {
			t.Errorf("Customers(id=3) = %+v, fake has %+v", g, ivan)
		}
		all, err := e.c.Customers(ctx, virtposapi.CustomerQuery{})
		if e.check(err) != nil {
			t.Fatalf("Customers(): %v", err)
		}
		var ids, wantIDs []string
		for _, c := range all.Customers {
			ids = append(ids, c.ID+"/"+c.ExternalID)
		}
		for _, c := range e.srv.Customers() {
			wantIDs = append(wantIDs, c.ID+"/"+c.ExternalID)
		}
		if !slices.Equal(ids, wantIDs) || all.Count != len(wantIDs) {
			t.Errorf("Customers() = %q (count %d), want %q", ids, all.Count, wantIDs)
		}
		paged, err := e.c.Customers(ctx, virtposapi.CustomerQuery{Page: 2, PageSize: 1})
		if e.check(err) != nil {
			t.Fatalf("Customers(page 2 of size 1): %v", err)
		}
		if len(paged.Customers) != 1 || paged.Customers[0].ID+"/"+paged.Customers[0].ExternalID != wantIDs[1] || paged.Count != len(wantIDs) {
			t.Errorf("Customers(page 2, size 1) = %+v, want %s with count %d", paged, wantIDs[1], len(wantIDs))
		}
	})
}

func TestFakeCustomerRejections(t *testing.T) {
	cases := []struct {
		name   string
		params url.Values
		info   string // part of the fake's info the error must carry
	}{
		{"gender X", url.Values{"gender": {"X"}}, `invalid gender "X"`},
		{"31 February", url.Values{"birth_day": {"31"}, "birth_month": {"2"}}, "invalid birth date 31.2"},
		// The server echoes the values; the error names them instead.
		{"29 February 2023", url.Values{"birth_day": {"29"}, "birth_month": {"2"}, "birth_year": {"2023"}}, "invalid birth date 29.2.<birth_year>"},
		{"bad email", url.Values{"email": {"не почта"}}, `invalid email "<email>"`},
		{"update unknown id", url.Values{"id": {"424242"}}, "customer not found"},
	}
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		ctx := context.Background()
		for _, tc := range cases {
			p := url.Values{"external_id": {"rej-" + tc.name}}
			if !tc.params.Has("id") {
				p.Set("create_if_not_exist", "1")
			}
			for k, v := range tc.params {
				p[k] = v
			}
			before := e.srv.Counts()
			res, err := e.c.UpdateCustomer(ctx, p)
			e.check(err)
			if err == nil {
				t.Errorf("%s: UpdateCustomer succeeded (%+v), want a rejection", tc.name, res)
				continue
			}
			if !virtposapi.IsRejected(err) || virtposapi.IsTransient(err) {
				t.Errorf("%s: IsRejected=%v IsTransient=%v for %v", tc.name, virtposapi.IsRejected(err), virtposapi.IsTransient(err), err)
			}
			var ae *virtposapi.APIError
			if errors.As(err, &ae) && (ae.Endpoint != virtposapi.EPCustomerUpdate || !strings.Contains(ae.Info, tc.info)) {
				t.Errorf("%s: APIError %+v, want endpoint %s and info with %q", tc.name, ae, virtposapi.EPCustomerUpdate, tc.info)
			}
			if !strings.Contains(err.Error(), tc.info) || !strings.Contains(err.Error(), virtposapi.EPCustomerUpdate) {
				t.Errorf("%s: error %q does not name the info %q and the endpoint", tc.name, err, tc.info)
			}
			after := e.srv.Counts()
			if n := after.Requests[virtpostest.PathCustomerUpdate] - before.Requests[virtpostest.PathCustomerUpdate]; n != 1 {
				t.Errorf("%s: %d requests, want 1 (a rejection is not retried)", tc.name, n)
			}
			if after.Rejected != before.Rejected+1 || after.CustomersCreated != before.CustomersCreated {
				t.Errorf("%s: fake rejected %d→%d created %d→%d", tc.name, before.Rejected, after.Rejected, before.CustomersCreated, after.CustomersCreated)
			}
		}

		// age is refused by the client before any request.
		before := totalRequests(e.srv)
		_, err := e.c.UpdateCustomer(ctx, url.Values{"create_if_not_exist": {"1"}, "external_id": {"aged"}, "age": {"30"}})
		e.check(err)
		if err == nil || !strings.Contains(err.Error(), "age") {
			t.Errorf("UpdateCustomer with age: err=%v, want a client-side refusal naming age", err)
		}
		if virtposapi.IsTransient(err) {
			t.Errorf("age refusal is transient: %v", err)
		}
		if after := totalRequests(e.srv); after != before {
			t.Errorf("UpdateCustomer with age made %d requests, want none", after-before)
		}
		if _, ok := e.srv.Customer("aged"); ok {
			t.Errorf("customer with age was created")
		}
	})
}

// ------------------------------------------------------------------- cards

func TestFakeCards(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, nil)
		e.loadSeed()
		ctx := context.Background()

		// updateCard as an upsert: create, then update by uid, then by external_id.
		cr, err := e.c.UpdateCard(ctx, url.Values{"create_if_not_exist": {"1"}, "uid": {"2002"}, "external_id": {"card-2002"},
			"customer_external_id": {extOlga}, "medium": {"PLASTIC"}, "status": {"NEW"}, "type_name": {"Платиновая"}})
		if e.check(err) != nil {
			t.Fatalf("UpdateCard create: %v", err)
		}
		if !cr.IsNew || cr.ID == "" {
			t.Fatalf("UpdateCard create: %+v, want isnew and an id", cr)
		}
		up, err := e.c.UpdateCard(ctx, url.Values{"create_if_not_exist": {"1"}, "uid": {"2002"}, "status": {"ACTIVE"}})
		if e.check(err) != nil || up.IsNew || up.ID != cr.ID {
			t.Fatalf("UpdateCard by uid: %+v err=%v, want isnew=false id=%s", up, err, cr.ID)
		}
		up2, err := e.c.UpdateCard(ctx, url.Values{"external_id": {"card-2002"}, "medium": {"APP"}})
		if e.check(err) != nil || up2.IsNew || up2.ID != cr.ID {
			t.Fatalf("UpdateCard by external_id: %+v err=%v, want isnew=false id=%s", up2, err, cr.ID)
		}
		fc, ok := e.srv.Card("2002")
		if !ok || fc.ID != cr.ID || fc.Status != "ACTIVE" || fc.Medium != "APP" || fc.CustomerID != "4" || fc.TypeName != "Платиновая" {
			t.Errorf("fake card after upserts: %+v (ok=%v)", fc, ok)
		}
		if c := e.srv.Counts(); c.CardsCreated != 1 || c.CardsUpdated != 2 {
			t.Errorf("fake counts cards created=%d updated=%d, want 1/2", c.CardsCreated, c.CardsUpdated)
		}
		// Without create_if_not_exist an unknown card is a rejection.
		_, err = e.c.UpdateCard(ctx, url.Values{"uid": {"777777"}})
		if e.check(err) == nil || !virtposapi.IsRejected(err) || !strings.Contains(err.Error(), "card not found") {
			t.Errorf("UpdateCard of an unknown card without create: %v, want a rejection", err)
		}

		// insertCard always creates and rejects a duplicate uid.
		ins, err := e.c.InsertCard(ctx, url.Values{"uid": {"3003"}, "customer_id": {"3"}})
		if e.check(err) != nil || !ins.IsNew || ins.ID == "" || ins.ID == cr.ID {
			t.Fatalf("InsertCard: %+v err=%v", ins, err)
		}
		before := e.requests(virtpostest.PathCardInsert)
		_, err = e.c.InsertCard(ctx, url.Values{"uid": {"3003"}})
		e.check(err)
		if !virtposapi.IsRejected(err) || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), virtposapi.EPCardInsert) {
			t.Errorf("InsertCard duplicate uid: %v, want a rejection naming the info and endpoint", err)
		}
		if n := e.requests(virtpostest.PathCardInsert) - before; n != 1 {
			t.Errorf("duplicate InsertCard made %d requests, want 1", n)
		}

		// Customers with cards: Ivan (3) has the seed card 1001 and 3003.
		page, err := e.c.Customers(ctx, virtposapi.CustomerQuery{ExternalID: extIvan, Cards: true})
		if e.check(err) != nil || len(page.Customers) != 1 {
			t.Fatalf("Customers(cards=true): %+v err=%v", page, err)
		}
		var gotUIDs []string
		for _, c := range page.Customers[0].Cards {
			want, ok := e.srv.Card(c.UID)
			if !ok || fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", want) {
				t.Errorf("card from Customers = %+v, fake has %+v", c, want)
			}
			gotUIDs = append(gotUIDs, c.UID)
		}
		if !slices.Equal(gotUIDs, []string{"1001", "3003"}) {
			t.Errorf("Ivan's cards %q, want [1001 3003]", gotUIDs)
		}
		if c := page.Customers[0].Cards; len(c) > 0 && (c[0].TypeName != "Золотая" || c[0].Barcode == "" || c[0].UIDEAN13 != "0000000010016") {
			t.Errorf("seed card decoded as %+v", c[0])
		}
		// Without cards=true none are returned; a customer without cards has none.
		if page, err := e.c.Customers(ctx, virtposapi.CustomerQuery{ExternalID: extIvan}); e.check(err) != nil || len(page.Customers) != 1 || page.Customers[0].Cards != nil {
			t.Errorf("Customers without cards=true: %+v err=%v", page, err)
		}
		if page, err := e.c.Customers(ctx, virtposapi.CustomerQuery{ID: "4", Cards: true}); e.check(err) != nil || len(page.Customers) != 1 || len(page.Customers[0].Cards) != 1 || page.Customers[0].Cards[0].UID != "2002" {
			t.Errorf("Olga's cards: %+v err=%v", page, err)
		}

		// deleteCard by each of the four keys.
		mk := func(uid string) virtposapi.Card {
			t.Helper()
			r, err := e.c.UpdateCard(ctx, url.Values{"create_if_not_exist": {"1"}, "uid": {uid}, "external_id": {"ext-" + uid}})
			if e.check(err) != nil || !r.IsNew {
				t.Fatalf("create card %s: %+v %v", uid, r, err)
			}
			c, ok := e.srv.Card(uid)
			if !ok || c.ID != r.ID {
				t.Fatalf("fake card %s: %+v ok=%v, want id %s", uid, c, ok, r.ID)
			}
			return c
		}
		for _, tc := range []struct {
			field string
			value func(virtposapi.Card) string
		}{
			{"card_id", func(c virtposapi.Card) string { return c.ID }},
			{"external_id", func(c virtposapi.Card) string { return c.ExternalID }},
			{"uid", func(c virtposapi.Card) string { return c.UID }},
			{"card_barcode", func(c virtposapi.Card) string { return c.Barcode }},
		} {
			uid := map[string]string{"card_id": "41001", "external_id": "41002", "uid": "41003", "card_barcode": "41004"}[tc.field]
			c := mk(uid)
			n := len(e.srv.Cards())
			if err := e.check(e.c.DeleteCard(ctx, virtposapi.CardKey{Field: tc.field, Value: tc.value(c)})); err != nil {
				t.Errorf("DeleteCard by %s: %v", tc.field, err)
				continue
			}
			if _, ok := e.srv.Card(uid); ok {
				t.Errorf("DeleteCard by %s=%s: card %s still there", tc.field, tc.value(c), uid)
			}
			if m := len(e.srv.Cards()); m != n-1 {
				t.Errorf("DeleteCard by %s: %d cards left, want %d (exactly one deleted)", tc.field, m, n-1)
			}
			// A second delete finds nothing: a rejection, not retried.
			before := e.requests(virtpostest.PathCardDelete)
			err := e.check(e.c.DeleteCard(ctx, virtposapi.CardKey{Field: tc.field, Value: tc.value(c)}))
			if !virtposapi.IsRejected(err) || !strings.Contains(err.Error(), "card not found") {
				t.Errorf("second DeleteCard by %s: %v, want a rejection", tc.field, err)
			}
			if n := e.requests(virtpostest.PathCardDelete) - before; n != 1 {
				t.Errorf("second DeleteCard by %s made %d requests, want 1", tc.field, n)
			}
		}
		if c := e.srv.Counts(); c.CardsDeleted != 4 {
			t.Errorf("fake deleted %d cards, want 4", c.CardsDeleted)
		}
		// Bad keys are refused before any request.
		before = totalRequests(e.srv)
		for _, k := range []virtposapi.CardKey{{Field: "id", Value: "1"}, {Field: "uid", Value: ""}} {
			if err := e.check(e.c.DeleteCard(ctx, k)); err == nil {
				t.Errorf("DeleteCard(%+v) succeeded", k)
			}
		}
		if n := totalRequests(e.srv) - before; n != 0 {
			t.Errorf("DeleteCard with bad keys made %d requests", n)
		}
	})
}

// ------------------------------------------------------------------ faults

// fakeOp is one client call used by the fault tests.
type fakeOp struct {
	name   string
	path   string
	write  bool // the fake asks Faults.Reject
	once   bool // not idempotent: never repeated once it may have arrived
	setup  func(e *fakeEnv)
	run    func(ctx context.Context, e *fakeEnv) (int, error)
	verify func(t *testing.T, e *fakeEnv, n int) // after a success
}

var fakeOps = []fakeOp{
	{
		name: "orders", path: virtpostest.PathOrders,
		setup: func(e *fakeEnv) { e.srv.GenerateOrders(50, 9) },
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			n := 0
			err := e.c.Orders(ctx, virtposapi.OrdersQuery{}, func(*virtposapi.Order) error { n++; return nil })
			return n, err
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {
			if n != 50 {
				t.Errorf("delivered %d orders, want 50", n)
			}
		},
	},
	{
		name: "customer", path: virtpostest.PathCustomer,
		setup: func(e *fakeEnv) { e.loadSeed() },
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			c, ok, err := e.c.FindCustomerByExternalID(ctx, extIvan)
			if err == nil && (!ok || c.ID != "3") {
				return 0, fmt.Errorf("customer %s: got %+v ok=%v", extIvan, c, ok)
			}
			return 1, err
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {},
	},
	{
		// Without an id customer/update creates: never repeated once it
		// may have arrived.
		name: "customer_update create", path: virtpostest.PathCustomerUpdate, write: true, once: true,
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			_, err := e.c.UpdateCustomer(ctx, url.Values{"create_if_not_exist": {"1"}, "external_id": {"op-1"}, "fname": {"Пётр"}})
			return 0, err
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {
			if c, ok := e.srv.Customer("op-1"); !ok || c.FName != "Пётр" || len(e.srv.Customers()) != 1 {
				t.Errorf("fake customer op-1: %+v ok=%v, of %d", c, ok, len(e.srv.Customers()))
			}
		},
	},
	{
		name: "customer_update by id", path: virtpostest.PathCustomerUpdate, write: true,
		setup: func(e *fakeEnv) { e.loadSeed() },
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			_, err := e.c.UpdateCustomer(ctx, url.Values{"id": {"3"}, "external_id": {extIvan}, "mname": {"Петрович"}})
			return 0, err
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {
			if c, ok := e.srv.Customer(extIvan); !ok || c.MName != "Петрович" {
				t.Errorf("fake customer 3: %+v ok=%v", c, ok)
			}
		},
	},
	{
		name: "card_update", path: virtpostest.PathCardUpdate, write: true,
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			_, err := e.c.UpdateCard(ctx, url.Values{"create_if_not_exist": {"1"}, "uid": {"5001"}, "external_id": {"card-op"}})
			return 0, err
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {
			if _, ok := e.srv.Card("5001"); !ok {
				t.Errorf("card 5001 not created")
			}
		},
	},
	{
		name: "card_insert", path: virtpostest.PathCardInsert, write: true, once: true,
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			_, err := e.c.InsertCard(ctx, url.Values{"uid": {"5002"}})
			return 0, err
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {
			if _, ok := e.srv.Card("5002"); !ok || len(e.srv.Cards()) != 1 {
				t.Errorf("card 5002 not created once: %+v", e.srv.Cards())
			}
		},
	},
	{
		name: "card_delete", path: virtpostest.PathCardDelete, write: true,
		setup: func(e *fakeEnv) { e.loadSeed() },
		run: func(ctx context.Context, e *fakeEnv) (int, error) {
			return 0, e.c.DeleteCard(ctx, virtposapi.CardKey{Field: "uid", Value: "1001"})
		},
		verify: func(t *testing.T, e *fakeEnv, n int) {
			if _, ok := e.srv.Card("1001"); ok {
				t.Errorf("card 1001 not deleted")
			}
		},
	},
}

// endpoint is the client's name of the op's endpoint ("customer_update").
func (op fakeOp) endpoint() string {
	return strings.ReplaceAll(strings.TrimPrefix(op.path, "/"), "/", "_")
}

// faultResult is what one op did under a fault.
type faultResult struct {
	n       int
	err     error
	reqs    int // requests to the op's path made by the op itself
	elapsed time.Duration
}

type faultCase struct {
	name    string
	faults  virtpostest.Faults
	timeout time.Duration
	warmup  bool // one successful request before the op (shifts ErrorEvery)
	skip    func(op fakeOp) bool
	check   func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult)
}

const maxAttempts = 4

// wantAttempts is the number of requests a transient failure costs: all
// attempts for idempotent calls, one for insertCard.
func wantAttempts(op fakeOp) int {
	if op.once {
		return 1
	}
	return maxAttempts
}

func succeeded(t *testing.T, e *fakeEnv, op fakeOp, r faultResult, reqs int) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s failed: %v", op.name, r.err)
	}
	if r.reqs != reqs {
		t.Errorf("%d requests, want %d", r.reqs, reqs)
	}
	op.verify(t, e, r.n)
}

func failedTransient(t *testing.T, op fakeOp, r faultResult, reqs int) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("%s succeeded, want an error", op.name)
	}
	if !virtposapi.IsTransient(r.err) || virtposapi.IsRejected(r.err) {
		t.Errorf("IsTransient=%v IsRejected=%v for %v", virtposapi.IsTransient(r.err), virtposapi.IsRejected(r.err), r.err)
	}
	var te *virtposapi.TransientError
	if errors.As(r.err, &te) && te.Attempts != reqs {
		t.Errorf("TransientError.Attempts = %d, want %d", te.Attempts, reqs)
	}
	if r.reqs != reqs {
		t.Errorf("%d requests, want %d", r.reqs, reqs)
	}
	if !strings.Contains(r.err.Error(), "virtpos "+op.endpoint()) {
		t.Errorf("error does not name the endpoint %s: %v", op.endpoint(), r.err)
	}
	if op.name == "orders" && r.n != 0 {
		t.Errorf("%d orders delivered before the failure, want 0", r.n)
	}
}

var faultCases = []faultCase{
	{
		name: "429 with Retry-After", faults: virtpostest.Faults{Throttle: 1, RetryAfter: time.Second},
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			// A 429 is retried even for insertCard: the request was refused.
			succeeded(t, e, op, r, 2)
			if r.elapsed < 900*time.Millisecond {
				t.Errorf("retried after %v, want Retry-After (1s) honoured", r.elapsed)
			}
			if !strings.Contains(e.logs.String(), "retrying") {
				t.Errorf("no retry warning logged: %s", e.logs.String())
			}
		},
	},
	{
		name: "every 2nd request a 500", faults: virtpostest.Faults{ErrorEvery: 2}, warmup: true,
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			if op.once {
				// A 500 may come after the card was written: never repeated.
				failedTransient(t, op, r, 1)
				if !virtposapi.IsOutcomeUnknown(r.err) {
					t.Errorf("outcome %v after a 500, want unknown", virtposapi.OutcomeOf(r.err))
				}
				if len(e.srv.Cards())+len(e.srv.Customers()) != 0 {
					t.Errorf("cards %+v, customers %+v, want none (the 500 came before the handler)", e.srv.Cards(), e.srv.Customers())
				}
				return
			}
			succeeded(t, e, op, r, 2)
		},
	},
	{
		name: "500 share, many calls", faults: virtpostest.Faults{ErrorRate: 0.3, Seed: 42},
		skip: func(op fakeOp) bool { return op.once },
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			if r.err != nil {
				t.Fatalf("%s failed with 30%% 500s and %d attempts: %v", op.name, maxAttempts, r.err)
			}
			op.verify(t, e, r.n)
			if r.reqs < 1 || r.reqs > maxAttempts {
				t.Errorf("%d requests, want 1..%d", r.reqs, maxAttempts)
			}
		},
	},
	{
		name: "truncated body", faults: virtpostest.Faults{TruncateAfter: 10},
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			failedTransient(t, op, r, wantAttempts(op))
		},
	},
	{
		name: "HTML page with 200", faults: virtpostest.Faults{HTMLStatus: 200},
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			if r.err == nil {
				t.Fatalf("%s succeeded on an HTML page", op.name)
			}
			var de *virtposapi.DecodeError
			if !errors.As(r.err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", r.err, r.err)
			}
			if !strings.Contains(de.Got, "<!DOCTYPE html>") || !strings.Contains(r.err.Error(), "<!DOCTYPE html>") {
				t.Errorf("DecodeError does not show the first bytes: Got=%q; %v", de.Got, r.err)
			}
			if de.Status != 200 || !strings.Contains(r.err.Error(), "HTTP 200") {
				t.Errorf("DecodeError does not name the status: %+v; %v", de, r.err)
			}
			if ep := op.endpoint(); de.Endpoint != ep || !strings.Contains(r.err.Error(), "virtpos "+ep) {
				t.Errorf("DecodeError endpoint %q, want %q; %v", de.Endpoint, ep, r.err)
			}
			if virtposapi.IsRejected(r.err) {
				t.Errorf("an HTML page is not a rejection: %v", r.err)
			}
			if r.reqs < 1 || r.reqs > wantAttempts(op) {
				t.Errorf("%d requests, want 1..%d", r.reqs, wantAttempts(op))
			}
			if op.name == "orders" && r.n != 0 {
				t.Errorf("%d orders delivered from an HTML page", r.n)
			}
		},
	},
	{
		name: "HTML page with 502", faults: virtpostest.Faults{HTMLStatus: 502},
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			failedTransient(t, op, r, wantAttempts(op))
			var te *virtposapi.TransientError
			if errors.As(r.err, &te) && te.Status != 502 {
				t.Errorf("status %d, want 502", te.Status)
			}
		},
	},
	{
		name: "hang", faults: virtpostest.Faults{Hang: true}, timeout: 100 * time.Millisecond,
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			failedTransient(t, op, r, wantAttempts(op))
			if r.elapsed < time.Duration(wantAttempts(op))*90*time.Millisecond || r.elapsed > 5*time.Second {
				t.Errorf("gave up after %v, want about %d × 100ms", r.elapsed, wantAttempts(op))
			}
			e.quiet = op.once // no answer, no retry: nothing to log
		},
	},
	{
		name: "rejected by rule",
		faults: virtpostest.Faults{Reject: func(entity string, p url.Values) (bool, string) {
			return true, "Запрещено правилом №7 для " + entity
		}},
		skip: func(op fakeOp) bool { return !op.write },
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			if !virtposapi.IsRejected(r.err) || virtposapi.IsTransient(r.err) {
				t.Fatalf("IsRejected=%v IsTransient=%v for %v", virtposapi.IsRejected(r.err), virtposapi.IsTransient(r.err), r.err)
			}
			if !strings.Contains(r.err.Error(), "Запрещено правилом №7 для "+op.path) {
				t.Errorf("error does not carry the info: %v", r.err)
			}
			if r.reqs != 1 {
				t.Errorf("%d requests, want 1 (a rejection is not retried)", r.reqs)
			}
		},
	},
	{
		name: "plainly transient success=0",
		faults: virtpostest.Faults{Reject: func(string, url.Values) (bool, string) {
			return true, "Сервис временно недоступен, попробуйте позже"
		}},
		skip: func(op fakeOp) bool { return !op.write },
		check: func(t *testing.T, e *fakeEnv, op fakeOp, r faultResult) {
			// virtpos answered that it did not do it: even a create is
			// repeated.
			failedTransient(t, op, r, maxAttempts)
			if virtposapi.OutcomeOf(r.err) != virtposapi.OutcomeNotSent {
				t.Errorf("outcome %v, want not sent", virtposapi.OutcomeOf(r.err))
			}
			if !strings.Contains(r.err.Error(), "временно недоступен") {
				t.Errorf("error does not carry the info: %v", r.err)
			}
		},
	},
}

func TestFakeFaults(t *testing.T) {
	for _, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			for _, op := range fakeOps {
				if fc.skip != nil && fc.skip(op) {
					continue
				}
				t.Run(op.name, func(t *testing.T) {
					eachCombo(t, func(t *testing.T, format, method string) {
						e := newFakeEnv(t, format, method, func(c *virtposapi.Config) {
							if fc.timeout > 0 {
								c.Timeout = fc.timeout
							}
						})
						if op.setup != nil {
							op.setup(e)
						}
						e.srv.SetFaults(fc.faults)
						ctx := context.Background()
						if fc.warmup {
							_, err := e.c.Customers(ctx, virtposapi.CustomerQuery{ID: "1"})
							if e.check(err) != nil {
								t.Fatalf("warm-up: %v", err)
							}
						}
						before := e.requests(op.path)
						start := time.Now()
						n, err := op.run(ctx, e)
						r := faultResult{n: n, err: e.check(err), reqs: e.requests(op.path) - before, elapsed: time.Since(start)}
						fc.check(t, e, op, r)
					})
				})
			}
		})
	}
}

// A client whose calls all fail transiently still never puts the key in its
// log, even at debug level with retries (belt and braces over the cleanup
// check of every env): here with a wrong base path, a redirect-free 404.
func TestFakeWrongPathNamesNoKey(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, func(c *virtposapi.Config) { c.Paths.Customer = "/no/such/path" })
		_, err := e.c.Customers(context.Background(), virtposapi.CustomerQuery{ID: "1"})
		e.check(err)
		var he *virtposapi.HTTPError
		if !errors.As(err, &he) || he.Status != 404 {
			t.Fatalf("got %v (%T), want an *HTTPError 404", err, err)
		}
		if n := e.requests("/no/such/path"); n != 1 {
			t.Errorf("%d requests, want 1 (a 404 is not retried)", n)
		}
	})
}

// isTimeout reports whether err says it is a timeout, to the code (errors.Is
// DeadlineExceeded, net.Error Timeout) or to the reader (its text).
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "timeout") || strings.Contains(s, "timed out") || strings.Contains(s, "deadline exceeded")
}

// Config.Timeout expiring on a small call must read as a timeout, not as
// "context canceled" (which is what a shutdown looks like). A plain
// http.Client is given so that the client's own Timeout is the only timer
// (the default transport's ResponseHeaderTimeout races with it).
func TestFakeTimeoutIsCalledATimeout(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, func(c *virtposapi.Config) {
			c.Timeout = 100 * time.Millisecond
			c.HTTPClient = &http.Client{}
		})
		e.srv.SetFaults(virtpostest.Faults{Hang: true})
		start := time.Now()
		_, err := e.c.UpdateCustomer(context.Background(), url.Values{"id": {"3"}, "external_id": {"t-1"}})
		e.check(err)
		if !virtposapi.IsTransient(err) {
			t.Fatalf("want a transient error, got %v", err)
		}
		if n := e.requests(virtpostest.PathCustomerUpdate); n != maxAttempts {
			t.Errorf("%d requests, want %d", n, maxAttempts)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("took %v", el)
		}
		if !isTimeout(err) {
			t.Errorf("the client's Timeout expired but the error does not say so: %v", err)
		}
	})
}

// Config.Timeout "bounds the wait for the response headers" of the orders
// stream; that must hold with a caller's HTTPClient too, not only with the
// default transport's ResponseHeaderTimeout. A 3s context guards the test.
func TestFakeOrdersHeaderTimeoutWithOwnHTTPClient(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		e := newFakeEnv(t, format, method, func(c *virtposapi.Config) {
			c.Timeout = 100 * time.Millisecond
			c.HTTPClient = &http.Client{}
		})
		e.quiet = true // with the bug: one unanswered request, nothing to log
		e.srv.GenerateOrders(10, 1)
		e.srv.SetFaults(virtpostest.Faults{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		n := 0
		err := e.check(e.c.Orders(ctx, virtposapi.OrdersQuery{}, func(*virtposapi.Order) error { n++; return nil }))
		el := time.Since(start)
		if !virtposapi.IsTransient(err) || n != 0 {
			t.Fatalf("want a transient error and no orders, got %d orders, %v", n, err)
		}
		if el > 2*time.Second {
			t.Errorf("a hanging /orders with Timeout=100ms took %v (ended by the test's 3s context?): %v", el, err)
		}
		if r := e.requests(virtpostest.PathOrders); r != maxAttempts {
			t.Errorf("%d requests, want %d (each attempt bounded by Timeout)", r, maxAttempts)
		}
	})
}
