package onectest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// The store keeps objects in a compact form rather than as an Object map
// each: a million partners with their contact rows as maps take gigabytes
// and a garbage collector walking them, as records they take a few hundred
// bytes each. A record holds only the properties that differ from their
// zero value, encoded in one string in the order of the type's fields, so
// a reader walks it beside the field list.

// guid is a Ref_Key in binary: 16 bytes in a record and a map key instead
// of a 36-character string.
type guid [16]byte

func parseGUID(s string) (guid, bool) {
	var g guid
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	// Where each byte's two hex digits start in 8-4-4-4-12.
	at := [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}
	for i, a := range at {
		hi, ok1 := unhex(s[a])
		lo, ok2 := unhex(s[a+1])
		if !ok1 || !ok2 {
			return g, false
		}
		g[i] = hi<<4 | lo
	}
	return g, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

// appendTo writes the GUID as 1C does: lower case, 8-4-4-4-12.
func (g guid) appendTo(b []byte) []byte {
	for i, x := range g {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

func (g guid) String() string { return string(g.appendTo(make([]byte, 0, 36))) }

// record is one stored object: 48 bytes and its data.
type record struct {
	key guid
	ver uint64 // DataVersion counter
	// data holds, as cells in position order, the properties of the
	// type's Fields other than Ref_Key and DataVersion that are not zero,
	// then each tabular section with rows at position len(Fields)+its
	// index: its rows, each a uvarint length and that many bytes of cells
	// (in the section's Fields order; Ref_Key and LineNumber are derived).
	data string
	seq  uint32 // insertion sequence in its set: ties in $orderby keep it
	dead bool   // removed; still in its set's order until compacted
	// moved marks a record changed since its set's Ref_Key order was
	// last brought up to date (see entitySet.noteRefChange).
	moved bool
}

// tab returns the rows of tabular section ti of a record of t.
func (r *record) tab(t *entityType, ti int) rows {
	text, _ := cells(r.data).find(len(t.Fields) + ti)
	return rows(text)
}

// dataVersion renders a DataVersion: 8 bytes, base64.
func appendDataVersion(b []byte, ver uint64) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], ver)
	return base64.StdEncoding.AppendEncode(b, v[:])
}

func dataVersion(ver uint64) string { return string(appendDataVersion(nil, ver)) }

// A cell is a uvarint field position, a uvarint length and the value's
// text: a String or DateTime as is, a Guid as its 16 bytes, a Double as
// its exact decimal text, an Int64 in decimal, a true Boolean as no text.

func appendCell(b []byte, pos int, text string) []byte {
	b = binary.AppendUvarint(b, uint64(pos))
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...)
}

// cells walks encoded cells.
type cells string

func (c *cells) next() (pos int, text string, ok bool) {
	s := string(*c)
	if s == "" {
		return 0, "", false
	}
	p, n := uvarint(s)
	l, m := uvarint(s[n:])
	end := n + m + int(l)
	*c = cells(s[end:])
	return int(p), s[n+m : end], true
}

// find returns the text of the cell at pos.
func (c cells) find(pos int) (string, bool) {
	for {
		p, text, ok := c.next()
		if !ok || p > pos {
			return "", false
		}
		if p == pos {
			return text, true
		}
	}
}

// rows walks a tabular section's encoded rows.
type rows string

func (r *rows) next() (cells, bool) {
	s := string(*r)
	if s == "" {
		return "", false
	}
	l, n := uvarint(s)
	*r = rows(s[n+int(l):])
	return cells(s[n : n+int(l)]), true
}

func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	panic("onectest: a stored record is corrupt (truncated uvarint)")
}

// encodeValue renders a normalized value (see normalize) as cell text;
// false means it is its type's zero value and is not stored.
func encodeValue(t edmType, v any) (string, bool) {
	switch t {
	case tBool:
		b, _ := v.(bool)
		return "", b
	case tDouble:
		d, _ := v.(decimal.Decimal)
		if d.IsZero() {
			return "", false
		}
		return d.String(), true
	case tInt64:
		n, _ := v.(int64)
		return strconv.FormatInt(n, 10), n != 0
	}
	s, _ := v.(string)
	return encodeText(t, s)
}

// encodeText is encodeValue of a text-like value.
func encodeText(t edmType, s string) (string, bool) {
	if s == "" || s == zeroText(t) {
		return "", false
	}
	if t == tGuid {
		g, ok := parseGUID(s)
		if !ok {
			panic(fmt.Sprintf("onectest: a Guid value %q reached the store unchecked", s))
		}
		return string(g[:]), true
	}
	return s, true
}

// cellGUID is the GUID a Guid cell holds; an absent cell ("") is the
// empty reference.
func cellGUID(text string) guid {
	var g guid
	copy(g[:], text)
	return g
}

// zeroText is how 1C writes the zero value of a text-like type.
func zeroText(t edmType) string {
	switch t {
	case tGuid:
		return EmptyGUID
	case tDate:
		return EmptyDate
	}
	return ""
}

// decodeValue is the stored form of a cell (present) or of the zero value.
func decodeValue(t edmType, text string, present bool) any {
	if !present {
		return zeroValue(t)
	}
	switch t {
	case tBool:
		return true
	case tDouble:
		d, err := decimal.NewFromString(text)
		if err != nil {
			panic(fmt.Sprintf("onectest: a stored Double %q does not parse: %v", text, err))
		}
		return d
	case tInt64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			panic(fmt.Sprintf("onectest: a stored Int64 %q does not parse: %v", text, err))
		}
		return n
	case tGuid:
		return cellGUID(text).String()
	}
	return text
}

// writeCell writes a cell's value (or the zero value) in 1C's JSON: Double
// as a bare number with its exact decimal text, Int64 as a string.
func writeCell(buf *bytes.Buffer, t edmType, text string, present bool) {
	switch t {
	case tBool:
		if present {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case tDouble:
		if present {
			buf.WriteString(text)
		} else {
			buf.WriteByte('0')
		}
	case tInt64:
		if !present {
			text = "0"
		}
		buf.WriteByte('"')
		buf.WriteString(text)
		buf.WriteByte('"')
	case tGuid:
		if !present {
			writeString(buf, EmptyGUID)
			return
		}
		writeGUID(buf, cellGUID(text))
	default:
		if !present {
			text = zeroText(t)
		}
		writeString(buf, text)
	}
}

// encodeFields appends the cells of o's non-zero values of fields,
// skipping the positions skip reports (Ref_Key, DataVersion: the record
// keeps them apart).
func encodeFields(b []byte, fields []field, o map[string]any, skip func(pos int) bool) []byte {
	for pos, f := range fields {
		if skip != nil && skip(pos) {
			continue
		}
		v, ok := o[f.Name]
		if !ok {
			continue
		}
		if text, nonZero := encodeValue(f.Type, v); nonZero {
			b = appendCell(b, pos, text)
		}
	}
	return b
}

// encodeRows encodes a tabular section's rows (normalized, as buildRows
// makes them).
func encodeRows(t *tabular, rs []Object) string {
	var b, row []byte
	for _, r := range rs {
		row = encodeFields(row[:0], t.Fields, r, nil)
		b = appendRow(b, row)
	}
	return string(b)
}

func appendRow(b, row []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(row)))
	return append(b, row...)
}

// writeString writes s as a JSON string the way encoding/json does with
// HTML escaping off.
func writeString(buf *bytes.Buffer, s string) {
	if plainJSON(s) {
		buf.WriteByte('"')
		buf.WriteString(s)
		buf.WriteByte('"')
		return
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}

// plainJSON tells whether encoding/json writes s between quotes unchanged:
// valid UTF-8 without quotes, backslashes, control characters or the line
// and paragraph separators it escapes.
func plainJSON(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}
