package onectest

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// A collection request is answered from a view: the records (or tabular
// rows) its $filter keeps, in its $orderby order. A view is kept per
// (entity set, $filter, $orderby) until the set changes, so that a sweep
// of a million records in pages of a thousand filters and sorts once, not
// once per page; a page is then a slice of the view. Without $orderby the
// order is insertion order; $orderby=Ref_Key reads the set's own sorted
// order instead of sorting. A $filter that names its keys (Ref_Key eq
// guid'…' or …, how a client fetches by key, perhaps AND-ed with another
// condition) is answered through the key index at the cost of its keys.

// view is a collection's selected items, in order: recs (seqs) for an
// entity set, rows for a tabular section published as a set.
type view struct {
	recs []uint32
	rows []rowItem
	// gen is the generation of set the view was computed at; a view
	// ordered by references into other sets (anySet) also needs the
	// server's generation, allGen, unchanged.
	set         *entitySet
	gen, allGen uint64
	anySet      bool
}

func (v *view) fresh(s *Server) bool {
	return v.gen == v.set.gen && (!v.anySet || v.allGen == s.gen)
}

func (v *view) len() int { return len(v.recs) + len(v.rows) }

// maxViews bounds the cached views; a client sweeping uses one or two.
const maxViews = 16

// rowItem is one row of a tabular section published as its own set.
type rowItem struct {
	owner *record
	line  int
	cells cells
}

// recordValues reads a record's values for a filter.
type recordValues struct {
	typ *entityType
	r   *record
}

func (v *recordValues) value(f fieldRef) any {
	switch f.pos {
	case v.typ.refPos:
		return v.r.key.String()
	case v.typ.verPos:
		return dataVersion(v.r.ver)
	}
	text, ok := v.r.field(f.pos)
	return decodeValue(f.typ, text, ok)
}

// rowValues reads a tabular row's values for a filter; positions are those
// of rowFields.
type rowValues struct{ it *rowItem }

func (v *rowValues) value(f fieldRef) any {
	switch f.pos {
	case 0:
		return v.it.owner.key.String()
	case 1:
		return int64(v.it.line)
	}
	text, ok := v.it.cells.find(f.pos - 2)
	return decodeValue(f.typ, text, ok)
}

// query returns the view of a collection request. Caller holds s.mu.
func (s *Server) query(es *entitySet, tab *tabular, entity string, q url.Values, lookup fieldLookup) (*view, error) {
	fs, spec := q.Get("$filter"), q.Get("$orderby")
	var n node
	if fs != "" {
		var err error
		if n, err = parseFilter(fs, lookup); err != nil {
			return nil, odataErr(400, "14", "Ошибка в выражении $filter: %v", err)
		}
	}
	keys, err := parseOrderBy(spec, lookup)
	if err != nil {
		return nil, err
	}
	if tab == nil && n != nil {
		if ks, rest, ok := keyFilter(n); ok {
			return s.keyView(es, ks, rest, keys)
		}
	}
	ck := entity + "\x00" + fs + "\x00" + spec
	if v, ok := s.views[ck]; ok && v.fresh(s) {
		return v, nil
	}
	v := &view{set: es, gen: es.gen, allGen: s.gen}
	for _, k := range keys {
		v.anySet = v.anySet || k.f.Type == tGuid && k.f.Name != "Ref_Key"
	}
	if tab == nil {
		v.recs, err = s.selectRecords(es, n, keys)
	} else {
		v.rows, err = s.selectRows(es, tab, n, keys)
	}
	if err != nil {
		return nil, err
	}
	if len(s.views) >= maxViews {
		for k, old := range s.views {
			if !old.fresh(s) {
				delete(s.views, k)
			}
		}
		if len(s.views) >= maxViews {
			clear(s.views)
		}
	}
	s.views[ck] = v
	return v, nil
}

// selectRecords filters and orders a set's live records.
func (s *Server) selectRecords(es *entitySet, n node, keys []orderKey) ([]uint32, error) {
	src, sorted := es.live(), false
	if len(keys) == 1 && keys[0].f.Name == "Ref_Key" && !keys[0].desc {
		src, sorted = s.refOrder(es), true
	}
	out := src
	if n != nil {
		out = nil
		rv := &recordValues{typ: es.typ}
		for _, seq := range src {
			rv.r = es.rec(seq)
			ok, err := evalFilter(n, rv)
			if err != nil {
				return nil, odataErr(400, "14", "Ошибка в выражении $filter: %v", err)
			}
			if ok {
				out = append(out, seq)
			}
		}
	}
	if len(keys) > 0 && !sorted {
		if n == nil {
			out = slices.Clone(out) // never reorder the set's own order
		}
		s.sortRecords(es, out, keys)
	}
	return out, nil
}

// selectRows filters and orders the rows of a tabular section of every
// live record (in insertion order, then line order).
func (s *Server) selectRows(es *entitySet, tab *tabular, n node, keys []orderKey) ([]rowItem, error) {
	ti := slices.IndexFunc(es.typ.Tabs, func(t tabular) bool { return t.Name == tab.Name })
	var out []rowItem
	rv := &rowValues{}
	for _, seq := range es.live() {
		r := es.rec(seq)
		rs := r.tab(es.typ, ti)
		for line := 1; ; line++ {
			c, ok := rs.next()
			if !ok {
				break
			}
			it := rowItem{owner: r, line: line, cells: c}
			if n != nil {
				rv.it = &it
				keep, err := evalFilter(n, rv)
				if err != nil {
					return nil, odataErr(400, "14", "Ошибка в выражении $filter: %v", err)
				}
				if !keep {
					continue
				}
			}
			out = append(out, it)
		}
	}
	if len(keys) > 0 {
		sortStable(out, keys, func(it rowItem, k orderKey) any {
			switch {
			case k.f.pos == 0:
				return es.presentation(it.owner)
			case k.f.pos == 1:
				return int64(it.line)
			}
			text, ok := it.cells.find(k.f.pos - 2)
			if k.f.Type == tGuid {
				return s.refPresentation(cellGUID(text), k.f.RefTo)
			}
			return decodeValue(k.f.Type, text, ok)
		})
	}
	return out, nil
}

// sortRecords orders records by $orderby keys, ties in the given order.
// References sort by the referenced object's presentation, as 1C does, not
// by GUID. Caller holds s.mu.
func (s *Server) sortRecords(es *entitySet, recs []uint32, keys []orderKey) {
	sortStable(recs, keys, func(seq uint32, k orderKey) any {
		r := es.rec(seq)
		if k.f.pos == es.typ.refPos {
			return es.presentation(r)
		}
		if k.f.pos == es.typ.verPos {
			return dataVersion(r.ver)
		}
		text, ok := r.field(k.f.pos)
		if k.f.Type == tGuid {
			return s.refPresentation(cellGUID(text), k.f.RefTo)
		}
		return decodeValue(k.f.Type, text, ok)
	})
}

// sortStable sorts xs by keys, keeping the order of ties. Sort values are
// computed once per item, not per comparison.
func sortStable[T any](xs []T, keys []orderKey, value func(T, orderKey) any) {
	nk := len(keys)
	vals := make([]any, len(xs)*nk)
	for i, x := range xs {
		for j, k := range keys {
			vals[i*nk+j] = value(x, k)
		}
	}
	perm := make([]int, len(xs))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int {
		for j, k := range keys {
			c, err := compareValues(vals[a*nk+j], vals[b*nk+j])
			if err != nil || c == 0 {
				continue
			}
			if k.desc {
				return -c
			}
			return c
		}
		return 0
	})
	sorted := make([]T, len(xs))
	for i, p := range perm {
		sorted[i] = xs[p]
	}
	copy(xs, sorted)
}

// refOrder returns the set's live records as $orderby=Ref_Key sorts them:
// by presentation, ties in insertion order. It is sorted once, then
// patched with the records written since (see entitySet.byRef). Caller
// holds s.mu.
func (s *Server) refOrder(es *entitySet) []uint32 {
	if es.byRef != nil && es.byRefGen == es.gen {
		return es.byRef
	}
	if es.byRef != nil {
		es.patchRefOrder()
	} else {
		es.sortRefOrder()
	}
	es.byRefGen, es.byRefSeq = es.gen, es.seq
	return es.byRef
}

func comparePres(pres string, seq uint32, otherPres string, otherSeq uint32) int {
	return cmp.Or(strings.Compare(pres, otherPres), cmp.Compare(seq, otherSeq))
}

func (es *entitySet) sortRefOrder() {
	live := es.live()
	ks := make([]refEntry, len(live))
	for i, seq := range live {
		ks[i] = refEntry{es.presentation(es.rec(seq)), seq}
	}
	slices.SortFunc(ks, func(a, b refEntry) int { return comparePres(a.pres, a.seq, b.pres, b.seq) })
	es.byRef = make([]uint32, len(ks))
	for i, k := range ks {
		es.byRef[i] = k.seq
	}
}

// patchRefOrder takes the written records out of the order at their old
// places and merges them back in at their new ones, into a new slice (a
// cached view may hold the old one): linear in the set, with no sort of it.
func (es *entitySet) patchRefOrder() {
	old := es.byRef
	// The old order is sorted by the presentations it was built with: a
	// record moved since is compared by its old one.
	movedPres := make(map[uint32]string, len(es.refOld))
	for _, e := range es.refOld {
		movedPres[e.seq] = e.pres
	}
	at := func(e refEntry) (int, bool) {
		return sort.Find(len(old), func(i int) int {
			r := es.rec(old[i])
			p, moved := movedPres[r.seq]
			if !moved {
				p = es.presentation(r)
			}
			return comparePres(e.pres, e.seq, p, r.seq)
		})
	}
	drop := make([]int, 0, len(es.refOld))
	for _, e := range es.refOld {
		i, found := at(e)
		if !found {
			panic(fmt.Sprintf("onectest: %s: the Ref_Key order lost record %d", es.typ.Name, e.seq))
		}
		drop = append(drop, i)
	}
	slices.Sort(drop)
	type placed struct {
		e  refEntry
		at int
	}
	add := make([]placed, 0, len(es.refNew))
	for _, seq := range es.refNew {
		if r := es.rec(seq); !r.dead {
			e := refEntry{es.presentation(r), seq}
			i, _ := at(e)
			add = append(add, placed{e, i})
		}
	}
	for _, seq := range es.refNew {
		es.rec(seq).moved = false
	}
	slices.SortFunc(add, func(a, b placed) int { return comparePres(a.e.pres, a.e.seq, b.e.pres, b.e.seq) })
	out := make([]uint32, 0, len(old)-len(drop)+len(add))
	// Copy the runs of the old order between the places where a record
	// goes or comes.
	from := 0
	copyTo := func(i int) {
		out = append(out, old[from:i]...)
		from = i
	}
	for _, a := range add {
		for len(drop) > 0 && drop[0] < a.at {
			copyTo(drop[0])
			from++
			drop = drop[1:]
		}
		copyTo(a.at)
		out = append(out, a.e.seq)
	}
	for _, d := range drop {
		copyTo(d)
		from++
	}
	copyTo(len(old))
	es.byRef, es.refOld, es.refNew = out, es.refOld[:0], es.refNew[:0]
}

// keyView answers a filter that names its keys: the records with those
// keys that also pass rest, in insertion order or by keys. Caller holds
// s.mu.
func (s *Server) keyView(es *entitySet, ks []string, rest node, keys []orderKey) (*view, error) {
	var recs []uint32
	for _, k := range ks {
		g, ok := parseGUID(k)
		if !ok {
			continue
		}
		if seq, ok := es.byKey[g]; ok {
			recs = append(recs, seq)
		}
	}
	slices.Sort(recs)
	recs = slices.Compact(recs) // a key named twice is one record
	if rest != nil {
		kept := recs[:0]
		rv := &recordValues{typ: es.typ}
		for _, seq := range recs {
			rv.r = es.rec(seq)
			ok, err := evalFilter(rest, rv)
			if err != nil {
				return nil, odataErr(400, "14", "Ошибка в выражении $filter: %v", err)
			}
			if ok {
				kept = append(kept, seq)
			}
		}
		recs = kept
	}
	if len(keys) > 0 {
		s.sortRecords(es, recs, keys)
	}
	return &view{recs: recs}, nil
}

// keyFilter splits a filter the key index can answer: the keys of a
// disjunction of "Ref_Key eq guid'…'" and what else must hold of them
// (nil: nothing). ok is false for any other filter.
func keyFilter(n node) (keys []string, rest node, ok bool) {
	x, isBin := n.(binNode)
	if !isBin {
		return nil, nil, false
	}
	switch x.op {
	case "eq":
		for _, pair := range [][2]node{{x.l, x.r}, {x.r, x.l}} {
			f, isField := pair[0].(fieldRef)
			lit, isLit := pair[1].(litNode)
			if g, isGUID := lit.v.(guidLit); isField && isLit && isGUID && f.name == "Ref_Key" {
				return []string{string(g)}, nil, true
			}
		}
	case "or":
		lk, lr, lok := keyFilter(x.l)
		if !lok || lr != nil {
			return nil, nil, false
		}
		rk, rr, rok := keyFilter(x.r)
		if !rok || rr != nil {
			return nil, nil, false
		}
		return append(lk, rk...), nil, true
	case "and":
		if k, r, ok := keyFilter(x.l); ok {
			return k, and(r, x.r), true
		}
		if k, r, ok := keyFilter(x.r); ok {
			return k, and(x.l, r), true
		}
	}
	return nil, nil, false
}

func and(a, b node) node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return binNode{op: "and", l: a, r: b}
}

type orderKey struct {
	f    field
	desc bool
}

// parseOrderBy reads $orderby: properties, each optionally asc or desc.
func parseOrderBy(spec string, lookup fieldLookup) ([]orderKey, error) {
	if spec == "" {
		return nil, nil
	}
	var keys []orderKey
	for _, part := range strings.Split(spec, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || len(words) > 2 {
			return nil, odataErr(400, "14", "Ошибка в параметре $orderby: %q", part)
		}
		f, ok := lookup(words[0])
		if !ok {
			return nil, odataErr(400, "14", "Ошибка в параметре $orderby: свойство '%s' не найдено", words[0])
		}
		k := orderKey{f: f}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, odataErr(400, "14", "Ошибка в параметре $orderby: %q", part)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}
