package main

import (
	"fmt"
	"strings"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// changes are the edits fewChanges makes, for checking what moved.
type changes struct {
	renamed       map[string]string // 1C Ref_Key -> the new last name
	cardsGone     []string          // 1C Ref_Keys of the marked and the deleted card
	ordersFlipped int
}

// makeChanges renames two customers and removes two cards in 1C and flips
// the paid flag of five orders in virtpos, printing each.
func (d *demo) makeChanges() (changes, error) {
	// The new names: a married name and a typo fixed, the usual reasons a
	// customer is renamed in 1C.
	newNames := []string{"Орлова Вера Николаевна", "Зайцев Игорь Андреевич"}
	flipped := []int{3, 41, 88, 150, 199} // virtpos orders whose paid flag changes
	ch := changes{renamed: map[string]string{}}
	oc, vp := d.fakes.onec, d.fakes.vp
	for i, name := range newNames {
		ref := d.clients[orderBuyers+10+i] // not a buyer: only these two move
		old, _ := oc.Get(onectest.SetPartners, ref)
		if _, err := oc.Update(onectest.SetPartners, ref, onectest.Object{"Description": name, "НаименованиеПолное": name}); err != nil {
			return ch, err
		}
		fmt.Fprintf(d.out, "1C:      renamed customer %q -> %q\n", old["Description"], name)
		ch.renamed[ref] = strings.Fields(name)[0]
	}
	cards := oc.All(onectest.SetCards)
	marked, deleted := cards[10], cards[11]
	if err := oc.SoftDelete(onectest.SetCards, marked["Ref_Key"].(string)); err != nil {
		return ch, err
	}
	fmt.Fprintf(d.out, "1C:      marked card %v for deletion\n", marked["Description"])
	if err := oc.Delete(onectest.SetCards, deleted["Ref_Key"].(string)); err != nil {
		return ch, err
	}
	fmt.Fprintf(d.out, "1C:      deleted card %v (as \"delete marked objects\" does)\n", deleted["Description"])
	ch.cardsGone = []string{marked["Ref_Key"].(string), deleted["Ref_Key"].(string)}
	orders := vp.Orders()
	for _, i := range flipped {
		o := orders[i]
		if err := vp.SetOrderFlags(i, !o.Paid, o.Shipped, o.Cancelled); err != nil {
			return ch, err
		}
		fmt.Fprintf(d.out, "virtpos: order %s of customer %s: paid %v -> %v\n", orderName(o.GUID, o.CreatedDate), o.CustomerID, o.Paid, !o.Paid)
	}
	ch.ordersFlipped = len(flipped)
	return ch, nil
}

// orderName is how the demo names an order: its guid, else its time.
func orderName(guid, created string) string {
	if guid != "" {
		return guid[:8] + "…"
	}
	return "of " + created + " (no guid)"
}
