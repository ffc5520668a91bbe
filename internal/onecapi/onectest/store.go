package onectest

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// errOData is an error 1C reports in an odata.error body.
type errOData struct {
	status int
	code   string
	msg    string
}

func (e *errOData) Error() string {
	return fmt.Sprintf("1C error %s (HTTP %d): %s", e.code, e.status, e.msg)
}

func odataErr(status int, code, format string, args ...any) *errOData {
	return &errOData{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// entitySet holds one set's records. A record is known by its seq, the
// order of its insertion (from 1): the collections below hold seqs, not
// pointers, so that the garbage collector has nothing to walk in them and
// copying one costs no write barriers.
type entitySet struct {
	typ   *entityType
	byKey map[guid]uint32
	// slabs hold the records, slabSize to a slab: record seq s is
	// slabs[(s-1)/slabSize][(s-1)%slabSize] and never moves. A removed
	// record keeps its slot, emptied.
	slabs [][]record
	seq   uint32 // the last seq handed out
	// order is the seqs in insertion order. A removed record stays in
	// it, marked dead, until a reader needs positions (live): removing
	// one of a million records costs no shift of the rest.
	order []uint32
	dead  int
	// gen changes with every write to the set: what was computed from it
	// (byRef, cached views) is stale when gen moved on.
	gen uint64
	// byRef is the live records as $orderby=Ref_Key sorts them (by
	// presentation, then insertion) at byRefGen. Records inserted since
	// have a seq above byRefSeq. Writes since are noted in refOld (where
	// to take them out: their place then) and refNew (the records to put
	// back, if alive), so that the next reader patches the order instead
	// of sorting a million records again.
	byRef    []uint32
	byRefGen uint64
	byRefSeq uint32
	refOld   []refEntry
	refNew   []uint32
}

// slabSize is how many records a slab holds.
const slabSize = 4096

// rec returns the record of a seq.
func (es *entitySet) rec(seq uint32) *record {
	i := seq - 1
	return &es.slabs[i/slabSize][i%slabSize]
}

// insert makes a new record for key, last in insertion order.
func (es *entitySet) insert(key guid) *record {
	es.seq++
	if i := es.seq - 1; int(i/slabSize) == len(es.slabs) {
		es.slabs = append(es.slabs, make([]record, slabSize))
	}
	r := es.rec(es.seq)
	r.key, r.seq = key, es.seq
	es.byKey[key] = es.seq
	es.order = append(es.order, es.seq)
	return r
}

// find returns the record of a key in any case. Caller holds s.mu.
func (es *entitySet) find(key string) (*record, bool) {
	g, ok := parseGUID(key)
	if !ok {
		return nil, false
	}
	return es.lookup(g)
}

func (es *entitySet) lookup(g guid) (*record, bool) {
	seq, ok := es.byKey[g]
	if !ok {
		return nil, false
	}
	return es.rec(seq), true
}

// refEntry is a record's place in the Ref_Key order.
type refEntry struct {
	pres string
	seq  uint32
}

// noteRefChange is called before r changes or goes (or just after it was
// inserted): the Ref_Key order, if there is one, will move it.
func (es *entitySet) noteRefChange(r *record) {
	if es.byRef == nil || r.moved {
		return
	}
	if len(es.refNew) >= max(64, len(es.byRef)/8) {
		es.dropRefOrder() // sorting again is cheaper than patching this much
		return
	}
	r.moved = true
	if r.seq <= es.byRefSeq {
		es.refOld = append(es.refOld, refEntry{es.presentation(r), r.seq})
	}
	es.refNew = append(es.refNew, r.seq)
}

func (es *entitySet) dropRefOrder() {
	for _, seq := range es.refNew {
		es.rec(seq).moved = false
	}
	es.byRef, es.refOld, es.refNew = nil, nil, nil
}

// reserve makes room for n more records at once, rather than growing the
// index and the order step by step while a large seed loads.
func (es *entitySet) reserve(n int) {
	if n <= 0 {
		return
	}
	if len(es.byKey) == 0 {
		es.byKey = make(map[guid]uint32, n)
	}
	es.order = slices.Grow(es.order, n)
}

// live returns the seqs of the live records in insertion order.
func (es *entitySet) live() []uint32 {
	if es.dead > 0 {
		kept := es.order[:0]
		for _, seq := range es.order {
			if !es.rec(seq).dead {
				kept = append(kept, seq)
			}
		}
		es.order, es.dead = kept, 0
	}
	return es.order
}

// object renders a record in stored form (see Server.Get): every field,
// zero values included, tabular rows with Ref_Key and LineNumber.
func (es *entitySet) object(r *record) Object {
	t := es.typ
	o := make(Object, len(t.Fields)+len(t.Tabs))
	key := r.key.String()
	c := cells(r.data)
	pos, text, ok := c.next()
	for i, f := range t.Fields {
		switch i {
		case t.refPos:
			o[f.Name] = key
			continue
		case t.verPos:
			o[f.Name] = dataVersion(r.ver)
			continue
		}
		present := ok && pos == i
		o[f.Name] = decodeValue(f.Type, text, present)
		if present {
			pos, text, ok = c.next()
		}
	}
	for ti := range t.Tabs {
		tab := &t.Tabs[ti]
		out := []Object{}
		rs := r.tab(t, ti)
		for line := 1; ; line++ {
			rc, ok := rs.next()
			if !ok {
				break
			}
			row := Object{"Ref_Key": key, "LineNumber": int64(line)}
			pos, text, ok := rc.next()
			for i, f := range tab.Fields {
				present := ok && pos == i
				row[f.Name] = decodeValue(f.Type, text, present)
				if present {
					pos, text, ok = rc.next()
				}
			}
			out = append(out, row)
		}
		o[tab.Name] = out
	}
	return o
}

// field returns the stored text of field pos (not Ref_Key or DataVersion).
func (r *record) field(pos int) (string, bool) { return cells(r.data).find(pos) }

// presentation is what 1C shows for an object and sorts references to it
// by: a document's number and date, a catalog item's description.
func (es *entitySet) presentation(r *record) string {
	if es.typ.Document {
		num, _ := r.field(es.typ.pos("Number"))
		date, ok := r.field(es.typ.pos("Date"))
		if !ok {
			date = EmptyDate
		}
		return num + " " + date
	}
	d, _ := r.field(es.typ.pos("Description"))
	return d
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// buildObject validates props against the type and merges them over base
// (nil for a new object; else the caller's own copy, changed in place).
// Tabular sections replace the whole section. A property left out is its
// zero value.
func buildObject(typ *entityType, base Object, props map[string]any) (Object, error) {
	o := base
	if o == nil {
		o = make(Object, len(props)+1)
	}
	for name, v := range props {
		if name == "DataVersion" || strings.HasPrefix(name, "odata.") {
			continue // 1C ignores these on input
		}
		if t, ok := typ.tab(name); ok {
			rows, err := buildRows(t, v)
			if err != nil {
				return nil, err
			}
			o[t.Name] = rows
			continue
		}
		f, ok := typ.field(name)
		if !ok {
			return nil, odataErr(400, "10", "Свойство '%s' не найдено у объекта %s", name, typ.Name)
		}
		if name == "Ref_Key" && base != nil {
			if g, _ := v.(string); !strings.EqualFold(g, o["Ref_Key"].(string)) {
				return nil, odataErr(400, "16", "Значение свойства 'Ref_Key' не может быть изменено")
			}
		}
		nv, err := normalizeField(f, v)
		if err != nil {
			return nil, odataErr(400, "4", "Неверное значение свойства '%s': %v", name, err)
		}
		o[name] = nv
	}
	if ref, _ := o["Ref_Key"].(string); ref == EmptyGUID || ref == "" {
		o["Ref_Key"] = newGUID()
	}
	return o, nil
}

func buildRows(t *tabular, v any) ([]Object, error) {
	var items []map[string]any
	switch x := v.(type) {
	case []any:
		for _, it := range x {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, odataErr(400, "4", "Неверное значение табличной части '%s'", t.Name)
			}
			items = append(items, m)
		}
	case []Object:
		for _, it := range x {
			items = append(items, it)
		}
	case []map[string]any:
		items = x
	default:
		return nil, odataErr(400, "4", "Неверное значение табличной части '%s'", t.Name)
	}
	rows := make([]Object, 0, len(items))
	for _, it := range items {
		r := make(Object, len(it))
		for name, val := range it {
			if name == "Ref_Key" || name == "LineNumber" {
				continue // assigned from the owner and the row position
			}
			f, ok := t.field(name)
			if !ok {
				return nil, odataErr(400, "10", "Свойство '%s' не найдено в табличной части '%s'", name, t.Name)
			}
			nv, err := normalizeField(f, val)
			if err != nil {
				return nil, odataErr(400, "4", "Неверное значение свойства '%s.%s': %v", t.Name, name, err)
			}
			r[name] = nv
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// refPresentation is the presentation of the object a reference field
// points to: looked for in the set the field names, then in every set.
// Caller holds s.mu.
func (s *Server) refPresentation(g guid, refTo string) string {
	if g == (guid{}) {
		return ""
	}
	if es, ok := s.sets[refTo]; ok {
		if r, ok := es.lookup(g); ok {
			return es.presentation(r)
		}
	}
	for _, t := range s.types {
		es := s.sets[t.Name]
		if r, ok := es.lookup(g); ok {
			return es.presentation(r)
		}
	}
	return ""
}

// put stores a new or replacing object (built by buildObject: normalized,
// with a Ref_Key) under a new DataVersion and returns its record. Caller
// holds s.mu.
func (s *Server) put(es *entitySet, o Object) *record {
	key, ok := parseGUID(o["Ref_Key"].(string))
	if !ok {
		panic(fmt.Sprintf("onectest: put %s: Ref_Key %q is not a GUID", es.typ.Name, o["Ref_Key"]))
	}
	if num := es.typ.numberField(); num != "" {
		n, _ := o[num].(string)
		if n == "" {
			o[num] = s.nextNumber(es.typ.Name)
		} else {
			s.advanceNumber(es.typ.Name, n)
		}
	}
	t := es.typ
	data := encodeFields(s.encodeBuf[:0], t.Fields, o, func(pos int) bool { return pos == t.refPos || pos == t.verPos })
	for ti := range t.Tabs {
		if rs, _ := o[t.Tabs[ti].Name].([]Object); len(rs) > 0 {
			data = appendCell(data, len(t.Fields)+ti, encodeRows(&t.Tabs[ti], rs))
		}
	}
	s.encodeBuf = data
	return s.store(es, key, string(data))
}

// store puts an encoded object under a new DataVersion: a new record, or
// the one of the key, changed in place. Caller holds s.mu.
func (s *Server) store(es *entitySet, key guid, data string) *record {
	s.version++
	r, exists := es.lookup(key)
	if exists {
		es.noteRefChange(r)
	} else {
		r = es.insert(key)
	}
	r.ver, r.data = s.version, data
	if !exists {
		es.noteRefChange(r)
	}
	s.changed(es)
	return r
}

// Documents get a Number and coded catalogs a Code like 1C's default
// numbering ("00-00000123"); numbers loaded from a seed advance the
// sequence so generated ones never collide with them.

// nextNumber hands out the next number of a set. Caller holds s.mu.
func (s *Server) nextNumber(set string) string {
	s.numberSeq[set]++
	return fmt.Sprintf("00-%08d", s.numberSeq[set])
}

// advanceNumber moves the sequence of a set past a number given to an
// object. Caller holds s.mu.
func (s *Server) advanceNumber(set, n string) {
	if rest, ok := strings.CutPrefix(n, "00-"); ok {
		if v, err := strconv.Atoi(rest); err == nil && v > s.numberSeq[set] {
			s.numberSeq[set] = v
		}
	}
}

// remove deletes a record physically. Caller holds s.mu.
func (s *Server) remove(es *entitySet, r *record) {
	es.noteRefChange(r)
	delete(es.byKey, r.key)
	r.dead, r.data = true, ""
	es.dead++
	if es.dead > len(es.order)/2 {
		es.live() // compact: the dead never outnumber the living
	}
	s.changed(es)
}

// changed marks what was computed from the set (and, for references into
// it, from any set) as stale. Caller holds s.mu.
func (s *Server) changed(es *entitySet) {
	es.gen++
	s.gen++
}
