package virtpostest

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	s := newTestServer(t)
	for _, format := range []string{"xml", "json"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for name, key := range map[string][]string{"missing": {}, "wrong": {"nope"}} {
				t.Run(format+"/"+method+"/"+name, func(t *testing.T) {
					p := vals("format", format)
					if len(key) > 0 {
						p.Set("apikey", key[0])
					} else {
						p["apikey"] = nil
					}
					for _, path := range []string{PathOrders, PathCustomer, PathCustomerUpdate, PathCardDelete} {
						code, _, body := call(t, s, method, path, p)
						r := decodeResult(t, format, body)
						if code != http.StatusOK || r.Success != "0" || r.Info != "invalid apikey" {
							t.Errorf("%s: got %d %+v, want 200 success=0 info=invalid apikey", path, code, r)
						}
					}
				})
			}
		}
	}
}

func TestUnknownFormatAndPath(t *testing.T) {
	s := newTestServer(t)
	_, _, body := call(t, s, http.MethodGet, PathOrders, vals("format", "yaml"))
	if r := decodeResult(t, "xml", body); r.Success != "0" || !strings.Contains(r.Info, "unknown format") {
		t.Errorf("format=yaml: got %+v", r)
	}
	if code, _, _ := call(t, s, http.MethodGet, "/nope", nil); code != http.StatusNotFound {
		t.Errorf("unknown path: got %d, want 404", code)
	}
}

func TestCustomerUpdate(t *testing.T) {
	type step struct {
		params      []string
		wantSuccess string
		wantInfo    string // substring
		wantID      string
		wantNew     string
	}
	tests := []struct {
		name    string
		lenient bool // Options.MatchUpdateByExternalID
		steps   []step
		check   func(t *testing.T, s *Server)
	}{
		{name: "create then update by id, Cyrillic kept",
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "e1", "fname", "Иван", "lname", "Петров"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"id", "1", "external_id", "e1", "phone", "79001234567"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
			},
			check: func(t *testing.T, s *Server) {
				c, ok := s.Customer("e1")
				if !ok || c.FName != "Иван" || c.LName != "Петров" || c.Phone != "79001234567" || c.Extra["register_date"] == "" {
					t.Errorf("customer e1 = %+v, %v", c, ok)
				}
			}},
		{name: "an update without id does not search by external_id",
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "e1"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"external_id", "e1", "phone", "79001234567"}, wantSuccess: "0", wantInfo: "customer not found"},
			}},
		{name: "a create repeated with the same external_id makes a second customer",
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "e1"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"create_if_not_exist", "1", "external_id", "e1"}, wantSuccess: "1", wantID: "2", wantNew: "1"},
			},
			check: func(t *testing.T, s *Server) {
				if n := len(s.Customers()); n != 2 {
					t.Errorf("%d customers, want 2 (the faithful fake never matches by external_id)", n)
				}
			}},
		{name: "lenient: an update without id finds the customer by external_id", lenient: true,
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "e1"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"create_if_not_exist", "1", "external_id", "e1", "phone", "79001234567"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
				{params: []string{"id", "77", "external_id", "e1", "fname", "Б"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
			},
			check: func(t *testing.T, s *Server) {
				if c, _ := s.Customer("e1"); len(s.Customers()) != 1 || c.Phone != "79001234567" || c.FName != "Б" {
					t.Errorf("customers = %+v", s.Customers())
				}
			}},
		{name: "id wins over external_id",
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "a"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"create_if_not_exist", "1", "external_id", "b"}, wantSuccess: "1", wantID: "2", wantNew: "1"},
				{params: []string{"id", "2", "external_id", "a", "fname", "Б"}, wantSuccess: "1", wantID: "2", wantNew: "0"},
			}},
		{name: "not found without create",
			steps: []step{{params: []string{"external_id", "x"}, wantSuccess: "0", wantInfo: "customer not found"}}},
		{name: "age rejected",
			steps: []step{{params: []string{"create_if_not_exist", "1", "external_id", "x", "age", "30"}, wantSuccess: "0", wantInfo: "age"}},
			check: func(t *testing.T, s *Server) {
				if n := len(s.Customers()); n != 0 {
					t.Errorf("rejected call created %d customers", n)
				}
			}},
		{name: "bad gender", steps: []step{{params: []string{"create_if_not_exist", "1", "gender", "X"}, wantSuccess: "0", wantInfo: "gender"}}},
		{name: "31 February", steps: []step{{params: []string{"create_if_not_exist", "1", "birth_day", "31", "birth_month", "2", "birth_year", "1990"}, wantSuccess: "0", wantInfo: "birth date"}}},
		{name: "29 February of a leap year", steps: []step{{params: []string{"create_if_not_exist", "1", "birth_day", "29", "birth_month", "2", "birth_year", "1988"}, wantSuccess: "1", wantID: "1", wantNew: "1"}}},
		{name: "month 13", steps: []step{{params: []string{"create_if_not_exist", "1", "birth_month", "13"}, wantSuccess: "0", wantInfo: "birth_month"}}},
		{name: "bad email", steps: []step{{params: []string{"create_if_not_exist", "1", "email", "ivan@localhost"}, wantSuccess: "0", wantInfo: "email"}}},
		{name: "group_name creates group once",
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "a", "group_name", "Оптовики"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"create_if_not_exist", "1", "external_id", "b", "group_name", "Оптовики"}, wantSuccess: "1", wantID: "2", wantNew: "1"},
			},
			check: func(t *testing.T, s *Server) {
				a, _ := s.Customer("a")
				b, _ := s.Customer("b")
				if a.GroupID == "" || a.GroupID != b.GroupID || a.GroupName != "Оптовики" || s.Counts().GroupsCreated != 1 {
					t.Errorf("groups: a=%+v b=%+v counts=%+v", a, b, s.Counts())
				}
			}},
		{name: "group_name ignored with group_id",
			steps: []step{
				{params: []string{"create_if_not_exist", "1", "external_id", "a", "group_name", "G1"}, wantSuccess: "1", wantID: "1", wantNew: "1"},
				{params: []string{"id", "1", "group_id", "1", "group_name", "G2"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
				{params: []string{"id", "1", "group_id", "99"}, wantSuccess: "0", wantInfo: "group 99 not found"},
			},
			check: func(t *testing.T, s *Server) {
				if a, _ := s.Customer("a"); a.GroupName != "G1" || s.Counts().GroupsCreated != 1 {
					t.Errorf("group_name with group_id changed things: %+v %+v", a, s.Counts())
				}
			}},
		{name: "unknown params kept as extra fields",
			steps: []step{{params: []string{"create_if_not_exist", "1", "external_id", "a", "custom_information", "Постоянный"}, wantSuccess: "1", wantID: "1", wantNew: "1"}},
			check: func(t *testing.T, s *Server) {
				if a, _ := s.Customer("a"); a.Extra["custom_information"] != "Постоянный" {
					t.Errorf("extra = %v", a.Extra)
				}
			}},
	}
	for _, format := range []string{"xml", "json"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, tt := range tests {
				t.Run(format+"/"+method+"/"+tt.name, func(t *testing.T) {
					s := NewServer(t, Options{APIKey: "s3cret", Now: func() time.Time { return fixedNow }, MatchUpdateByExternalID: tt.lenient})
					for i, st := range tt.steps {
						p := vals(st.params...)
						p.Set("format", format)
						code, _, body := call(t, s, method, PathCustomerUpdate, p)
						r := decodeResult(t, format, body)
						if code != 200 || r.Success != st.wantSuccess || !strings.Contains(r.Info, st.wantInfo) ||
							r.ID != st.wantID || r.IsNew != st.wantNew {
							t.Fatalf("step %d: got %d %+v, want success=%s info~%q id=%q isnew=%q",
								i, code, r, st.wantSuccess, st.wantInfo, st.wantID, st.wantNew)
						}
					}
					if tt.check != nil {
						tt.check(t, s)
					}
				})
			}
		}
	}
}

func TestCustomerUpdateResponseMatchesSeedShape(t *testing.T) {
	s := newTestServer(t)
	_, hdr, body := call(t, s, http.MethodGet, PathCustomerUpdate, vals("create_if_not_exist", "1"))
	want := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root>\n   <success>1</success>\n   <id>1</id>\n   <isnew>1</isnew>\n</root>\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("content type %q", ct)
	}
}

func TestGetCustomers(t *testing.T) {
	s := newTestServer(t)
	if err := s.LoadSeedFile("testdata/seed.json"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		call(t, s, http.MethodGet, PathCustomerUpdate, vals("create_if_not_exist", "1", "fname", "Клиент"))
	}
	tests := []struct {
		name      string
		params    []string
		wantIDs   []string
		wantCount string
	}{
		{"all first page", []string{"page_size", "3"}, []string{"3", "4", "5"}, "7"},
		{"second page", []string{"page_size", "3", "page", "2"}, []string{"6", "7", "8"}, "7"},
		{"past the end", []string{"page_size", "3", "page", "9"}, nil, "7"},
		{"by external_id", []string{"external_id", "8d2f1c4e-0b7a-11ee-9c3a-00155d01a002"}, []string{"4"}, "1"},
		{"by id", []string{"id", "3"}, []string{"3"}, "1"},
		{"by phone", []string{"phone", "79007654321"}, []string{"4"}, "1"},
		{"by email", []string{"email", "ivan@example.ru"}, []string{"3"}, "1"},
		{"with_email", []string{"with_email", "1"}, []string{"3"}, "1"},
		{"nothing", []string{"external_id", "nope"}, nil, "0"},
	}
	type xmlCard struct {
		UID     string `xml:"uid"`
		UIDEAN  string `xml:"uid_ean13"`
		Type    string `xml:"type_name"`
		Barcode string `xml:"barcode"`
	}
	type xmlCustomer struct {
		ID    string    `xml:"id"`
		FName string    `xml:"fname"`
		Cards []xmlCard `xml:"cards>card"`
	}
	type xmlRoot struct {
		Success   string        `xml:"success"`
		Customers []xmlCustomer `xml:"customers>customer"`
		Type      string        `xml:"type"`
		Count     string        `xml:"count"`
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tt := range tests {
			t.Run(method+"/"+tt.name, func(t *testing.T) {
				p := vals(tt.params...)
				p.Set("cards", "true")
				_, _, body := call(t, s, method, PathCustomer, p)
				var x xmlRoot
				if err := xml.Unmarshal([]byte(body), &x); err != nil {
					t.Fatalf("xml: %v\n%s", err, body)
				}
				var ids []string
				for _, c := range x.Customers {
					ids = append(ids, c.ID)
				}
				if x.Success != "1" || x.Count != tt.wantCount || x.Type != "customer" || strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
					t.Errorf("xml: got success=%s count=%s type=%s ids=%v, want count=%s ids=%v", x.Success, x.Count, x.Type, ids, tt.wantCount, tt.wantIDs)
				}

				p.Set("format", "json")
				_, _, body = call(t, s, method, PathCustomer, p)
				var j struct {
					Success   int              `json:"success"`
					Count     string           `json:"count"`
					Customers []map[string]any `json:"customers"`
				}
				if err := json.Unmarshal([]byte(body), &j); err != nil {
					t.Fatalf("json: %v\n%s", err, body)
				}
				ids = nil
				for _, c := range j.Customers {
					ids = append(ids, c["id"].(string))
					if _, ok := c["cards"].([]any); !ok {
						t.Errorf("json customer %v has no cards list", c["id"])
					}
				}
				if j.Success != 1 || j.Count != tt.wantCount || strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
					t.Errorf("json: got %+v ids=%v", j, ids)
				}
			})
		}
	}
	t.Run("cards of a customer", func(t *testing.T) {
		_, _, body := call(t, s, http.MethodGet, PathCustomer, vals("id", "3", "cards", "true"))
		var x xmlRoot
		if err := xml.Unmarshal([]byte(body), &x); err != nil {
			t.Fatal(err)
		}
		want := xmlCard{UID: "1001", UIDEAN: "0000000010016", Type: "Золотая", Barcode: "0000000010016"}
		if len(x.Customers) != 1 || x.Customers[0].FName != "Иван" || len(x.Customers[0].Cards) != 1 || x.Customers[0].Cards[0] != want {
			t.Errorf("got %+v, want one customer Иван with card %+v", x.Customers, want)
		}
	})
	t.Run("bad page", func(t *testing.T) {
		_, _, body := call(t, s, http.MethodGet, PathCustomer, vals("page", "0"))
		if r := decodeResult(t, "xml", body); r.Success != "0" || !strings.Contains(r.Info, "page") {
			t.Errorf("got %+v", r)
		}
	})
}

func TestSeedFile(t *testing.T) {
	s := newTestServer(t)
	if err := s.LoadSeedFile("testdata/seed.json"); err != nil {
		t.Fatal(err)
	}
	c, ok := s.Customer("8d2f1c4e-0b7a-11ee-9c3a-00155d01a001")
	if !ok || c.ID != "3" || c.MName != "Сергеевич" || c.GroupName != "Постоянные покупатели" || c.Extra["custom_information"] != "Любит коньяк" {
		t.Errorf("customer = %+v", c)
	}
	if c2, _ := s.Customer("8d2f1c4e-0b7a-11ee-9c3a-00155d01a002"); c2.ID != "4" {
		t.Errorf("second customer got id %q, want 4 (after the explicit 3)", c2.ID)
	}
	if cd, ok := s.Card("card-1001"); !ok || cd.CustomerID != "3" || cd.UIDEAN13 != "0000000010016" {
		t.Errorf("card = %+v", cd)
	}
	if o := s.Orders(); len(o) != 1 || o[0].Items[0].Quantity.StringFixed(3) != "3.450" {
		t.Errorf("orders = %v", o)
	}
	// A created customer continues after the seeded ids.
	_, _, body := call(t, s, http.MethodGet, PathCustomerUpdate, vals("create_if_not_exist", "1"))
	if r := decodeResult(t, "xml", body); r.ID != "5" {
		t.Errorf("next id = %q, want 5", r.ID)
	}

	bad := []struct{ name, seed, want string }{
		{"unknown field", `{"clients": []}`, "unknown field"},
		{"unknown group", `{"customers": [{"group_id": "7"}]}`, "group_id 7 not found"},
		{"bad birth date", `{"customers": [{"birth_day": "30", "birth_month": "2"}]}`, "birth date"},
		{"card without uid", `{"cards": [{"external_id": "x"}]}`, "uid is required"},
		{"card of unknown customer", `{"cards": [{"uid": "1", "customer_id": "9"}]}`, "customer 9 not found"},
		{"duplicate id", `{"customers": [{"id": "1"}, {"id": "1"}]}`, "duplicate id"},
		{"bad order date", `{"orders": [{"created_date": "24.08.2017"}]}`, "created_date"},
		{"bad decimal", `{"orders": [{"created_date": "2017-08-24 18:45:08", "amount": "1,5"}]}`, "amount"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			err := s.LoadSeed(strings.NewReader(tt.seed))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(s.Customers()) != 0 || len(s.Cards()) != 0 || len(s.Orders()) != 0 {
				t.Errorf("a failed seed changed the store")
			}
		})
	}
	if _, err := os.Stat("testdata/nope.json"); err == nil {
		t.Fatal("fixture should not exist")
	}
	if err := s.LoadSeedFile("testdata/nope.json"); err == nil {
		t.Error("missing seed file loaded")
	}
}
