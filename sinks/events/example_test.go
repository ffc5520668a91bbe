package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/sinks/events"
)

func ExampleNew() {
	at := time.Date(2026, 6, 7, 10, 14, 42, 0, time.FixedZone("MSK", 3*60*60))
	env, err := events.New("virtsync/shop-1", "", events.SubjectPrefixDefault,
		virtsync.KindOrder, virtsync.OrderExported{}.What(), map[string]string{"order": "A-1017", "onec_number": "00-000042"}, at)
	if err != nil {
		fmt.Println(err)
		return
	}
	row, err := env.Event() // stored in the outbox with the order's state change
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(row.Subject)
	fmt.Println(env.Type)
	fmt.Println(env.Time.Format(time.RFC3339))
	// Output:
	// virtsync.order.exported
	// virtsync.order.exported
	// 2026-06-07T10:14:42+03:00
}

// How the daemon wires the package when nats.url is empty: an embedded server
// beside the state file, the stream, and a relay fed by the state outbox.
// (Compiled, not run: it needs a state database.)
func Example_daemon() {
	var outbox events.Outbox // the state.DB
	statePath := "data/virtsync.db"
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	srv, err := events.StartEmbedded(events.Options{
		StoreDir: filepath.Join(filepath.Dir(statePath), "nats"),
		Logger:   log,
	})
	if errors.Is(err, events.ErrStoreLocked) {
		// Another virtsync process owns the store and its relay publishes
		// this process's events from the shared outbox.
		log.Info("embedded NATS runs in another process", "err", err)
		return
	}
	if err != nil {
		log.Error("start nats", "err", err)
		return
	}
	defer srv.Shutdown()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// In-process: the server opens no socket unless Options.Listen asks.
	conn, err := srv.Connect(ctx, events.ConnOptions{Logger: log})
	if err != nil {
		log.Error("nats", "err", err)
		return
	}
	defer conn.Close()
	// The relay creates the stream once NATS answers, so an external NATS
	// that is down at start does not keep the daemon from syncing.
	relay, err := events.NewRelay(outbox, conn.JetStream(), events.RelayOptions{
		Logger: log,
		EnsureStream: func(ctx context.Context) error {
			_, err := conn.EnsureStream(ctx, events.StreamDefault,
				[]string{events.SubjectPrefixDefault + ".>"}, events.DedupeWindowDefault)
			return err
		},
	})
	if err != nil {
		log.Error("relay", "err", err)
		return
	}
	go relay.Run(ctx) // the sync engine calls relay.Kick() after each commit

	// ... on SIGTERM: stop the jobs, then
	stop()
	drainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := relay.Drain(drainCtx); err != nil {
		log.Warn("events left in the outbox for the next start", "err", err)
	}
}
