package virtpostest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/virtsync/virtsync/internal/virtposapi"
)

// serveCustomers answers GET /customer: filters id, external_id, phone,
// email, with_phone, with_email; paging page (1-based) and page_size
// (default 100); cards=true adds each customer's cards.
func (s *Server) serveCustomers(w http.ResponseWriter, p url.Values) {
	rep, ok := s.begin(w, p)
	if !ok {
		return
	}
	page, size := 1, 100
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page", &page}, {"page_size", &size}} {
		if v := p.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				s.fail(rep, "invalid "+f.name+" "+strconv.Quote(v))
				return
			}
			*f.dst = n
		}
	}
	withCards := truthy(p.Get("cards"))

	s.mu.Lock()
	// The table hands out copies, so writing happens without the lock.
	out, total := s.st.matchCustomers(p, (page-1)*size, size)
	cards := make([][]map[string]string, len(out))
	for i, c := range out {
		if withCards {
			for _, cid := range s.st.cards.ids("customer_id", c["id"]) {
				cd, _ := s.st.cards.get(cid)
				cards[i] = append(cards[i], cd)
			}
		}
	}
	s.mu.Unlock()

	bw := bufio.NewWriter(w)
	defer bw.Flush()
	if rep.json {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		list := make([]map[string]any, len(out))
		for i, c := range out {
			m := make(map[string]any, len(c)+1)
			for k, v := range c {
				m[k] = v
			}
			if withCards {
				cs := cards[i]
				if cs == nil {
					cs = []map[string]string{}
				}
				m["cards"] = cs
			}
			list[i] = m
		}
		_ = json.NewEncoder(bw).Encode(map[string]any{"success": 1, "type": "customer",
			"count": strconv.Itoa(total), "customers": list})
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	bw.WriteString(xmlHeader)
	xmlElem(bw, 1, "success", "1")
	if len(out) == 0 {
		xmlElem(bw, 1, "customers", "")
	} else {
		xmlOpen(bw, 1, "customers")
		for i, c := range out {
			xmlOpen(bw, 2, "customer")
			xmlRecord(bw, 3, c)
			if withCards {
				if len(cards[i]) == 0 {
					xmlElem(bw, 3, "cards", "")
				} else {
					xmlOpen(bw, 3, "cards")
					for _, cd := range cards[i] {
						xmlOpen(bw, 4, "card")
						xmlRecord(bw, 5, cd)
						xmlClose(bw, 4, "card")
					}
					xmlClose(bw, 3, "cards")
				}
			}
			xmlClose(bw, 2, "customer")
		}
		xmlClose(bw, 1, "customers")
	}
	xmlElem(bw, 1, "type", "customer")
	xmlElem(bw, 1, "count", strconv.Itoa(total))
	bw.WriteString("</root>\n")
}

// matchCustomers returns the customers matching GET /customer's filters in
// id order, from position skip, at most size of them, and how many match in
// all. Without filters a page costs its size, whatever the number of
// customers: it is a slice of the id order. An equality filter (id,
// external_id, phone, email) starts from its index. Only with_phone or
// with_email alone walks every customer.
func (st *store) matchCustomers(p url.Values, skip, size int) ([]map[string]string, int) {
	withPhone, withEmail := truthy(p.Get("with_phone")), truthy(p.Get("with_email"))
	match := func(c map[string]string) bool {
		return fieldMatch(c, p, "id") && fieldMatch(c, p, "external_id") &&
			fieldMatch(c, p, "phone") && fieldMatch(c, p, "email") &&
			(!withPhone || c["phone"] != "") && (!withEmail || c["email"] != "")
	}
	var out []map[string]string
	total := 0
	take := func(c map[string]string) {
		if !match(c) {
			return
		}
		if total >= skip && len(out) < size {
			out = append(out, c)
		}
		total++
	}
	var candidates []int
	switch {
	case p.Get("id") != "":
		if id, ok := st.customers.getText(p.Get("id")); ok {
			candidates = []int{id}
		}
	case p.Get("external_id") != "":
		candidates = st.customers.ids("external_id", p.Get("external_id"))
	case p.Get("phone") != "":
		candidates = st.customers.ids("phone", p.Get("phone"))
	case p.Get("email") != "":
		candidates = st.customers.ids("email", p.Get("email"))
	case !withPhone && !withEmail:
		for _, id := range st.customers.page(skip, skip+size) {
			c, _ := st.customers.get(id)
			out = append(out, c)
		}
		return out, st.customers.len()
	default:
		st.customers.each(func(_ int, c map[string]string) bool {
			take(c)
			return true
		})
	}
	for _, id := range candidates {
		c, _ := st.customers.get(id)
		take(c)
	}
	return out, total
}

// truthy accepts the spellings of "yes" seen across the API's pages.
func truthy(v string) bool { return v == "1" || v == "true" }

func fieldMatch(rec map[string]string, p url.Values, name string) bool {
	v := p.Get(name)
	return v == "" || rec[name] == v
}

func copyRec(r map[string]string) map[string]string {
	c := make(map[string]string, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

var customerKnown = map[string]bool{"id": true, "external_id": true, "fname": true, "lname": true,
	"mname": true, "email": true, "phone": true, "gender": true, "birth_day": true, "birth_month": true,
	"birth_year": true, "group_id": true, "group_name": true}

func toCustomer(r map[string]string) virtposapi.Customer {
	c := virtposapi.Customer{ID: r["id"], ExternalID: r["external_id"], FName: r["fname"], LName: r["lname"],
		MName: r["mname"], Email: r["email"], Phone: r["phone"], Gender: r["gender"], BirthDay: r["birth_day"],
		BirthMonth: r["birth_month"], BirthYear: r["birth_year"], GroupID: r["group_id"], GroupName: r["group_name"]}
	for k, v := range r {
		if !customerKnown[k] {
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra[k] = v
		}
	}
	return c
}

func toCard(r map[string]string) virtposapi.Card {
	return virtposapi.Card{ID: r["id"], UID: r["uid"], ExternalID: r["external_id"], Barcode: r["barcode"],
		UIDEAN13: r["uid_ean13"], Medium: r["medium"], Status: r["status"], TypeID: r["type_id"],
		TypeName: r["type_name"], CustomerID: r["customer_id"]}
}

// Customer returns the customer with that external_id (the 1C reference).
// Fields outside virtposapi.Customer (register_date, unknown params) are in
// Extra.
func (s *Server) Customer(externalID string) (virtposapi.Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.st.customers.find("external_id", externalID)
	if !ok {
		return virtposapi.Customer{}, false
	}
	rec, _ := s.st.customers.get(id)
	return toCustomer(rec), true
}

// Customers returns every customer ordered by id, without cards.
func (s *Server) Customers() []virtposapi.Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]virtposapi.Customer, 0, s.st.customers.len())
	s.st.customers.each(func(_ int, rec map[string]string) bool {
		out = append(out, toCustomer(rec))
		return true
	})
	return out
}

// Card returns the card whose uid or, failing that, external_id is key.
func (s *Server) Card(key string) (virtposapi.Card, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.st.cards.find("uid", key)
	if !ok {
		id, ok = s.st.cards.find("external_id", key)
	}
	if !ok {
		return virtposapi.Card{}, false
	}
	rec, _ := s.st.cards.get(id)
	return toCard(rec), true
}

// Cards returns every card ordered by id.
func (s *Server) Cards() []virtposapi.Card {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]virtposapi.Card, 0, s.st.cards.len())
	s.st.cards.each(func(_ int, rec map[string]string) bool {
		out = append(out, toCard(rec))
		return true
	})
	return out
}
