package virtpos_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtpos"
	"github.com/virtsync/virtsync/internal/virtpos/virtpostest"
	srcvp "github.com/virtsync/virtsync/sources/virtpos"
	vsync "github.com/virtsync/virtsync/sync"
)

func order(guid, customer, created string) *virtpos.Order {
	d := decimal.RequireFromString
	return &virtpos.Order{GUID: guid, CustomerID: customer, CreatedDate: created, Amount: d("10.00"),
		Items: []virtpos.Item{{ItemID: "1", Quantity: d("2.000"), UnitBasePrice: d("5.00"), Amount: d("10.00")}}}
}

func TestKeys(t *testing.T) {
	k := srcvp.NewKeyer()
	cases := []struct {
		o    *virtpos.Order
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
	base := srcvp.Fingerprint(order("a", "3", "2026-11-20 10:00:00"))
	same := order("a", "3", "2026-11-20 10:00:00")
	same.Items[0].Quantity = decimal.RequireFromString("2") // 2.000 and 2 are one quantity
	if srcvp.Fingerprint(same) != base {
		t.Error("a different decimal scale changed the fingerprint")
	}
	changes := map[string]func(o *virtpos.Order){
		"paid":      func(o *virtpos.Order) { o.Paid = true },
		"shipped":   func(o *virtpos.Order) { o.Shipped = true },
		"cancelled": func(o *virtpos.Order) { o.Cancelled = true },
		"quantity":  func(o *virtpos.Order) { o.Items[0].Quantity = decimal.RequireFromString("2.001") },
		"item":      func(o *virtpos.Order) { o.Items = append(o.Items, virtpos.Item{ItemID: "2"}) },
		"address":   func(o *virtpos.Order) { o.ShippingAddress = "Дом 4" },
	}
	for name, change := range changes {
		o := order("a", "3", "2026-11-20 10:00:00")
		change(o)
		if srcvp.Fingerprint(o) == base {
			t.Errorf("changing %s did not change the fingerprint", name)
		}
	}
}

// TestScanEmitsOnlyNewAndChanged streams orders from the fake virtpos
// through the real client.
func TestScanEmitsOnlyNewAndChanged(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fake := virtpostest.NewServer(t, virtpostest.Options{APIKey: "k", Now: func() time.Time { return now }})
	msk := time.FixedZone("MSK", 3*3600)
	recent := now.In(msk).Add(-48 * time.Hour).Format(virtpos.TimeLayout)
	old := now.In(msk).Add(-90 * 24 * time.Hour).Format(virtpos.TimeLayout)
	fake.AddOrder(*order("g1", "3", recent))
	fake.AddOrder(*order("", "4", recent))
	i3 := fake.AddOrder(*order("g3", "5", recent))
	fake.AddOrder(*order("g-old", "3", old)) // outside the window
	c, err := virtpos.New(virtpos.Config{BaseURL: fake.URL, APIKey: "k", Format: "xml"})
	if err != nil {
		t.Fatal(err)
	}
	src := &srcvp.Orders{Client: c, Window: 30 * 24 * time.Hour, Overlap: 24 * time.Hour, Loc: msk, Now: func() time.Time { return now }}

	scan := func(seen map[string]string) ([]vsync.Record, vsync.ScanStats) {
		var got []vsync.Record
		st, err := src.Scan(context.Background(), seen, func(r vsync.Record) error { got = append(got, r); return nil })
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
	if len(changed) != 1 || changed[0].Key != "guid:g3" || !changed[0].Data.(*virtpos.Order).Paid {
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
	recent := now.Add(-48 * time.Hour).Format(virtpos.TimeLayout)
	fake.AddOrder(*order("dup-1", "3", recent))
	fake.AddOrder(*order("g2", "4", recent))
	fake.AddOrder(*order("dup-1", "3", recent))
	fake.AddOrder(*order("dup-1", "3", recent))
	c, err := virtpos.New(virtpos.Config{BaseURL: fake.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	src := &srcvp.Orders{Client: c, Full: true, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	var keys []string
	st, err := src.Scan(context.Background(), nil, func(r vsync.Record) error { keys = append(keys, r.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, " ") != "guid:dup-1 guid:g2" || st.Seen != 2 {
		t.Fatalf("emitted %v (seen %d), want guid:dup-1 once and guid:g2", keys, st.Seen)
	}
	log := logs.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "key=guid:dup-1") || !strings.Contains(log, "copies=3") {
		t.Fatalf("no warning naming the key and its 3 copies:\n%s", log)
	}
}
