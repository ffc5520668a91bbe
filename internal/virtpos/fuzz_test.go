package virtpos

import (
	"bytes"
	"os"
	"testing"
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

// The decoders must never panic nor loop on hostile input, and whatever
// they deliver must be internally sane.
func FuzzDecodeOrdersXML(f *testing.F) {
	addSeeds(f, "orders_seed.xml", "orders_two_siblings.xml", "orders_wrapped.xml",
		"orders_flat_no_item_id_first.xml", "orders_rejected.xml", "orders_bad_decimal.xml", "error_page.html")
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = DecodeOrdersXML(bytes.NewReader(body), func(o *Order) error {
			if o == nil {
				t.Fatal("nil order")
			}
			o.CheckSums()
			return nil
		})
	})
}

func FuzzDecodeOrdersJSON(f *testing.F) {
	addSeeds(f, "orders_strings.json", "orders_numbers.json", "orders_single_object.json",
		"orders_rejected.json", "orders_bad_flag.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = DecodeOrdersJSON(bytes.NewReader(body), func(o *Order) error {
			if o == nil {
				t.Fatal("nil order")
			}
			o.CheckSums()
			return nil
		})
	})
}
