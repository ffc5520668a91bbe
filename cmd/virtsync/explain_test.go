package main_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// eventIDs returns the Nats-Msg-Ids of the events of type typ whose data
// field names key, in stream order.
func eventIDs(t *testing.T, evs []streamEvent, typ, field, key string) []string {
	t.Helper()
	var ids []string
	for _, e := range evs {
		if e.env.Type != "virtsync."+typ {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(e.env.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d[field] == key {
			if e.msgID != e.env.ID {
				t.Errorf("event %s went out as message %s", e.env.ID, e.msgID)
			}
			ids = append(ids, e.msgID)
		}
	}
	return ids
}

// TestExplain: a customer created, changed in 1C and updated has a story:
// its reference, virtpos id, what it would push now (names, and whether
// that is what was pushed), both runs with the ids of the events they
// published, as they went out on NATS; it is found by its virtpos id too.
// An order is found by its key, with its 1C document; a card deleted in
// 1C says so; an unknown key exits 1. No name, phone or e-mail of the
// customer shows anywhere.
func TestExplain(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(20, 12, 3, 31), "")
	w.mustRun(0, "-once")
	ref := str(w.clients()[0]["Ref_Key"])
	if _, err := w.onec.Update(onectest.SetPartners, ref, onectest.Object{"Description": "Новикова Анна Сергеевна"}); err != nil {
		t.Fatal(err)
	}
	vpc, ok := w.vp.Customer(ref)
	if !ok {
		t.Fatal("the customer is not in virtpos")
	}
	dec := decimal.RequireFromString
	w.vp.AddOrder(virtposapi.Order{GUID: "ord-explain", CustomerID: vpc.ID,
		CreatedDate: time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-time.Hour).Format(virtposapi.TimeLayout),
		Amount:      dec("100.00"), Discount: dec("0"),
		Items: []virtposapi.Item{{ItemID: onectest.DemoItemCode(0), Quantity: dec("1"), UnitBasePrice: dec("100.00"),
			Discount: dec("0"), Amount: dec("100.00")}}})
	w.mustRun(0, "-once")
	vpc, _ = w.vp.Customer(ref)
	personal := []string{"Новикова", vpc.FName, vpc.LName, vpc.MName, vpc.Email, vpc.Phone}

	emb := startListeningNATS(t, filepath.Join(w.dir, "nats"), "127.0.0.1:0")
	evs := readStream(t, natsLoginURL(emb.Port()), "VIRTSYNC")
	emb.Shutdown()
	upserts := eventIDs(t, evs, "customer.upserted", "external_id", ref)
	if len(upserts) != 2 {
		t.Fatalf("%d customer.upserted events for %s on NATS, want 2 (created, updated)", len(upserts), ref)
	}
	orderEvents := append(eventIDs(t, evs, "order.new", "key", "guid:ord-explain"),
		eventIDs(t, evs, "order.exported", "key", "guid:ord-explain")...)
	if len(orderEvents) != 2 {
		t.Fatalf("%d events for the order on NATS, want order.new and order.exported", len(orderEvents))
	}

	noPersonal := func(r result) {
		t.Helper()
		for _, v := range personal {
			if len(v) >= 3 && (strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v)) {
				t.Errorf("a personal value of the customer (%d bytes) shows in the output of explain", len(v))
			}
		}
	}
	wantAll := func(what, out string, want ...string) {
		t.Helper()
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Errorf("explain %s lacks %q:\n%s", what, s, out)
			}
		}
	}

	byRef := w.mustRun(0, "explain", ref)
	noPersonal(byRef)
	t.Logf("explain %s:\n%s", ref, byRef.stdout)
	wantAll("by reference", byRef.stdout, "customer "+ref+" (job customers)", "virtpos id", vpc.ID,
		"created", "updated", upserts[0], upserts[1], "customer.upserted",
		"would push", "external_id", "the same as the last push", "unchanged since the last commit")
	if strings.Index(byRef.stdout, upserts[0]) > strings.Index(byRef.stdout, upserts[1]) {
		t.Error("the runs are not listed oldest first")
	}

	byID := w.mustRun(0, "explain", vpc.ID)
	noPersonal(byID)
	wantAll("by virtpos id", byID.stdout, "customer "+ref+" (job customers)", upserts[0], upserts[1])

	// Changed in 1C since: what it would push now differs from the last push.
	if _, err := w.onec.Update(onectest.SetPartners, ref, onectest.Object{"Description": "Новикова Анна Петровна"}); err != nil {
		t.Fatal(err)
	}
	changed := w.mustRun(0, "explain", ref)
	noPersonal(changed)
	t.Logf("after a change:\n%s", changed.stdout)
	wantAll("after a change in 1C", changed.stdout, "changed since the last commit", "differs from the last push")

	order := w.mustRun(0, "explain", "guid:ord-explain")
	noPersonal(order)
	t.Logf("explain guid:ord-explain:\n%s", order.stdout)
	var doc onectest.Object
	for _, d := range w.onec.All(onectest.SetOrders) {
		if d["НомерПоДаннымКлиента"] == "guid:ord-explain" {
			doc = d
		}
	}
	if doc == nil {
		t.Fatal("no 1C document for the order")
	}
	wantAll("by order key", order.stdout, "order guid:ord-explain (job orders)", str(doc["Ref_Key"]), str(doc["Number"]),
		"order.new", "order.exported", orderEvents[0], orderEvents[1], "next run of the orders job")
	if byDoc := w.mustRun(0, "explain", str(doc["Ref_Key"])); !strings.Contains(byDoc.stdout, "order guid:ord-explain") {
		t.Errorf("explain by the 1C document does not find the order:\n%s", byDoc.stdout)
	}

	card := str(w.onec.All(onectest.SetCards)[0]["Ref_Key"])
	if err := w.onec.Delete(onectest.SetCards, card); err != nil {
		t.Fatal(err)
	}
	gone := w.mustRun(0, "explain", card)
	t.Logf("a deleted card:\n%s", gone.stdout)
	wantAll("of a card deleted in 1C", gone.stdout, "card "+card+" (job cards)", "deleted (", "card.upserted")

	nope := w.mustRun(1, "explain", "nope")
	if !strings.Contains(nope.stderr, "nope is not a 1C reference, virtpos id, order key or 1C document") || nope.stdout != "" {
		t.Errorf("explain nope: stdout %q, stderr:\n%s", nope.stdout, tail(nope.stderr, 2000))
	}
}
