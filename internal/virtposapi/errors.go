package virtposapi

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/virtsync/virtsync/internal/redact"
)

// APIError is a rejection by virtpos: the call was understood and refused
// (success=0). It is permanent for the record that caused it: retrying the
// same parameters gives the same answer, so callers dead-letter the record.
type APIError struct {
	Endpoint string // the logical endpoint, e.g. "customer_update"
	Info     string // the server's text, as sent
}

func (e *APIError) Error() string {
	if e.Info == "" {
		return fmt.Sprintf("virtpos %s: rejected (success=0, no info)", e.Endpoint)
	}
	return fmt.Sprintf("virtpos %s: rejected: %s", e.Endpoint, e.Info)
}

// Outcome is what a call did on the server, as far as the client can tell.
// It decides whether a write that could create a record may be sent again:
// only after OutcomeNotSent.
type Outcome uint8

const (
	// OutcomeUnknown: the request may have been carried out (a timeout
	// after it was written, a reset, EOF, a cut or garbled body, a 5xx).
	// It is the zero value so that a failure nobody classified is never
	// taken for a safe one.
	OutcomeUnknown Outcome = iota
	// OutcomeNotSent: the request surely did not reach the server's logic
	// (refused or unresolvable address, no connection, 429, a 503 with
	// Retry-After that came before the request was fully sent, a success=0
	// that says "try later", a refused key, an open breaker).
	OutcomeNotSent
	// OutcomeRejected: virtpos understood the call and refused this
	// record (success=0).
	OutcomeRejected
	// OutcomeDone: the call succeeded.
	OutcomeDone
)

func (o Outcome) String() string {
	switch o {
	case OutcomeNotSent:
		return "not sent"
	case OutcomeRejected:
		return "rejected"
	case OutcomeDone:
		return "done"
	}
	return "unknown"
}

// OutcomeOf classifies the error of a call: OutcomeDone for nil. An error
// the client did not produce counts as OutcomeUnknown.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeDone
	}
	var te *TransientError
	if errors.As(err, &te) {
		return te.Outcome
	}
	var ns *notSentError
	var ae *APIError
	var he *HTTPError
	var au *AuthError
	switch {
	case errors.As(err, &ns), errors.As(err, &au), errors.Is(err, ErrUnavailable):
		return OutcomeNotSent
	case errors.As(err, &ae):
		return OutcomeRejected
	case errors.As(err, &he) && he.Status >= 400 && he.Status < 500:
		return OutcomeNotSent // refused by HTTP before any record logic
	}
	return OutcomeUnknown
}

// IsOutcomeUnknown reports whether err leaves open whether the call was
// carried out: a create must then be looked up before it is sent again.
func IsOutcomeUnknown(err error) bool {
	return err != nil && OutcomeOf(err) == OutcomeUnknown
}

// notSentError marks a call refused by the client itself before any
// request (bad parameters, a cancelled context while waiting for a slot).
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// TransientError is a failure worth retrying later: the network, a timeout,
// a 5xx, a 429, or a body that could not be read or parsed. The client has
// already retried it as far as its policy allows when a caller sees one
// (a call that could create a record is repeated only while its Outcome is
// OutcomeNotSent).
type TransientError struct {
	Endpoint string
	// Params are the names (never the values) of the call's parameters,
	// comma-separated.
	Params     string
	Status     int           // HTTP status, 0 when no response arrived
	RetryAfter time.Duration // from a 429/503 Retry-After header, 0 if none
	Attempts   int           // how many attempts were made
	// Outcome says whether the failed call may have been carried out:
	// OutcomeUnknown when any attempt may have been.
	Outcome Outcome
	Err     error
}

func (e *TransientError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtpos %s", e.Endpoint)
	if e.Params != "" {
		fmt.Fprintf(&b, " (params: %s)", e.Params)
	}
	b.WriteString(": temporary failure")
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *TransientError) Unwrap() error { return e.Err }

// DecodeError says which part of a response could not be decoded, what was
// expected there, and what arrived (the first bytes only).
type DecodeError struct {
	Endpoint string
	Status   int    // HTTP status of the response
	Path     string // e.g. "orders[3].items[1].quantity"; empty when the body as a whole is wrong
	Expected string // e.g. "a decimal number"
	Got      string // the first bytes of the offending value or body, quoted
	Err      error  // underlying syntax error, if any

	// raw is where Got was cut from (a little beyond the cut), kept until
	// the client cleans it of the call's values: cleaning the quoted cut
	// could miss a value the cut splits.
	raw  []byte
	gotN int
}

// rawSlack is how far beyond a quoted cut the raw bytes are kept.
const rawSlack = 512

// withGot sets Got to the first n bytes of raw, quoted, and keeps raw.
func (e *DecodeError) withGot(raw []byte, n int) *DecodeError {
	e.Got = snippet(raw, n)
	e.raw, e.gotN = slices.Clone(raw[:min(len(raw), n+rawSlack)]), n
	return e
}

// bodyGot is withGot for the start of a whole body, which is quoted only
// when it is not an API reply: an HTML page or a proxy's text is worth
// seeing, but a reply of virtpos, however broken, holds customers' and
// orders' personal data.
func (e *DecodeError) bodyGot(body []byte, n int) *DecodeError {
	if looksLikeReply(body) {
		return e
	}
	return e.withGot(body, n)
}

// looksLikeReply reports whether body starts like a JSON or XML reply of
// the API.
func looksLikeReply(body []byte) bool {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[' || bytes.HasPrefix(b, []byte("<?xml")) || bytes.HasPrefix(b, []byte("<root")))
}

// clean rewrites Got without the apikey and the call's values.
func (e *DecodeError) clean(sc *scrubber) {
	if e.raw != nil {
		e.Got = sc.snippet(e.raw, e.gotN)
		e.raw = nil
		return
	}
	e.Got = sc.String(e.Got)
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("virtpos ")
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint + ": ")
	}
	b.WriteString("cannot decode response")
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, " at %s", e.Path)
	}
	if e.Expected != "" {
		fmt.Fprintf(&b, ": expected %s", e.Expected)
	}
	if e.Got != "" {
		fmt.Fprintf(&b, ", got %s", e.Got)
		if e.Path != "" && e.Err != nil {
			b.WriteString(" (start of body)")
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// AuthError is virtpos refusing the apikey itself: HTTP 401 or 403, or a
// success=0 whose text speaks of the key or of access ("invalid apikey",
// "неверный ключ", "доступ запрещен", "unauthorized" ...). It is a fault of
// the whole configuration, never of one record: IsRejected is false for
// it, and callers stop the run instead of dead-lettering records.
type AuthError struct {
	Endpoint string
	Status   int    // HTTP status: 401 or 403, or 200 with success=0
	Info     string // the server's text (success=0), scrubbed
	Err      error  // the *HTTPError of a 401/403
}

func (e *AuthError) Error() string {
	var why string
	var he *HTTPError
	switch {
	case errors.As(e.Err, &he):
		why = fmt.Sprintf("HTTP %d; body starts %s", he.Status, he.Head)
	case e.Err != nil:
		why = e.Err.Error()
	case e.Info != "":
		why = fmt.Sprintf("success=0, %q", e.Info)
	default:
		why = "success=0"
	}
	return fmt.Sprintf("virtpos %s: the apikey was refused (%s): check virtpos.apikey", e.Endpoint, why)
}

func (e *AuthError) Unwrap() error { return e.Err }

// IsAuth reports whether err is virtpos refusing the apikey.
func IsAuth(err error) bool {
	var a *AuthError
	return errors.As(err, &a)
}

// authInfo recognises a success=0 that refuses the key or access as a
// whole rather than one record.
func authInfo(info string) bool {
	s := strings.ToLower(info)
	for _, w := range []string{"apikey", "api key", "api-key", "api_key", "ключ api", "api ключ", "неверный ключ",
		"invalid key", "wrong key", "доступ запрещен", "доступ запрещён", "access denied", "unauthorized",
		"not authorized", "unauthorised", "authentication", "не авторизован", "нет доступа"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// ErrUnavailable matches (errors.Is) the error of every call refused
// because the client's circuit breaker is open: virtpos failed too many
// requests in a row. Callers stop the run; nothing was sent.
var ErrUnavailable = errors.New("virtpos unavailable")

// UnavailableError is the refusal of an open breaker. It is transient
// (IsTransient) and its outcome is OutcomeNotSent.
type UnavailableError struct {
	Endpoint string    // the call that was refused
	Failures int       // failed requests in a row
	Last     string    // what the last of them was
	Until    time.Time // when one trial request will be let through
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("virtpos unavailable: %d requests in a row failed (last: %s); check that virtpos is up "+
		"(calls are refused until %s, then one is tried)", e.Failures, e.Last, e.Until.Format(time.TimeOnly))
}

func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ErrRedirect is returned (wrapped) when virtpos answers with a redirect.
// The client never follows one: the apikey rides in the query and must not
// be carried to another host. The fix is to update virtpos.base_url.
var ErrRedirect = errors.New("virtpos answered with a redirect; update virtpos.base_url to the new address")

// IsRejected reports whether err is a permanent rejection by virtpos. A
// success=0 whose text plainly says "try later" arrives wrapped in a
// *TransientError and is not a rejection.
func IsRejected(err error) bool {
	var t *TransientError
	if errors.As(err, &t) {
		return false
	}
	var a *APIError
	return errors.As(err, &a)
}

// IsNotFound reports whether err is a rejection saying the record does
// not exist (virtpos words it "not found" or "не найден").
func IsNotFound(err error) bool {
	if !IsRejected(err) {
		return false
	}
	var a *APIError
	errors.As(err, &a)
	return notFoundInfo(a.Info)
}

// IsTransient reports whether err is a failure that may pass on a later
// try (an open breaker's refusal included).
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t) || errors.Is(err, ErrUnavailable)
}

// snippet returns at most n bytes of b as a quoted string, for error text.
func snippet(b []byte, n int) string {
	if head, cut := redact.Cut(string(b), n); cut {
		return fmt.Sprintf("%q...", head)
	}
	return fmt.Sprintf("%q", b)
}
