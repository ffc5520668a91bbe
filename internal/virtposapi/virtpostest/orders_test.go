package virtpostest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

func TestOrdersXMLIsTheSeedExample(t *testing.T) {
	want, err := os.ReadFile("testdata/orders_seed_example.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t)
	if err := s.LoadSeedFile("testdata/seed.json"); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			code, hdr, body := call(t, s, method, PathOrders, vals("format", "xml"))
			if code != 200 || body != string(want) {
				t.Errorf("status %d body:\n%s\nwant byte for byte:\n%s", code, body, want)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

type jsonOrders struct {
	Success int         `json:"success"`
	Info    string      `json:"info"`
	Orders  []jsonOrder `json:"orders"`
}

func TestOrdersJSON(t *testing.T) {
	s := newTestServer(t)
	if err := s.LoadSeedFile("testdata/seed.json"); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			_, _, body := call(t, s, method, PathOrders, vals("format", "json"))
			var got jsonOrders
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			if got.Success != 1 || len(got.Orders) != 1 || len(got.Orders[0].Items) != 2 {
				t.Fatalf("got %+v", got)
			}
			o, it := got.Orders[0], got.Orders[0].Items[0]
			if o.Amount != "976.59" || o.ShippingCost != "130.00" || o.Comment != "После шести" || o.Paid != "0" ||
				it.Quantity != "3.450" || it.ItemName != `Коньяк "Анри" 3-летний 40,0% 0,5л` || got.Orders[0].Items[1].Discount != "0.00" {
				t.Errorf("order = %+v", o)
			}
			// Numbers travel as strings, as PHP back ends send them.
			if !strings.Contains(body, `"amount":"976.59"`) {
				t.Errorf("amount not a string in %s", body)
			}
		})
	}
}

func order(customer, created, guid string) virtposapi.Order {
	qty, price := decimal.RequireFromString("1.500"), decimal.RequireFromString("10.00")
	amt := qty.Mul(price).Round(2)
	return virtposapi.Order{CustomerID: customer, CreatedDate: created, GUID: guid, Amount: amt,
		Items: []virtposapi.Item{{ItemID: "1", ItemName: "Хлеб", Quantity: qty, UnitBasePrice: price, Amount: amt}}}
}

func TestOrdersFilters(t *testing.T) {
	s := newTestServer(t) // clock: 2017-08-30 12:00 MSK
	if err := s.LoadSeed(strings.NewReader(`{"customers": [{"id": "3", "external_id": "ext-3"}]}`)); err != nil {
		t.Fatal(err)
	}
	s.AddOrder(order("3", "2017-08-01 00:00:00", "a"))
	s.AddOrder(order("3", "2017-08-23 11:59:59", "b"))
	s.AddOrder(order("4", "2017-08-23 12:00:00", "c"))
	s.AddOrder(order("3", "2017-08-30 11:00:00", "d"))
	tests := []struct {
		name     string
		params   []string
		want     string
		wantInfo string
	}{
		{"all", nil, "a,b,c,d", ""},
		{"by customer id", []string{"id", "3"}, "a,b,d", ""},
		{"by customer external_id", []string{"external_id", "ext-3"}, "a,b,d", ""},
		{"unknown external_id", []string{"external_id", "nope"}, "", ""},
		{"datefrom inclusive", []string{"datefrom", "20170823"}, "b,c,d", ""},
		{"dateto inclusive", []string{"dateto", "20170823"}, "a,b,c", ""},
		{"one day", []string{"datefrom", "20170823", "dateto", "20170823"}, "b,c", ""},
		{"days back from the clock", []string{"days", "7"}, "c,d", ""},
		{"days and customer", []string{"days", "7", "id", "3"}, "d", ""},
		{"bad datefrom", []string{"datefrom", "2017-08-01"}, "", "datefrom"},
		{"bad days", []string{"days", "-1"}, "", "days"},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tt := range tests {
			t.Run(method+"/"+tt.name, func(t *testing.T) {
				p := vals(tt.params...)
				p.Set("format", "json")
				_, _, body := call(t, s, method, PathOrders, p)
				var got jsonOrders
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("%v\n%s", err, body)
				}
				var guids []string
				for _, o := range got.Orders {
					guids = append(guids, o.GUID)
				}
				if strings.Join(guids, ",") != tt.want || !strings.Contains(got.Info, tt.wantInfo) || (tt.wantInfo != "") == (got.Success == 1) {
					t.Errorf("got success=%d info=%q orders %v, want %q info~%q", got.Success, got.Info, guids, tt.want, tt.wantInfo)
				}
			})
		}
	}
}

func TestSetOrderFlags(t *testing.T) {
	s := newTestServer(t)
	i := s.AddOrder(order("3", "2017-08-01 00:00:00", "a"))
	if err := s.SetOrderFlags(i, true, true, false); err != nil {
		t.Fatal(err)
	}
	_, _, body := call(t, s, http.MethodGet, PathOrders, nil)
	if !strings.Contains(body, "<paid>1</paid>") || !strings.Contains(body, "<shipped>1</shipped>") || !strings.Contains(body, "<cancelled>0</cancelled>") {
		t.Errorf("flags not applied:\n%s", body)
	}
	if err := s.SetOrderFlags(5, true, true, true); err == nil {
		t.Error("SetOrderFlags of a missing order succeeded")
	}
}

func TestGeneratedOrders(t *testing.T) {
	const n = 3000
	bodies := map[string]string{}
	for _, format := range []string{"xml", "json"} {
		for run := 0; run < 2; run++ {
			s := newTestServer(t)
			s.GenerateOrders(n, 42)
			resp, err := http.Get(s.URL + PathOrders + "?" + url.Values{"apikey": {s.APIKey()}, "format": {format}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			// Streamed: no Content-Length could be known up front.
			if resp.ContentLength != -1 {
				t.Errorf("%s: Content-Length %d, want a chunked stream", format, resp.ContentLength)
			}
			if run == 1 && string(b) != bodies[format] {
				t.Errorf("%s: two runs with the same seed differ", format)
			}
			bodies[format] = string(b)
		}
	}
	if got := strings.Count(bodies["xml"], "<orders>"); got != n {
		t.Errorf("xml has %d orders, want %d", got, n)
	}
	var got jsonOrders
	if err := json.Unmarshal([]byte(bodies["json"]), &got); err != nil || len(got.Orders) != n {
		t.Fatalf("json: %d orders, %v", len(got.Orders), err)
	}

	s := newTestServer(t)
	s.GenerateOrders(n, 42)
	emptyGUIDs := 0
	for i := 0; i < n; i++ {
		o, ok := s.GeneratedOrder(i)
		if !ok {
			t.Fatalf("order %d missing", i)
		}
		if o.GUID == "" {
			emptyGUIDs++
		}
		if j := toJSONOrder(&o); j.GUID != got.Orders[i].GUID || j.Amount != got.Orders[i].Amount || j.CreatedDate != got.Orders[i].CreatedDate {
			t.Fatalf("order %d: served %+v, GeneratedOrder %+v", i, got.Orders[i], j)
		}
		sum, disc := decimal.Zero, decimal.Zero
		for _, it := range o.Items {
			if want := it.Quantity.Mul(it.UnitBasePrice).Sub(it.Discount).Round(2); !it.Amount.Equal(want) {
				t.Fatalf("order %d item %+v: amount %s, want %s", i, it, it.Amount, want)
			}
			sum, disc = sum.Add(it.Amount), disc.Add(it.Discount)
		}
		if !o.Amount.Equal(sum) || !o.Discount.Equal(disc) {
			t.Fatalf("order %d: amount %s discount %s, items sum to %s %s", i, o.Amount, o.Discount, sum, disc)
		}
	}
	if emptyGUIDs != n/10 {
		t.Errorf("%d orders without guid, want %d", emptyGUIDs, n/10)
	}
	last, _ := s.GeneratedOrder(n - 1)
	if last.CreatedDate > fixedNow.Format(virtposapi.TimeLayout) {
		t.Errorf("last generated order %s is after the clock", last.CreatedDate)
	}
	if _, ok := s.GeneratedOrder(n); ok {
		t.Error("GeneratedOrder past n succeeded")
	}
}

func BenchmarkOrdersXML(b *testing.B) {
	s := NewServer(b, Options{})
	s.GenerateOrders(10000, 1)
	u := s.URL + PathOrders + "?apikey=" + s.APIKey()
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.SetBytes(n)
	}
}
