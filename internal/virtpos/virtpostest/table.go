package virtpostest

import (
	"slices"
	"strconv"
)

// table holds one entity's records (flat string fields under their API
// names) by id, with the id order and the indexes its searches use, so that
// a look-up costs the same with ten records as with a million. Every access
// holds Server.mu.
type table struct {
	recs map[int]map[string]string
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
	t := &table{recs: map[int]map[string]string{}, index: map[string]*valueIndex{}}
	for _, f := range indexed {
		t.index[f] = newValueIndex()
	}
	return t
}

func (t *table) len() int { return len(t.recs) }

func (t *table) get(id int) (map[string]string, bool) {
	r, ok := t.recs[id]
	return r, ok
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

// put inserts or replaces the record id. rec is the table's from now on:
// callers build a new map rather than change a stored one, or the indexes
// would go stale.
func (t *table) put(id int, rec map[string]string) {
	old, exists := t.recs[id]
	for f, x := range t.index {
		if exists && old[f] == rec[f] {
			continue
		}
		if exists {
			x.remove(old[f], id)
		}
		x.add(rec[f], id)
	}
	t.recs[id] = rec
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
		x.remove(old[f], id)
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

// each calls fn for every record in id order until fn returns false.
func (t *table) each(fn func(id int, rec map[string]string) bool) {
	for _, id := range t.order {
		if r, ok := t.recs[id]; ok && !fn(id, r) {
			return
		}
	}
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
