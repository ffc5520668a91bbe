package mapping

import "fmt"

// SpecError reports a field spec that cannot be compiled. Param is the virtpos
// parameter the spec belongs to (empty when the spec was parsed on its own).
type SpecError struct {
	Param   string
	Problem string
}

func (e *SpecError) Error() string {
	if e.Param == "" {
		return "field spec: " + e.Problem
	}
	return "field " + e.Param + ": " + e.Problem
}

// FieldError reports a record value that failed its transform. It names the
// virtpos parameter, the 1C source, the expected shape and the shape of the
// value it got; never the value, which may be personal data. The caller adds
// the record key when wrapping it.
type FieldError struct {
	Param    string // virtpos parameter, e.g. "phone"
	From     string // 1C source field(s), e.g. "КонтактнаяИнформация"
	Expected string // e.g. "a phone number (+7XXXXXXXXXX)"
	Shape    string // e.g. "5 digits", "text of 5 chars", "number"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %s (from %s): expected %s, got %s", e.Param, e.From, e.Expected, e.Shape)
}

// UnresolvedError means a 1C reference is not (yet) known: for kind customer,
// card or order it is missing from the id map; for a lookup, Kind is the 1C
// entity that was not pre-fetched. The record should be held and retried after
// the referenced record has been synced, not rejected.
type UnresolvedError struct {
	Param string
	Kind  string
	Ref   string // a 1C GUID: an identifier, not personal data
}

func (e *UnresolvedError) Error() string {
	return fmt.Sprintf("field %s: unresolved %s reference %s", e.Param, e.Kind, e.Ref)
}
