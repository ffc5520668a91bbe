package virtposapi

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Mismatch is one sum in an order that does not add up. virtsync reports it
// (a warning and a field of the order's event) and never "fixes" it: the
// amounts virtpos sent are what the shop charged.
type Mismatch struct {
	Field string          // "items[1].amount", "amount" or "discount"
	Want  decimal.Decimal // what the other fields imply
	Got   decimal.Decimal // what virtpos sent
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: sent %s, computed %s", m.Field, m.Got.StringFixed(2), m.Want.StringFixed(2))
}

// CheckSums verifies the order's arithmetic as the seed shows it: item
// amount = quantity x unit_base_price - discount, rounded half-up to
// kopecks; order amount = sum of item amounts; order discount = sum of item
// discounts (shipping is not included). It returns the sums that differ.
func (o *Order) CheckSums() []Mismatch {
	var out []Mismatch
	var total, disc decimal.Decimal
	for i, it := range o.Items {
		want := it.Quantity.Mul(it.UnitBasePrice).Sub(it.Discount).Round(2)
		if !want.Equal(it.Amount) {
			out = append(out, Mismatch{Field: fmt.Sprintf("items[%d].amount", i), Want: want, Got: it.Amount})
		}
		total = total.Add(it.Amount)
		disc = disc.Add(it.Discount)
	}
	if len(o.Items) == 0 {
		return out
	}
	if !total.Equal(o.Amount) {
		out = append(out, Mismatch{Field: "amount", Want: total, Got: o.Amount})
	}
	if !disc.Equal(o.Discount) {
		out = append(out, Mismatch{Field: "discount", Want: disc, Got: o.Discount})
	}
	return out
}
