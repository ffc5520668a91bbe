package onectest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const (
	testUser = "Администратор"
	testPass = "s3cret"
	keyBoris = "ffffffff-0000-4000-8000-000000000001"
	keyYana  = "11111111-0000-4000-8000-000000000002"
	keyOrder = "d0000000-0000-4000-8000-000000000001"
	keyItem  = "17000000-0000-4000-8000-000000001001"
)

func startSmall(t *testing.T) (*Server, string) {
	t.Helper()
	seed, err := LoadSeedFile("testdata/seed_small.json")
	if err != nil {
		t.Fatal(err)
	}
	return StartTest(t, Options{User: testUser, Password: testPass}, seed)
}

// enc percent-encodes a query value the way the 1C client must: spaces as
// %20, never '+'.
func enc(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }

// odataURL builds base + escaped path + query pairs (name, value, ...).
func odataURL(base, path string, kv ...string) string {
	var q []string
	for i := 0; i+1 < len(kv); i += 2 {
		q = append(q, kv[i]+"="+enc(kv[i+1]))
	}
	return base + url.PathEscape(path) + "?" + strings.Join(q, "&")
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, method, u, body string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

type collection struct {
	Metadata string           `json:"odata.metadata"`
	Count    string           `json:"odata.count"`
	Value    []map[string]any `json:"value"`
}

func decodeCollection(t *testing.T, r resp) collection {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var c collection
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return c
}

func column(c collection, name string) []string {
	var out []string
	for _, v := range c.Value {
		s, _ := v[name].(string)
		out = append(out, s)
	}
	return out
}

type odataError struct {
	Err struct {
		Code    string `json:"code"`
		Message struct {
			Lang  string `json:"lang"`
			Value string `json:"value"`
		} `json:"message"`
	} `json:"odata.error"`
}

func wantError(t *testing.T, r resp, status int, code string) odataError {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var e odataError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error body %s: %v", r.body, err)
	}
	if e.Err.Code != code || e.Err.Message.Lang != "ru" || e.Err.Message.Value == "" {
		t.Fatalf("error = %+v, want code %s with a Russian message", e.Err, code)
	}
	return e
}

func TestAuthAndFormat(t *testing.T) {
	_, base := startSmall(t)
	cases := []struct {
		name       string
		user, pass string
		url        string
		wantStatus int
	}{
		{"no auth", "", "", odataURL(base, SetPartners, "$format", "json"), 401},
		{"wrong password", testUser, "nope", odataURL(base, SetPartners, "$format", "json"), 401},
		{"no format", testUser, testPass, odataURL(base, SetPartners), 406},
		{"json ok", testUser, testPass, odataURL(base, SetPartners, "$format", "json", "allowedOnly", "true"), 200},
		{"metadata without format", testUser, testPass, base + "$metadata", 200},
		{"outside publication", testUser, testPass, strings.TrimSuffix(base, PublicationPath) + "/other", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tc.url, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == 401 && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestCollectionAndEntityShapes(t *testing.T) {
	_, base := startSmall(t)
	r := call(t, "GET", odataURL(base, SetOrders, "$format", "json"), "")
	c := decodeCollection(t, r)
	if !strings.HasSuffix(c.Metadata, "/odata/standard.odata/$metadata#Document_ЗаказКлиента") {
		t.Errorf("odata.metadata = %q", c.Metadata)
	}
	raw := string(r.body)
	for _, want := range []string{
		`"СуммаДокумента":1234.56`, // Edm.Double: a bare number with its exact text
		`"LineNumber":"1"`,         // Edm.Int64: a string
		`"Цена":617.28`,
		`"Date":"2026-06-07T10:14:42"`,
		`"КартаЛояльности_Key":"00000000-0000-0000-0000-000000000000"`,
		`"Posted":false`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("body lacks %s: %s", want, raw)
		}
	}
	dv, _ := c.Value[0]["DataVersion"].(string)
	if b, err := base64Decode(dv); err != nil || len(b) != 8 {
		t.Errorf("DataVersion %q is not 8 bytes base64", dv)
	}

	r = call(t, "GET", odataURL(base, SetPartners+"(guid'"+keyBoris+"')", "$format", "json"), "")
	var one map[string]any
	if err := json.Unmarshal(r.body, &one); err != nil || r.status != 200 {
		t.Fatalf("single entity: %d %s", r.status, r.body)
	}
	if md := one["odata.metadata"].(string); !strings.HasSuffix(md, "$metadata#Catalog_Партнеры/@Element") {
		t.Errorf("single odata.metadata = %q", md)
	}
	if one["Description"] != "Борисов Борис Борисович" {
		t.Errorf("Cyrillic lost: %v", one["Description"])
	}
	contacts := one["КонтактнаяИнформация"].([]any)
	if len(contacts) != 2 || contacts[0].(map[string]any)["НомерТелефона"] != "8 (912) 345-67-89" {
		t.Errorf("contacts = %v", contacts)
	}

	t.Run("unknown key", func(t *testing.T) {
		wantError(t, call(t, "GET", odataURL(base, SetPartners+"(guid'"+EmptyGUID+"')", "$format", "json"), ""), 404, "9")
	})
	t.Run("unknown entity", func(t *testing.T) {
		wantError(t, call(t, "GET", odataURL(base, "Catalog_Несуществующий", "$format", "json"), ""), 404, "8")
	})
	t.Run("tabular section set reads rows", func(t *testing.T) {
		c := decodeCollection(t, call(t, "GET", odataURL(base, "Document_ЗаказКлиента_Товары", "$format", "json"), ""))
		if len(c.Value) != 1 || c.Value[0]["Ref_Key"] != keyOrder || c.Value[0]["LineNumber"] != "1" {
			t.Errorf("rows = %v", c.Value)
		}
	})
	t.Run("expand unsupported", func(t *testing.T) {
		wantError(t, call(t, "GET", odataURL(base, SetCards, "$format", "json", "$expand", "Owner"), ""), 400, "14")
	})
}

func TestQueryOptions(t *testing.T) {
	_, base := startSmall(t)
	cases := []struct {
		name  string
		set   string
		query []string
		col   string
		want  []string
		count string
	}{
		{"filter bool", SetPartners, []string{"$filter", "Клиент eq true"}, "Description",
			[]string{"Борисов Борис Борисович", "Яковлева Яна Яковлевна"}, ""},
		{"filter guid or guid", SetPartners, []string{"$filter", "Ref_Key eq guid'" + keyYana + "' or Ref_Key eq guid'" + keyBoris + "'"}, "Code",
			[]string{"00-00000001", "00-00000002"}, ""},
		{"filter not and parens", SetPartners, []string{"$filter", "not (Клиент eq true and Пол eq 'Мужской')"}, "Code",
			[]string{"00-00000002", "00-00000003"}, ""},
		{"filter datetime", SetPartners, []string{"$filter", "ДатаРождения gt datetime'1970-01-01T00:00:00'"}, "Code",
			[]string{"00-00000001"}, ""},
		{"filter doubled quotes", SetPartners, []string{"$filter", "Комментарий eq 'O''Brien ''''quoted'''''"}, "Code",
			[]string{"00-00000003"}, ""},
		{"substringof", SetPartners, []string{"$filter", "substringof('яна', Description)"}, "Code",
			[]string{"00-00000002"}, ""},
		{"number compare", SetOrders, []string{"$filter", "СуммаДокумента ge 1234.56 and СуммаДокумента lt 2000"}, "Number",
			[]string{"00-00000001"}, ""},
		{"select", SetPartners, []string{"$select", "Ref_Key,DataVersion", "$top", "1"}, "Description",
			[]string{""}, ""},
		{"top skip", SetPartners, []string{"$orderby", "Code", "$top", "1", "$skip", "1"}, "Code",
			[]string{"00-00000002"}, ""},
		{"skip past end", SetPartners, []string{"$skip", "10"}, "Code", nil, ""},
		{"inlinecount", SetPartners, []string{"$filter", "Клиент eq true", "$top", "1", "$inlinecount", "allpages"}, "Code",
			[]string{"00-00000001"}, "2"},
		{"orderby several", SetPartners, []string{"$orderby", "Клиент desc, Description asc"}, "Code",
			[]string{"00-00000001", "00-00000002", "00-00000003"}, ""},
		{"orderby desc", SetPartners, []string{"$orderby", "Description desc"}, "Code",
			[]string{"00-00000002", "00-00000001", "00-00000003"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := append([]string{"$format", "json"}, tc.query...)
			c := decodeCollection(t, call(t, "GET", odataURL(base, tc.set, q...), ""))
			if got := column(c, tc.col); !slices.Equal(got, tc.want) {
				t.Errorf("%s = %q, want %q", tc.col, got, tc.want)
			}
			if c.Count != tc.count {
				t.Errorf("odata.count = %q, want %q", c.Count, tc.count)
			}
		})
	}
	t.Run("select limits properties", func(t *testing.T) {
		c := decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$select", "Ref_Key,DataVersion"), ""))
		for _, v := range c.Value {
			if len(v) != 2 {
				t.Fatalf("selected object has %d properties: %v", len(v), v)
			}
		}
	})
	t.Run("count", func(t *testing.T) {
		r := call(t, "GET", odataURL(base, SetPartners+"/$count", "$filter", "Клиент eq true"), "")
		if r.status != 200 || string(r.body) != "2" {
			t.Fatalf("$count = %d %q", r.status, r.body)
		}
	})
	errCases := []struct {
		name  string
		query []string
	}{
		{"gt on Ref_Key", []string{"$filter", "Ref_Key gt guid'" + keyYana + "'"}},
		{"le on reference", []string{"$filter", "ОсновнойМенеджер_Key le guid'" + keyYana + "'"}},
		{"syntax", []string{"$filter", "Клиент eq"}},
		{"unknown field", []string{"$filter", "Нет eq 1"}},
		{"bad top", []string{"$top", "-1"}},
		{"bad orderby", []string{"$orderby", "Нет"}},
		{"bad select", []string{"$select", "Нет"}},
	}
	for _, tc := range errCases {
		t.Run("error "+tc.name, func(t *testing.T) {
			q := append([]string{"$format", "json"}, tc.query...)
			wantError(t, call(t, "GET", odataURL(base, SetPartners, q...), ""), 400, "14")
		})
	}
}

func TestOrdering(t *testing.T) {
	_, base := startSmall(t)
	cases := []struct {
		name    string
		set     string
		orderby string
		want    []string // Ref_Key prefixes
	}{
		// Owners: aaaa->Яковлева, bbbb->Борисов, cccc->Андреев. GUID order of
		// Партнер_Key would be aaaa, cccc, bbbb; 1C sorts by presentation.
		{"reference by presentation", SetCards, "Партнер_Key", []string{"cccccccc", "bbbbbbbb", "aaaaaaaa"}},
		{"reference desc", SetCards, "Партнер_Key desc", []string{"aaaaaaaa", "bbbbbbbb", "cccccccc"}},
		// Partners' GUID order is 1111, 8888, ffff; their descriptions are
		// Яковлева, Андреев, Борисов.
		{"Ref_Key by own description", SetPartners, "Ref_Key", []string{"88888888", "ffffffff", "11111111"}},
		{"Ref_Key desc", SetPartners, "Ref_Key desc", []string{"11111111", "ffffffff", "88888888"}},
		{"no orderby is insertion order", SetCards, "", []string{"aaaaaaaa", "bbbbbbbb", "cccccccc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := []string{"$format", "json"}
			if tc.orderby != "" {
				q = append(q, "$orderby", tc.orderby)
			}
			c := decodeCollection(t, call(t, "GET", odataURL(base, tc.set, q...), ""))
			var got []string
			for _, k := range column(c, "Ref_Key") {
				got = append(got, k[:8])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("order = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("partners not in GUID order without orderby", func(t *testing.T) {
		c := decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$select", "Ref_Key"), ""))
		keys := column(c, "Ref_Key")
		if slices.IsSorted(keys) {
			t.Errorf("keys came back in GUID order: %v", keys)
		}
	})
}

func TestPaging(t *testing.T) {
	s, base := StartTest(t, Options{User: testUser, Password: testPass}, DemoSeed(23, 0, 0, 7))
	seen := map[string]bool{}
	for skip := 0; ; skip += 5 {
		c := decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$select", "Ref_Key,DataVersion",
			"$orderby", "Ref_Key", "$top", "5", "$skip", itoa(skip)), ""))
		for _, k := range column(c, "Ref_Key") {
			if seen[k] {
				t.Fatalf("key %s seen twice", k)
			}
			seen[k] = true
		}
		if len(c.Value) < 5 {
			break
		}
	}
	if len(seen) != 23 {
		t.Errorf("paged %d keys, want 23", len(seen))
	}
	if n := s.Requests("GET", SetPartners); n != 5 {
		t.Errorf("Requests(GET, partners) = %d, want 5", n)
	}
}

func TestWrites(t *testing.T) {
	s, base := startSmall(t)
	orders := func(kv ...string) string {
		return odataURL(base, SetOrders, append([]string{"$format", "json"}, kv...)...)
	}
	orderURL := func(key, suffix string, kv ...string) string {
		return odataURL(base, SetOrders+"(guid'"+key+"')"+suffix, append([]string{"$format", "json"}, kv...)...)
	}
	body := `{"Date":"2026-07-01T12:00:00","Партнер_Key":"` + keyYana + `","СуммаДокумента":100.10,
		"НомерПоДаннымКлиента":"vp-42","Комментарий":"Заказ с сайта",
		"Товары":[{"Номенклатура_Key":"` + keyItem + `","Количество":1,"Цена":100.10,"Сумма":100.10,"LineNumber":"7"}]}`

	r := call(t, "POST", orders(), body)
	if r.status != 201 {
		t.Fatalf("POST status %d: %s", r.status, r.body)
	}
	var created map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&created); err != nil {
		t.Fatal(err)
	}
	key := created["Ref_Key"].(string)
	if !strings.HasSuffix(created["odata.metadata"].(string), "#Document_ЗаказКлиента/@Element") ||
		created["Posted"] != false ||
		created["СуммаДокумента"] != json.Number("100.10") && created["СуммаДокумента"] != json.Number("100.1") {
		t.Errorf("created = %v", created)
	}
	// The seed holds 00-00000001: the next generated number follows it.
	if created["Number"] != "00-00000002" {
		t.Errorf("Number = %v, want 00-00000002", created["Number"])
	}
	rows := created["Товары"].([]any)
	if row := rows[0].(map[string]any); row["LineNumber"] != "1" || row["Ref_Key"] != key {
		t.Errorf("row = %v: LineNumber and Ref_Key are assigned by 1C", row)
	}
	if got, ok := s.Get(SetOrders, key); !ok || got["Комментарий"] != "Заказ с сайта" {
		t.Errorf("stored = %v", got)
	}

	t.Run("lookup by client number", func(t *testing.T) {
		c := decodeCollection(t, call(t, "GET", orders("$filter", "НомерПоДаннымКлиента eq 'vp-42'"), ""))
		if len(c.Value) != 1 || c.Value[0]["Ref_Key"] != key {
			t.Errorf("lookup = %v", c.Value)
		}
	})
	t.Run("missing Date is code 5", func(t *testing.T) {
		wantError(t, call(t, "POST", orders(), `{"Комментарий":"x"}`), 400, "5")
	})
	t.Run("unknown property is code 10", func(t *testing.T) {
		wantError(t, call(t, "POST", orders(), `{"Date":"2026-07-01T12:00:00","Лишнее":1}`), 400, "10")
	})
	t.Run("bad value is code 4", func(t *testing.T) {
		wantError(t, call(t, "POST", orders(), `{"Date":"2026-07-01T12:00:00","Партнер_Key":"nope"}`), 400, "4")
	})
	t.Run("tabular section entity is code 13", func(t *testing.T) {
		u := odataURL(base, "Document_ЗаказКлиента_Товары", "$format", "json")
		wantError(t, call(t, "POST", u, `{"Ref_Key":"`+key+`"}`), 400, "13")
		wantError(t, call(t, "PATCH", u, `{}`), 400, "13")
	})
	t.Run("patch with stale If-Match is 412", func(t *testing.T) {
		wantError(t, call(t, "PATCH", orderURL(key, ""), `{"Комментарий":"y"}`, "If-Match", "AAAAAAAAAAE="), 412, "-1")
	})
	t.Run("patch replaces tabular section", func(t *testing.T) {
		cur, _ := s.Get(SetOrders, key)
		r := call(t, "PATCH", orderURL(key, ""), `{"Комментарий":"Изменён","Товары":[
			{"Номенклатура_Key":"`+keyItem+`","Количество":3,"Цена":10,"Сумма":30},
			{"Номенклатура_Key":"`+keyItem+`","Количество":1,"Цена":5.5,"Сумма":5.5}]}`, "If-Match", cur["DataVersion"].(string))
		if r.status != 200 {
			t.Fatalf("PATCH %d: %s", r.status, r.body)
		}
		got, _ := s.Get(SetOrders, key)
		rows := got["Товары"].([]Object)
		if len(rows) != 2 || rows[1]["LineNumber"] != int64(2) || got["Комментарий"] != "Изменён" || got["DataVersion"] == cur["DataVersion"] {
			t.Errorf("after PATCH = %v", got)
		}
		if !strings.Contains(string(r.body), `"Цена":5.5`) {
			t.Errorf("PATCH answer lacks new row: %s", r.body)
		}
	})
	t.Run("post action", func(t *testing.T) {
		r := call(t, "POST", orderURL(key, "/Post", "PostingModeOperational", "false"), "")
		if r.status != 200 {
			t.Fatalf("Post %d: %s", r.status, r.body)
		}
		if got, _ := s.Get(SetOrders, key); got["Posted"] != true {
			t.Errorf("Posted = %v", got["Posted"])
		}
	})
	t.Run("post unknown key is 404 code 9", func(t *testing.T) {
		wantError(t, call(t, "POST", orderURL(EmptyGUID, "/Post"), ""), 404, "9")
	})
	t.Run("patch unknown key is 404 code 9", func(t *testing.T) {
		wantError(t, call(t, "PATCH", orderURL("12345678-0000-4000-8000-000000000000", ""), `{}`), 404, "9")
	})
	t.Run("catalog patch", func(t *testing.T) {
		u := odataURL(base, SetPartners+"(guid'"+keyYana+"')", "$format", "json")
		r := call(t, "PATCH", u, `{"Пол":"","DeletionMark":true}`)
		if r.status != 200 {
			t.Fatalf("PATCH catalog %d: %s", r.status, r.body)
		}
		got, _ := s.Get(SetPartners, keyYana)
		if got["DeletionMark"] != true || got["Пол"] != "" {
			t.Errorf("partner = %v", got)
		}
	})
	t.Run("catalog post generates Code", func(t *testing.T) {
		r := call(t, "POST", odataURL(base, SetItems, "$format", "json"), `{"Description":"Кефир","Артикул":"К-1"}`)
		if r.status != 201 || !strings.Contains(string(r.body), `"Code":"00-00000001"`) {
			t.Fatalf("POST item: %d %s", r.status, r.body)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if r := call(t, "DELETE", orderURL(keyOrder, ""), ""); r.status != 200 {
			t.Fatalf("DELETE %d: %s", r.status, r.body)
		}
		if _, ok := s.Get(SetOrders, keyOrder); ok {
			t.Error("order still there after DELETE")
		}
	})
	if w := s.Writes(SetOrders); w != 4 {
		t.Errorf("Writes(orders) = %d, want 4 (POST, PATCH, Post, DELETE)", w)
	}
	if n := s.Requests("POST", SetOrders); n < 6 {
		t.Errorf("Requests(POST, orders) = %d", n)
	}
}
