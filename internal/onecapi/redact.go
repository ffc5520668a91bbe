package onecapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// sentValue is a text value of a request body, by the field it went in.
type sentValue struct{ field, value string }

// sentValues lists the text values of a JSON request body that 1C might
// quote back in an error message ("Неверное значение свойства 'X':
// '<value>'"): names, addresses and comments are personal data and must
// not reach an error, a log line or the state file. References (GUIDs)
// stay: errors name Ref_Keys. Longest first, so a value is never half
// replaced by a shorter one inside it.
func sentValues(body []byte) []sentValue {
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []sentValue
	var walk func(field string, v any)
	walk = func(field string, v any) {
		switch x := v.(type) {
		case string:
			if x != "" && !IsGUID(x) {
				out = append(out, sentValue{field, x})
			}
		case []any:
			for _, y := range x {
				walk(field, y)
			}
		case map[string]any:
			for k, y := range x {
				if field != "" {
					k = field + "." + k
				}
				walk(k, y)
			}
		}
	}
	walk("", v)
	slices.SortFunc(out, func(a, b sentValue) int { return len(b.value) - len(a.value) })
	return out
}

// redactSent replaces, in text that came from 1C, every value of sent by
// "<field>". A value of fewer than 3 characters is replaced only where it
// stands in quotes: bare, it would eat letters of 1C's own words.
func redactSent(s string, sent []sentValue) string {
	for _, v := range sent {
		mark := "<" + v.field + ">"
		if utf8.RuneCountInString(v.value) >= 3 {
			s = strings.ReplaceAll(s, v.value, mark)
			continue
		}
		for _, q := range [][2]string{{"'", "'"}, {`"`, `"`}, {"«", "»"}} {
			s = strings.ReplaceAll(s, q[0]+v.value+q[1], q[0]+mark+q[1])
		}
	}
	return s
}
