package state_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/state"
)

// The engine commits one batch of confirmed records, their id mappings and
// the events reporting them in a single transaction.
func Example() {
	dir, err := os.MkdirTemp("", "virtsync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := state.Open(filepath.Join(dir, "state", "virtsync.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Durable before the remote create, so a crash cannot duplicate it.
	if err := db.RecordIntent(ctx, "customers", "ref-1", "create", nil); err != nil {
		log.Fatal(err)
	}
	// ... the sink confirms the create and returns virtpos id 1001 ...
	err = db.Update(ctx, func(tx *state.Tx) error {
		if err := tx.SetVersion("customers", "ref-1", "AAAAAAAAAAE="); err != nil {
			return err
		}
		if err := tx.PutID(virtsync.KindCustomer, "ref-1", "1001", ""); err != nil {
			return err
		}
		if err := tx.ClearIntent("customers", "ref-1"); err != nil {
			return err
		}
		return tx.AddEvent(state.Event{ID: "ev-1", Subject: "virtsync.customer.upserted", Data: []byte(`{}`)})
	})
	if err != nil {
		log.Fatal(err)
	}

	id, _, _ := db.LookupID(ctx, virtsync.KindCustomer, "ref-1")
	backlog, _, _ := db.OutboxBacklog(ctx)
	intents, _ := db.Intents(ctx, "customers")
	fmt.Println(id, backlog, len(intents))
	// Output: 1001 1 0
}
