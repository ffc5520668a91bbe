package virtposapi

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func decodeFile(t *testing.T, name string) ([]*Order, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []*Order
	collect := func(o *Order) error { got = append(got, o); return nil }
	if strings.HasSuffix(name, ".json") {
		err = DecodeOrdersJSON(f, collect)
	} else {
		err = DecodeOrdersXML(f, collect)
	}
	return got, err
}

// seedOrder is the order of the virtpos documentation, value for value.
func seedOrder(t testing.TB) Order {
	return Order{
		Paid: false, Shipped: false, Cancelled: false,
		CustomerID:              "3",
		ShippingAddress:         "Дом 3, корпус 5",
		ShippingCost:            dec(t, "130.00"),
		Comment:                 "После шести",
		CreatedDate:             "2017-08-24 18:45:08",
		Amount:                  dec(t, "976.59"),
		Discount:                dec(t, "10.20"),
		PickupFromWarehouseID:   "2",
		PickupFromWarehouseName: "Просвещения проспект",
		DeliveryTypeID:          "1",
		DeliveryTypeName:        "Самовывоз",
		PaymentTypeID:           "1",
		PaymentTypeName:         "Оплата при получении",
		Items: []Item{
			{ItemID: "789", ItemName: `Коньяк "Анри" 3-летний 40,0% 0,5л`, Quantity: dec(t, "3.450"),
				UnitBasePrice: dec(t, "100.10"), Discount: dec(t, "10.20"), Amount: dec(t, "335.15")},
			{ItemID: "787", ItemName: `Коньяк "Father's Old Barrel' 3-летний 40% 0.5 л.`, Quantity: dec(t, "2.000"),
				UnitBasePrice: dec(t, "320.72"), Discount: dec(t, "0.00"), Amount: dec(t, "641.44")},
		},
	}
}

// sameOrder compares decimals by value and scale-insensitively, the rest exactly.
func sameOrder(t *testing.T, got *Order, want Order) {
	t.Helper()
	decEq := func(field string, a, b decimal.Decimal) {
		if !a.Equal(b) {
			t.Errorf("%s = %s, want %s", field, a, b)
		}
	}
	gs, ws := *got, want
	decEq("shipping_cost", gs.ShippingCost, ws.ShippingCost)
	decEq("amount", gs.Amount, ws.Amount)
	decEq("discount", gs.Discount, ws.Discount)
	if len(gs.Items) != len(ws.Items) {
		t.Fatalf("items: got %d, want %d", len(gs.Items), len(ws.Items))
	}
	for i := range ws.Items {
		g, w := gs.Items[i], ws.Items[i]
		decEq("quantity", g.Quantity, w.Quantity)
		decEq("unit_base_price", g.UnitBasePrice, w.UnitBasePrice)
		decEq("item discount", g.Discount, w.Discount)
		decEq("item amount", g.Amount, w.Amount)
		g.Quantity, g.UnitBasePrice, g.Discount, g.Amount = w.Quantity, w.UnitBasePrice, w.Discount, w.Amount
		if g != w {
			t.Errorf("item %d = %+v, want %+v", i, g, w)
		}
	}
	gs.ShippingCost, gs.Amount, gs.Discount, gs.Items = ws.ShippingCost, ws.Amount, ws.Discount, nil
	ws.Items = nil
	if gs.String() != ws.String() {
		t.Errorf("order =\n%s\nwant\n%s", gs.String(), ws.String())
	}
}

func TestDecodeSeedExactly(t *testing.T) {
	got, err := decodeFile(t, "orders_seed.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d orders, want 1", len(got))
	}
	sameOrder(t, got[0], seedOrder(t))
	// Scale is kept: quantities to the gram, money to the kopeck.
	if s := got[0].Items[0].Quantity.String(); s != "3.45" || got[0].Items[0].Quantity.Exponent() != -3 {
		t.Errorf("quantity kept as %s exp %d, want 3.450", s, got[0].Items[0].Quantity.Exponent())
	}
	if m := got[0].CheckSums(); len(m) != 0 {
		t.Errorf("seed sums do not check: %v", m)
	}
}

func TestDecodeShapes(t *testing.T) {
	type want struct {
		orders int
		items  []int  // items per order
		guids  string // comma-joined
	}
	cases := []struct {
		file string
		want want
	}{
		{"orders_two_siblings.xml", want{2, []int{1, 1}, "a1b2,"}},
		{"orders_wrapped.xml", want{2, []int{2, 0}, "w-1,w-2"}},
		{"orders_flat_no_item_id_first.xml", want{1, []int{2}, "f-1"}},
		{"orders_empty.xml", want{0, nil, ""}},
		{"orders_strings.json", want{1, []int{2}, ""}},
		{"orders_numbers.json", want{1, []int{2}, ""}},
		{"orders_single_object.json", want{1, []int{1}, "s-1"}},
		{"orders_empty.json", want{0, nil, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, err := decodeFile(t, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want.orders {
				t.Fatalf("orders = %d, want %d", len(got), tc.want.orders)
			}
			var guids []string
			for i, o := range got {
				guids = append(guids, o.GUID)
				if len(o.Items) != tc.want.items[i] {
					t.Errorf("order %d: items = %d, want %d", i, len(o.Items), tc.want.items[i])
				}
			}
			if g := strings.Join(guids, ","); g != tc.want.guids {
				t.Errorf("guids = %q, want %q", g, tc.want.guids)
			}
		})
	}
}

func TestDecodeJSONMatchesSeed(t *testing.T) {
	for _, f := range []string{"orders_strings.json", "orders_numbers.json"} {
		t.Run(f, func(t *testing.T) {
			got, err := decodeFile(t, f)
			if err != nil {
				t.Fatal(err)
			}
			o := got[0]
			w := seedOrder(t)
			for i, it := range o.Items {
				if !it.Quantity.Equal(w.Items[i].Quantity) || !it.Amount.Equal(w.Items[i].Amount) ||
					!it.UnitBasePrice.Equal(w.Items[i].UnitBasePrice) || it.ItemID != w.Items[i].ItemID {
					t.Errorf("item %d = %+v", i, it)
				}
			}
			if !o.Amount.Equal(w.Amount) || !o.Discount.Equal(w.Discount) || o.CustomerID != "3" {
				t.Errorf("order = %+v", o)
			}
			if m := o.CheckSums(); len(m) != 0 {
				t.Errorf("sums: %v", m)
			}
		})
	}
}

func TestDecodeFlags(t *testing.T) {
	got, err := decodeFile(t, "orders_numbers.json")
	if err != nil {
		t.Fatal(err)
	}
	if o := got[0]; !o.Paid || !o.Shipped || o.Cancelled {
		t.Errorf("flags paid=%v shipped=%v cancelled=%v, want true true false", o.Paid, o.Shipped, o.Cancelled)
	}
	got, err = decodeFile(t, "orders_two_siblings.xml")
	if err != nil {
		t.Fatal(err)
	}
	if o := got[1]; o.Paid || !o.Shipped || !o.Cancelled {
		t.Errorf("flags paid=%v shipped=%v cancelled=%v, want false true true", o.Paid, o.Shipped, o.Cancelled)
	}
	if q := got[1].Items[0].Quantity; !q.Equal(dec(t, "0.005")) {
		t.Errorf("5 grams decoded as %s", q)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		file     string
		rejected bool
		path     string // expected DecodeError.Path
		contains string // in the error text
		before   int    // orders delivered before the error
	}{
		{file: "orders_rejected.xml", rejected: true, contains: "Неверный ключ API"},
		{file: "orders_rejected.json", rejected: true, contains: "Неверный ключ API"},
		{file: "orders_truncated.xml", path: "orders[0].items[0].quantity", contains: "unexpected EOF"},
		{file: "error_page.html", contains: "502 Bad Gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, err := decodeFile(t, tc.file)
			if err == nil {
				t.Fatal("no error")
			}
			if len(got) != tc.before {
				t.Errorf("delivered %d orders before the error, want %d", len(got), tc.before)
			}
			if tc.rejected != IsRejected(err) {
				t.Errorf("IsRejected = %v, want %v (%v)", !tc.rejected, tc.rejected, err)
			}
			var de *DecodeError
			if tc.path != "" && (!errors.As(err, &de) || de.Path != tc.path) {
				t.Errorf("error %v: want a DecodeError at %s", err, tc.path)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not mention %q", err, tc.contains)
			}
		})
	}
}

func TestDecodeStopsOnCallbackError(t *testing.T) {
	stop := errors.New("enough")
	f, _ := os.Open("testdata/orders_two_siblings.xml")
	defer f.Close()
	n := 0
	err := DecodeOrdersXML(f, func(*Order) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err=%v after %d orders, want the callback's error after 1", err, n)
	}
}

func TestCheckSumsReportsMismatch(t *testing.T) {
	o := seedOrder(t)
	o.Items[0].Amount = dec(t, "335.16")
	m := o.CheckSums()
	if len(m) != 2 || m[0].Field != "items[0].amount" || m[1].Field != "amount" {
		t.Fatalf("mismatches = %v, want items[0].amount and amount", m)
	}
	if !m[0].Want.Equal(dec(t, "335.15")) {
		t.Errorf("computed %s, want 335.15", m[0].Want)
	}
}
