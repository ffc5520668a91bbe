package virtpostest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/virtsync/virtsync/internal/virtposapi"
)

// store is the fake's data; every access holds Server.mu.
type store struct {
	customers *table
	cards     *table
	groups    map[int]string // id -> name
	types     map[int]string // id -> name
	nextID    map[string]int // per entity: last id handed out
	orders    []virtposapi.Order
	gen       *generator
}

func newStore() store {
	return store{
		customers: newCustomerTable(),
		cards:     newCardTable(),
		groups:    map[int]string{},
		types:     map[int]string{},
		nextID:    map[string]int{},
	}
}

func (st *store) newID(entity string, want int) int {
	if want > 0 {
		st.nextID[entity] = max(st.nextID[entity], want)
		return want
	}
	st.nextID[entity]++
	return st.nextID[entity]
}

// newCustomerTable indexes what customers are searched by: external_id
// (lenient customer/update, cards' owners, /orders), and phone and email
// (GET /customer filters).
func newCustomerTable() *table { return newTable("external_id", "phone", "email") }

// newCardTable indexes the card searches (uid, external_id, barcode) and
// the owner, for GET /customer with cards.
func newCardTable() *table { return newTable("uid", "external_id", "barcode", "customer_id") }

// nameID finds a named group or card type, creating it when missing.
func nameID(names map[int]string, st *store, entity, name string) (int, bool) {
	for id, n := range names {
		if n == name {
			return id, false
		}
	}
	id := st.newID(entity, 0)
	names[id] = name
	return id, true
}

// Params the customer call consumes itself instead of storing.
var customerControl = map[string]bool{"apikey": true, "format": true, "create_if_not_exist": true,
	"id": true, "group_name": true, "group_id": true}

func (s *Server) customerUpdate(rep *reply, p url.Values, reject func(string, url.Values) (bool, string)) error {
	if _, ok := p["age"]; ok {
		return errors.New("parameter age is not allowed: it is computed from the birth date")
	}
	if reject != nil {
		if no, info := reject(PathCustomerUpdate, p); no {
			return errors.New(info)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	// By id only, as the seed documents it; the external_id search is
	// the lenient option's.
	id, found := st.customers.getText(p.Get("id"))
	if !found && s.opts.MatchUpdateByExternalID {
		id, found = st.customers.find("external_id", p.Get("external_id"))
	}
	if !found && p.Get("create_if_not_exist") != "1" {
		return errors.New("customer not found")
	}
	// get decodes a fresh map, the caller's to change.
	rec, ok := st.customers.get(id)
	if !ok {
		rec = make(map[string]string, len(p))
	}
	for k, vs := range p {
		if !customerControl[k] {
			rec[k] = vs[len(vs)-1]
		}
	}
	newGroup := false
	if g := p.Get("group_id"); g != "" {
		gid, err := strconv.Atoi(g)
		if _, ok := st.groups[gid]; err != nil || !ok {
			return fmt.Errorf("group %s not found", g)
		}
		rec["group_id"], rec["group_name"] = g, st.groups[gid]
	}
	if err := validateCustomer(rec, s.opts.Now()); err != nil {
		return err
	}
	if g := p.Get("group_name"); g != "" && p.Get("group_id") == "" {
		var gid int
		gid, newGroup = nameID(st.groups, st, "group", g)
		rec["group_id"], rec["group_name"] = strconv.Itoa(gid), g
	}
	if newGroup {
		s.counts.GroupsCreated++
	}
	if found {
		s.counts.CustomersUpdated++
	} else {
		id = st.newID("customer", 0)
		rec["register_date"] = s.opts.Now().Format(virtposapi.TimeLayout)
		s.counts.CustomersCreated++
	}
	rec["id"] = strconv.Itoa(id)
	st.customers.put(id, rec)
	rep.success = true
	rep.add("id", rec["id"])
	rep.add("isnew", boolDigit(!found))
	return nil
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// validateCustomer checks what the real service checks (as far as the wiki
// tells): gender, a real birth date, a plausible email.
func validateCustomer(rec map[string]string, now time.Time) error {
	if g := rec["gender"]; g != "" && g != "M" && g != "F" {
		return fmt.Errorf("invalid gender %q: want M or F", g)
	}
	parts := []struct {
		name     string
		min, max int
	}{{"birth_day", 1, 31}, {"birth_month", 1, 12}, {"birth_year", 1900, now.Year()}}
	var v [3]int
	for i, f := range parts {
		s := rec[f.name]
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min || n > f.max {
			return fmt.Errorf("invalid %s %q", f.name, s)
		}
		v[i] = n
	}
	if v[0] != 0 && v[1] != 0 {
		year := v[2]
		if year == 0 {
			year = 2000 // a leap year, so 29 February passes without a year
		}
		d := time.Date(year, time.Month(v[1]), v[0], 0, 0, 0, 0, time.UTC)
		if d.Day() != v[0] {
			return fmt.Errorf("invalid birth date %d.%d.%d", v[0], v[1], v[2])
		}
	}
	if e := rec["email"]; e != "" && !plausibleEmail(e) {
		return fmt.Errorf("invalid email %q", e)
	}
	return nil
}

func plausibleEmail(e string) bool {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || strings.ContainsAny(e, " \t,;<>") || strings.Contains(domain, "@") {
		return false
	}
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1
}

// Params the card calls consume instead of storing.
var cardControl = map[string]bool{"apikey": true, "format": true, "create_if_not_exist": true,
	"card_id": true, "card_barcode": true, "customer_external_id": true, "type_name": true, "type_id": true,
	"customer_id": true}

// findCard applies the documented search order.
func (st *store) findCard(p url.Values) (int, bool) {
	if id, ok := st.cards.getText(p.Get("card_id")); ok {
		return id, true
	}
	if id, ok := st.cards.find("uid", p.Get("uid")); ok {
		return id, true
	}
	if id, ok := st.cards.find("external_id", p.Get("external_id")); ok {
		return id, true
	}
	return st.cards.find("barcode", p.Get("card_barcode"))
}

func (s *Server) cardUpdate(rep *reply, p url.Values, reject func(string, url.Values) (bool, string)) error {
	return s.cardWrite(rep, p, reject, PathCardUpdate)
}

func (s *Server) cardInsert(rep *reply, p url.Values, reject func(string, url.Values) (bool, string)) error {
	return s.cardWrite(rep, p, reject, PathCardInsert)
}

func (s *Server) cardWrite(rep *reply, p url.Values, reject func(string, url.Values) (bool, string), path string) error {
	if reject != nil {
		if no, info := reject(path, p); no {
			return errors.New(info)
		}
	}
	if m := p.Get("medium"); m != "" && m != "PLASTIC" && m != "MAGNET" && m != "APP" {
		return fmt.Errorf("invalid medium %q: want PLASTIC, MAGNET or APP", m)
	}
	if m := p.Get("status"); m != "" && m != "NEW" && m != "ACTIVE" && m != "BLOCKED" {
		return fmt.Errorf("invalid status %q: want NEW, ACTIVE or BLOCKED", m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	id, found := 0, false
	if path == PathCardUpdate {
		id, found = st.findCard(p)
		if !found && p.Get("create_if_not_exist") != "1" {
			return errors.New("card not found")
		}
	}
	var rec map[string]string
	if found {
		rec, _ = st.cards.get(id)
	}
	if rec == nil {
		rec = make(map[string]string, len(p))
	}
	for k, vs := range p {
		if !cardControl[k] {
			rec[k] = vs[len(vs)-1]
		}
	}
	if rec["uid"] == "" {
		return errors.New("uid is required")
	}
	if other, ok := st.cards.find("uid", rec["uid"]); ok && (!found || other != id) {
		return fmt.Errorf("card with uid %s already exists", rec["uid"])
	}
	// Owner: customer_id wins; customer_external_id only without it.
	if c := p.Get("customer_id"); c != "" {
		if _, ok := st.customers.getText(c); !ok {
			return fmt.Errorf("customer %s not found", c)
		}
		rec["customer_id"] = c
	} else if c := p.Get("customer_external_id"); c != "" {
		cid, ok := st.customers.find("external_id", c)
		if !ok {
			return fmt.Errorf("customer with external_id %s not found", c)
		}
		rec["customer_id"] = strconv.Itoa(cid)
	}
	newType := false
	if t := p.Get("type_id"); t != "" {
		tid, err := strconv.Atoi(t)
		if _, ok := st.types[tid]; err != nil || !ok {
			return fmt.Errorf("card type %s not found", t)
		}
		rec["type_id"], rec["type_name"] = t, st.types[tid]
	} else if t := p.Get("type_name"); t != "" {
		var tid int
		tid, newType = nameID(st.types, st, "card_type", t)
		rec["type_id"], rec["type_name"] = strconv.Itoa(tid), t
	}
	if !found {
		id = st.newID("card", 0)
	}
	if rec["uid_ean13"] == "" {
		if e, err := UIDEAN13(rec["uid"]); err == nil {
			rec["uid_ean13"] = e
		}
	}
	if rec["barcode"] == "" {
		rec["barcode"] = rec["uid_ean13"]
		if rec["barcode"] == "" {
			// In-store EAN-13 (prefix 2) from the card id when the uid has
			// no EAN form.
			body := fmt.Sprintf("2%011d", id)
			d, _ := EAN13CheckDigit(body)
			rec["barcode"] = body + string(d)
		}
	}
	if newType {
		s.counts.CardTypesCreated++
	}
	if found {
		s.counts.CardsUpdated++
	} else {
		s.counts.CardsCreated++
	}
	rec["id"] = strconv.Itoa(id)
	st.cards.put(id, rec)
	rep.success = true
	rep.add("id", rec["id"])
	rep.add("isnew", boolDigit(!found))
	return nil
}

func (s *Server) cardDelete(rep *reply, p url.Values, reject func(string, url.Values) (bool, string)) error {
	if reject != nil {
		if no, info := reject(PathCardDelete, p); no {
			return errors.New(info)
		}
	}
	if p.Get("card_id") == "" && p.Get("external_id") == "" && p.Get("uid") == "" && p.Get("card_barcode") == "" {
		return errors.New("one of card_id, external_id, uid, card_barcode is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.st.findCard(p)
	if !ok {
		return errors.New("card not found")
	}
	s.st.cards.remove(id)
	s.counts.CardsDeleted++
	rep.success = true
	return nil
}
