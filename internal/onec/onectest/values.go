package onectest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Object is one entity or tabular row as 1C's JSON has it: property name to
// value. Accepted values: string (Edm.String, Edm.Guid, Edm.DateTime in
// "2006-01-02T15:04:05"), bool, json.Number / decimal.Decimal / int for
// Edm.Double, string or integer for Edm.Int64, []Object (or []any of
// map[string]any) for a tabular section. binary floating point is refused for money.
type Object map[string]any

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// normalize converts an incoming value to the fake's stored form:
// string, bool, decimal.Decimal (Double) or int64 (Int64).
func normalize(t edmType, v any) (any, error) {
	switch t {
	case tGuid:
		s, ok := v.(string)
		if !ok || !guidRE.MatchString(s) {
			return nil, fmt.Errorf("значение %v не является уникальным идентификатором", v)
		}
		return strings.ToLower(s), nil
	case tString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("значение %v не является строкой", v)
		}
		return s, nil
	case tBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("значение %v не является булевым", v)
		}
		return b, nil
	case tDate:
		switch x := v.(type) {
		case string:
			if _, err := time.Parse(dateLayout, x); err != nil {
				return nil, fmt.Errorf("значение %q не является датой", x)
			}
			return x, nil
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

// writeValue writes one stored value in 1C's JSON: Double as a bare number
// with its exact decimal text, Int64 as a string.
func writeValue(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case decimal.Decimal:
		buf.WriteString(x.String())
	case int64:
		buf.WriteByte('"')
		buf.WriteString(strconv.FormatInt(x, 10))
		buf.WriteByte('"')
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case string:
		writeString(buf, x)
	default:
		buf.WriteString("null")
	}
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}

// cloneObject copies an object and its tabular rows so callers never share
// the store's maps.
func cloneObject(o Object) Object {
	c := make(Object, len(o))
	for k, v := range o {
		if rows, ok := v.([]Object); ok {
			cr := make([]Object, len(rows))
			for i, r := range rows {
				cr[i] = cloneObject(r)
			}
			c[k] = cr
			continue
		}
		c[k] = v
	}
	return c
}
