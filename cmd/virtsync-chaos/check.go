package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	_ "github.com/mattn/go-sqlite3"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/sources/sourcevp"
)

// tally is what one scenario found: the table's row.
type tally struct {
	Scenario   string
	Faults     int // faults the fakes injected (or outages played)
	Kills      int
	Runs       int
	Dups       int // records that exist more than once on the other side
	Losses     int // records missing on the other side
	EventDups  int // event ids on the stream more than once
	EventLoss  int // records whose outcome never reached the stream
	DeadLetter int // dead letters: none of these faults is a record's fault
	Integrity  string
	Seconds    float64
	Problems   []string // the first few, named
}

func (t *tally) problem(format string, args ...any) {
	if len(t.Problems) < 12 {
		t.Problems = append(t.Problems, fmt.Sprintf(format, args...))
	}
}

func (t *tally) ok() bool {
	return t.Dups == 0 && t.Losses == 0 && t.EventDups == 0 && t.EventLoss == 0 && t.DeadLetter == 0 &&
		t.Integrity == "ok" && len(t.Problems) == 0
}

// check compares both sides and the stream, after the scenario settled.
func (w *world) check(t *tally, natsURL string) {
	// Customers: every client partner is one virtpos customer.
	clients := map[string]bool{}
	for _, p := range w.onec.All(onectest.SetPartners) {
		if p["Клиент"] == true {
			clients[fmt.Sprint(p["Ref_Key"])] = true
		}
	}
	custByExt := map[string]int{}
	for _, c := range w.vp.Customers() {
		// A partner deleted in 1C (records change during a sweep) stays in
		// virtpos, which cannot delete customers: once, like any other.
		if w.partners[c.ExternalID] && !clients[c.ExternalID] {
			if custByExt[c.ExternalID] > 0 {
				t.Dups++
				t.problem("customer %s (deleted in 1C) exists twice", c.ExternalID)
			}
			custByExt[c.ExternalID] = 1
			continue
		}
		custByExt[c.ExternalID]++
	}
	for k := range w.partners {
		if !clients[k] {
			delete(custByExt, k)
		}
	}
	t.count("customer", clients, custByExt)

	// Cards: every 1C card is one virtpos card.
	cards := map[string]bool{}
	for _, c := range w.onec.All(onectest.SetCards) {
		if c["DeletionMark"] != true {
			cards[fmt.Sprint(c["Ref_Key"])] = true
		}
	}
	cardByExt := map[string]int{}
	for _, c := range w.vp.Cards() {
		cardByExt[c.ExternalID]++
	}
	t.count("card", cards, cardByExt)

	// Orders: every virtpos order is one 1C document, found by its key.
	orders := map[string]bool{}
	keyer := sourcevp.NewKeyer()
	for _, o := range w.vp.Orders() {
		orders[keyer.Key(&o)] = true
	}
	docs := map[string]int{}
	for _, d := range w.onec.All(onectest.SetOrders) {
		docs[fmt.Sprint(d["НомерПоДаннымКлиента"])]++
	}
	t.count("order", orders, docs)

	w.checkState(t)
	w.checkEvents(t, natsURL, clients, cards, orders)
}

// count adds the duplicates and losses of one kind: want are the keys that
// must exist once, got how often each key exists.
func (t *tally) count(kind string, want map[string]bool, got map[string]int) {
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch n := got[k]; {
		case n == 0:
			t.Losses++
			t.problem("%s %s is missing", kind, k)
		case n > 1:
			t.Dups += n - 1
			t.problem("%s %s exists %d times", kind, k, n)
		}
	}
	for k, n := range got {
		if !want[k] {
			t.Dups += n
			t.problem("%s %q exists but has no source record", kind, k)
		}
	}
}

// checkState runs SQLite's integrity check and counts what is left over:
// dead letters, and events that never left the outbox.
func (w *world) checkState(t *tally) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(w.dir, "state.db")+"?mode=ro")
	if err != nil {
		t.Integrity = err.Error()
		return
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&t.Integrity); err != nil {
		t.Integrity = err.Error()
	}
	var dead, outbox int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM dead_letters WHERE status = 'open'").Scan(&dead); err != nil {
		t.problem("read dead letters: %v", err)
	}
	t.DeadLetter = dead
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM outbox").Scan(&outbox); err != nil {
		t.problem("read outbox: %v", err)
	}
	if outbox > 0 {
		t.EventLoss += outbox
		t.problem("%d events still in the outbox after the last run", outbox)
	}
}

// checkEvents reads the stream: each event id once, and each record's
// outcome there at least once.
func (w *world) checkEvents(t *tally, natsURL string, clients, cards, orders map[string]bool) {
	evs, err := readStream(natsURL, "VIRTSYNC")
	if err != nil {
		t.problem("read the stream: %v", err)
		return
	}
	ids := map[string]int{}
	upserted, carded, exported := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, e := range evs {
		ids[e.ID]++
		if e.MsgID != e.ID {
			t.problem("event %s published with Nats-Msg-Id %q", e.ID, e.MsgID)
		}
		var d struct {
			ExternalID string `json:"external_id"`
			Key        string `json:"key"`
		}
		_ = json.Unmarshal(e.Data, &d)
		switch strings.TrimPrefix(e.Type, "virtsync.") {
		case "customer.upserted":
			upserted[d.ExternalID] = true
		case "card.upserted":
			carded[d.ExternalID] = true
		case "order.exported":
			exported[d.Key] = true
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.EventDups += n - 1
			t.problem("event %s is on the stream %d times", id, n)
		}
	}
	for _, c := range []struct {
		what string
		want map[string]bool
		got  map[string]bool
	}{{"customer.upserted", clients, upserted}, {"card.upserted", cards, carded}, {"order.exported", orders, exported}} {
		for k := range c.want {
			if !c.got[k] {
				t.EventLoss++
				t.problem("no %s event for %s", c.what, k)
			}
		}
	}
}
