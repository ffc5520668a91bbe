package onecapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"regexp"
	"strings"

	"github.com/virtsync/virtsync/internal/redact"
)

// ErrOutcomeUnknown marks a create whose request may have reached 1C but
// whose answer was lost (timeout, connection reset, 502/504 from a proxy).
// The client never retries such a create: the caller must look the record
// up by its marker field (FindByField) before creating again.
var ErrOutcomeUnknown = errors.New("outcome unknown: the request may have been applied")

// Error is an HTTP error answer of 1C, in any of its three shapes (odata.error
// JSON, #exception JSON, the HTML application-error page).
type Error struct {
	// Op is the client operation ("list", "count", "fetch", "create",
	// "update", "post", "metadata"), Entity the entity set.
	Op, Entity string
	// Status is the HTTP status.
	Status int
	// Code is 1C's OData error code ("9", "-1", ...); empty when the body
	// had none (HTML page, #exception, proxy errors).
	Code string
	// Message is 1C's text (Russian as a rule), or the first bytes of an
	// unrecognised body.
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("onec: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteByte(' ')
	}
	if e.Entity != "" {
		b.WriteString(e.Entity)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if h := e.hint(); h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

// hint says what to do about an answer that is the setup's fault, not
// the record's.
func (e *Error) hint() string {
	switch {
	case e.Status == 401:
		return "1C refused the user name or password: check onec.user and onec.password " +
			"(ONEC_USER, ONEC_PASSWORD); the infobase user needs 1C:Enterprise password " +
			"authentication (\"Аутентификация 1С:Предприятия\") enabled"
	case e.Status == 403 || e.Code == "20":
		return "the infobase user lacks rights: give it a role that may read every published object " +
			"(and add, change and post the order documents); reads send allowedOnly=true, so row-level " +
			"restrictions filter rows rather than fail, and a 403 means the object itself is not allowed"
	}
	return ""
}

// IsAuth reports that 1C refused the credentials (401) or the rights
// (403, code 20). It is a fault of the setup, never of one record: stop
// the run rather than dead-letter records.
func IsAuth(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == 401 || e.Status == 403 || e.Code == "20")
}

// Transient reports whether repeating the same request later may succeed:
// 408, 429, 502, 503, 504, and a 500 that carries no 1C error code (a
// crashed worker process, the HTML application-error page). A 500 with a
// code (-1: runtime or posting error) is 1C refusing on business grounds and
// is not transient: repeating it at once gives the same answer.
func (e *Error) Transient() bool {
	switch e.Status {
	case 408, 429, 502, 503, 504:
		return true
	case 500:
		return e.Code == ""
	}
	return false
}

// IsNotFound reports a 404 or 1C code 9 (instance not found) / 8 (entity type
// not found).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == 404 || e.Code == "9" || e.Code == "8")
}

// IsRejected reports that 1C refused the record itself, permanently: a 400,
// or codes 4 (bad property value), 5 (required property missing), 13, 15
// (key exists), 16 (property cannot be assigned). Retrying is useless; the
// record goes to dead letters.
func IsRejected(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "4", "5", "13", "15", "16":
		return true
	}
	return e.Status == 400
}

// IsConflict reports a 412: the If-Match DataVersion is stale (someone else
// changed the document). Re-read and decide.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 412
}

// IsPostingFailed reports a posting error: HTTP 500 with code -1 from Post.
// The document stays saved and unposted.
func IsPostingFailed(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == "post" && e.Status == 500 && e.Code == "-1"
}

// IsTransient reports whether err is worth retrying later: network errors
// and timeouts, transient HTTP statuses (see Error.Transient) and a body cut
// short, and ErrUnavailable (worth it after the cooldown). An
// ErrOutcomeUnknown is not transient (it needs a look-up first),
// nor are cancellation, bad input, metadata and malformed-body errors.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true // after the breaker's cooldown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Transient()
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return errors.Is(de.Err, io.ErrUnexpectedEOF)
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// DecodeError is a 2xx answer whose body is not the JSON 1C should send
// (an HTML login page from a proxy, a truncated body).
type DecodeError struct {
	Op, Entity string
	Status     int
	// Snippet is the first bytes of the body, unless it is JSON (records
	// hold personal data), secrets scrubbed.
	Snippet string
	Err     error
	head    []byte // the body's start, until the client makes Snippet
}

func (e *DecodeError) Error() string {
	s := fmt.Sprintf("onec: %s %s: HTTP %d: bad body: %v", e.Op, e.Entity, e.Status, e.Err)
	if e.Snippet != "" {
		s += fmt.Sprintf(" (body starts %q)", e.Snippet)
	}
	return s
}

func (e *DecodeError) Unwrap() error { return e.Err }

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

var (
	titleRe = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	tagRe   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRe = regexp.MustCompile(`\s+`)
	// scriptRe drops script and style blocks of the HTML error page.
	scriptRe = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>`)
)

// parseError reads any of 1C's error bodies. It never fails: an unknown body
// becomes the Message (first 200 bytes, whitespace collapsed).
func parseError(status int, contentType string, raw []byte) *Error {
	e := &Error{Status: status}
	body := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(raw), utf8BOM))
	if len(body) > 0 && body[0] == '{' {
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) == nil {
			if oe, ok := doc["odata.error"]; ok {
				var v struct {
					Code    json.RawMessage `json:"code"`
					Message json.RawMessage `json:"message"`
				}
				if json.Unmarshal(oe, &v) == nil {
					e.Code = rawText(v.Code)
					e.Message = messageText(v.Message)
					return e
				}
			}
			if ex, ok := doc["#exception"]; ok {
				e.Message = exceptionText(ex)
				return e
			}
		}
	}
	if bytes.Contains(bytes.ToLower(body[:min(len(body), 512)]), []byte("<html")) ||
		strings.Contains(contentType, "html") {
		e.Message = htmlText(body)
		return e
	}
	if len(body) > 0 && body[0] == '<' {
		// OData XML error (<m:error><m:code>..</m:code><m:message>..).
		e.Code = xmlElem(body, "code")
		e.Message = xmlElem(body, "message")
		if e.Message != "" {
			return e
		}
	}
	e.Message = snippet(body, 200)
	return e
}

// rawText turns a JSON string or number into text.
func rawText(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(r))
}

// messageText reads {"lang":"ru","value":"..."} or a plain string.
func messageText(r json.RawMessage) string {
	var m struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(r, &m) == nil && m.Value != "" {
		return m.Value
	}
	return rawText(r)
}

// exceptionText finds the description inside 1C's serialized ErrorInfo. The
// layout varies between releases, so it looks for the usual keys at any depth
// and falls back to the first string found.
func exceptionText(r json.RawMessage) string {
	var v any
	if json.Unmarshal(r, &v) != nil {
		return snippet(r, 200)
	}
	var first string
	var walk func(v any) string
	walk = func(v any) string {
		switch x := v.(type) {
		case string:
			if first == "" && strings.TrimSpace(x) != "" {
				first = x
			}
		case []any:
			for _, y := range x {
				if s := walk(y); s != "" {
					return s
				}
			}
		case map[string]any:
			for _, k := range []string{"descr", "description", "Description", "Описание", "message", "text", "#value"} {
				if s, ok := x[k].(string); ok && strings.TrimSpace(s) != "" {
					return s
				}
			}
			for k, y := range x {
				if strings.HasPrefix(k, "#type") {
					continue
				}
				if s := walk(y); s != "" {
					return s
				}
			}
		}
		return ""
	}
	if s := walk(v); s != "" {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(first)
}

// htmlText extracts "title: first lines of text" from the HTML
// application-error page.
func htmlText(body []byte) string {
	title := ""
	if m := titleRe.FindSubmatch(body); m != nil {
		title = strings.TrimSpace(html.UnescapeString(spaceRe.ReplaceAllString(string(m[1]), " ")))
	}
	text := string(body)
	if i := strings.Index(strings.ToLower(text), "<body"); i >= 0 {
		text = text[i:]
	}
	text = scriptRe.ReplaceAllString(text, " ")
	text = tagRe.ReplaceAllString(text, " ")
	text = strings.TrimSpace(spaceRe.ReplaceAllString(html.UnescapeString(text), " "))
	text = strings.TrimSpace(strings.TrimPrefix(text, title))
	switch {
	case title == "":
		return truncate(text, 300)
	case text == "":
		return title
	}
	return title + ": " + truncate(text, 300)
}

func xmlElem(body []byte, local string) string {
	re := regexp.MustCompile(`(?s)<(?:\w+:)?` + local + `[^>]*>(.*?)</(?:\w+:)?` + local + `>`)
	if m := re.FindSubmatch(body); m != nil {
		return strings.TrimSpace(html.UnescapeString(string(m[1])))
	}
	return ""
}

func snippet(b []byte, n int) string {
	return truncate(strings.TrimSpace(spaceRe.ReplaceAllString(string(b), " ")), n)
}

// truncate cuts s to at most n bytes, marking a cut with "…".
func truncate(s string, n int) string {
	if head, cut := redact.Cut(s, n); cut {
		return head + "…"
	}
	return s
}

// ErrRedirect is returned (wrapped) when 1C, or a proxy in front of it,
// answers with a redirect. It is never followed: the Basic credentials
// would go along to wherever it points.
var ErrRedirect = errors.New("1C answered with a redirect; update onec.base_url to the new address")
