// Package events publishes what virtsync did as CloudEvents on NATS JetStream.
//
// The flow is: the sync engine builds an [Envelope] with [New] and stores
// [Envelope.Event] in the SQLite outbox in the same transaction as the record
// it describes; a [Relay] reads the outbox, publishes each event with
// Nats-Msg-Id = the event id and deletes the row only after JetStream acked
// it. A crash between the ack and the delete re-publishes the same id, which
// the stream's duplicate window ([DedupeWindowDefault]) swallows.
//
// When no NATS URL is configured, [StartEmbedded] runs a nats-server with
// JetStream inside the process, reached in-process only (no socket) unless
// [Options.Listen] asks for a listener, which then requires a password;
// one process at a time owns its store ([ErrStoreLocked]).
package events

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/virtsync/virtsync/state"
)

// Defaults of the nats section of the config (DESIGN.md sections 5 and 7),
// which uses these constants.
const (
	// SubjectPrefixDefault is the first subject token: subjects are
	// "<prefix>.<kind>.<what>".
	SubjectPrefixDefault = "virtsync"
	// StreamDefault is the JetStream stream that captures "<prefix>.>".
	StreamDefault = "VIRTSYNC"
	// DedupeWindowDefault is the stream's duplicate window. It must exceed
	// the worst delay between an event's first publish attempt and the
	// deletion of its outbox row (relay backoff, a restart after a crash),
	// or a re-publish after that delay is stored twice. Ten minutes covers
	// a crash-and-restart loop and the relay's 30 s maximum backoff many
	// times over while keeping the server's id table small.
	DedupeWindowDefault = 10 * time.Minute
)

// CloudEvents constants written into every envelope.
const (
	SpecVersion     = "1.0"
	DataContentType = "application/json"
	// typePrefix starts the default CloudEvents type, "virtsync.<kind>.<what>".
	// It does not follow the subject prefix: consumers match on the type,
	// which must not change when an operator renames the subjects.
	typePrefix = "virtsync."
)

// Envelope is a CloudEvents 1.0 event in JSON structured mode. Its JSON form
// is what lands in the outbox and, unchanged, in the JetStream message body.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data,omitempty"`

	// Subject is the NATS subject "<prefix>.<kind>.<what>". It is not the
	// CloudEvents "subject" attribute and is not part of the JSON body.
	Subject string `json:"-"`
}

// New builds the envelope for one outcome. source names the producer
// ("virtsync/<host>", see [DefaultSource]); typ is the CloudEvents type, and
// when empty it is "virtsync.<kind>.<what>". kind and what are single NATS
// subject tokens (see the Kind* and What* constants), subjectPrefix is one or
// more tokens ("virtsync", "acme.virtsync"). data is marshalled to JSON now,
// so later changes to it do not alter the event; nil means no data. now is
// the event time; its zone is kept in the RFC 3339 output.
//
// The id is a UUIDv7 built from now and 74 random bits: unique, and sorting
// ids sorts events by time, which helps anyone reading the stream by hand.
func New(source, typ, subjectPrefix, kind, what string, data any, now time.Time) (Envelope, error) {
	if source == "" {
		return Envelope{}, errors.New("new event: empty source")
	}
	if now.IsZero() {
		return Envelope{}, errors.New("new event: zero time")
	}
	if err := validSubject(subjectPrefix, true); err != nil {
		return Envelope{}, fmt.Errorf("new event: subject prefix: %w", err)
	}
	if err := validSubject(kind, false); err != nil {
		return Envelope{}, fmt.Errorf("new event: kind: %w", err)
	}
	if err := validSubject(what, false); err != nil {
		return Envelope{}, fmt.Errorf("new event: what: %w", err)
	}
	if typ == "" {
		typ = typePrefix + kind + "." + what
	}
	id, err := newUUIDv7(now)
	if err != nil {
		return Envelope{}, fmt.Errorf("new event: %w", err)
	}
	env := Envelope{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          source,
		Type:            typ,
		Time:            now,
		DataContentType: DataContentType,
		Subject:         subjectPrefix + "." + kind + "." + what,
	}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return Envelope{}, fmt.Errorf("new event %s: marshal data: %w", env.Subject, err)
		}
		env.Data = raw
	}
	return env, nil
}

// Event returns the outbox row for the envelope: ID and Subject as they will
// be published, Data the JSON envelope, CreatedAt the event time. Seq is left
// for the outbox to assign.
func (e Envelope) Event() (state.Event, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return state.Event{}, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return state.Event{ID: e.ID, Subject: e.Subject, Data: body, CreatedAt: e.Time}, nil
}

// Builder makes outbox rows for one installation. Its Event method has the
// shape the sync engine takes (Runner.NewEvent). The zero value works.
type Builder struct {
	// Source is the CloudEvents source. Empty means [DefaultSource]().
	Source string
	// SubjectPrefix starts every subject. Empty means [SubjectPrefixDefault].
	SubjectPrefix string
	// Now is the clock. nil means time.Now.
	Now func() time.Time
}

// Event builds the envelope for kind.what with data and returns its outbox
// row; see [New].
func (b Builder) Event(kind, what string, data any) (state.Event, error) {
	source, prefix, now := b.Source, cmp.Or(b.SubjectPrefix, SubjectPrefixDefault), time.Now
	if source == "" {
		source = DefaultSource() // not in cmp.Or: it asks the OS for the hostname
	}
	if b.Now != nil {
		now = b.Now
	}
	env, err := New(source, "", prefix, kind, what, data, now())
	if err != nil {
		return state.Event{}, err
	}
	return env.Event()
}

// Decode parses a message body produced by this package. The NATS subject is
// not in the body: callers that need it set Subject from the message.
func Decode(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("decode event: %w", err)
	}
	if e.SpecVersion != SpecVersion {
		return Envelope{}, fmt.Errorf("decode event: specversion %q, want %q", e.SpecVersion, SpecVersion)
	}
	if e.ID == "" || e.Source == "" || e.Type == "" {
		return Envelope{}, errors.New("decode event: id, source and type are required")
	}
	return e, nil
}

// DefaultSource returns "virtsync/<hostname>", or "virtsync" when the host
// name is unknown, so that events from two installations can be told apart.
func DefaultSource() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "virtsync"
	}
	return "virtsync/" + host
}

// validSubject checks NATS subject tokens: non-empty, no wildcards and no
// whitespace. A stray "." in a kind would silently move the event under
// another subject, and a wildcard cannot be published at all.
func validSubject(s string, multiToken bool) error {
	if s == "" {
		return errors.New("empty")
	}
	tokens := []string{s}
	if multiToken {
		tokens = strings.Split(s, ".")
	}
	for _, tok := range tokens {
		if tok == "" {
			return fmt.Errorf("%q has an empty token", s)
		}
		if strings.ContainsAny(tok, ".*> \t\r\n") {
			return fmt.Errorf("%q: tokens must not contain '.', '*', '>' or whitespace", s)
		}
	}
	return nil
}

// newUUIDv7 returns an RFC 9562 version 7 UUID for t.
func newUUIDv7(t time.Time) (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[6:]); err != nil {
		return "", fmt.Errorf("event id: %w", err)
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:]), nil
}
