package onectest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
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

// entitySet holds one set's objects in insertion order.
type entitySet struct {
	typ   *entityType
	order []string // keys in insertion order
	byKey map[string]Object
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// nextVersion returns a new DataVersion: 8 bytes, base64, unique per write.
// Caller holds s.mu.
func (s *Server) nextVersion() string {
	s.version++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.version)
	return base64.StdEncoding.EncodeToString(b[:])
}

// buildObject validates props against the type and merges them over base
// (nil for a new object). Tabular sections replace the whole section.
func (s *Server) buildObject(typ *entityType, base Object, props map[string]any) (Object, error) {
	o := Object{}
	if base == nil {
		for _, f := range typ.Fields {
			o[f.Name] = zeroValue(f.Type)
		}
		for _, t := range typ.Tabs {
			o[t.Name] = []Object{}
		}
	} else {
		o = cloneObject(base)
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
		nv, err := normalize(f.Type, v)
		if err != nil {
			return nil, odataErr(400, "4", "Неверное значение свойства '%s': %v", name, err)
		}
		o[name] = nv
	}
	if ref, _ := o["Ref_Key"].(string); ref == EmptyGUID || ref == "" {
		o["Ref_Key"] = newGUID()
	}
	for _, t := range typ.Tabs {
		rows, _ := o[t.Name].([]Object)
		for i, r := range rows {
			r["Ref_Key"] = o["Ref_Key"]
			r["LineNumber"] = int64(i + 1)
		}
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
		r := Object{}
		for _, f := range t.Fields {
			r[f.Name] = zeroValue(f.Type)
		}
		for name, val := range it {
			if name == "Ref_Key" || name == "LineNumber" {
				continue // assigned from the owner and the row position
			}
			f, ok := t.field(name)
			if !ok {
				return nil, odataErr(400, "10", "Свойство '%s' не найдено в табличной части '%s'", name, t.Name)
			}
			nv, err := normalize(f.Type, val)
			if err != nil {
				return nil, odataErr(400, "4", "Неверное значение свойства '%s.%s': %v", t.Name, name, err)
			}
			r[name] = nv
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// presentation is what 1C shows for an object and sorts references by.
// Caller holds s.mu.
func (s *Server) presentation(key string) string {
	if key == EmptyGUID {
		return ""
	}
	set, ok := s.keyIndex[key]
	if !ok {
		return ""
	}
	o := s.sets[set].byKey[key]
	if s.sets[set].typ.Document {
		return fmt.Sprintf("%s %s", o["Number"], o["Date"])
	}
	d, _ := o["Description"].(string)
	return d
}

// put stores a new or replacing object. Caller holds s.mu.
func (s *Server) put(es *entitySet, o Object) {
	key := o["Ref_Key"].(string)
	o["DataVersion"] = s.nextVersion()
	// Documents get a Number and coded catalogs a Code like 1C's default
	// numbering ("00-00000123"); numbers loaded from a seed advance the
	// sequence so generated ones never collide with them.
	numField := ""
	switch {
	case es.typ.Document:
		numField = "Number"
	case es.typ.HasCode:
		numField = "Code"
	}
	if numField != "" {
		n, _ := o[numField].(string)
		if n == "" {
			s.numberSeq[es.typ.Name]++
			o[numField] = fmt.Sprintf("00-%08d", s.numberSeq[es.typ.Name])
		} else if rest, ok := strings.CutPrefix(n, "00-"); ok {
			if v, err := strconv.Atoi(rest); err == nil && v > s.numberSeq[es.typ.Name] {
				s.numberSeq[es.typ.Name] = v
			}
		}
	}
	if _, exists := es.byKey[key]; !exists {
		es.order = append(es.order, key)
	}
	es.byKey[key] = o
	s.keyIndex[key] = es.typ.Name
}

// remove deletes an object physically. Caller holds s.mu.
func (s *Server) remove(es *entitySet, key string) {
	delete(es.byKey, key)
	delete(s.keyIndex, key)
	for i, k := range es.order {
		if k == key {
			es.order = append(es.order[:i:i], es.order[i+1:]...)
			break
		}
	}
}
