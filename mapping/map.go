package mapping

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Map is a compiled field map: virtpos parameter -> Spec. It is immutable
// and safe for concurrent use.
type Map struct {
	fields []field // sorted by param, so errors and output are deterministic
}

type field struct {
	param string
	spec  Spec
	fn    transformFunc
}

// Compile parses and checks every field spec; keys are virtpos parameter
// names. All problems are reported at once, each naming its parameter.
func Compile(fields map[string]any) (*Map, error) {
	params := sortedKeys(fields)
	m := &Map{}
	var errs []error
	for _, p := range params {
		s, err := ParseSpec(fields[p])
		if err != nil {
			errs = append(errs, withParam(p, err))
			continue
		}
		if s.Fallback != "" {
			if _, clash := fields[s.Fallback]; clash {
				errs = append(errs, &SpecError{Param: p, Problem: fmt.Sprintf("fallback %s is also mapped on its own", s.Fallback)})
			}
		}
		fn, _ := transformFor(s.As)
		m.fields = append(m.fields, field{param: p, spec: s, fn: fn})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("compile field map: %w", errors.Join(errs...))
	}
	return m, nil
}

// withParam stamps the parameter name into the SpecErrors inside err.
func withParam(param string, err error) error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, withParam(param, e))
		}
		return errors.Join(out...)
	}
	var se *SpecError
	if errors.As(err, &se) {
		return &SpecError{Param: param, Problem: se.Problem}
	}
	return fmt.Errorf("field %s: %w", param, err)
}

// Params lists the virtpos parameters the map can produce (including
// fallback parameters), sorted.
func (m *Map) Params() []string {
	var out []string
	for _, f := range m.fields {
		out = append(out, f.param)
		if f.spec.Fallback != "" {
			out = append(out, f.spec.Fallback)
		}
	}
	sort.Strings(out)
	return out
}

// Sources lists the top-level 1C fields the map reads, sorted and unique, so
// a reader can $select them (composite X_Type siblings included when the spec
// names an entity).
func (m *Map) Sources() []string {
	seen := map[string]bool{}
	for _, f := range m.fields {
		for _, from := range f.spec.From {
			seen[from] = true
			if f.spec.Entity != "" && !strings.HasSuffix(from, "_Key") {
				seen[from+"_Type"] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LookupField is one field of a referenced 1C entity a map reads; the
// caller pre-fetches these to serve Lookup.
type LookupField struct {
	Entity string
	Field  string
}

// Lookups lists what the map reads through Lookup, sorted and unique.
func (m *Map) Lookups() []LookupField {
	seen := map[LookupField]bool{}
	var out []LookupField
	for _, f := range m.fields {
		lf := LookupField{f.spec.Entity, f.spec.LookupField}
		if lf.Field != "" && !seen[lf] {
			seen[lf] = true
			out = append(out, lf)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entity != out[j].Entity {
			return out[i].Entity < out[j].Entity
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// Apply computes the virtpos parameters of one record. If r also implements
// Lookup it serves lookup specs; see ApplyLookup to pass one explicitly.
func (m *Map) Apply(rec Record, r Resolver) (Params, error) {
	l, _ := r.(Lookup)
	return m.ApplyLookup(rec, r, l)
}

// ApplyLookup computes the virtpos parameters of one record. It returns at the
// first failing field: a *FieldError (reject the record), an *UnresolvedError
// (hold it and retry later) or a wrapped Resolver/Lookup error (transient).
func (m *Map) ApplyLookup(rec Record, r Resolver, l Lookup) (Params, error) {
	out := Params{}
	for i := range m.fields {
		f := &m.fields[i]
		v, ok, err := f.value(rec, r, l, out)
		if err != nil {
			return nil, err
		}
		if !ok && f.spec.HasDefault {
			v, ok = f.spec.Default, f.spec.Default != ""
		}
		if !ok && f.spec.Required {
			return nil, f.fail("a value", "nothing")
		}
		if ok {
			out[f.param] = v
		}
	}
	return out, nil
}

func (f *field) fail(expected, shape string) *FieldError {
	return &FieldError{Param: f.param, From: strings.Join(f.spec.From, " or "), Expected: expected, Shape: shape}
}

func (f *field) value(rec Record, r Resolver, l Lookup, out Params) (string, bool, error) {
	s := &f.spec
	if s.HasConst {
		return s.Const, s.Const != "", nil
	}
	raw, from, ok := f.pick(rec)
	if !ok {
		return "", false, nil
	}
	text, scalarOK := scalarText(raw)
	if !scalarOK {
		return "", false, f.fail("a single value", valueShape(raw))
	}
	if s.Entity != "" && !f.entityMatches(rec, from) {
		return "", false, nil
	}
	text = strings.TrimSpace(text)
	if s.LookupField != "" {
		if l == nil {
			return "", false, fmt.Errorf("field %s: lookup of %s.%s: no Lookup given", f.param, s.Entity, s.LookupField)
		}
		v, found, err := l.Lookup(s.Entity, text, s.LookupField)
		if err != nil {
			return "", false, fmt.Errorf("field %s: lookup %s %s: %w", f.param, s.Entity, text, err)
		}
		if !found {
			return "", false, &UnresolvedError{Param: f.param, Kind: s.Entity, Ref: text}
		}
		if isEmpty(v) {
			return "", false, nil
		}
		if text, scalarOK = scalarText(v); !scalarOK {
			return "", false, f.fail("a single value", valueShape(v))
		}
	}
	if s.As == AsRef {
		return f.resolve(text, r, out)
	}
	res, present, fl := f.fn(text, s)
	if fl != nil {
		return "", false, f.fail(fl.expected, fl.shape)
	}
	return res, present, nil
}

// pick finds the raw value: the first non-empty From field, or for a
// where/take spec the first non-empty Take field of the rows matching Where.
// It also returns the field it came from (for the composite type check).
func (f *field) pick(rec Record) (any, string, bool) {
	s := &f.spec
	if s.Where == nil {
		for _, from := range s.From {
			if v, ok := rec[from]; ok && !isEmpty(v) {
				return v, from, true
			}
		}
		return nil, "", false
	}
	rows, _ := rec[s.From[0]].([]any)
	for _, row := range rows {
		rm, ok := row.(map[string]any)
		if !ok || !rowMatches(rm, s.Where) {
			continue
		}
		for _, t := range s.Take {
			if v, ok := rm[t]; ok && !isEmpty(v) {
				return v, t, true
			}
		}
	}
	return nil, "", false
}

func rowMatches(row map[string]any, where map[string]string) bool {
	for k, want := range where {
		got, ok := scalarText(row[k])
		if !ok || got != want {
			return false
		}
	}
	return true
}

// entityMatches checks the X_Type of a composite field X. A plain X_Key
// field has no type sibling and always matches.
func (f *field) entityMatches(rec Record, from string) bool {
	t, ok := rec[from+"_Type"].(string)
	if !ok || t == "" {
		return true
	}
	t = strings.TrimPrefix(t, "StandardODATA.")
	return t == f.spec.Entity
}

func (f *field) resolve(ref string, r Resolver, out Params) (string, bool, error) {
	s := &f.spec
	if ref == "" || ref == EmptyGUID {
		return "", false, nil
	}
	if r == nil {
		return "", false, fmt.Errorf("field %s: resolve %s %s: no Resolver given", f.param, s.Kind, ref)
	}
	id, ok, err := r.Resolve(s.Kind, ref)
	if err != nil {
		return "", false, fmt.Errorf("field %s: resolve %s %s: %w", f.param, s.Kind, ref, err)
	}
	if ok {
		return id, true, nil
	}
	if s.Fallback != "" {
		out[s.Fallback] = ref
		return "", false, nil
	}
	return "", false, &UnresolvedError{Param: f.param, Kind: s.Kind, Ref: ref}
}
