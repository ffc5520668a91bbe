package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/state"
)

func TestRecordLogWithItsOutcome(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		t0 := c.Now()
		mustUpdate(t, db, func(tx *state.Tx) error {
			if err := tx.SetVersion("customers", "k1", "v1"); err != nil {
				return err
			}
			if err := tx.AddEvent(state.Event{ID: "ev-1", Subject: "virtsync.customer.upserted", Data: []byte("{}")}); err != nil {
				return err
			}
			return tx.LogRecord(state.LogEntry{Job: "customers", Key: "k1", RunID: "run-a", Result: "created",
				Events: []state.LogEvent{{ID: "ev-1", Type: "customer.upserted"}}, Fingerprint: "f1"})
		})
		c.Add(time.Minute)
		// A transaction that fails takes its log entry with it.
		boom := errors.New("boom")
		err := db.Update(ctx, func(tx *state.Tx) error {
			if err := tx.LogRecord(state.LogEntry{Job: "customers", Key: "k1", RunID: "run-b", Result: "updated"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v", err)
		}
		mustUpdate(t, db, func(tx *state.Tx) error {
			return tx.LogRecord(state.LogEntry{Job: "customers", Key: "k1", RunID: "run-c", Result: "held"})
		})

		got, err := db.RecordLog(ctx, "customers", "k1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("log = %+v, want run-a and run-c", got)
		}
		first, second := got[0], got[1]
		if first.RunID != "run-a" || first.Result != "created" || first.Fingerprint != "f1" || !first.At.Equal(t0) ||
			len(first.Events) != 1 || first.Events[0] != (state.LogEvent{ID: "ev-1", Type: "customer.upserted"}) {
			t.Errorf("first entry = %+v", first)
		}
		if second.RunID != "run-c" || second.Result != "held" || len(second.Events) != 0 || second.Fingerprint != "" ||
			!second.At.Equal(t0.Add(time.Minute)) || second.Job != "customers" || second.Key != "k1" {
			t.Errorf("second entry = %+v", second)
		}
		if other, err := db.RecordLog(ctx, "cards", "k1"); err != nil || len(other) != 0 {
			t.Errorf("cards/k1 log = %+v, %v: the log is per job", other, err)
		}
	})
}

// TestRecordLogBounded: a record keeps its newest RecordLogKeep entries,
// and trimming one record's log leaves the others' alone.
func TestRecordLogBounded(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		n := state.RecordLogKeep + 7
		for i := range n {
			c.Add(time.Second)
			mustUpdate(t, db, func(tx *state.Tx) error {
				if err := tx.LogRecord(state.LogEntry{Job: "cards", Key: "busy", RunID: fmt.Sprintf("run-%02d", i), Result: "updated"}); err != nil {
					return err
				}
				if i < 3 {
					return tx.LogRecord(state.LogEntry{Job: "cards", Key: "quiet", RunID: fmt.Sprintf("run-%02d", i), Result: "updated"})
				}
				return nil
			})
		}
		busy, err := db.RecordLog(ctx, "cards", "busy")
		if err != nil {
			t.Fatal(err)
		}
		if len(busy) != state.RecordLogKeep {
			t.Fatalf("busy keeps %d entries, want %d", len(busy), state.RecordLogKeep)
		}
		for i, e := range busy {
			if want := fmt.Sprintf("run-%02d", n-state.RecordLogKeep+i); e.RunID != want {
				t.Errorf("entry %d is %s, want %s (the newest, oldest first)", i, e.RunID, want)
			}
		}
		if quiet, err := db.RecordLog(ctx, "cards", "quiet"); err != nil || len(quiet) != 3 {
			t.Errorf("quiet keeps %d entries (%v), want its 3", len(quiet), err)
		}
		if rows := b.Raw(t, db, `SELECT COUNT(*) FROM record_log`); rows != fmt.Sprint(state.RecordLogKeep+3) {
			t.Errorf("record_log holds %s rows, want %d", rows, state.RecordLogKeep+3)
		}
	})
}

func TestFingerprintKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		k1, err := db.FingerprintKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(k1) != 32 || bytes.Equal(k1, make([]byte, 32)) {
			t.Fatalf("key = %x: want 32 random bytes", k1)
		}
		other := b.Again(t, db, c)
		k2, err := other.FingerprintKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k1, k2) {
			t.Error("a second handle on the store got another key")
		}
		fresh, fc := b.Open(t)
		// A read-only handle makes no key: it has nothing to compare with.
		ro := b.OpenAt(t, b.target(t, fresh), fc, state.ReadOnly())
		if k, err := ro.FingerprintKey(ctx); err != nil || k != nil {
			t.Errorf("read-only FingerprintKey = %x, %v; want none and no error", k, err)
		}
		k3, err := fresh.FingerprintKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(k1, k3) {
			t.Error("two stores share a key: it must be made per store")
		}
		if k, err := ro.FingerprintKey(ctx); err != nil || !bytes.Equal(k, k3) {
			t.Errorf("read-only FingerprintKey = %x, %v; want the store's key once made", k, err)
		}
	})
}

func TestFindKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		jobs := []state.RecordJob{{Job: "customers", Kind: "customer"}, {Job: "cards", Kind: "card"}, {Job: "orders", Kind: "order"}}
		mustUpdate(t, db, func(tx *state.Tx) error {
			for _, err := range []error{
				tx.SetVersion("customers", "ref-c", "v1"), tx.PutID("customer", "ref-c", "17", ""),
				tx.SetVersion("cards", "ref-k", "v1"), tx.PutID("card", "ref-k", "17", ""),
				tx.SetVersion("orders", "guid:o-1", "f1"), tx.PutID("order", "guid:o-1", "doc-ref", "00-0001"),
				tx.AddDeadLetter("cards", "ref-dead", "rejected", nil),
			} {
				if err != nil {
					return err
				}
			}
			_, _, err := tx.Hold("orders", "guid:o-2", "item unknown")
			return err
		})
		for _, tt := range []struct {
			key  string
			want []state.KeyMatch
		}{
			{"ref-c", []state.KeyMatch{{Job: "customers", Kind: "customer", Key: "ref-c"}}},
			// A virtpos customer and a card may share an id: both are told.
			{"17", []state.KeyMatch{{Job: "customers", Kind: "customer", Key: "ref-c", ByRemoteID: true},
				{Job: "cards", Kind: "card", Key: "ref-k", ByRemoteID: true}}},
			{"doc-ref", []state.KeyMatch{{Job: "orders", Kind: "order", Key: "guid:o-1", ByRemoteID: true}}},
			{"guid:o-1", []state.KeyMatch{{Job: "orders", Kind: "order", Key: "guid:o-1"}}},
			{"guid:o-2", []state.KeyMatch{{Job: "orders", Kind: "order", Key: "guid:o-2"}}},
			{"ref-dead", []state.KeyMatch{{Job: "cards", Kind: "card", Key: "ref-dead"}}},
		} {
			got, err := db.FindKey(ctx, tt.key, jobs)
			if err != nil {
				t.Errorf("FindKey(%s): %v", tt.key, err)
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("FindKey(%s) = %+v, want %+v", tt.key, got, tt.want)
			}
		}
		if got, err := db.FindKey(ctx, "nope", jobs); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("FindKey(nope) = %+v, %v; want ErrNotFound", got, err)
		}
	})
}

func TestRecordStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		empty, err := db.RecordStatus(ctx, "orders", "order", "guid:o-1")
		if err != nil || empty.HasVersion || empty.HasID || empty.Hold != nil || empty.DeadLetter != nil || empty.Intent != nil {
			t.Fatalf("status of an unknown record = %+v, %v; want nothing", empty, err)
		}
		t0 := c.Now()
		mustUpdate(t, db, func(tx *state.Tx) error {
			for _, err := range []error{
				tx.SetVersion("orders", "guid:o-1", "f1"), tx.PutID("order", "guid:o-1", "doc-ref", "00-0001"),
				tx.AddDeadLetter("orders", "guid:o-1", "1C rejected it", []byte("payload")),
				tx.PutIntent("orders", "guid:o-1", "create", nil),
				// Another record's rows are not this one's.
				tx.SetVersion("orders", "guid:o-2", "f9"), tx.AddDeadLetter("orders", "guid:o-2", "other", nil),
			} {
				if err != nil {
					return err
				}
			}
			_, _, err := tx.Hold("orders", "guid:o-1", "item unknown")
			return err
		})
		st, err := db.RecordStatus(ctx, "orders", "order", "guid:o-1")
		if err != nil {
			t.Fatal(err)
		}
		if !st.HasVersion || st.Version != "f1" || !st.VersionAt.Equal(t0) {
			t.Errorf("version = %q at %v (%v)", st.Version, st.VersionAt, st.HasVersion)
		}
		if !st.HasID || st.ID.RemoteID != "doc-ref" || st.ID.Extra != "00-0001" {
			t.Errorf("id = %+v (%v)", st.ID, st.HasID)
		}
		if st.Hold == nil || st.Hold.Reason != "item unknown" || st.Hold.Attempts != 1 {
			t.Errorf("hold = %+v", st.Hold)
		}
		if d := st.DeadLetter; d == nil || d.Reason != "1C rejected it" || d.Status != state.DeadLetterOpen || d.Payload != nil {
			t.Errorf("dead letter = %+v: want its reason and status, and never its payload", d)
		}
		if st.Intent == nil || st.Intent.Op != "create" {
			t.Errorf("intent = %+v", st.Intent)
		}
	})
}

// TestRecordLogHoldsFold: a record held run after run keeps one entry for
// the hold (moved to the latest run), so its created/updated story is not
// pushed out of the kept entries; a hold after another result is new.
func TestRecordLogHoldsFold(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		db, c := b.Open(t)
		log := func(run, result string) {
			c.Add(time.Second)
			mustUpdate(t, db, func(tx *state.Tx) error {
				return tx.LogRecord(state.LogEntry{Job: "cards", Key: "k", RunID: run, Result: result})
			})
		}
		log("r1", "created")
		for i := range state.RecordLogKeep + 5 {
			log(fmt.Sprintf("h%02d", i), "held")
		}
		log("r2", "updated")
		log("r3", "held")
		got, err := db.RecordLog(ctx, "cards", "k")
		if err != nil {
			t.Fatal(err)
		}
		var seq []string
		for _, e := range got {
			seq = append(seq, e.RunID+":"+e.Result)
		}
		want := fmt.Sprintf("r1:created h%02d:held r2:updated r3:held", state.RecordLogKeep+4)
		if strings.Join(seq, " ") != want {
			t.Fatalf("log = %s, want %s", strings.Join(seq, " "), want)
		}
	})
}
