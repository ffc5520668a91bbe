package sink1c_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/mapping"
)

// TestItemMatching: a real УТ 11 base codes its items "00-00000282" (the
// capture's shape) while virtpos item_ids are numbers. Matches are tried
// in order; the first that finds exactly one item wins; two items for one
// id hold the order instead of guessing; a held order names the item and
// every way tried.
func TestItemMatching(t *testing.T) {
	prefixed := mapping.ItemMatch{Field: "Code", Prefix: "00-", Zeros: mapping.ZerosIgnore}
	tests := []struct {
		name     string
		match    []mapping.ItemMatch
		itemID   string
		wantCode string // the Code of the item the row must point to
		held     string // the hold's text, when the order is held
	}{
		{name: "prefixed code", match: []mapping.ItemMatch{prefixed}, itemID: "282", wantCode: "00-00000282"},
		{name: "prefixed code, zeros in the id too", match: []mapping.ItemMatch{prefixed}, itemID: "000282", wantCode: "00-00000282"},
		{name: "exact code misses a prefixed one", match: []mapping.ItemMatch{{Field: "Code"}}, itemID: "282",
			held: "item 282 not found in Catalog_Номенклатура; tried Code"},
		{name: "second field", match: []mapping.ItemMatch{{Field: "Code"}, {Field: "Артикул"}}, itemID: "АРТ-77", wantCode: "00-00000077"},
		{name: "trimmed", match: []mapping.ItemMatch{{Field: "Артикул"}}, itemID: " АРТ-77 ", wantCode: "00-00000077"},
		{name: "two items for one id", match: []mapping.ItemMatch{{Field: "Code", Zeros: mapping.ZerosIgnore}}, itemID: "5",
			held: "item 5 matches 2 items of Catalog_Номенклатура by Code (leading zeros ignored)"},
		{name: "an item marked for deletion is no twin", match: []mapping.ItemMatch{prefixed}, itemID: "777", wantCode: "00-00000777"},
		{name: "an item marked for deletion alone is no match", match: []mapping.ItemMatch{{Field: "Code"}}, itemID: "00-00000888",
			held: "item 00-00000888 not found in Catalog_Номенклатура; tried Code"},
		{name: "every way tried is named", match: []mapping.ItemMatch{prefixed, {Field: "Артикул"}}, itemID: "999",
			held: "item 999 not found in Catalog_Номенклатура; tried Code (prefix 00-, leading zeros ignored), Артикул"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			codes := map[string]string{}
			deleted := map[string]bool{}
			for _, it := range []onectest.Object{
				{"Code": "00-00000282", "Description": "Чай", "Артикул": ""},
				{"Code": "00-00001282", "Description": "Кофе", "Артикул": ""},
				{"Code": "00-00000077", "Description": "Сахар", "Артикул": "АРТ-77"},
				{"Code": "0005", "Description": "Соль", "Артикул": ""},
				{"Code": "005", "Description": "Соль крупная", "Артикул": ""},
				{"Code": "00-00000777", "Description": "Перец (удалён)", "Артикул": "", "DeletionMark": true},
				{"Code": "00-00000777", "Description": "Перец", "Артикул": ""},
				{"Code": "00-00000888", "Description": "Соль (удалена)", "Артикул": "", "DeletionMark": true},
			} {
				put, err := e.onec.Put(onectest.SetItems, it)
				if err != nil {
					t.Fatal(err)
				}
				codes[put["Ref_Key"].(string)] = it["Code"].(string)
				deleted[put["Ref_Key"].(string)] = it["DeletionMark"] == true
			}
			e.h.Settings.Items.Match = tt.match
			o := seedOrder()
			o.Items = o.Items[:1]
			o.Items[0].ItemID = tt.itemID
			_, err := e.h.Apply(context.Background(), e.run, orderRec(o))
			if tt.held != "" {
				var he *engine.HeldError
				if !errors.As(err, &he) || !strings.Contains(err.Error(), tt.held) {
					t.Fatalf("err = %v, want a hold saying %q", err, tt.held)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rows := e.oneDoc(t)["Товары"].([]onectest.Object)
			ref := rows[0]["Номенклатура_Key"].(string)
			if deleted[ref] {
				t.Fatalf("the row points to an item marked for deletion")
			}
			if codes[ref] != tt.wantCode {
				t.Fatalf("row item has code %q, want %q", codes[ref], tt.wantCode)
			}
		})
	}
}

// TestCounterpartyNotGuessed: a partner with two live counterparties
// holds the order (the document would name the wrong legal entity); one
// of them marked for deletion leaves the other.
func TestCounterpartyNotGuessed(t *testing.T) {
	e := newEnv(t)
	second, err := e.onec.Put(onectest.SetCounterpty, onectest.Object{"Description": "ИП Второй", "Партнер_Key": e.partner})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.h.Apply(context.Background(), e.run, orderRec(seedOrder()))
	var he *engine.HeldError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "has 2 counterparties in Catalog_Контрагенты") {
		t.Fatalf("err = %v, want a hold naming the two counterparties", err)
	}
	if _, err := e.onec.Update(onectest.SetCounterpty, second["Ref_Key"].(string), onectest.Object{"DeletionMark": true}); err != nil {
		t.Fatal(err)
	}
	e.h.Prepare(context.Background(), e.run)
	if _, err := e.h.Apply(context.Background(), e.run, orderRec(seedOrder())); err != nil {
		t.Fatal(err)
	}
	if got := e.oneDoc(t)["Контрагент_Key"]; got != e.cp {
		t.Fatalf("Контрагент_Key = %v, want the live counterparty %s", got, e.cp)
	}
}
