package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// verify checks that virtpos holds exactly one customer per 1C client
// partner and one card per 1C card. It holds nothing per record: every
// 1C key is looked up in the virtpos fake as it is paged out of 1C, and
// with every key present a store of exactly as many records has no
// duplicate. The reading is counted as the phase's calls would be, so the
// caller takes the counter before and after.
func verify(ctx context.Context, oc *onecFake, vp *virtposFake, sets synced) error {
	reader := newBareClient(oc.url(), vp.url(), 1, sets)
	counts := vp.fake.Counts()
	var problems []string
	for _, s := range []struct {
		what, set, filter string
		want, stored      int
		present           func(key string) bool
	}{
		{"customers", sets.partners, sets.filter, oc.customers, counts.CustomersCreated,
			func(k string) bool { _, ok := vp.fake.Customer(k); return ok }},
		{"cards", sets.cards, "", oc.cards, counts.CardsCreated - counts.CardsDeleted,
			func(k string) bool { _, ok := vp.fake.Card(k); return ok }},
	} {
		missing, listed := 0, 0
		var examples []string
		err := reader.page(ctx, s.set, s.filter, "Ref_Key", func(dec *json.Decoder) error {
			var k keyRow
			if err := dec.Decode(&k); err != nil {
				return err
			}
			listed++
			if !s.present(k.Ref) {
				missing++
				if len(examples) < 3 {
					examples = append(examples, k.Ref)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list the 1C %s to check virtpos: %w", s.what, err)
		}
		if listed != s.want {
			problems = append(problems, fmt.Sprintf("1C lists %d %s, the base was built with %d", listed, s.what, s.want))
		}
		if p := checkCounts(s.what, s.want, s.stored, missing, examples); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errLost, strings.Join(problems, "; "))
	}
	return nil
}

// checkCounts says what is wrong when virtpos does not hold want records
// of one kind exactly once: stored is what it holds, missing how many 1C
// keys it lacks. With nothing missing, every record beyond want is a
// duplicate (or a record 1C never had).
func checkCounts(what string, want, stored, missing int, examples []string) string {
	if missing == 0 && stored == want {
		return ""
	}
	var parts []string
	if missing > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d %s are not in virtpos (e.g. %s)", missing, want, what,
			strings.Join(examples, ", ")))
	}
	if extra := stored - (want - missing); extra > 0 {
		parts = append(parts, fmt.Sprintf("virtpos holds %d %s, %d more than the 1C records it has: duplicates",
			stored, what, extra))
	}
	return strings.Join(parts, ", ")
}
