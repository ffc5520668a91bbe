package onectest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// scan is the fake's answer to a collection query the way it was computed
// before views: every object of the set (or every row of the section),
// filtered one by one, sorted stably with references by presentation. It
// is the oracle the cached, indexed views are held to.
func scan(t *testing.T, s *Server, entity, filter, orderby string) []string {
	t.Helper()
	owner, tabName, isTab := strings.Cut(entity, "_Товары")
	if isTab {
		owner, tabName = SetOrders, "Товары"
	} else {
		owner = entity
	}
	var typ *entityType
	for _, tt := range s.types {
		if tt.Name == owner {
			typ = tt
		}
	}
	fields := typ.Fields
	var objs []Object
	for _, o := range s.All(owner) {
		if !isTab {
			objs = append(objs, o)
			continue
		}
		objs = append(objs, o[tabName].([]Object)...)
	}
	if isTab {
		tab, _ := typ.tab(tabName)
		fields = rowFields(tab)
	}
	lookup := func(name string) (field, bool) {
		for _, f := range fields {
			if f.Name == name {
				return f, true
			}
		}
		return field{}, false
	}
	if filter != "" {
		n, err := parseFilter(filter, lookup)
		if err != nil {
			t.Fatalf("scan: parse %q: %v", filter, err)
		}
		var kept []Object
		for _, o := range objs {
			ok, err := evalFilter(n, o)
			if err != nil {
				t.Fatalf("scan: eval %q: %v", filter, err)
			}
			if ok {
				kept = append(kept, o)
			}
		}
		objs = kept
	}
	if orderby != "" {
		pres := map[string]string{}
		for _, tt := range s.types {
			for _, o := range s.All(tt.Name) {
				p, _ := o["Description"].(string)
				if tt.Document {
					p = fmt.Sprintf("%s %s", o["Number"], o["Date"])
				}
				pres[o["Ref_Key"].(string)] = p
			}
		}
		keys, err := parseOrderBy(orderby, lookup)
		if err != nil {
			t.Fatalf("scan: orderby %q: %v", orderby, err)
		}
		val := func(o Object, f field) any {
			if f.Type == tGuid {
				return pres[o[f.Name].(string)]
			}
			return o[f.Name]
		}
		sort.SliceStable(objs, func(i, j int) bool {
			for _, k := range keys {
				c, err := compareValues(val(objs[i], k.f), val(objs[j], k.f))
				if err != nil || c == 0 {
					continue
				}
				if k.desc {
					return c > 0
				}
				return c < 0
			}
			return false
		})
	}
	ids := make([]string, len(objs))
	for i, o := range objs {
		ids[i] = o["Ref_Key"].(string)
		if isTab {
			ids[i] += "/" + strconv.FormatInt(o["LineNumber"].(int64), 10)
		}
	}
	return ids
}

// served pages through a collection query on the handler and returns the
// keys (with LineNumber for rows) and the odata.count of every page.
func served(t *testing.T, s *Server, entity, filter, orderby string, top int) ([]string, []string) {
	t.Helper()
	var ids, counts []string
	for skip := 0; ; skip += top {
		q := url.Values{"$format": {"json"}, "$inlinecount": {"allpages"}, "$top": {strconv.Itoa(top)}, "$skip": {strconv.Itoa(skip)}}
		if filter != "" {
			q.Set("$filter", filter)
		}
		if orderby != "" {
			q.Set("$orderby", orderby)
		}
		c := get(t, s, entity, q)
		counts = append(counts, c.Count)
		for _, v := range c.Value {
			id := v["Ref_Key"].(string)
			if ln, ok := v["LineNumber"].(string); ok {
				id += "/" + ln
			}
			ids = append(ids, id)
		}
		if len(c.Value) < top {
			return ids, counts
		}
	}
}

// get runs one GET through the handler.
func get(t *testing.T, s *Server, entity string, q url.Values) collection {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://fake"+PublicationPath+url.PathEscape(entity)+"?"+q.Encode(), nil)
	req.SetBasicAuth(testUser, testPass)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return decodeCollection(t, resp{status: w.Code, header: w.Header(), body: w.Body.Bytes()})
}

// viewWorld is a demo base with orders whose rows and references vary, for
// the differential tests.
func viewWorld(t *testing.T) *Server {
	t.Helper()
	s := New(Options{User: testUser, Password: testPass})
	if err := s.Load(DemoSeed(120, 90, 4, 5)); err != nil {
		t.Fatal(err)
	}
	partners, items := s.All(SetPartners), s.All(SetItems)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 25 {
		var rows []Object
		for range r.IntN(4) {
			rows = append(rows, Object{"Номенклатура_Key": items[r.IntN(len(items))]["Ref_Key"],
				"Количество": decimal.NewFromInt(int64(1 + r.IntN(3))), "Цена": decimal.RequireFromString("10.50")})
		}
		if _, err := s.Put(SetOrders, Object{"Date": fmt.Sprintf("2026-07-%02dT12:00:00", 1+r.IntN(28)),
			"Партнер_Key": partners[r.IntN(len(partners))]["Ref_Key"], "Товары": rows,
			"СуммаДокумента": decimal.NewFromInt(int64(i * 100))}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

type viewCase struct {
	entity, filter, orderby string
}

func viewCases(s *Server) []viewCase {
	p := s.All(SetPartners)
	k := func(i int) string { return "Ref_Key eq guid'" + p[i]["Ref_Key"].(string) + "'" }
	upper := "Ref_Key eq guid'" + strings.ToUpper(p[3]["Ref_Key"].(string)) + "'"
	return []viewCase{
		{SetPartners, "", ""},
		{SetPartners, "", "Ref_Key"},
		{SetPartners, "", "Ref_Key desc"},
		{SetPartners, "", "Description"},
		{SetPartners, "", "Клиент desc, Description"},
		{SetPartners, "", "Code desc"},
		{SetPartners, "", "DataVersion"},
		{SetPartners, "Клиент eq true", ""},
		{SetPartners, "Клиент eq true", "Ref_Key"},
		{SetPartners, "DeletionMark eq false and substringof('ова', Description)", "Ref_Key"},
		{SetPartners, k(1) + " or " + k(7) + " or " + k(3) + " or " + k(7), ""},
		{SetPartners, k(1) + " or " + k(7) + " or " + k(3), "Ref_Key"},
		{SetPartners, k(1) + " or " + k(7) + " or " + k(3), "Description desc"},
		{SetPartners, "(Клиент eq true) and (" + k(1) + " or " + k(7) + " or " + k(6) + ")", "Ref_Key"},
		{SetPartners, "(" + k(1) + " or " + k(7) + " or " + k(6) + ") and Клиент eq false", ""},
		{SetPartners, upper + " or Ref_Key eq guid'" + EmptyGUID + "'", ""},
		{SetPartners, k(2) + " or Клиент eq false", "Ref_Key"}, // not a key filter: scanned
		{SetCards, "", "Партнер_Key"},
		{SetCards, "", "Owner_Key desc, Ref_Key"},
		{SetCards, "Статус eq 'Действует'", "Партнер_Key"},
		{SetCounterpty, "", "Партнер_Key"},
		{SetOrders, "", ""},
		{SetOrders, "", "Number desc"},
		{SetOrders, "", "Партнер_Key, Date"},
		{SetOrders, "СуммаДокумента ge 500", "Ref_Key"},
		{SetOrders + "_Товары", "", ""},
		{SetOrders + "_Товары", "", "Номенклатура_Key"},
		{SetOrders + "_Товары", "", "Ref_Key, LineNumber desc"},
		{SetOrders + "_Товары", "Количество gt 1", "Ref_Key"},
	}
}

// checkViews compares every case, paged in pages of 7, with the scan.
func checkViews(t *testing.T, s *Server, stage string) {
	t.Helper()
	for _, c := range viewCases(s) {
		want := scan(t, s, c.entity, c.filter, c.orderby)
		got, counts := served(t, s, c.entity, c.filter, c.orderby, 7)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s $filter=%q $orderby=%q:\n got %v\nwant %v", stage, c.entity, c.filter, c.orderby, got, want)
		}
		for _, n := range counts {
			if n != strconv.Itoa(len(want)) {
				t.Errorf("%s: %s $filter=%q: odata.count %v, want %d on every page", stage, c.entity, c.filter, counts, len(want))
				break
			}
		}
	}
}

func TestViewsMatchAScan(t *testing.T) {
	s := viewWorld(t)
	checkViews(t, s, "as loaded")
	checkViews(t, s, "from the cached views")

	// Writes between sweeps: the cached views must not answer for them.
	p := s.All(SetPartners)
	if _, err := s.Update(SetPartners, p[0]["Ref_Key"].(string), Object{"Description": "Яшин Ян Янович"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(SetPartners, p[1]["Ref_Key"].(string), Object{"Description": "Аксёнов Антон Антонович", "Клиент": false}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 9, 10, 11, 40} {
		if err := s.Delete(SetPartners, p[i]["Ref_Key"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(SetPartners, Object{"Description": "Борисов Борис Борисович", "Клиент": true}); err != nil {
		t.Fatal(err)
	}
	// A partner renamed reorders the cards and orders that point to it.
	if _, err := s.Update(SetPartners, p[5]["Ref_Key"].(string), Object{"Description": "Аааа"}); err != nil {
		t.Fatal(err)
	}
	checkViews(t, s, "after writes")
}

func TestViewsFollowWritesMidSweep(t *testing.T) {
	s := viewWorld(t)
	q := url.Values{"$format": {"json"}, "$select": {"Ref_Key,DataVersion"}, "$orderby": {"Ref_Key"}, "$top": {"10"}}
	first := get(t, s, SetPartners, q)
	key := first.Value[0]["Ref_Key"].(string)
	// Rename the first record so that it sorts last; the next page must
	// be the page of the changed set.
	if _, err := s.Update(SetPartners, key, Object{"Description": "Яяя"}); err != nil {
		t.Fatal(err)
	}
	q.Set("$skip", "9")
	next := get(t, s, SetPartners, q)
	want := scan(t, s, SetPartners, "", "Ref_Key")[9:19]
	if got := column(next, "Ref_Key"); !slices.Equal(got, want) {
		t.Errorf("page after a write = %v, want %v", got, want)
	}
	all := scan(t, s, SetPartners, "", "Ref_Key")
	if all[len(all)-1] != key {
		t.Errorf("renamed record is not last: %v", all[len(all)-3:])
	}
}

func TestRemovedRecordsAreCompacted(t *testing.T) {
	s := New(Options{})
	if err := s.Load(DemoSeed(100, 0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	keys := scan(t, s, SetPartners, "", "")
	for _, k := range keys[:90] {
		if err := s.Delete(SetPartners, k); err != nil {
			t.Fatal(err)
		}
	}
	es := s.sets[SetPartners]
	if len(es.order) > 2*len(es.byKey) {
		t.Errorf("after 90 of 100 deletes the order holds %d records for %d", len(es.order), len(es.byKey))
	}
	if got := scan(t, s, SetPartners, "", ""); !slices.Equal(got, keys[90:]) {
		t.Errorf("left %v, want %v", got, keys[90:])
	}
}

// TestKeyFiltersAreAnsweredByTheIndex checks that a fetch by keys neither
// walks the set nor builds a view: it must cost its keys, not the set.
func TestKeyFiltersAreAnsweredByTheIndex(t *testing.T) {
	p := []Object{{"Ref_Key": "00000000-0000-4000-8000-000000000001"}, {"Ref_Key": "00000000-0000-4000-8000-000000000002"}}
	k := func(i int) string { return "Ref_Key eq guid'" + p[i]["Ref_Key"].(string) + "'" }
	cases := []struct {
		filter string
		keys   int  // keys the index is asked for
		rest   bool // a condition left for those records
	}{
		{k(0), 1, false},
		{"guid'" + p[0]["Ref_Key"].(string) + "' eq Ref_Key", 1, false},
		{k(0) + " or " + k(1), 2, false},
		{"(" + k(0) + " or " + k(1) + ") and Клиент eq true", 2, true},
		{"Клиент eq true and (" + k(0) + " or " + k(1) + ")", 2, true},
		{"(DeletionMark eq false) and ((" + k(0) + ") or (" + k(1) + "))", 2, true},
	}
	lookup := func(name string) (field, bool) { return ut11Schema()[0].field(name) }
	for _, c := range cases {
		n, err := parseFilter(c.filter, lookup)
		if err != nil {
			t.Fatal(err)
		}
		keys, rest, ok := keyFilter(n)
		if !ok || len(keys) != c.keys || (rest != nil) != c.rest {
			t.Errorf("%q: keys %v, rest %v, ok %v; want %d keys, rest %v", c.filter, keys, rest, ok, c.keys, c.rest)
		}
	}
	for _, f := range []string{k(0) + " or Клиент eq true", "not " + k(0), "Ref_Key ne guid'" + p[0]["Ref_Key"].(string) + "'", "ОсновнойМенеджер_Key eq guid'" + p[0]["Ref_Key"].(string) + "'"} {
		n, err := parseFilter(f, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := keyFilter(n); ok {
			t.Errorf("%q taken for a key filter", f)
		}
	}

	s := viewWorld(t)
	v0 := len(s.views)
	all := s.All(SetPartners)
	q := url.Values{"$format": {"json"}, "$filter": {"Ref_Key eq guid'" + all[4]["Ref_Key"].(string) + "'"}}
	if got := column(get(t, s, SetPartners, q), "Ref_Key"); len(got) != 1 || got[0] != all[4]["Ref_Key"] {
		t.Errorf("fetch by key = %v", got)
	}
	if len(s.views) != v0 {
		t.Errorf("a fetch by key cached a view of the set")
	}
}

func TestStoredFormRoundTrips(t *testing.T) {
	s := New(Options{})
	key := "ABCDEF01-2345-4678-9ABC-DEF012345678"
	cases := []struct {
		name  string
		set   string
		props Object
		want  Object // properties of the stored form to compare
	}{
		{"text with quotes, controls and separators", SetPartners,
			Object{"Ref_Key": key, "Description": "«Ромашка» \"ООО\"\n\t\\ \u2028 <b>&</b>", "Комментарий": ""},
			Object{"Ref_Key": strings.ToLower(key), "Description": "«Ромашка» \"ООО\"\n\t\\ \u2028 <b>&</b>", "Комментарий": "",
				"Клиент": false, "ДатаРождения": EmptyDate, "ОсновнойМенеджер_Key": EmptyGUID}},
		{"a Boolean true and a date", SetPartners,
			Object{"Ref_Key": key, "Клиент": true, "ДатаРождения": "1980-05-17T00:00:00"},
			Object{"Клиент": true, "Поставщик": false, "ДатаРождения": "1980-05-17T00:00:00"}},
		{"a reference in capitals is stored in lower case", SetCards,
			Object{"Ref_Key": key, "Партнер_Key": "FFFFFFFF-0000-4000-8000-00000000000A"},
			Object{"Партнер_Key": "ffffffff-0000-4000-8000-00000000000a", "Owner_Key": EmptyGUID}},
		{"doubles keep their value, integers and zero", SetOrders,
			Object{"Ref_Key": key, "Date": "2026-07-01T12:00:00", "СуммаДокумента": decimal.RequireFromString("-1234567890.123456789"),
				"Товары": []Object{{"Количество": decimal.RequireFromString("2.500"), "Цена": decimal.Zero}, {}}},
			Object{"СуммаДокумента": decimal.RequireFromString("-1234567890.123456789"), "Posted": false,
				"Товары": []Object{
					{"Ref_Key": strings.ToLower(key), "LineNumber": int64(1), "Количество": decimal.RequireFromString("2.5"),
						"Цена": decimal.Zero, "Сумма": decimal.Zero, "Номенклатура_Key": EmptyGUID, "КоличествоУпаковок": decimal.Zero,
						"СуммаНДС": decimal.Zero, "СуммаСНДС": decimal.Zero, "СуммаРучнойСкидки": decimal.Zero,
						"СуммаАвтоматическойСкидки": decimal.Zero, "Склад_Key": EmptyGUID},
					{"Ref_Key": strings.ToLower(key), "LineNumber": int64(2), "Количество": decimal.Zero,
						"Цена": decimal.Zero, "Сумма": decimal.Zero, "Номенклатура_Key": EmptyGUID, "КоличествоУпаковок": decimal.Zero,
						"СуммаНДС": decimal.Zero, "СуммаСНДС": decimal.Zero, "СуммаРучнойСкидки": decimal.Zero,
						"СуммаАвтоматическойСкидки": decimal.Zero, "Склад_Key": EmptyGUID},
				}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Put(c.set, c.props); err != nil {
				t.Fatal(err)
			}
			got, ok := s.Get(c.set, key)
			if !ok {
				t.Fatal("not stored")
			}
			for name, want := range c.want {
				if !sameStored(got[name], want) {
					t.Errorf("%s = %#v, want %#v", name, got[name], want)
				}
			}
			es := s.sets[c.set]
			if len(got) != len(es.typ.Fields)+len(es.typ.Tabs) {
				t.Errorf("stored form has %d properties, want every field and section (%d)", len(got), len(es.typ.Fields)+len(es.typ.Tabs))
			}
		})
	}
	t.Run("a value set back to zero is gone from the record", func(t *testing.T) {
		if _, err := s.Put(SetPartners, Object{"Ref_Key": key, "Пол": "Мужской"}); err != nil {
			t.Fatal(err)
		}
		es := s.sets[SetPartners]
		r, _ := es.lookup(mustGUID(t, key))
		before := len(r.data)
		if _, err := s.Update(SetPartners, key, Object{"Пол": ""}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(SetPartners, key); got["Пол"] != "" || len(r.data) >= before {
			t.Errorf("Пол = %q, record %d bytes (was %d)", got["Пол"], len(r.data), before)
		}
	})
}

func mustGUID(t *testing.T, s string) guid {
	t.Helper()
	g, ok := parseGUID(s)
	if !ok {
		t.Fatalf("%q is not a GUID", s)
	}
	return g
}

// sameStored compares stored values, decimals by value.
func sameStored(got, want any) bool {
	if d, ok := want.(decimal.Decimal); ok {
		g, ok := got.(decimal.Decimal)
		return ok && g.Equal(d)
	}
	if rows, ok := want.([]Object); ok {
		g, ok := got.([]Object)
		if !ok || len(g) != len(rows) {
			return false
		}
		for i := range rows {
			for k, v := range rows[i] {
				if !sameStored(g[i][k], v) {
					return false
				}
			}
			if len(g[i]) != len(rows[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

func TestWriteStringIsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "Кириллица «ёлка»", `q"uote`, `back\slash`, "nl\n tab\t cr\r bell\x07",
		"\u2028\u2029", "<html>&amp;", "bad utf8 \xff\xfe", "emoji 🙂", "\x00"} {
		var got bytes.Buffer
		writeString(&got, s)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got.String()+"\n" != want.String() {
			t.Errorf("writeString(%q) = %s, encoding/json gives %s", s, got.String(), want.String())
		}
	}
}

func TestLoadDemoStoresDemoSeed(t *testing.T) {
	seeded, streamed := New(Options{}), New(Options{})
	if err := seeded.Load(DemoSeed(150, 120, 4, 3)); err != nil {
		t.Fatal(err)
	}
	if err := streamed.LoadDemo(150, 120, 4, 3); err != nil {
		t.Fatal(err)
	}
	for _, typ := range seeded.types {
		a, b := seeded.All(typ.Name), streamed.All(typ.Name)
		if len(a) != len(b) {
			t.Fatalf("%s: %d objects seeded, %d streamed", typ.Name, len(a), len(b))
		}
		for i := range a {
			delete(a[i], "DataVersion")
			delete(b[i], "DataVersion")
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("%s[%d]:\nseeded   %v\nstreamed %v", typ.Name, i, a[i], b[i])
			}
		}
	}
	// Both advanced the numbering past the seeded codes.
	for _, s := range []*Server{seeded, streamed} {
		o, err := s.Put(SetPartners, Object{"Description": "Новый"})
		if err != nil || o["Code"] != "00-00000151" {
			t.Errorf("next Code = %v, %v; want 00-00000151", o["Code"], err)
		}
	}
}

// TestRefOrderFollowsRandomWrites patches the Ref_Key order through rounds
// of random writes (renames to colliding names, the same record twice,
// inserts, deletes of old and new records, a deleted key put again, and a
// round too large to patch) and holds every round to the scan.
func TestRefOrderFollowsRandomWrites(t *testing.T) {
	s := New(Options{User: testUser, Password: testPass})
	if err := s.Load(DemoSeed(300, 0, 0, 11)); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 11))
	names := []string{"Аа", "Бб", "Вв", "Яя", ""} // few names: many ties, decided by insertion
	var deleted []Object
	served(t, s, SetPartners, "", "Ref_Key", 50) // the order to patch
	for round := range 12 {
		writes := 1 + r.IntN(12)
		if round == 6 {
			writes = 200 // past what a patch takes: sorted again
		}
		for range writes {
			all := s.All(SetPartners)
			o := all[r.IntN(len(all))]
			key := o["Ref_Key"].(string)
			switch r.IntN(5) {
			case 0, 1:
				if _, err := s.Update(SetPartners, key, Object{"Description": names[r.IntN(len(names))]}); err != nil {
					t.Fatal(err)
				}
			case 2:
				if _, err := s.Put(SetPartners, Object{"Description": names[r.IntN(len(names))]}); err != nil {
					t.Fatal(err)
				}
			case 3:
				if err := s.Delete(SetPartners, key); err != nil {
					t.Fatal(err)
				}
				deleted = append(deleted, o)
			default:
				if len(deleted) > 0 {
					d := deleted[len(deleted)-1]
					deleted = deleted[:len(deleted)-1]
					if _, err := s.Put(SetPartners, Object{"Ref_Key": d["Ref_Key"], "Description": d["Description"]}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if patched := s.sets[SetPartners].byRef != nil; patched != (round != 6) {
			t.Errorf("round %d: after %d writes the order is kept for patching: %v", round, writes, patched)
		}
		want := scan(t, s, SetPartners, "", "Ref_Key")
		got, _ := served(t, s, SetPartners, "", "Ref_Key", 50)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (%d writes): Ref_Key order differs from the scan", round, writes)
		}
	}
}

func TestStartDemoServesTheDemo(t *testing.T) {
	_, base := StartDemo(t, Options{User: testUser, Password: testPass}, 12, 5, 2, 4)
	c := decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$inlinecount", "allpages", "$top", "1"), ""))
	if c.Count != "12" {
		t.Errorf("odata.count = %q, want 12", c.Count)
	}
}
