package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// firstSync pushes every 1C customer and card to the empty virtpos.
func (d *demo) firstSync(ctx context.Context) error {
	d.heading("First sync: every 1C customer and card goes to virtpos")
	t := time.Now()
	if err := d.virtsync(ctx, "-once"); err != nil {
		return err
	}
	vp := d.fakes.vp
	fmt.Fprintf(d.out, "\nvirtpos now has %d customers and %d cards (%s)\n", len(vp.Customers()), len(vp.Cards()), since(t))
	if got := len(vp.Customers()); got != len(d.clients) {
		return fmt.Errorf("first sync: virtpos has %d customers, want %d (the 1C partners with Клиент=true)", got, len(d.clients))
	}
	if got, want := len(vp.Cards()), len(d.fakes.seed[onectest.SetCards]); got != want {
		return fmt.Errorf("first sync: virtpos has %d cards, want %d", got, want)
	}
	return nil
}

// ordersToOneC adds orders in virtpos for synced customers and lets
// virtsync turn them into 1C customer orders.
func (d *demo) ordersToOneC(ctx context.Context) error {
	d.heading("Orders from virtpos go to 1C")
	buyers, err := d.virtposIDs(d.clients[:orderBuyers])
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(demoRandSeed, 0x0d))
	for _, o := range makeOrders(demoOrders, buyers, itemNames(d.fakes.seed), time.Now(), r) {
		d.fakes.vp.AddOrder(o)
	}
	fmt.Fprintf(d.out, "Added %d orders in virtpos for %d customers (goods by weight, discounts, some without a guid).\n",
		demoOrders, len(buyers))
	if err := d.virtsync(ctx, "-once"); err != nil {
		return err
	}
	docs := d.fakes.onec.All(onectest.SetOrders)
	fmt.Fprintf(d.out, "\n1C now has %d order documents (%s)", len(docs), onectest.SetOrders)
	if len(docs) > 0 {
		fmt.Fprintf(d.out, ", e.g. №%v dated %v, sum %v", docs[0]["Number"], docs[0]["Date"], docs[0]["СуммаДокумента"])
	}
	fmt.Fprintln(d.out)
	if len(docs) != demoOrders {
		return fmt.Errorf("orders: 1C has %d order documents, want %d", len(docs), demoOrders)
	}
	return nil
}

// virtposIDs maps 1C partner refs to the ids virtpos gave the customers.
func (d *demo) virtposIDs(refs []string) ([]string, error) {
	ids := make([]string, 0, len(refs))
	for _, ref := range refs {
		c, ok := d.fakes.vp.Customer(ref)
		if !ok {
			return nil, fmt.Errorf("orders: 1C customer %s is not in virtpos", ref)
		}
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// fewChanges edits a handful of records on both sides; the next run must
// move exactly those.
func (d *demo) fewChanges(ctx context.Context) error {
	d.heading("A few changes")
	ch, err := d.makeChanges()
	if err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	d.changed = ch
	before := d.fakes.vp.Counts()
	docWrites := d.fakes.onec.Writes(onectest.SetOrders)
	if err := d.virtsync(ctx, "-once"); err != nil {
		return err
	}
	return d.checkChanges(ch, before, d.fakes.onec.Writes(onectest.SetOrders)-docWrites)
}

// checkChanges confirms that virtpos and 1C saw the changes and nothing
// else: two customer updates, two card deletions, writes to five orders.
func (d *demo) checkChanges(ch changes, before virtpostest.Counts, docWrites int) error {
	vp := d.fakes.vp
	after := vp.Counts()
	for ref, last := range ch.renamed {
		if c, ok := vp.Customer(ref); !ok || c.LName != last {
			return fmt.Errorf("changes: customer %s is %q %q in virtpos, want last name %q", ref, c.LName, c.FName, last)
		}
	}
	for _, ref := range ch.cardsGone {
		if _, ok := vp.Card(ref); ok {
			return fmt.Errorf("changes: card %s is still in virtpos", ref)
		}
	}
	moved := []struct {
		what      string
		got, want int
	}{
		{"customers updated in virtpos", after.CustomersUpdated - before.CustomersUpdated, len(ch.renamed)},
		{"customers created in virtpos", after.CustomersCreated - before.CustomersCreated, 0},
		{"cards deleted in virtpos", after.CardsDeleted - before.CardsDeleted, len(ch.cardsGone)},
		{"cards written in virtpos", after.CardsCreated + after.CardsUpdated - before.CardsCreated - before.CardsUpdated, 0},
	}
	fmt.Fprintln(d.out)
	for _, m := range moved {
		fmt.Fprintf(d.out, "%-30s %d\n", m.what+":", m.got)
		if m.got != m.want {
			return fmt.Errorf("changes: %s: %d, want %d", m.what, m.got, m.want)
		}
	}
	fmt.Fprintf(d.out, "%-30s %d\n", "order documents written in 1C:", docWrites)
	if docWrites < ch.ordersFlipped || docWrites > 2*ch.ordersFlipped { // a write, and a post when posting is on
		return fmt.Errorf("changes: %d writes to 1C orders, want %d (one per changed order)", docWrites, ch.ordersFlipped)
	}
	if n := len(d.fakes.onec.All(onectest.SetOrders)); n != demoOrders {
		return fmt.Errorf("changes: 1C has %d order documents, want still %d", n, demoOrders)
	}
	return nil
}
