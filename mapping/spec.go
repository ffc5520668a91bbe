package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/virtsync/virtsync"
	"go.yaml.in/yaml/v3"
)

// Record is one 1C entity as decoded from OData JSON with UseNumber: values
// are string, bool, json.Number or nil; tabular sections are []any of
// map[string]any.
type Record = map[string]any

// Params are the virtpos parameters built from one record. Absent values are
// omitted, never present as "".
type Params map[string]string

// Resolver maps a 1C reference to a virtpos id through the id map. kind is
// virtsync.KindCustomer, virtsync.KindCard or virtsync.KindOrder. ok=false means "not known yet".
type Resolver interface {
	Resolve(kind, ref string) (id string, ok bool, err error)
}

// Lookup reads a field of a referenced 1C object that the caller pre-fetched
// (e.g. the card kinds of Catalog_ВидыКартЛояльности). ok=false means the
// object is not among those fetched.
type Lookup interface {
	Lookup(entity, ref, field string) (value any, ok bool, err error)
}

// Spec is one compiled field spec: how one virtpos parameter is computed from
// a 1C record. See ParseSpec for the accepted forms.
type Spec struct {
	From     []string          // source fields, first non-empty wins
	As       string            // transform name; "" copies the trimmed text
	Where    map[string]string // row filter over the tabular section From[0]
	Take     []string          // fields of the matching row, first non-empty wins
	Map      map[string]string // value -> value (as: map)
	Const    string            // fixed value (when HasConst)
	HasConst bool
	Part     int    // name_part: 1, 2 or 3
	Kind     string // ref: customer, card or order
	// Entity is the 1C entity a reference points to. For a lookup it says
	// where to read; for a composite field (X + X_Type) a record whose X_Type
	// names another entity yields no value.
	Entity string
	// LookupField is a field of the referenced object (From is its _Key).
	LookupField string
	// Fallback is a virtpos parameter that receives the raw 1C reference
	// when a ref cannot be resolved (customer_external_id for customer_id),
	// instead of holding the record.
	Fallback   string
	Default    string // sent when the value is absent (when HasDefault)
	HasDefault bool
	Required   bool // absent after everything is an error
}

// specKeys lists the keys of a spec map, for the unknown-key message.
const specKeys = "from, as, where, take, map, const, part, kind, entity, lookup, fallback, default, required"

// ParseSpec parses a YAML- or JSON-decoded field spec: a string (a 1C field
// name) or a map with the keys from (string or list of fallbacks), as, where,
// take (string or list), map, const, part, kind, entity, lookup, fallback,
// default, required. Forms:
//
//	Description
//	{from: ДатаРождения, as: day}
//	{from: КонтактнаяИнформация, where: {Тип: Телефон}, take: [НомерТелефона, Представление], as: phone}
//	{from: Пол, map: {Мужской: M, Женский: F}}
//	{const: Розница}
//	{from: Description, as: name_part, part: 1}
//	{from: Партнер_Key, as: ref, kind: customer, fallback: customer_external_id}
//	{from: Owner_Key, entity: Catalog_ВидыКартЛояльности, lookup: ТипКарты, map: {...}}
func ParseSpec(v any) (Spec, error) {
	var s Spec
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return s, &SpecError{Problem: "empty field name"}
		}
		s.From = []string{x}
		return s, nil
	case Spec:
		if x.Map != nil && x.As == "" {
			x.As = AsMap
		}
		return x, x.validate()
	case map[string]any:
		return parseSpecMap(x)
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = val
		}
		return parseSpecMap(m)
	case nil:
		return s, &SpecError{Problem: "empty spec"}
	}
	return s, &SpecError{Problem: fmt.Sprintf("a spec is a field name or a map, got %s", valueShape(v))}
}

func parseSpecMap(m map[string]any) (Spec, error) {
	var s Spec
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, &SpecError{Problem: fmt.Sprintf(format, a...)}) }
	for _, k := range sortedKeys(m) {
		v := m[k]
		var err error
		switch k {
		case "from":
			s.From, err = stringList(v)
		case "take":
			s.Take, err = stringList(v)
		case "as":
			s.As, err = scalar(v)
		case "kind":
			s.Kind, err = scalar(v)
		case "entity":
			s.Entity, err = scalar(v)
		case "lookup":
			s.LookupField, err = scalar(v)
		case "fallback":
			s.Fallback, err = scalar(v)
		case "const":
			s.Const, err = scalar(v)
			s.HasConst = true
		case "default":
			s.Default, err = scalar(v)
			s.HasDefault = true
		case "where":
			s.Where, err = stringMap(v)
		case "map":
			s.Map, err = stringMap(v)
		case "part":
			var p string
			if p, err = scalar(v); err == nil {
				if s.Part, err = strconv.Atoi(p); err != nil {
					err = errors.New("must be 1, 2 or 3")
				}
			}
		case "required":
			b, ok := v.(bool)
			if !ok {
				err = errors.New("must be true or false")
			}
			s.Required = b
		default:
			bad("unknown key %q (known: %s)", k, specKeys)
			continue
		}
		if err != nil {
			bad("%s: %v", k, err)
		}
	}
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	if s.Map != nil && s.As == "" {
		s.As = AsMap
	}
	return s, s.validate()
}

// validate checks the combination of keys; each problem is one error.
func (s *Spec) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, &SpecError{Problem: fmt.Sprintf(format, a...)}) }
	if _, ok := transformFor(s.As); !ok {
		bad("unknown transform %q (known: date, datetime, day, month, year, phone, email, name_part, bool01, map, ref)", s.As)
	}
	if s.HasConst {
		if len(s.From) > 0 || s.As != "" || s.Where != nil || s.Take != nil || s.LookupField != "" {
			bad("const takes no from, as, where, take or lookup")
		}
		return errors.Join(errs...)
	}
	if len(s.From) == 0 {
		bad("needs from or const")
	}
	for _, f := range s.From {
		if strings.TrimSpace(f) == "" {
			bad("from has an empty field name")
		}
	}
	if (s.Where != nil) != (len(s.Take) > 0) {
		bad("where and take go together (pick a row of a tabular section, then a field of it)")
	}
	if s.Where != nil && len(s.From) != 1 {
		bad("where needs exactly one tabular section in from")
	}
	if s.As == AsNamePart && (s.Part < 1 || s.Part > 3) {
		bad("name_part needs part 1, 2 or 3")
	}
	if s.As != AsNamePart && s.Part != 0 {
		bad("part is only for as: name_part")
	}
	if s.As == AsMap && len(s.Map) == 0 {
		bad("as: map needs a non-empty map")
	}
	if _, ok := s.Map[""]; ok {
		// Empty values never reach a transform: they are absent.
		bad("map key \"\" never matches: an empty value is absent; use default")
	}
	if s.Map != nil && s.As != AsMap {
		bad("map cannot be combined with as: %s", s.As)
	}
	if s.As == AsRef {
		switch s.Kind {
		case virtsync.KindCustomer, virtsync.KindCard, virtsync.KindOrder:
		default:
			bad("ref needs kind customer, card or order, got %q", s.Kind)
		}
		if s.LookupField != "" {
			bad("ref and lookup cannot be combined")
		}
	} else {
		if s.Kind != "" {
			bad("kind is only for as: ref")
		}
		if s.Fallback != "" {
			bad("fallback is only for as: ref")
		}
	}
	if s.LookupField != "" && s.Entity == "" {
		bad("lookup needs entity (the 1C entity the reference points to)")
	}
	if s.LookupField != "" && s.Where != nil {
		bad("lookup cannot be combined with where")
	}
	if s.Required && s.HasDefault {
		bad("required and default exclude each other")
	}
	return errors.Join(errs...)
}

// UnmarshalYAML lets config structs hold map[string]Spec directly.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("field spec at line %d: %w", n.Line, err)
	}
	parsed, err := ParseSpec(v)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = parsed
	return nil
}

func scalar(v any) (string, error) {
	switch v.(type) {
	case string, bool, int, int64, float64:
		s, _ := scalarText(v)
		return s, nil
	}
	return "", fmt.Errorf("must be a single value, got %s", valueShape(v))
}

func stringList(v any) ([]string, error) {
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			return nil, errors.New("empty list")
		}
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func stringMap(v any) (map[string]string, error) {
	out := map[string]string{}
	put := func(k, val any) error {
		ks, err := scalar(k)
		if err != nil {
			return err
		}
		var vs string
		if val != nil {
			if vs, err = scalar(val); err != nil {
				return err
			}
		}
		out[ks] = vs
		return nil
	}
	switch m := v.(type) {
	case map[string]any:
		for k, val := range m {
			if err := put(k, val); err != nil {
				return nil, err
			}
		}
	case map[any]any:
		for k, val := range m {
			if err := put(k, val); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("must be a map, got %s", valueShape(v))
	}
	return out, nil
}
