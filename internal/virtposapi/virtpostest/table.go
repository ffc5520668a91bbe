package virtpostest

import (
	"encoding/binary"
	"maps"
	"slices"
	"strconv"
)

// table holds one entity's records (flat string fields under their API
// names) by id, with the id order and the indexes its searches use, so that
// a look-up costs the same with ten records as with a million. A record is
// kept as one string (see encodeRecord): a million customers as maps of a
// dozen fields took 650 bytes each. Every access holds Server.mu.
type table struct {
	recs map[int]string
	// order is every id ascending. A deleted id stays in it (a tombstone,
	// counted in dead) until more than half of it is dead: a delete then
	// costs no shift of a million ids.
	order []int
	dead  int
	index map[string]*valueIndex // by field name
}

// newTable indexes the given fields: a field searched by value must be
// among them (find and ids panic on any other, a programming error).
func newTable(indexed ...string) *table {
	t := &table{recs: map[int]string{}, index: map[string]*valueIndex{}}
	for _, f := range indexed {
		t.index[f] = newValueIndex()
	}
	return t
}

func (t *table) len() int { return len(t.recs) }

// get returns a copy of the record id, the caller's to change.
func (t *table) get(id int) (map[string]string, bool) {
	r, ok := t.recs[id]
	if !ok {
		return nil, false
	}
	return decodeRecord(r), true
}

func (t *table) has(id int) bool {
	_, ok := t.recs[id]
	return ok
}

// getText finds a record by its id as the API's parameters spell it.
func (t *table) getText(v string) (int, bool) {
	id, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	_, ok := t.recs[id]
	return id, ok
}

// put inserts or replaces the record id.
func (t *table) put(id int, rec map[string]string) {
	enc := encodeRecord(rec)
	old, exists := t.recs[id]
	for f, x := range t.index {
		// The index keeps the value as the record holds it, not the
		// caller's copy.
		v, was := recordField(enc, f), recordField(old, f)
		if exists && was == v {
			continue
		}
		if exists {
			x.remove(was, id)
		}
		x.add(v, id)
	}
	t.recs[id] = enc
	if exists {
		return
	}
	// Ids are handed out increasing, so this is an append; only a seed
	// naming its ids out of order inserts in the middle.
	if n := len(t.order); n == 0 || t.order[n-1] < id {
		t.order = append(t.order, id)
		return
	}
	i, found := slices.BinarySearch(t.order, id)
	if found {
		// A tombstone of the same id: it is alive again.
		t.dead--
		return
	}
	t.order = slices.Insert(t.order, i, id)
}

// remove deletes the record id, if any.
func (t *table) remove(id int) {
	old, ok := t.recs[id]
	if !ok {
		return
	}
	for f, x := range t.index {
		x.remove(recordField(old, f), id)
	}
	delete(t.recs, id)
	t.dead++
	if t.dead*2 > len(t.order) {
		t.compact()
	}
}

func (t *table) compact() {
	live := t.order[:0]
	for _, id := range t.order {
		if _, ok := t.recs[id]; ok {
			live = append(live, id)
		}
	}
	clear(t.order[len(live):])
	t.order, t.dead = live, 0
}

// find returns the lowest id whose field equals v: the first match of the
// API's documented searches. An empty v matches nothing.
func (t *table) find(field, v string) (int, bool) {
	return t.index[field].first(v)
}

// ids returns the ids whose field equals v, ascending; the slice is the
// index's, not to be changed.
func (t *table) ids(field, v string) []int {
	return t.index[field].ids(v)
}

// page returns the ids at positions lo..hi-1 of the id order.
func (t *table) page(lo, hi int) []int {
	if t.dead > 0 {
		t.compact()
	}
	lo, hi = min(lo, len(t.order)), min(hi, len(t.order))
	return t.order[lo:hi]
}

// each calls fn with a copy of every record in id order until fn returns
// false.
func (t *table) each(fn func(id int, rec map[string]string) bool) {
	for _, id := range t.order {
		if r, ok := t.recs[id]; ok && !fn(id, decodeRecord(r)) {
			return
		}
	}
}

// encodeRecord renders a record as one string: each field as a uvarint
// length and the name, a uvarint length and the value, in name order.
func encodeRecord(rec map[string]string) string {
	n := 0
	for k, v := range rec {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	for _, k := range slices.Sorted(maps.Keys(rec)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(rec[k])))
		b = append(b, rec[k]...)
	}
	return string(b)
}

// recordFields walks an encoded record.
func recordFields(s string, fn func(name, value string) bool) {
	for s != "" {
		name, rest := chunk(s)
		value, rest := chunk(rest)
		if !fn(name, value) {
			return
		}
		s = rest
	}
}

// chunk splits a uvarint-length-prefixed string off s.
func chunk(s string) (string, string) {
	var n uint64
	var shift uint
	i := 0
	for ; s[i] >= 0x80; i++ {
		n |= uint64(s[i]&0x7f) << shift
		shift += 7
	}
	n |= uint64(s[i]) << shift
	i++
	return s[i : i+int(n)], s[i+int(n):]
}

func decodeRecord(s string) map[string]string {
	rec := make(map[string]string, 16)
	recordFields(s, func(name, value string) bool {
		rec[name] = value
		return true
	})
	return rec
}

// recordField returns one field of an encoded record ("" when absent).
func recordField(s, name string) string {
	var v string
	recordFields(s, func(n, value string) bool {
		if n == name {
			v = value
			return false
		}
		return n < name
	})
	return v
}

// valueIndex maps a value to the ids holding it. Most values belong to one
// record, kept without a slice; the others keep their ids ascending, so
// the lowest id is the head.
type valueIndex struct {
	one  map[string]int
	many map[string][]int
}

func newValueIndex() *valueIndex {
	return &valueIndex{one: map[string]int{}, many: map[string][]int{}}
}

func (x *valueIndex) add(v string, id int) {
	if v == "" {
		return
	}
	if ids, ok := x.many[v]; ok {
		if i, found := slices.BinarySearch(ids, id); !found {
			x.many[v] = slices.Insert(ids, i, id)
		}
		return
	}
	first, ok := x.one[v]
	switch {
	case !ok:
		x.one[v] = id
	case first != id:
		delete(x.one, v)
		x.many[v] = []int{min(first, id), max(first, id)}
	}
}

func (x *valueIndex) remove(v string, id int) {
	if v == "" {
		return
	}
	if first, ok := x.one[v]; ok {
		if first == id {
			delete(x.one, v)
		}
		return
	}
	ids := x.many[v]
	i, found := slices.BinarySearch(ids, id)
	if !found {
		return
	}
	ids = slices.Delete(ids, i, i+1)
	if len(ids) == 1 {
		delete(x.many, v)
		x.one[v] = ids[0]
		return
	}
	x.many[v] = ids
}

func (x *valueIndex) first(v string) (int, bool) {
	if v == "" {
		return 0, false
	}
	if id, ok := x.one[v]; ok {
		return id, true
	}
	if ids := x.many[v]; len(ids) > 0 {
		return ids[0], true
	}
	return 0, false
}

func (x *valueIndex) ids(v string) []int {
	if v == "" {
		return nil
	}
	if id, ok := x.one[v]; ok {
		return []int{id}
	}
	return x.many[v]
}
