package virtpostest

import (
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// naiveFind is the search the indexes replace: the lowest id whose field
// equals v.
func naiveFind(recs map[int]map[string]string, field, v string) (int, bool) {
	best := 0
	for id, r := range recs {
		if v != "" && r[field] == v && (best == 0 || id < best) {
			best = id
		}
	}
	return best, best != 0
}

func TestTableFindsTheLowestIDThroughWrites(t *testing.T) {
	type step struct {
		op    string // put, remove
		id    int
		uid   string
		wants map[string]int // uid -> lowest id holding it (0: none)
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a later record with the same value does not win", []step{
			{op: "put", id: 2, uid: "A", wants: map[string]int{"A": 2}},
			{op: "put", id: 5, uid: "A", wants: map[string]int{"A": 2}},
		}},
		{"a seed's lower id inserted later wins", []step{
			{op: "put", id: 7, uid: "A"},
			{op: "put", id: 3, uid: "A", wants: map[string]int{"A": 3}},
		}},
		{"changing the value moves the record between values", []step{
			{op: "put", id: 1, uid: "A"},
			{op: "put", id: 2, uid: "A"},
			{op: "put", id: 1, uid: "B", wants: map[string]int{"A": 2, "B": 1}},
			{op: "put", id: 2, uid: "B", wants: map[string]int{"A": 0, "B": 1}},
		}},
		{"removing the first match hands it to the next", []step{
			{op: "put", id: 1, uid: "A"},
			{op: "put", id: 2, uid: "A"},
			{op: "put", id: 3, uid: "A"},
			{op: "remove", id: 1, wants: map[string]int{"A": 2}},
			{op: "remove", id: 2, wants: map[string]int{"A": 3}},
			{op: "remove", id: 3, wants: map[string]int{"A": 0}},
		}},
		{"an empty value is never found", []step{
			{op: "put", id: 1, uid: "", wants: map[string]int{"": 0}},
		}},
		{"a removed id put again is alive and found", []step{
			{op: "put", id: 1, uid: "A"},
			{op: "put", id: 2, uid: "B"},
			{op: "remove", id: 1},
			{op: "put", id: 1, uid: "A", wants: map[string]int{"A": 1, "B": 2}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := newCardTable()
			for i, s := range tc.steps {
				switch s.op {
				case "put":
					tab.put(s.id, map[string]string{"uid": s.uid})
				case "remove":
					tab.remove(s.id)
				}
				for uid, want := range s.wants {
					got, ok := tab.find("uid", uid)
					if want == 0 && ok {
						t.Errorf("step %d: find uid %q = %d, want none", i, uid, got)
					}
					if want != 0 && (!ok || got != want) {
						t.Errorf("step %d: find uid %q = %d, %v; want %d", i, uid, got, ok, want)
					}
				}
			}
		})
	}
}

// TestTableMatchesANaiveStore drives a table and a plain map with the same
// random puts (values changing, ids out of order) and removes, and checks
// every search, the id order and the pages against brute force.
func TestTableMatchesANaiveStore(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	tab := newCardTable()
	naive := map[int]map[string]string{}
	values := func() string { return strconv.Itoa(r.IntN(12)) } // few values: many duplicates
	for step := range 3000 {
		id := 1 + r.IntN(200)
		if r.IntN(4) == 0 {
			tab.remove(id)
			delete(naive, id)
		} else {
			rec := map[string]string{"uid": values(), "external_id": values(), "barcode": values()}
			if r.IntN(5) == 0 {
				rec["uid"] = ""
			}
			tab.put(id, rec)
			naive[id] = rec
		}
		if step%50 != 0 {
			continue
		}
		for _, f := range []string{"uid", "external_id", "barcode"} {
			for v := range 12 {
				want, wok := naiveFind(naive, f, strconv.Itoa(v))
				got, gok := tab.find(f, strconv.Itoa(v))
				if want != got || wok != gok {
					t.Fatalf("step %d: find %s=%d: %d, %v; want %d, %v", step, f, v, got, gok, want, wok)
				}
			}
		}
		var wantOrder []int
		for id := range naive {
			wantOrder = append(wantOrder, id)
		}
		slices.Sort(wantOrder)
		var gotOrder []int
		tab.each(func(id int, _ map[string]string) bool { gotOrder = append(gotOrder, id); return true })
		if !slices.Equal(gotOrder, wantOrder) || tab.len() != len(wantOrder) {
			t.Fatalf("step %d: id order %v (len %d), want %v", step, gotOrder, tab.len(), wantOrder)
		}
		if got := tab.page(10, 20); !slices.Equal(got, wantOrder[min(10, len(wantOrder)):min(20, len(wantOrder))]) {
			t.Fatalf("step %d: page 10..20 = %v, want %v", step, got, wantOrder[10:20])
		}
	}
}

func TestTableTombstonesAreCompacted(t *testing.T) {
	tab := newCardTable()
	for id := 1; id <= 100; id++ {
		tab.put(id, map[string]string{"uid": strconv.Itoa(id)})
	}
	for id := 1; id <= 90; id++ {
		tab.remove(id)
	}
	if len(tab.order) > 2*tab.len() {
		t.Errorf("after 90 of 100 deletes the id order holds %d ids for %d records", len(tab.order), tab.len())
	}
	if got := tab.page(0, 5); !slices.Equal(got, []int{91, 92, 93, 94, 95}) {
		t.Errorf("first page after deletes = %v", got)
	}
}

// TestMatchCustomersMatchesAScan checks GET /customer's filters and pages,
// answered through the indexes and the id order, against a walk over every
// customer, on a store with shared external_ids, phones and emails.
func TestMatchCustomersMatchesAScan(t *testing.T) {
	s := New(Options{})
	r := rand.New(rand.NewPCG(3, 3))
	for range 300 {
		p := vals("create_if_not_exist", "1", "external_id", "ext"+strconv.Itoa(r.IntN(40)))
		if r.IntN(3) != 0 {
			p.Set("phone", "7900"+strconv.Itoa(r.IntN(30)))
		}
		if r.IntN(2) == 0 {
			p.Set("email", "u"+strconv.Itoa(r.IntN(30))+"@example.ru")
		}
		rep := &reply{}
		if err := s.customerUpdate(rep, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	all := s.Customers()
	filters := []url.Values{
		{},
		vals("external_id", "ext3"),
		vals("external_id", "ext3", "with_email", "1"),
		vals("phone", "79005"),
		vals("phone", "79005", "email", "u5@example.ru"),
		vals("email", "u7@example.ru", "with_phone", "1"),
		vals("id", "17"),
		vals("id", "17", "external_id", "nope"),
		vals("with_phone", "1"),
		vals("with_phone", "1", "with_email", "true"),
		vals("external_id", "nope"),
	}
	for _, f := range filters {
		var want []string
		for _, c := range all {
			ok := (f.Get("id") == "" || c.ID == f.Get("id")) &&
				(f.Get("external_id") == "" || c.ExternalID == f.Get("external_id")) &&
				(f.Get("phone") == "" || c.Phone == f.Get("phone")) &&
				(f.Get("email") == "" || c.Email == f.Get("email")) &&
				(!truthy(f.Get("with_phone")) || c.Phone != "") &&
				(!truthy(f.Get("with_email")) || c.Email != "")
			if ok {
				want = append(want, c.ID)
			}
		}
		for _, pg := range []struct{ skip, size int }{{0, 1000}, {0, 7}, {7, 7}, {len(want) - 1, 5}, {len(want) + 3, 5}} {
			skip := max(pg.skip, 0)
			s.mu.Lock()
			got, total := s.st.matchCustomers(f, skip, pg.size)
			s.mu.Unlock()
			var ids []string
			for _, c := range got {
				ids = append(ids, c["id"])
			}
			w := want[min(skip, len(want)):min(skip+pg.size, len(want))]
			if total != len(want) || !slices.Equal(ids, w) {
				t.Errorf("filter %v skip %d size %d: ids %v total %d; want %v total %d",
					f.Encode(), skip, pg.size, ids, total, w, len(want))
			}
		}
	}
}

func TestEncodedRecordsRoundTrip(t *testing.T) {
	long := strings.Repeat("ж", 300) // a length over 127: a two-byte uvarint
	cases := []map[string]string{
		{},
		{"id": "1"},
		{"id": "7", "fname": "Иван", "email": "", "note": "a\x00b=c&d", "z": long, "": "empty name"},
	}
	for _, rec := range cases {
		enc := encodeRecord(rec)
		if got := decodeRecord(enc); !maps.Equal(got, rec) {
			t.Errorf("round trip of %q gave %q", rec, got)
		}
		for k, v := range rec {
			if got := recordField(enc, k); got != v {
				t.Errorf("field %q of %q = %q, want %q", k, rec, got, v)
			}
		}
		if got := recordField(enc, "absent"); got != "" {
			t.Errorf("absent field = %q", got)
		}
	}
}
