//go:build !race

package sourcevp_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/sources/sourcevp"
)

// The generated window of TestScanHeapBound: order i has guid g<i>,
// except every guidLessEvery-th, which has none (and shares its base with
// the one guidLessEvery*5 later), and every dupEvery-th, which repeats
// order i-dupBack (a copy in an earlier chunk).
const (
	guidLessEvery = 997
	dupEvery      = 10_000
	dupBack       = 300
)

func genIsDup(i int) bool { return i%dupEvery == dupEvery/2 && (i-dupBack)%guidLessEvery != 0 }

// window generates the orders of TestScanHeapBound: seed-like, three
// items, a comment and an address, about a kilobyte decoded. The decimals
// are parsed once (they are values nothing modifies) so that the test's
// time goes to Scan.
type window struct {
	shipping, amount, discount decimal.Decimal
	items                      []virtposapi.Item
}

func newWindow() *window {
	d := decimal.RequireFromString
	return &window{shipping: d("130.00"), amount: d("1212.59"), discount: d("10.20"), items: []virtposapi.Item{
		{ItemID: "789", ItemName: `Коньяк "Анри" 3-летний 40,0% 0,5л`, Quantity: d("3.450"), UnitBasePrice: d("100.10"), Discount: d("10.20"), Amount: d("335.15")},
		{ItemID: "787", ItemName: "Коньяк 3-летний 40% 0.5 л.", Quantity: d("2.000"), UnitBasePrice: d("320.72"), Amount: d("641.44")},
		{ItemName: "Сок", Quantity: d("1.000"), UnitBasePrice: d("236.00"), Amount: d("236.00")},
	}}
}

// order is order i of the window.
func (w *window) order(i int) *virtposapi.Order {
	if genIsDup(i) {
		i -= dupBack
	}
	o := &virtposapi.Order{
		Paid: i%2 == 0, CustomerID: strconv.Itoa(i % 50_000), ShippingAddress: "Дом " + strconv.Itoa(i) + ", корпус 5",
		ShippingCost: w.shipping, Comment: "После шести", Amount: w.amount, Discount: w.discount,
		PickupFromWarehouseID: "2", PickupFromWarehouseName: "Просвещения проспект", DeliveryTypeID: "1",
		DeliveryTypeName: "Самовывоз", PaymentTypeID: "1", PaymentTypeName: "Оплата при получении",
		CreatedDate: fmt.Sprintf("2026-11-%02d %02d:%02d:%02d", 1+i/86400%28, i/3600%24, i/60%60, i%60),
		GUID:        "g" + strconv.Itoa(i),
		Items:       slices.Clone(w.items),
	}
	o.Items[2].ItemID = strconv.Itoa(i % 900)
	if i%guidLessEvery == 0 {
		o.GUID = ""
		o.CustomerID = "7"
		o.CreatedDate = fmt.Sprintf("2026-10-01 00:00:%02d", i/(guidLessEvery*5)%60)
	}
	return o
}

// genClient streams n generated orders, sampling the heap as it goes.
type genClient struct {
	w      *window
	n      int
	sample func()
}

func (c *genClient) Orders(ctx context.Context, _ virtposapi.OrdersQuery, fn func(*virtposapi.Order) error) error {
	for i := range c.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i%100_000 == 0 {
			c.sample()
		}
		if err := fn(c.w.order(i)); err != nil {
			return err
		}
	}
	return nil
}

// ruleKnown answers for the generated window by rule, as a state store
// would, holding one bit per guid order marked: g<i> is unknown when i%3
// is 0, committed as it is now when 1, forced ("") when 2; guid-less
// orders were never committed.
type ruleKnown struct {
	w        *window
	marked   []uint64 // bit i: g<i> marked
	guidLess map[string]bool
}

func (k *ruleKnown) Count(context.Context) (int, error) { return 0, nil }
func (k *ruleKnown) Forced() bool                       { return false }
func (k *ruleKnown) Unmarked(context.Context, int, func([]string) error) error {
	return nil
}

func guidIndex(key string) (int, bool) {
	s, ok := strings.CutPrefix(key, "guid:g")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// Changed is Versions compared: the orders source does not call it.
func (k *ruleKnown) Changed(ctx context.Context, keys, versions []string) ([]string, []bool, error) {
	v, _ := k.Versions(ctx, keys)
	var changed []string
	var stored []bool
	for i, key := range keys {
		old, ok := v[key]
		if !ok || old == "" || old != versions[i] {
			changed, stored = append(changed, key), append(stored, ok)
		}
	}
	return changed, stored, nil
}

func (k *ruleKnown) Mark(_ context.Context, keys []string) ([]bool, error) {
	fresh := make([]bool, len(keys))
	for j, key := range keys {
		if i, ok := guidIndex(key); ok {
			fresh[j] = k.marked[i/64]&(1<<(i%64)) == 0
			k.marked[i/64] |= 1 << (i % 64)
			continue
		}
		fresh[j] = !k.guidLess[key]
		k.guidLess[key] = true
	}
	return fresh, nil
}

func (k *ruleKnown) Versions(_ context.Context, keys []string) (map[string]string, error) {
	out := map[string]string{}
	for _, key := range keys {
		if i, ok := guidIndex(key); ok {
			switch i % 3 {
			case 1:
				out[key] = sourcevp.Fingerprint(k.w.order(i))
			case 2:
				out[key] = ""
			}
		}
	}
	return out, nil
}

// TestScanHeapBound scans a 1,000,000-order window and samples the live
// heap after a collection every 100,000 orders: what Scan holds must not
// grow with the window. (Not under -race: the detector's shadow memory
// would measure the tool. `make test` runs it in a plain pass.)
func TestScanHeapBound(t *testing.T) {
	if testing.Short() {
		t.Skip("scans a million orders")
	}
	const n = 1_000_000
	const limit = 8 << 20
	var ms runtime.MemStats
	var peak uint64
	sample := func() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	w := newWindow()
	known := &ruleKnown{w: w, marked: make([]uint64, n/64+1), guidLess: map[string]bool{}}
	sample()
	before := peak
	emitted, emittedGUIDLess := 0, 0
	src := &sourcevp.Orders{Client: &genClient{w: w, n: n, sample: sample}, Full: true}
	st, err := src.Scan(context.Background(), known, func(r engine.Record) error {
		emitted++
		if !strings.HasPrefix(r.Key, "guid:") {
			emittedGUIDLess++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sample()

	var dups, guidLess, unchanged int
	for i := range n {
		switch {
		case genIsDup(i):
			dups++
		case i%guidLessEvery == 0:
			guidLess++
		case i%3 == 1:
			unchanged++
		}
	}
	if st.Seen != n-dups || st.Unchanged != unchanged || emitted != n-dups-unchanged || emittedGUIDLess != guidLess {
		t.Fatalf("seen %d, unchanged %d, emitted %d (%d without guid); want %d, %d, %d (%d)",
			st.Seen, st.Unchanged, emitted, emittedGUIDLess, n-dups, unchanged, n-dups-unchanged, guidLess)
	}
	if len(known.guidLess) != guidLess {
		t.Fatalf("%d guid-less keys marked for %d guid-less orders: ordinals were probed past the free one", len(known.guidLess), guidLess)
	}
	t.Logf("%d orders (%d copies): heap in use %.1f MiB before, peak %.1f MiB (the rule's own bitset is %.2f MiB)",
		n, dups, float64(before)/(1<<20), float64(peak)/(1<<20), float64(len(known.marked)*8)/(1<<20))
	if peak > limit {
		t.Errorf("live heap reached %.1f MiB, limit %d MiB", float64(peak)/(1<<20), limit>>20)
	}
}
