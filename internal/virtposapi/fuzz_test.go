package virtposapi

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkOrder holds what every delivered order must satisfy, whatever the
// input: no invalid UTF-8 in any text (a bad byte is a problem of its
// order, never silently passed on), and sums that can be checked.
func checkOrder(t *testing.T, o *Order) {
	if o == nil {
		t.Fatal("nil order")
	}
	texts := []string{o.CustomerID, o.ShippingAddress, o.PickupReceiptID, o.Comment, o.GUID, o.CreatedDate,
		o.PickupFromWarehouseID, o.PickupFromWarehouseName, o.DeliveryTypeID, o.DeliveryTypeName,
		o.PaymentTypeID, o.PaymentTypeName}
	for _, it := range o.Items {
		texts = append(texts, it.ItemID, it.ItemName, it.Image)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) {
			t.Fatalf("order carries invalid UTF-8 %q (problems %v)", s, o.Problems)
		}
	}
	for _, p := range o.Problems {
		if !strings.Contains(p, ": ") {
			t.Fatalf("problem %q does not name its field", p)
		}
	}
	o.CheckSums()
}

// The decoders must never panic nor loop on hostile input, and whatever
// they deliver must be internally sane.
func FuzzDecodeOrdersXML(f *testing.F) {
	addSeeds(f, "orders_seed.xml", "orders_two_siblings.xml", "orders_wrapped.xml",
		"orders_flat_no_item_id_first.xml", "orders_rejected.xml", "orders_bad_decimal.xml", "error_page.html",
		"orders_nested_unknown.xml", "orders_bad_utf8.xml", "orders_empty.xml", "orders_truncated.xml", "orders_bad_shapes.xml")
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = DecodeOrdersXML(bytes.NewReader(body), func(o *Order) error {
			checkOrder(t, o)
			return nil
		})
	})
}

func FuzzDecodeOrdersJSON(f *testing.F) {
	addSeeds(f, "orders_strings.json", "orders_numbers.json", "orders_single_object.json",
		"orders_rejected.json", "orders_bad_flag.json", "orders_keyed.json", "orders_bad_utf8.json", "orders_empty.json",
		"orders_bad_shapes.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = DecodeOrdersJSON(bytes.NewReader(body), func(o *Order) error {
			checkOrder(t, o)
			return nil
		})
	})
}

// FuzzDecodeSmall covers the replies read whole: customer/update, the card
// calls and GET /customer, in both formats. An id that gets through is
// always a virtpos id.
func FuzzDecodeSmall(f *testing.F) {
	addSeeds(f, "customer_update_seed.xml", "customer_list.json", "card_update_no_id.json",
		"customer_update_bad_id.json", "orders_rejected.json", "orders_rejected.xml", "error_page.html")
	f.Add([]byte(`<?xml version="1.0"?><root><success>1</success><customers><customer><id>3</id><cards><card><id>1</id></card></cards></customer></customers><count>1</count></root>`))
	f.Add([]byte(`{"success":1,"id":"-1","isnew":"2"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, format := range []string{"json", "xml"} {
			for _, ep := range []string{EPCustomerUpdate, EPCardUpdate} {
				res, err := decodeUpdate(format, ep, bytes.NewReader(body))
				if err == nil && (res.ID != "" || ep == EPCustomerUpdate) && !ValidID(res.ID) {
					t.Fatalf("%s %s: id %q got through", format, ep, res.ID)
				}
			}
			page, err := decodeCustomers(format, bytes.NewReader(body))
			if err == nil {
				for _, c := range page.Customers {
					if !ValidID(c.ID) {
						t.Fatalf("%s: customer id %q got through", format, c.ID)
					}
				}
			}
		}
	})
}
