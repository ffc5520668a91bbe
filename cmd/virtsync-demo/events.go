package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/sinks/events"
)

// streamName is the JetStream stream virtsync publishes to (nats.stream,
// left at its default by the demo config).
const streamName = events.StreamDefault

// showEvents opens virtsync's NATS store with a server of our own (virtsync
// has exited, so the store is free), reads the whole stream and prints
// what is in it.
func (d *demo) showEvents(ctx context.Context) error {
	d.heading("Events on NATS")
	msgs, err := readStream(ctx, d.store)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	fmt.Fprintf(d.out, "virtsync has exited; a NATS server of our own on its store %[2]s reads stream %[1]s: %[3]d events\n", streamName, d.store, len(msgs))
	counts := map[string]int{}
	for _, m := range msgs {
		counts[m.Subject]++
	}
	subjects := make([]string, 0, len(counts))
	for s := range counts {
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	for _, s := range subjects {
		fmt.Fprintf(d.out, "  %-28s %d\n", s+":", counts[s])
	}
	fmt.Fprintln(d.out, "\nSamples:")
	for _, e := range samples(msgs) {
		fmt.Fprintf(d.out, "  %s  id=%s  %s\n    %s\n", e.Subject, e.ID, e.Time.Format(time.RFC3339), compact(e.Data, 150))
	}
	return d.checkEvents(counts)
}

// checkEvents compares the stream with what the three runs did.
func (d *demo) checkEvents(counts map[string]int) error {
	want := map[string]int{
		"virtsync.customer.upserted": len(d.clients) + len(d.changed.renamed),
		"virtsync.card.upserted":     len(d.fakes.seed[onectest.SetCards]),
		"virtsync.card.deleted":      len(d.changed.cardsGone),
		"virtsync.order.new":         demoOrders,
		"virtsync.order.changed":     d.changed.ordersFlipped,
		"virtsync.order.exported":    demoOrders + d.changed.ordersFlipped,
		"virtsync.run.started":       9,
		"virtsync.run.finished":      9,
	}
	for s, n := range want {
		if counts[s] != n {
			return fmt.Errorf("events: %d on %s, want %d", counts[s], s, n)
		}
	}
	for _, s := range []string{"virtsync.customer.failed", "virtsync.card.failed", "virtsync.order.failed"} {
		if counts[s] != 0 {
			return fmt.Errorf("events: %d on %s, want none", counts[s], s)
		}
	}
	return nil
}

// readStream starts an embedded NATS on storeDir and reads every message
// of the stream with an ordered consumer (no state left on the server).
func readStream(ctx context.Context, storeDir string) ([]events.Envelope, error) {
	srv, err := events.StartEmbedded(events.Options{StoreDir: storeDir})
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	conn, err := srv.Connect(ctx, events.ConnOptions{Name: "virtsync-demo"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := conn.JetStream().Stream(rctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streamName, err)
	}
	info, err := stream.Info(rctx)
	if err != nil {
		return nil, err
	}
	total := int(info.State.Msgs)
	cons, err := stream.OrderedConsumer(rctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	out := make([]events.Envelope, 0, total)
	for len(out) < total {
		batch, err := cons.Fetch(min(500, total-len(out)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			e, err := events.Decode(m.Data())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.Subject(), err)
			}
			e.Subject = m.Subject()
			out = append(out, e)
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("read %d of %d events, then nothing more came", len(out), total)
		}
	}
	return out, nil
}

// samples picks the first event of a few subjects, one of each kind of
// outcome.
func samples(msgs []events.Envelope) []events.Envelope {
	var out []events.Envelope
	for _, s := range []string{"customer.upserted", "card.upserted", "card.deleted", "order.new", "order.exported"} {
		for _, m := range msgs {
			if m.Subject == events.SubjectPrefixDefault+"."+s {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// compact renders JSON on one line, cut at max runes.
func compact(data json.RawMessage, max int) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return string(data)
	}
	s := []rune(buf.String())
	if len(s) > max {
		return string(s[:max]) + "…"
	}
	return string(s)
}
