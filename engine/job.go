// Package engine is virtsync's engine: a job reads what changed from a source,
// maps it, writes it to a sink, and records each outcome in the state
// store, in batches, with events in the same transaction.
//
// The vocabulary lives here (Record, Outcome, Source, Handler); the
// packages under sources/ and sinks/ implement it for 1C and virtpos.
package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/virtsync/virtsync"
)

// Mode says why a run happens; it is stored with the run.
type Mode string

// Run modes.
const (
	ModeScheduled Mode = "scheduled"
	ModeOnce      Mode = "once"
	ModeResync    Mode = "resync"
	ModeReplay    Mode = "replay"
)

// Record is one source record that is new, changed, or gone.
type Record struct {
	Key     string // the source's key: 1C Ref_Key, or a virtpos order key
	Version string // what identifies this state of it: DataVersion or a fingerprint
	Deleted bool   // gone from the source (a physical deletion)
	Marked  bool   // marked for deletion at the source (a soft deletion)
	Data    any    // the source's own representation, for the handler
	// Interrupted is set by the engine when an earlier run recorded a
	// create intent for this key and never committed its outcome (a crash,
	// or a write whose reply was lost). A handler must look the record up
	// remotely before it creates anything, and may report a record it
	// finds as created by virtsync rather than adopted.
	Interrupted bool
}

// Source lists the records that differ from what the engine last
// committed, as known tells it. Records are emitted one at a time; emit
// blocks while the engine's queue is full, which is the source's
// backpressure. A source holds at most a page or a batch of records in
// memory: what it has seen and what the engine committed live in the
// state store, behind known.
type Source interface {
	Scan(ctx context.Context, known Known, emit func(Record) error) (ScanStats, error)
}

// Known is the engine's committed versions of one job, as the source of
// one run sees them, and the run's own record of the keys it has seen.
// Both live in the state store, so a base of millions of records costs a
// source no memory.
type Known interface {
	// Count is how many keys have a committed version.
	Count(ctx context.Context) (int, error)
	// Forced reports that every committed version is to be ignored (a
	// resync): each record is changed.
	Forced() bool
	// Versions returns the committed versions of keys. A key absent from
	// the result was never committed; a key mapped to "" must be treated
	// as changed (a resync or a replay forcing it through).
	Versions(ctx context.Context, keys []string) (map[string]string, error)
	// Changed returns those of keys whose committed version differs from
	// the one given beside it (versions[i] for keys[i]): never committed,
	// forced through, or another version; stored[i] says whether a version
	// was committed. Only changed keys come back, so a page of unchanged
	// records costs one query and no rows.
	Changed(ctx context.Context, keys, versions []string) (changed []string, stored []bool, err error)
	// Mark records keys as seen by this run and reports for each whether
	// the run had not seen it before: a key that paging repeats (an insert
	// shifts a later page) is emitted once.
	Mark(ctx context.Context, keys []string) ([]bool, error)
	// Unmarked calls fn with the committed keys this run has not marked,
	// in key order, at most n at a time: the candidates for deletion
	// after a complete sweep. fn may emit records.
	Unmarked(ctx context.Context, n int, fn func(keys []string) error) error
}

// ScanStats is what a source saw beside the records it emitted.
type ScanStats struct {
	Seen      int // records looked at
	Unchanged int // records skipped because their version matched
}

// Handler pushes one record to its destination. It returns what happened;
// a *RejectedError for a record that can never pass as it is (it becomes a
// dead letter), a *HeldError for one waiting on another record, or any
// other error for a failure that should stop the run (the record is then
// retried on the next run).
type Handler interface {
	Prepare(ctx context.Context, run *RunInfo) error
	Apply(ctx context.Context, run *RunInfo, rec Record) (Outcome, error)
}

// Outcome is what a handler did with a record. The engine commits it:
// the version, the id map, the event, all in one transaction per batch.
type Outcome struct {
	Result   virtsync.Result
	RemoteID string             // the record's id on the other side, kept in the id map
	Extra    string             // stored beside the id (e.g. a 1C document number)
	ForgetID bool               // the remote record is gone: drop the id mapping
	Version  string             // the version to store, when it differs from the record's
	Events   []virtsync.Payload // published through the outbox
	Warning  string             // something worth a log line that did not stop the record
	// Fingerprint is Fingerprint(run.FingerprintKey, what was pushed), kept
	// in the record's log so that `explain` can tell whether what the
	// record maps to now is what was pushed last. "" when nothing was.
	Fingerprint string
}

// Fingerprint is a keyed hash of data, the canonical form of what a
// handler pushed: HMAC-SHA256 under the state's key (RunInfo's
// FingerprintKey), its first 16 bytes in hex. Keyed, so that a
// fingerprint seen outside the state cannot be tried against guessed
// phone numbers. No key, no fingerprint: "".
func Fingerprint(key, data []byte) string {
	if len(key) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// RejectedError marks a record that cannot pass as it is.
type RejectedError struct {
	Reason string
	Err    error
}

func (e *RejectedError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Reject wraps err as a permanent failure of the record.
func Reject(err error, format string, args ...any) error {
	return &RejectedError{Reason: fmt.Sprintf(format, args...), Err: err}
}

// HeldError marks a record waiting for another one (a card for its owner,
// an order for its customer or items). It is retried on later runs and
// becomes a dead letter after the runner's hold limit.
type HeldError struct {
	Reason string
	// WaitsFor names the job that should bring what the record waits for
	// (customers, for a card's owner or an order's customer). While that
	// job has never finished a run, the hold does not age: a first load
	// that takes longer than the hold limit dead-letters nothing.
	WaitsFor string
	// KeepIntent keeps the record's create intent: the handler does not
	// know whether its create went through, so the next run must look the
	// record up first and report one it finds as created by virtsync.
	KeepIntent bool
}

func (e *HeldError) Error() string { return "waiting: " + e.Reason }

// Hold returns a *HeldError.
func Hold(format string, args ...any) error {
	return &HeldError{Reason: fmt.Sprintf(format, args...)}
}

// HoldFor returns a *HeldError for a record that waits for something the
// job named job brings (see HeldError.WaitsFor).
func HoldFor(job, format string, args ...any) error {
	return &HeldError{Reason: fmt.Sprintf(format, args...), WaitsFor: job}
}

func resultOf(err error) virtsync.Result {
	var re *RejectedError
	var he *HeldError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &he):
		return virtsync.Held
	case errors.As(err, &re):
		return virtsync.Failed
	}
	return ""
}
