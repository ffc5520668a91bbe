package mapping

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// 1C's "no value" markers: an empty reference and an empty date are sent by
// OData as real-looking values, but mean "not filled in".
const (
	EmptyGUID = "00000000-0000-0000-0000-000000000000"
	EmptyDate = "0001-01-01T00:00:00"
)

// Output layouts. virtpos takes its own date-time layout (the one of
// created_date in GET /orders).
const (
	onecLayout     = "2006-01-02T15:04:05"
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02 15:04:05"
)

// Transform names accepted in a spec's `as` key.
const (
	AsDate     = "date"
	AsDateTime = "datetime"
	AsDay      = "day"
	AsMonth    = "month"
	AsYear     = "year"
	AsPhone    = "phone"
	AsEmail    = "email"
	AsNamePart = "name_part"
	AsBool01   = "bool01"
	AsMap      = "map"
	AsRef      = "ref"
)

// transformFunc turns a present, scalar text value into the value to send.
// ok=false means "absent: send nothing". A failure is reported as
// (expected, shape) so that the caller builds a FieldError without the value.
type transformFunc func(s string, sp *Spec) (out string, ok bool, fail *failure)

type failure struct{ expected, shape string }

func transformFor(as string) (transformFunc, bool) {
	switch as {
	case "":
		return tPlain, true
	case AsDate:
		return tTime(func(t time.Time) string { return t.Format(DateLayout) }), true
	case AsDateTime:
		return tTime(func(t time.Time) string { return t.Format(DateTimeLayout) }), true
	case AsDay:
		return tTime(func(t time.Time) string { return strconv.Itoa(t.Day()) }), true
	case AsMonth:
		return tTime(func(t time.Time) string { return strconv.Itoa(int(t.Month())) }), true
	case AsYear:
		return tTime(func(t time.Time) string { return strconv.Itoa(t.Year()) }), true
	case AsPhone:
		return tPhone, true
	case AsEmail:
		return tEmail, true
	case AsNamePart:
		return tNamePart, true
	case AsBool01:
		return tBool01, true
	case AsMap:
		return tMap, true
	case AsRef:
		// Resolution needs the Resolver; Apply handles it before transforms.
		return tPlain, true
	}
	return nil, false
}

func tPlain(s string, _ *Spec) (string, bool, *failure) {
	s = strings.TrimSpace(s)
	return s, s != "", nil
}

// ParseDate parses a 1C OData date (no offset). It also accepts a bare date
// and fractional seconds, which some publications emit. The empty date
// reports ok=false.
func ParseDate(s string) (t time.Time, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == EmptyDate || strings.HasPrefix(s, "0001-01-01") {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{onecLayout, "2006-01-02T15:04:05.999999999", DateLayout} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("parse 1C date: not in layout %s", onecLayout)
}

func tTime(format func(time.Time) string) transformFunc {
	return func(s string, _ *Spec) (string, bool, *failure) {
		t, ok, err := ParseDate(s)
		if err != nil {
			return "", false, &failure{"a 1C date (YYYY-MM-DDThh:mm:ss)", textShape(s)}
		}
		if !ok {
			return "", false, nil
		}
		return format(t), true, nil
	}
}

// NormalizePhone brings a phone number to +7XXXXXXXXXX when it is
// recognisably Russian (or Kazakh, same +7 plan): 11 digits starting with 7,
// or with 8 when written without +, or 10 national digits; the national part
// must start with 3, 4, 7, 8 or 9 (the codes in use). A number written with a
// leading + and 8 to 15 digits (E.164) is kept as + and its digits, so foreign
// customers still get their phone. Anything else (short or local numbers,
// "+8 ...", +7 with the wrong length, text, extensions) is rejected rather
// than guessed: virtpos matches customers by phone, and a wrong number is
// worse than none.
func NormalizePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	plus := strings.HasPrefix(s, "+")
	var d strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case r == '+' || r == '(' || r == ')' || r == '-' || r == '.' || unicode.IsSpace(r):
		default:
			return "", false
		}
	}
	digits := d.String()
	national := func(n string) bool { return strings.ContainsRune("34789", rune(n[0])) }
	switch {
	case len(digits) == 11 && (digits[0] == '7' || (digits[0] == '8' && !plus)) && national(digits[1:]):
		return "+7" + digits[1:], true
	case len(digits) == 10 && !plus && national(digits):
		return "+7" + digits, true
	case digits != "" && digits[0] == '7':
		// +7 (Russia, Kazakhstan) numbers have exactly 11 digits.
		return "", false
	case len(digits) == 11 && digits[0] == '8':
		// "+8 912 ..." is a mistyped Russian 8-prefix or a foreign number;
		// which one cannot be told, so it is rejected.
		return "", false
	case plus && len(digits) >= 8 && len(digits) <= 15 && digits[0] != '0':
		return "+" + digits, true
	}
	return "", false
}

func tPhone(s string, _ *Spec) (string, bool, *failure) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false, nil
	}
	if p, ok := NormalizePhone(s); ok {
		return p, true, nil
	}
	return "", false, &failure{"a phone number (+7XXXXXXXXXX)", phoneShape(s)}
}

// NormalizeEmail trims and lower-cases an address and checks its rough shape:
// one @, a non-empty local part, a dotted domain, no spaces. Cyrillic domains
// (почта.рф) pass.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.Index(s, "@")
	if at <= 0 || strings.Count(s, "@") != 1 || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", false
	}
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") {
		return "", false
	}
	return s, true
}

func tEmail(s string, _ *Spec) (string, bool, *failure) {
	if strings.TrimSpace(s) == "" {
		return "", false, nil
	}
	if e, ok := NormalizeEmail(s); ok {
		return e, true, nil
	}
	return "", false, &failure{"an e-mail address", textShape(s)}
}

// NamePart returns part n of a full name split on whitespace: 1 the first
// word, 2 the second, 3 the rest joined by single spaces (patronymics of more
// than one word, "оглы", "кызы"). ok=false when the name has no such part.
func NamePart(s string, n int) (string, bool) {
	words := strings.Fields(s)
	switch {
	case n < 1 || n > len(words):
		return "", false
	case n == 3:
		return strings.Join(words[2:], " "), true
	default:
		return words[n-1], true
	}
}

func tNamePart(s string, sp *Spec) (string, bool, *failure) {
	p, ok := NamePart(s, sp.Part)
	return p, ok, nil
}

func tBool01(s string, _ *Spec) (string, bool, *failure) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", false, nil
	case "true", "1":
		return "1", true, nil
	case "false", "0":
		return "0", true, nil
	}
	return "", false, &failure{"a boolean", textShape(s)}
}

func tMap(s string, sp *Spec) (string, bool, *failure) {
	s = strings.TrimSpace(s)
	v, ok := sp.Map[s]
	if !ok {
		return "", false, &failure{"one of " + strings.Join(sortedKeys(sp.Map), ", "), textShape(s)}
	}
	// A mapping to "" is how a user says "known value, send nothing".
	return v, v != "", nil
}

// textShape describes a text without revealing it.
func textShape(s string) string {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "empty text"
	case strings.Trim(s, "0123456789") == "":
		return fmt.Sprintf("%d digits", n)
	}
	return fmt.Sprintf("text of %d chars", n)
}

func phoneShape(s string) string {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		} else if unicode.IsLetter(r) {
			return textShape(s)
		}
	}
	if digits == 1 {
		return "1 digit"
	}
	return fmt.Sprintf("%d digits", digits)
}

// valueShape describes a decoded JSON value without revealing it.
func valueShape(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return textShape(x)
	case json.Number, float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return fmt.Sprintf("list of %d rows", len(x))
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// scalarText renders a decoded JSON scalar as text. Numbers keep their exact
// decimal text (json.Number); a float64 from a decoder without UseNumber is
// printed in its shortest exact form, never in exponent notation.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// isEmpty reports 1C's "not filled in": null, blank text, the empty GUID and
// the empty date.
func isEmpty(v any) bool {
	s, ok := scalarText(v)
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	return s == "" || s == EmptyGUID || s == EmptyDate
}
