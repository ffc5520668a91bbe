package events_test

import (
	"path/filepath"
	"testing"

	"github.com/virtsync/virtsync/sinks/events"
	"github.com/virtsync/virtsync/state"
)

// stateOutbox is the production outbox, state.DB on a file in t.TempDir(),
// with what the tests need to fill and count it.
type stateOutbox struct{ *state.DB }

// Compile-time proof that state.DB is what the relay consumes.
var _ events.Outbox = (*state.DB)(nil)

func newOutbox(t *testing.T) *stateOutbox {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "virtsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})
	return &stateOutbox{db}
}

// add commits evs in one transaction, as the sync engine does with a batch.
func (o *stateOutbox) add(t *testing.T, evs ...state.Event) {
	t.Helper()
	err := o.Update(t.Context(), func(tx *state.Tx) error {
		for _, ev := range evs {
			if err := tx.AddEvent(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (o *stateOutbox) count(t *testing.T) int {
	t.Helper()
	n, _, err := o.OutboxBacklog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
