package onectest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Object is one entity or tabular row as 1C's JSON has it: property name to
// value. Accepted values: string (Edm.String, Edm.Guid, Edm.DateTime in
// "2006-01-02T15:04:05"), bool, json.Number / decimal.Decimal / int for
// Edm.Double, string or integer for Edm.Int64, []Object (or []any of
// map[string]any) for a tabular section. binary floating point is refused for money.
type Object map[string]any

// isGUID tells whether s is a GUID in 8-4-4-4-12 hex, either case.
func isGUID(s string) bool {
	_, ok := parseGUID(s)
	return ok
}

// normalize converts an incoming value to the fake's stored form:
// string, bool, decimal.Decimal (Double) or int64 (Int64).
func normalize(t edmType, v any) (any, error) {
	switch t {
	case tGuid:
		s, ok := v.(string)
		g, valid := parseGUID(s)
		if !ok || !valid {
			return nil, fmt.Errorf("значение %v не является уникальным идентификатором", v)
		}
		if strings.ContainsAny(s, "ABCDEF") {
			return g.String(), nil
		}
		return v, nil // already in stored form: no new copy of the value
	case tString:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("значение %v не является строкой", v)
		}
		return v, nil
	case tBool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("значение %v не является булевым", v)
		}
		return v, nil
	case tDate:
		switch x := v.(type) {
		case string:
			if _, err := time.Parse(dateLayout, x); err != nil {
				return nil, fmt.Errorf("значение %q не является датой", x)
			}
			return v, nil
		case time.Time:
			return x.Format(dateLayout), nil
		}
		return nil, fmt.Errorf("значение %v не является датой", v)
	case tDouble:
		switch x := v.(type) {
		case json.Number:
			d, err := decimal.NewFromString(string(x))
			if err != nil {
				return nil, fmt.Errorf("значение %q не является числом", x)
			}
			return d, nil
		case decimal.Decimal:
			return x, nil
		case int:
			return decimal.NewFromInt(int64(x)), nil
		case int64:
			return decimal.NewFromInt(x), nil
		}
		return nil, fmt.Errorf("значение %v не является числом", v)
	case tInt64:
		switch x := v.(type) {
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("значение %q не является целым числом", x)
			}
			return n, nil
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return nil, fmt.Errorf("значение %q не является целым числом", x)
			}
			return n, nil
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		}
		return nil, fmt.Errorf("значение %v не является целым числом", v)
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

// normalizeField is normalize for a property, with its length limit.
func normalizeField(f field, v any) (any, error) {
	nv, err := normalize(f.Type, v)
	if err != nil {
		return nil, err
	}
	if s, ok := nv.(string); ok {
		if err := checkLen(f, s); err != nil {
			return nil, err
		}
	}
	return nv, nil
}

// checkLen refuses a string longer than the field's MaxLen characters.
func checkLen(f field, s string) error {
	if f.MaxLen > 0 && len(s) > f.MaxLen { // a rune takes a byte at least
		if n := utf8.RuneCountInString(s); n > f.MaxLen {
			return fmt.Errorf("длина строки %d больше допустимой длины %d", n, f.MaxLen)
		}
	}
	return nil
}

func zeroValue(t edmType) any {
	switch t {
	case tGuid:
		return EmptyGUID
	case tBool:
		return false
	case tDate:
		return EmptyDate
	case tDouble:
		return decimal.Zero
	case tInt64:
		return int64(0)
	}
	return ""
}
