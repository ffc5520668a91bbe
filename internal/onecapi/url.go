package onecapi

import (
	"strconv"
	"strings"
)

// escape percent-encodes s for use as a path segment or a query value.
// Cyrillic is UTF-8 percent-encoded and a space is always %20: some 1C web
// servers (IIS) do not decode "+" in a query, so "Клиент eq true" written
// with "+" becomes an unknown property. The few punctuation marks OData
// literals need ( ' ( ) , : ) stay readable; everything else outside the
// unreserved set is encoded.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if isUnreserved(ch) {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

func isUnreserved(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	switch ch {
	case '-', '.', '_', '~', '\'', '(', ')', ',', ':', '*', '!':
		return true
	}
	return false
}

// query is an ordered list of query options, written in insertion order so
// requests are reproducible (and tests can compare them exactly).
type query []string

func (q *query) add(key, value string) {
	*q = append(*q, key+"="+escape(value))
}

func (q query) encode() string { return strings.Join(q, "&") }

// entityURL is <base>/<entity>[path]?<query>. path is appended verbatim
// (already escaped: "(guid'..')", "/$count").
func (c *Client) entityURL(entity, path string, q query) string {
	var b strings.Builder
	b.WriteString(c.base)
	b.WriteByte('/')
	b.WriteString(escape(entity))
	b.WriteString(path)
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.encode())
	}
	return b.String()
}

// keyPath is the path suffix addressing one object by its reference.
func keyPath(key string) string { return "(guid'" + escape(key) + "')" }

// Quote renders s as an OData string literal: single quotes, inner quotes
// doubled. Use it to build $filter expressions from data.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// GUIDEq is the filter term "field eq guid'key'".
func GUIDEq(field, key string) string { return field + " eq guid'" + key + "'" }

// FieldEq is the $filter "field equals value": a reference field (X_Key)
// with a GUID compares with a guid literal, since 1C refuses a string
// there ("Партнер_Key eq '...'" is a type mismatch); anything else with a
// quoted text.
func FieldEq(field, value string) string {
	if strings.HasSuffix(field, "_Key") && IsGUID(value) {
		return GUIDEq(field, value)
	}
	return field + " eq " + Quote(value)
}

// keysFilter is "Ref_Key eq guid'a' or Ref_Key eq guid'b' ...".
func keysFilter(keys []string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(GUIDEq("Ref_Key", k))
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }
