package sourcevp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/sources/sourcevp"
)

func order(guid, customer, created string) *virtposapi.Order {
	d := decimal.RequireFromString
	return &virtposapi.Order{GUID: guid, CustomerID: customer, CreatedDate: created, Amount: d("10.00"),
		Items: []virtposapi.Item{{ItemID: "1", Quantity: d("2.000"), UnitBasePrice: d("5.00"), Amount: d("10.00")}}}
}

func TestKeys(t *testing.T) {
	k := sourcevp.NewKeyer()
	cases := []struct {
		o    *virtposapi.Order
		want string
	}{
		{order("a-1", "3", "2026-11-20 10:00:00"), "guid:a-1"},
		{order("", "3", "2026-11-20 10:00:00"), "c3@20261120T100000"},
		{order("", "3", "2026-11-20 10:00:00"), "c3@20261120T100000#2"}, // same customer, same second
		{order("", "4", "2026-11-20 10:00:00"), "c4@20261120T100000"},
		{order("  ", "3", "2026-11-20 10:00:01"), "c3@20261120T100001"}, // blank guid is no guid
	}
	for _, tc := range cases {
		if got := k.Key(tc.o); got != tc.want {
			t.Errorf("Key(guid=%q customer=%s created=%s) = %q, want %q", tc.o.GUID, tc.o.CustomerID, tc.o.CreatedDate, got, tc.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := sourcevp.Fingerprint(order("a", "3", "2026-11-20 10:00:00"))
	same := order("a", "3", "2026-11-20 10:00:00")
	same.Items[0].Quantity = decimal.RequireFromString("2") // 2.000 and 2 are one quantity
	if sourcevp.Fingerprint(same) != base {
		t.Error("a different decimal scale changed the fingerprint")
	}
	changes := map[string]func(o *virtposapi.Order){
		"paid":      func(o *virtposapi.Order) { o.Paid = true },
		"shipped":   func(o *virtposapi.Order) { o.Shipped = true },
		"cancelled": func(o *virtposapi.Order) { o.Cancelled = true },
		"quantity":  func(o *virtposapi.Order) { o.Items[0].Quantity = decimal.RequireFromString("2.001") },
		"item":      func(o *virtposapi.Order) { o.Items = append(o.Items, virtposapi.Item{ItemID: "2"}) },
		"address":   func(o *virtposapi.Order) { o.ShippingAddress = "Дом 4" },
	}
	for name, change := range changes {
		o := order("a", "3", "2026-11-20 10:00:00")
		change(o)
		if sourcevp.Fingerprint(o) == base {
			t.Errorf("changing %s did not change the fingerprint", name)
		}
	}
}

// TestFingerprintIsStable pins the bytes hashed: the state holds these
// fingerprints, and any change re-sends every order in the window.
func TestFingerprintIsStable(t *testing.T) {
	o := order("a", "3", "2026-11-20 10:00:00")
	o.Paid, o.Comment = true, "После шести"
	o.ShippingCost, o.Discount = decimal.RequireFromString("130.50"), decimal.RequireFromString("-0.10")
	if got := sourcevp.Fingerprint(o); got != "6f61d12058b44e09f2abee4dced9043f" {
		t.Errorf("Fingerprint = %s, want 6f61d12058b44e09f2abee4dced9043f", got)
	}
	if got := sourcevp.Fingerprint(order("", "4", "2026-11-20 10:00:01")); got != "9531805f6dd67b20fb1f43a6f31fef23" {
		t.Errorf("Fingerprint of a guid-less order = %s, want 9531805f6dd67b20fb1f43a6f31fef23", got)
	}
}

// TestScanEmitsOnlyNewAndChanged streams orders from the fake virtpos
// through the real client.
func TestScanEmitsOnlyNewAndChanged(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fake := virtpostest.NewServer(t, virtpostest.Options{APIKey: "k", Now: func() time.Time { return now }})
	msk := time.FixedZone("MSK", 3*3600)
	recent := now.In(msk).Add(-48 * time.Hour).Format(virtposapi.TimeLayout)
	old := now.In(msk).Add(-90 * 24 * time.Hour).Format(virtposapi.TimeLayout)
	fake.AddOrder(*order("g1", "3", recent))
	fake.AddOrder(*order("", "4", recent))
	i3 := fake.AddOrder(*order("g3", "5", recent))
	fake.AddOrder(*order("g-old", "3", old)) // outside the window
	c, err := virtposapi.New(virtposapi.Config{BaseURL: fake.URL, APIKey: "k", Format: "xml"})
	if err != nil {
		t.Fatal(err)
	}
	src := &sourcevp.Orders{Client: c, Window: 30 * 24 * time.Hour, Overlap: 24 * time.Hour, Loc: msk, Now: func() time.Time { return now }}

	scan := func(seen map[string]string) ([]engine.Record, engine.ScanStats) {
		var got []engine.Record
		st, err := src.Scan(context.Background(), engine.NewKnownMap(seen, false), func(r engine.Record) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return got, st
	}
	first, st := scan(nil)
	if len(first) != 3 || st.Seen != 3 {
		t.Fatalf("first scan emitted %d of %d seen, want 3 of 3 (the old order is outside the window)", len(first), st.Seen)
	}
	seen := map[string]string{}
	for _, r := range first {
		seen[r.Key] = r.Version
	}
	again, st := scan(seen)
	if len(again) != 0 || st.Unchanged != 3 {
		t.Fatalf("unchanged window emitted %d records", len(again))
	}
	if err := fake.SetOrderFlags(i3, true, false, false); err != nil {
		t.Fatal(err)
	}
	changed, _ := scan(seen)
	if len(changed) != 1 || changed[0].Key != "guid:g3" || !changed[0].Data.(*virtposapi.Order).Paid {
		t.Fatalf("after paying g3 the scan emitted %+v", changed)
	}
	src.Full = true
	all, _ := scan(seen)
	if len(all) != 2 { // g3 (changed) and the old one (never seen)
		t.Fatalf("a full scan emitted %d records, want 2", len(all))
	}
}

// TestScanEmitsADuplicatedGUIDOnce: one /orders response that lists a guid
// twice is one order: it is emitted once, and the duplicate is reported
// with its key and the number of copies.
func TestScanEmitsADuplicatedGUIDOnce(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fake := virtpostest.NewServer(t, virtpostest.Options{APIKey: "k", Now: func() time.Time { return now }})
	recent := now.Add(-48 * time.Hour).Format(virtposapi.TimeLayout)
	fake.AddOrder(*order("dup-1", "3", recent))
	fake.AddOrder(*order("g2", "4", recent))
	fake.AddOrder(*order("dup-1", "3", recent))
	fake.AddOrder(*order("dup-1", "3", recent))
	c, err := virtposapi.New(virtposapi.Config{BaseURL: fake.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	src := &sourcevp.Orders{Client: c, Full: true, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	var keys []string
	st, err := src.Scan(context.Background(), engine.NewKnownMap(nil, false), func(r engine.Record) error { keys = append(keys, r.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, " ") != "guid:dup-1 guid:g2" || st.Seen != 2 {
		t.Fatalf("emitted %v (seen %d), want guid:dup-1 once and guid:g2", keys, st.Seen)
	}
	log := logs.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "key=guid:dup-1") || !strings.Contains(log, "copies=3") ||
		!strings.Contains(log, "copies_differ=false") {
		t.Fatalf("no warning naming the key and its 3 copies:\n%s", log)
	}
}

// listClient serves a fixed list of orders, each call as a new response
// (fresh copies, as the decoder gives), failing with err after the list.
type listClient struct {
	orders []*virtposapi.Order
	err    error
}

func (c *listClient) Orders(ctx context.Context, _ virtposapi.OrdersQuery, fn func(*virtposapi.Order) error) error {
	for _, o := range c.orders {
		if err := ctx.Err(); err != nil {
			return err
		}
		cp := *o
		cp.Items = slices.Clone(o.Items)
		if err := fn(&cp); err != nil {
			return err
		}
	}
	return c.err
}

// guidOrders returns n orders with guids g0 ... g(n-1).
func guidOrders(n int) []*virtposapi.Order {
	out := make([]*virtposapi.Order, n)
	for i := range out {
		out[i] = order(fmt.Sprintf("g%d", i), strconv.Itoa(i%7), "2026-11-20 10:00:00")
	}
	return out
}

// scanAll runs one scan over orders and returns the emitted records.
func scanAll(t *testing.T, src *sourcevp.Orders, known engine.Known) ([]engine.Record, engine.ScanStats) {
	t.Helper()
	var got []engine.Record
	st, err := src.Scan(context.Background(), known, func(r engine.Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func recordKeys(recs []engine.Record) []string {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	return keys
}

// TestScanEmitsACopyInALaterChunkOnce: copies listed hundreds of orders
// after the first (in another chunk than the first) are dropped, the
// first copy wins, and the warning says whether the copies differ, or
// that it cannot tell for a copy listed 20,000 orders after its first.
func TestScanEmitsACopyInALaterChunkOnce(t *testing.T) {
	const n = 20_000
	orders := guidOrders(n)
	same := *orders[5]
	paid := *orders[10]
	paid.Paid = true
	far := *orders[0]
	orders = slices.Insert(orders, 400, &same)
	orders = slices.Insert(orders, 700, &paid, &same)
	orders = append(orders, &far)
	var logs syncbuf.Buffer
	src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	got, st := scanAll(t, src, engine.NewKnownMap(nil, false))
	if len(got) != n || st.Seen != n || st.Unchanged != 0 {
		t.Fatalf("emitted %d, seen %d, unchanged %d; want %d of %d seen", len(got), st.Seen, st.Unchanged, n, n)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("guid:g%d", i)
	}
	if !slices.Equal(recordKeys(got), want) {
		t.Fatalf("emitted keys out of listing order or not once each: %v", recordKeys(got)[:20])
	}
	if got[10].Data.(*virtposapi.Order).Paid {
		t.Error("g10 was emitted as its later copy, want its first")
	}
	log := logs.String()
	for _, line := range []string{"key=guid:g5 copies=3 copies_differ=false", "key=guid:g10 copies=2 copies_differ=true",
		"key=guid:g0 copies=2 copies_differ=unknown"} {
		if !strings.Contains(log, line) {
			t.Errorf("no warning with %q:\n%s", line, log)
		}
	}
}

// TestScanSeesAKnownOrderRepeatedOnce: a copy of an unchanged order is a
// duplicate, not a second unchanged order.
func TestScanSeesAKnownOrderRepeatedOnce(t *testing.T) {
	orders := guidOrders(600)
	versions := map[string]string{}
	for i, o := range orders {
		versions[fmt.Sprintf("guid:g%d", i)] = sourcevp.Fingerprint(o)
	}
	orders = append(orders, orders[3], orders[300])
	src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true}
	got, st := scanAll(t, src, engine.NewKnownMap(versions, false))
	if len(got) != 0 || st.Seen != 600 || st.Unchanged != 600 {
		t.Fatalf("emitted %d, seen %d, unchanged %d; want 0 emitted, 600 seen and unchanged", len(got), st.Seen, st.Unchanged)
	}
}

// TestScanGivesGUIDLessOrdersTheKeyerKeys: guid-less orders of one
// customer in one second get ordinals in listing order, however far apart
// virtpos lists them, the same keys a Keyer gives over the whole
// response; and there are more such bases than the source keeps in
// memory, so most of them are found again through the run's marks.
func TestScanGivesGUIDLessOrdersTheKeyerKeys(t *testing.T) {
	var orders []*virtposapi.Order
	for round := range 3 {
		for b := range 5000 {
			created := fmt.Sprintf("2026-11-20 10:%02d:%02d", b/60%60, b%60)
			orders = append(orders, order("", strconv.Itoa(b/3600+1), created))
			if b%1000 == 0 {
				orders = append(orders, order(fmt.Sprintf("r%d-%d", round, b), "1", created))
			}
		}
	}
	// Three orders of one base inside one chunk, after two earlier ones.
	for range 3 {
		orders = append(orders, order("", "1", "2026-11-20 10:00:07"))
	}
	keyer := sourcevp.NewKeyer()
	var want []string
	for _, o := range orders {
		want = append(want, keyer.Key(o))
	}
	src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true}
	got, st := scanAll(t, src, engine.NewKnownMap(nil, false))
	if st.Seen != len(orders) || !slices.Equal(recordKeys(got), want) {
		for i := range min(len(got), len(want)) {
			if got[i].Key != want[i] {
				t.Fatalf("order %d keyed %q, the Keyer says %q (seen %d of %d)", i, got[i].Key, want[i], st.Seen, len(orders))
			}
		}
		t.Fatalf("emitted %d records for %d orders", len(got), len(orders))
	}
	if !slices.Contains(want, "c1@20261120T100007#5") {
		t.Fatal("the test lost its last base's fifth order")
	}
}

// TestScanResyncEmitsEveryOrder: in a resync every committed version is
// ignored.
func TestScanResyncEmitsEveryOrder(t *testing.T) {
	orders := guidOrders(300)
	versions := map[string]string{}
	for i, o := range orders {
		versions[fmt.Sprintf("guid:g%d", i)] = sourcevp.Fingerprint(o)
	}
	src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true}
	got, st := scanAll(t, src, engine.NewKnownMap(versions, true))
	if len(got) != 300 || st.Seen != 300 || st.Unchanged != 0 {
		t.Fatalf("a resync emitted %d (seen %d, unchanged %d), want all 300", len(got), st.Seen, st.Unchanged)
	}
}

// TestScanReplaysAKeyMappedToEmpty: a committed version of "" forces its
// order through; the others stay unchanged.
func TestScanReplaysAKeyMappedToEmpty(t *testing.T) {
	orders := guidOrders(300)
	versions := map[string]string{}
	for i, o := range orders {
		versions[fmt.Sprintf("guid:g%d", i)] = sourcevp.Fingerprint(o)
	}
	versions["guid:g270"] = ""
	src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true}
	got, st := scanAll(t, src, engine.NewKnownMap(versions, false))
	if len(got) != 1 || got[0].Key != "guid:g270" || st.Unchanged != 299 {
		t.Fatalf("a replay of g270 emitted %v (unchanged %d)", recordKeys(got), st.Unchanged)
	}
	if got[0].Version != sourcevp.Fingerprint(orders[270]) {
		t.Errorf("the replayed order carries version %q, want its fingerprint", got[0].Version)
	}
}

// TestScanStopsWhenCancelled: a cancelled run emits nothing more, even
// from the chunk in hand, and says why it stopped.
func TestScanStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &sourcevp.Orders{Client: &listClient{orders: guidOrders(1000)}, Full: true}
	emitted := 0
	_, err := src.Scan(ctx, engine.NewKnownMap(nil, false), func(engine.Record) error {
		emitted++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || emitted != 1 {
		t.Fatalf("after cancelling in the first emit: %d emitted, err %v", emitted, err)
	}
}

// TestScanEmitsWhatCameBeforeABrokenStream: orders decoded before the
// stream broke still go through, and the break is the error.
func TestScanEmitsWhatCameBeforeABrokenStream(t *testing.T) {
	broken := errors.New("stream broke after 300 orders")
	src := &sourcevp.Orders{Client: &listClient{orders: guidOrders(300), err: broken}, Full: true}
	var got []engine.Record
	st, err := src.Scan(context.Background(), engine.NewKnownMap(nil, false), func(r engine.Record) error { got = append(got, r); return nil })
	if !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "read orders: ") {
		t.Fatalf("err = %v, want the break wrapped as read orders", err)
	}
	if len(got) != 300 || st.Seen != 300 {
		t.Fatalf("emitted %d of the 300 orders read before the break (seen %d)", len(got), st.Seen)
	}
}

// faultyKnown fails or lies where its fields say.
type faultyKnown struct {
	*engine.KnownMap
	markErr, versionsErr error
	neverFresh           bool
}

func (k *faultyKnown) Mark(ctx context.Context, keys []string) ([]bool, error) {
	if k.markErr != nil {
		return nil, k.markErr
	}
	if k.neverFresh {
		return make([]bool, len(keys)), nil
	}
	return k.KnownMap.Mark(ctx, keys)
}

func (k *faultyKnown) Versions(ctx context.Context, keys []string) (map[string]string, error) {
	if k.versionsErr != nil {
		return nil, k.versionsErr
	}
	return k.KnownMap.Versions(ctx, keys)
}

// TestScanSaysWhichStateStoreCallFailed: a failing or inconsistent
// state store stops the scan with an error naming the call and the
// orders, and nothing of the failed chunk is emitted.
func TestScanSaysWhichStateStoreCallFailed(t *testing.T) {
	locked := errors.New("database is locked")
	orders := append(guidOrders(300), order("", "9", "2026-11-20 10:00:00"))
	cases := []struct {
		name  string
		known *faultyKnown
		want  []string
	}{
		{"mark", &faultyKnown{markErr: locked}, []string{"read orders: mark the keys of orders 1 to 256 as seen: database is locked"}},
		{"versions", &faultyKnown{versionsErr: locked}, []string{"read orders: read the committed versions of orders 1 to 256: database is locked"}},
		{"every key seen", &faultyKnown{neverFresh: true}, []string{"order 301: the state store reports every key of c9@20261120T100000 up to #301 as seen, but only 301 orders were read"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.known.KnownMap = engine.NewKnownMap(nil, false)
			src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true}
			emitted := 0
			_, err := src.Scan(context.Background(), tc.known, func(engine.Record) error { emitted++; return nil })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.known.markErr != nil && !errors.Is(err, locked) {
				t.Errorf("error %v does not wrap the store's", err)
			}
			if emitted != 0 {
				t.Errorf("%d records emitted from chunks that failed", emitted)
			}
		})
	}
}

// TestScanBoundsDuplicateWarnings: a virtpos that lists every order twice
// costs 21 log lines, not one per order.
func TestScanBoundsDuplicateWarnings(t *testing.T) {
	orders := guidOrders(500)
	orders = append(orders, orders...)
	var logs syncbuf.Buffer
	src := &sourcevp.Orders{Client: &listClient{orders: orders}, Full: true, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	got, _ := scanAll(t, src, engine.NewKnownMap(nil, false))
	if len(got) != 500 {
		t.Fatalf("emitted %d, want 500", len(got))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 21 || !strings.Contains(lines[20], "copies=480") {
		t.Fatalf("%d warning lines, want 20 by key and one counting the other 480 copies:\n%s", len(lines), logs.String())
	}
}
