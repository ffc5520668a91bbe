package virtposapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// Reply shapes the seed does not pin down, each decoded the way that loses
// nothing and invents nothing.
func TestOrderShapesTheSeedLeavesOpen(t *testing.T) {
	tests := []struct {
		file string
		// want: per order, guid, comment, item ids and problems.
		want []string
	}{
		{"orders_keyed.json", []string{
			"g-17 comment=Первый items=[1] problems=[]",
			"g-18 comment= items=[2] problems=[]"}},
		{"orders_nested_unknown.xml", []string{
			"a1b2 comment= items=[1] problems=[]"}},
		{"orders_bad_utf8.xml", []string{
			"bad-1 comment= items=[1] problems=[comment: not valid UTF-8 at byte 19 items[0].item_name: control character U+0001 at byte 7]",
			"good-2 comment=После шести items=[] problems=[]"}},
		// A value that does not parse is its order's problem, named
		// without the value; the other orders go through.
		{"orders_bad_decimal.xml", []string{
			"x comment= items=[1] problems=[]",
			"y comment= items=[1] problems=[items[0].quantity: expected a decimal number]"}},
		{"orders_bad_flag.json", []string{
			"a comment= items=[] problems=[paid: expected a flag (0/1 or true/false)]"}},
		{"orders_bad_shapes.xml", []string{
			"s-1 comment= items=[1] problems=[comment: expected a text value, got element <b> items[0].quantity: expected a decimal number]",
			"s-2 comment=Хорошо items=[2] problems=[]"}},
		{"orders_bad_shapes.json", []string{
			"s-1 comment= items=[1] problems=[comment: expected a scalar value, got a nested object items[0].item_name: expected a scalar value, got a nested list]",
			"s-2 comment=Хорошо items=[2] problems=[]"}},
		{"orders_bad_utf8.json", []string{
			"bad-1 comment= items=[1] problems=[comment: not valid UTF-8 at byte 19 items[0].item_name: not valid UTF-8 at byte 7]",
			"good-2 comment=После шести \uFFFD намеренно items=[] problems=[]"}},
	}
	for _, tc := range tests {
		for _, reader := range []string{"whole", "one byte at a time"} {
			t.Run(tc.file+"/"+reader, func(t *testing.T) {
				f, err := os.Open(filepath.Join("testdata", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var r io.Reader = f
				if reader != "whole" {
					// Every multi-byte rune is split across reads.
					r = iotest.OneByteReader(f)
				}
				var got []string
				decode := DecodeOrdersXML
				if strings.HasSuffix(tc.file, ".json") {
					decode = DecodeOrdersJSON
				}
				err = decode(r, func(o *Order) error {
					var ids []string
					for _, it := range o.Items {
						ids = append(ids, it.ItemID)
					}
					got = append(got, fmt.Sprintf("%s comment=%s items=%v problems=%v", o.GUID, o.Comment, ids, o.Problems))
					for _, s := range []string{o.Comment, o.ShippingAddress, o.GUID} {
						if !utf8.ValidString(s) {
							t.Errorf("order %s carries invalid UTF-8: %q", o.GUID, s)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		}
	}
}

func TestOrderShapesStillRefused(t *testing.T) {
	tests := []struct {
		name, format, body, want string
	}{
		{"more XML elements with elements inside than the bound", "xml",
			`<root><success>1</success><orders>` + strings.Repeat(`<x><y/></x>`, MaxUnknownElements+1) + `</orders></root>`,
			fmt.Sprintf("at most %d elements with elements inside in an order", MaxUnknownElements)},
		{"a success that is not a flag", "json", `{"success":"ok","orders":[]}`, "at success: expected a flag"},
		{"a keyed JSON list with a scalar under a key", "json",
			`{"success":1,"orders":{"17":{"guid":"a"},"18":"x"}}`, "an object under every key of a list keyed by id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			decode := DecodeOrdersXML
			if tc.format == "json" {
				decode = DecodeOrdersJSON
			}
			err := decode(strings.NewReader(tc.body), func(*Order) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOrderObjectsInPlaceOfLists(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // guids
	}{
		{"an empty object is no order", `{"success":1,"orders":{}}`, nil},
		{"one order as an object", `{"success":1,"orders":{"guid":"a","amount":"1"}}`, []string{"a"}},
		{"one order whose first field is unknown", `{"success":1,"orders":{"x_new":"1","guid":"a"}}`, []string{"a"}},
		{"one order whose first field is an unknown list", `{"success":1,"orders":{"tags":[1,2],"guid":"a"}}`, []string{"a"}},
		{"orders keyed by id", `{"success":1,"orders":{"5":{"guid":"a"},"9":{"guid":"b"},"7":{"guid":"c"}}}`, []string{"a", "b", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := DecodeOrdersJSON(strings.NewReader(tc.body), func(o *Order) error { got = append(got, o.GUID); return nil })
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// A card call answered with success=1 alone is done: the seed documents no
// reply for card calls.
func TestCardRepliesWithoutID(t *testing.T) {
	for _, tc := range []struct{ format, body string }{
		{"json", `{"success":1}`},
		{"json", `{"success":"1","isnew":null}`},
		{"xml", `<?xml version="1.0"?><root><success>1</success></root>`},
	} {
		t.Run(tc.format+"/"+tc.body, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c, _ := testClient(t, srv.URL, func(c *Config) { c.Format = tc.format })
			ctx := context.Background()
			up, err := c.UpdateCard(ctx, url.Values{"create_if_not_exist": {"1"}, "uid": {"1"}})
			if err != nil || up != (UpdateResult{}) {
				t.Fatalf("UpdateCard: %+v, %v", up, err)
			}
			ins, err := c.InsertCard(ctx, url.Values{"uid": {"1"}})
			if err != nil || ins != (UpdateResult{}) {
				t.Fatalf("InsertCard: %+v, %v", ins, err)
			}
			// customer/update needs its id: the id map is built from it.
			if _, err := c.UpdateCustomer(ctx, url.Values{"create_if_not_exist": {"1"}, "external_id": {"e"}}); err == nil ||
				!strings.Contains(err.Error(), "at id: expected a virtpos id") {
				t.Fatalf("UpdateCustomer without an id in the reply: %v", err)
			}
			if calls != 3 {
				t.Fatalf("%d requests, want 3", calls)
			}
		})
	}
}
