package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// shopZone is the zone virtpos writes created_date in (onec.orders.shop_timezone).
const shopZone = "Europe/Moscow"

// isWeighed says whether demo item idx (an index into the 1C Номенклатура
// of DemoSeed: sausages and frankfurters) is sold by the kilogram, with
// quantities of three decimals.
func isWeighed(idx int) bool { return idx == 16 || idx == 17 }

// shelfPrice is demo item idx's price in roubles: fixed, so every run
// shows the same sums.
func shelfPrice(idx int) decimal.Decimal { return decimal.New(int64(4990+idx*2345%60000), -2) }

// makeOrders builds n orders over buyers (virtpos customer ids), created
// in the last three days in the shop's zone, the way virtpos would list
// them. Every amount obeys what virtsync checks: item amount =
// round(qty*price - discount, 2) and order amount = sum of item amounts.
// Each tenth order has no guid, so the derived key is shown too.
func makeOrders(n int, buyers []string, itemNames map[string]string, now time.Time, r *rand.Rand) []virtposapi.Order {
	loc, err := time.LoadLocation(shopZone)
	if err != nil {
		loc = time.FixedZone("MSK", 3*60*60) // no tzdata: Moscow has no DST
	}
	out := make([]virtposapi.Order, 0, n)
	for i := 0; i < n; i++ {
		// Oldest first, as virtpos lists them; none in the future.
		created := now.Add(-time.Duration(n-i) * 3 * 24 * time.Hour / time.Duration(n)).In(loc)
		o := virtposapi.Order{
			CustomerID:      buyers[i%len(buyers)],
			CreatedDate:     created.Format(virtposapi.TimeLayout),
			Paid:            r.IntN(3) != 0,
			Shipped:         r.IntN(4) == 0,
			ShippingAddress: fmt.Sprintf("г. Екатеринбург, ул. Ленина, д. %d, кв. %d", 1+r.IntN(100), 1+r.IntN(200)),
			ShippingCost:    decimal.Zero,
			PaymentTypeID:   "1", PaymentTypeName: "Оплата при получении",
			DeliveryTypeID: "1", DeliveryTypeName: "Самовывоз",
		}
		if i%10 != 9 {
			o.GUID = fmt.Sprintf("de%06x-%04x-4000-8000-%012x", i, r.IntN(0x10000), r.Int64N(1<<48))
		}
		if i%4 == 0 {
			o.DeliveryTypeID, o.DeliveryTypeName, o.ShippingCost = "2", "Курьер", decimal.NewFromInt(250)
		}
		for j, lines := 0, 1+r.IntN(4); j < lines; j++ {
			o.Items = append(o.Items, makeItem(i*7+j*3, itemNames, r))
		}
		for _, it := range o.Items {
			o.Amount = o.Amount.Add(it.Amount)
			o.Discount = o.Discount.Add(it.Discount)
		}
		out = append(out, o)
	}
	return out
}

// makeItem is one order line of demo item k%DemoItems.
func makeItem(k int, itemNames map[string]string, r *rand.Rand) virtposapi.Item {
	idx := k % onectest.DemoItems
	code := onectest.DemoItemCode(idx)
	qty := decimal.NewFromInt(int64(1 + r.IntN(4)))
	if isWeighed(idx) {
		qty = decimal.New(int64(150+r.IntN(1850)), -3) // 0.150 .. 1.999 kg
	}
	price := shelfPrice(idx)
	gross := qty.Mul(price)
	disc := decimal.Zero
	if r.IntN(3) == 0 { // a 5 or 10 % loyalty discount
		disc = gross.Mul(decimal.New(int64(5*(1+r.IntN(2))), -2)).Round(2)
	}
	return virtposapi.Item{ItemID: code, ItemName: itemNames[code], Quantity: qty, UnitBasePrice: price,
		Discount: disc, Amount: gross.Sub(disc).Round(2)}
}

// itemNames maps the 1C Номенклатура Code to its name, so that virtpos
// lines carry the same names as 1C.
func itemNames(seed onectest.Seed) map[string]string {
	out := map[string]string{}
	for _, it := range seed[onectest.SetItems] {
		code, _ := it["Code"].(string)
		name, _ := it["Description"].(string)
		out[code] = name
	}
	return out
}
