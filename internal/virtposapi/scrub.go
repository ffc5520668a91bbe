package virtposapi

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/virtsync/virtsync/internal/redact"
)

// Texts that leave the client (errors, log lines) name the endpoint and
// the parameter names, never values: a customer's name, phone, e-mail and
// birth date travel in the parameters, and servers echo them (an HTML
// error page with the URL, "Неверный формат телефона +7999..."). The
// scrubber of a call replaces, in every server text it is given, the
// apikey with *** and the value of every parameter that is not an id with
// <name>, in the spellings a server may echo it in.

// idParams are parameters whose values are ids, keys or enumerations:
// not personal, and worth seeing in an error.
var idParams = map[string]bool{"id": true, "external_id": true, "card_id": true, "customer_id": true,
	"customer_external_id": true, "group_id": true, "type_id": true, "uid": true, "card_barcode": true,
	"create_if_not_exist": true, "page": true, "page_size": true, "cards": true, "with_phone": true,
	"with_email": true, "datefrom": true, "dateto": true, "days": true, "format": true, "status": true,
	"medium": true}

// minScrubbed is the shortest value (in bytes) replaced: shorter ones
// ("M", "12") would only blot out unrelated text.
const minScrubbed = 3

// paramNames lists the names of p, sorted, for error texts.
func paramNames(p url.Values) string {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// scrubber cleans the texts about one call. It builds its replacer on
// first use: most calls never fail.
type scrubber struct {
	key    string
	params url.Values
	r      *strings.Replacer
}

func (c *Client) scrubberFor(params url.Values) *scrubber {
	return &scrubber{key: c.key, params: params}
}

func (s *scrubber) replacer() *strings.Replacer {
	if s.r != nil {
		return s.r
	}
	type pair struct{ old, new string }
	var pairs []pair
	add := func(v, with string) {
		for _, f := range spellings(v) {
			pairs = append(pairs, pair{f, with})
		}
	}
	if s.key != "" {
		add(s.key, "***")
	}
	for name, vs := range s.params {
		if idParams[name] || name == "apikey" {
			continue
		}
		for _, v := range vs {
			if len(v) >= minScrubbed {
				add(v, "<"+name+">")
			}
		}
	}
	// Longest first: at one position the Replacer takes the first match
	// in argument order, and an e-mail must go whole, not by its name.
	slices.SortStableFunc(pairs, func(a, b pair) int { return len(b.old) - len(a.old) })
	args := make([]string, 0, 2*len(pairs))
	seen := map[string]bool{}
	for _, p := range pairs {
		if !seen[p.old] {
			seen[p.old] = true
			args = append(args, p.old, p.new)
		}
	}
	s.r = strings.NewReplacer(args...)
	return s.r
}

// spellings are the forms a value takes when a server echoes it: as sent,
// URL-escaped (either hex case), in JSON (escaped as PHP does, \uXXXX for
// every non-ASCII rune), HTML-escaped, and a phone's bare digits.
func spellings(v string) []string {
	out := []string{v}
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, esc := range []string{url.QueryEscape(v), url.PathEscape(v)} {
		add(esc)
		add(strings.ToLower(esc))
	}
	if b, err := json.Marshal(v); err == nil {
		add(string(b[1 : len(b)-1]))
	}
	for _, hex := range []string{`\u%04x`, `\u%04X`} {
		var ascii strings.Builder
		for _, r := range v {
			if r < utf8.RuneSelf {
				ascii.WriteRune(r)
				continue
			}
			for _, u := range utf16(r) {
				fmt.Fprintf(&ascii, hex, u)
			}
		}
		add(ascii.String())
	}
	add(html.EscapeString(v))
	var digits strings.Builder
	for _, r := range v {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	if digits.Len() >= 7 {
		add(digits.String())
	}
	return out
}

// utf16 splits r into UTF-16 code units, as JSON escapes spell it.
func utf16(r rune) []rune {
	if r < 0x10000 {
		return []rune{r}
	}
	r -= 0x10000
	return []rune{0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF}
}

// String cleans one text.
func (s *scrubber) String(t string) string {
	if t == "" {
		return t
	}
	return s.replacer().Replace(t)
}

// snippet cleans raw bytes, then quotes at most n of them: cleaning first
// so that a value cut by the limit cannot leave its first half behind.
func (s *scrubber) snippet(b []byte, n int) string {
	return snippet([]byte(redact.Text(s.String(string(b)))), n)
}

// Err returns err with a clean text, keeping its chain for errors.Is/As.
func (s *scrubber) Err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := s.String(msg); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// stripURL keeps the scheme, host and path of a URL: its query carries the
// apikey and, with GET, every parameter.
func stripURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable URL>"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
