package virtpostest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
)

// Seed is the JSON file a Server can start from. Every part is optional:
//
//	{
//	  "groups":     [{"id": 1, "name": "Постоянные покупатели"}],
//	  "card_types": [{"id": 1, "name": "Золотая"}],
//	  "customers":  [{"id": "1", "external_id": "0f3c…", "fname": "Иван", "lname": "Петров",
//	                  "phone": "79001234567", "group_id": "1", "any_other_field": "kept"}],
//	  "cards":      [{"id": "1", "uid": "1001", "external_id": "…", "customer_id": "1",
//	                  "medium": "PLASTIC", "status": "ACTIVE", "type_id": "1"}],
//	  "orders":     [{"paid": "0", "customer_id": "1", "created_date": "2017-08-24 18:45:08",
//	                  "amount": "976.59", …, "items": [{"item_id": "789", "quantity": "3.450", …}]}]
//	}
//
// Customers and cards are flat objects of string fields under their API
// names; "id" is optional (assigned in order when missing). group_id and
// type_id fill in group_name and type_name. Cards get uid_ean13 and barcode
// generated when absent, as the API does. Orders use the names of GET
// /orders with every value a string (flags "0"/"1", decimals as text).
type Seed struct {
	Groups    []SeedName          `json:"groups"`
	CardTypes []SeedName          `json:"card_types"`
	Customers []map[string]string `json:"customers"`
	Cards     []map[string]string `json:"cards"`
	Orders    []jsonOrder         `json:"orders"`
}

// SeedName is a group or a card type.
type SeedName struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// LoadSeedFile adds the contents of a seed file to the store.
func (s *Server) LoadSeedFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("virtpostest: read seed: %w", err)
	}
	if err := s.LoadSeed(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	return nil
}

// LoadSeed adds the contents of a JSON seed (see Seed) to the store. It
// checks the whole seed before changing anything.
func (s *Server) LoadSeed(r io.Reader) error {
	var sd Seed
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sd); err != nil {
		return fmt.Errorf("virtpostest: decode seed: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Stage into copies of the small parts and beside the tables, so that
	// a bad record leaves the store as it was; the records go into the
	// tables (and their indexes) once the whole seed passed.
	next := s.st
	next.groups = cloneNames(s.st.groups)
	next.types = cloneNames(s.st.types)
	next.nextID = map[string]int{}
	for k, v := range s.st.nextID {
		next.nextID[k] = v
	}
	customers := stage{tab: s.st.customers, recs: map[int]map[string]string{}}
	cards := stage{tab: s.st.cards, recs: map[int]map[string]string{}}
	for _, g := range sd.Groups {
		next.groups[next.newID("group", g.ID)] = g.Name
	}
	for _, t := range sd.CardTypes {
		next.types[next.newID("card_type", t.ID)] = t.Name
	}
	for i, c := range sd.Customers {
		rec := copyRec(c)
		if err := seedRef(rec, "group_id", "group_name", next.groups); err != nil {
			return fmt.Errorf("virtpostest: seed customer %d: %w", i, err)
		}
		if err := validateCustomer(rec, s.opts.Now()); err != nil {
			return fmt.Errorf("virtpostest: seed customer %d: %w", i, err)
		}
		if err := customers.add(&next, "customer", rec); err != nil {
			return fmt.Errorf("virtpostest: seed customer %d: %w", i, err)
		}
	}
	for i, c := range sd.Cards {
		rec := copyRec(c)
		if err := seedRef(rec, "type_id", "type_name", next.types); err != nil {
			return fmt.Errorf("virtpostest: seed card %d: %w", i, err)
		}
		if rec["uid"] == "" {
			return fmt.Errorf("virtpostest: seed card %d: uid is required", i)
		}
		if cid := rec["customer_id"]; cid != "" && !customers.hasText(cid) {
			return fmt.Errorf("virtpostest: seed card %d: customer %s not found", i, cid)
		}
		if rec["uid_ean13"] == "" {
			rec["uid_ean13"], _ = UIDEAN13(rec["uid"])
		}
		if rec["barcode"] == "" {
			rec["barcode"] = rec["uid_ean13"]
		}
		if err := cards.add(&next, "card", rec); err != nil {
			return fmt.Errorf("virtpostest: seed card %d: %w", i, err)
		}
	}
	for i, jo := range sd.Orders {
		o, err := jo.order()
		if err != nil {
			return fmt.Errorf("virtpostest: seed order %d: %w", i, err)
		}
		next.orders = append(next.orders, o)
	}
	customers.commit()
	cards.commit()
	s.st = next
	return nil
}

// stage holds a seed's records of one table until the whole seed passed.
type stage struct {
	tab  *table
	recs map[int]map[string]string
}

func (sg *stage) has(id int) bool {
	_, staged := sg.recs[id]
	return staged || sg.tab.has(id)
}

func (sg *stage) hasText(v string) bool {
	id, err := strconv.Atoi(v)
	return err == nil && sg.has(id)
}

// add gives rec its id (the seed's, or the next one) and stages it.
func (sg *stage) add(st *store, entity string, rec map[string]string) error {
	want := 0
	if v := rec["id"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("invalid id %q", v)
		}
		if sg.has(n) {
			return fmt.Errorf("duplicate id %d", n)
		}
		want = n
	}
	id := st.newID(entity, want)
	rec["id"] = strconv.Itoa(id)
	sg.recs[id] = rec
	return nil
}

// commit puts the staged records into the table in id order, so that the
// table's id order grows by appends.
func (sg *stage) commit() {
	ids := make([]int, 0, len(sg.recs))
	for id := range sg.recs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		sg.tab.put(id, sg.recs[id])
	}
}

func seedRef(rec map[string]string, idField, nameField string, names map[int]string) error {
	v := rec[idField]
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if _, ok := names[n]; err != nil || !ok {
		return fmt.Errorf("%s %s not found", idField, v)
	}
	rec[nameField] = names[n]
	return nil
}

func cloneNames(m map[int]string) map[int]string {
	c := make(map[int]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
