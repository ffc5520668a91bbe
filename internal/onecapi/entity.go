package onecapi

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"
)

// EmptyRef is 1C's empty reference.
const EmptyRef = "00000000-0000-0000-0000-000000000000"

// EmptyDate is 1C's "no date".
const EmptyDate = "0001-01-01T00:00:00"

// Entity is one 1C object as decoded from JSON with UseNumber: strings,
// bools, json.Number for numbers (never float64), nil, and tabular sections
// as []any of map[string]any.
type Entity map[string]any

// String returns a scalar field as text: strings as is, json.Number in its
// original digits, bools as "true"/"false". Missing or null gives "".
func (e Entity) String(field string) string {
	switch v := e[field].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Key returns Ref_Key.
func (e Entity) Key() string { return e.String("Ref_Key") }

// DataVersion returns DataVersion (compare for equality only).
func (e Entity) DataVersion() string { return e.String("DataVersion") }

// DeletionMark reports DeletionMark=true (a soft delete).
func (e Entity) DeletionMark() bool { return e.Bool("DeletionMark") }

// Bool returns a boolean field; strings "true"/"false" are accepted too.
func (e Entity) Bool(field string) bool {
	switch v := e[field].(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

// Decimal returns a numeric field as a decimal. 1C sends Edm.Double as a JSON
// number and Edm.Int64 as a string; both are accepted. Missing or null is
// zero.
func (e Entity) Decimal(field string) (decimal.Decimal, error) {
	s := e.String(field)
	if s == "" {
		return decimal.Zero, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, fmt.Errorf("onec: field %s: not a number", field)
	}
	return d, nil
}

// Rows returns the rows of a tabular section (nil when absent).
func (e Entity) Rows(section string) []Entity {
	list, _ := e[section].([]any)
	rows := make([]Entity, 0, len(list))
	for _, r := range list {
		if m, ok := r.(map[string]any); ok {
			rows = append(rows, Entity(m))
		}
	}
	return rows
}

// isGUID checks the 8-4-4-4-12 hex shape, so a key can be put in a URL or a
// filter without escaping surprises.
// IsGUID reports whether s has the shape of a 1C reference
// (8-4-4-4-12 hex digits); the empty reference counts.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
