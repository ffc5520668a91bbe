package main_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// profileCase says where a profile's fake keeps what the test checks.
type profileCase struct {
	profile  string
	buyers   string                       // entity set of buyers
	isBuyer  func(onectest.Object) bool   // a buyer the profile syncs
	cards    string                       // entity set of cards
	uid      func(onectest.Object) string // the card's code virtpos gets
	owner    func(onectest.Object) string // the card owner's Ref_Key
	orders   string                       // order document set
	rows     string                       // its goods section
	buyerRef func(doc onectest.Object) string
	marker   string // the marker field
	itemRef  string // the row field holding the item
}

func notFolder(o onectest.Object) bool { return o["IsFolder"] != true }

var profileCases = []profileCase{
	{
		profile: onectest.ProfileUNF, buyers: onectest.SetUNFBuyers, cards: onectest.SetUNFCards,
		isBuyer: func(o onectest.Object) bool { return o["Покупатель"] == true && notFolder(o) },
		uid: func(c onectest.Object) string {
			if s := str(c["КодКартыШтрихкод"]); s != "" {
				return s
			}
			return str(c["КодКартыМагнитный"])
		},
		owner:  func(c onectest.Object) string { return str(c["ВладелецКарты_Key"]) },
		orders: onectest.SetUNFOrders, rows: onectest.TabUNFOrderGoods,
		buyerRef: func(d onectest.Object) string { return str(d["Контрагент_Key"]) },
		marker:   "НомерВходящегоДокумента", itemRef: "Номенклатура",
	},
	{
		profile: onectest.ProfileRoznica, buyers: onectest.SetRoznicaPersons, cards: onectest.SetRoznicaCards,
		isBuyer: func(o onectest.Object) bool { return o["Сотрудник"] != true && notFolder(o) },
		uid:     func(c onectest.Object) string { return str(c["КодКарты"]) },
		owner:   func(c onectest.Object) string { return str(c["ВладелецКарты"]) },
		orders:  onectest.SetRoznicaOrders, rows: onectest.TabRoznicaOrderGoods,
		buyerRef: func(d onectest.Object) string { return str(d["ВладелецДисконтнойКарты"]) },
		marker:   "НомерЗаказаНаСайте", itemRef: "Номенклатура_Key",
	},
}

// TestProfilesEndToEnd runs virtsync on the fake 1C of each shipped
// profile other than ut11 (TestInitialLoadThenNothingToDo covers it):
// the $metadata check passes, every buyer and no one else reaches
// virtpos, every card with its owner, orders become the profile's
// document with its rows, and a second run writes nothing.
func TestProfilesEndToEnd(t *testing.T) {
	for _, pc := range profileCases {
		t.Run(pc.profile, func(t *testing.T) {
			t.Parallel()
			oc, ocURL := onectest.StartDemo(t, onectest.Options{User: "sync", Password: "pw-Секрет", Profile: pc.profile}, 40, 30, 3, 7)
			w := newWorldOn(t, oc, ocURL, "")
			w.setConfig("  user: sync\n", "  user: sync\n  profile: "+pc.profile+"\n")
			w.mustRun(0, "-once")

			byExt := map[string]virtposapi.Customer{}
			for _, c := range w.vp.Customers() {
				if _, dup := byExt[c.ExternalID]; dup {
					t.Errorf("customer %s twice in virtpos", c.ExternalID)
				}
				byExt[c.ExternalID] = c
			}
			var buyers []onectest.Object
			for _, o := range oc.All(pc.buyers) {
				if pc.isBuyer(o) {
					buyers = append(buyers, o)
				}
			}
			if len(buyers) == 0 || len(byExt) != len(buyers) {
				t.Fatalf("virtpos has %d customers, 1C %d buyers", len(byExt), len(buyers))
			}
			for _, b := range buyers {
				c, ok := byExt[str(b["Ref_Key"])]
				if !ok {
					t.Errorf("buyer %s not in virtpos", b["Ref_Key"])
					continue
				}
				if parts := strings.Fields(str(b["Description"])); c.LName != parts[0] {
					t.Errorf("buyer %s: lname %q, want the first word of the name", b["Ref_Key"], c.LName)
				}
				if c.Phone == "" || !strings.HasPrefix(c.Phone, "+7") {
					t.Errorf("buyer %s: phone %q not normalised", b["Ref_Key"], c.Phone)
				}
			}

			cards := 0
			for _, c := range oc.All(pc.cards) {
				if !notFolder(c) {
					continue
				}
				cards++
				vc, ok := w.vp.Card(str(c["Ref_Key"]))
				if !ok {
					t.Errorf("card %s not in virtpos", c["Ref_Key"])
					continue
				}
				if vc.UID != pc.uid(c) || vc.UID == "" {
					t.Errorf("card %s: uid %q, want %q", c["Ref_Key"], vc.UID, pc.uid(c))
				}
				if owner := byExt[pc.owner(c)]; vc.CustomerID != owner.ID || owner.ID == "" {
					t.Errorf("card %s: customer_id %q, want its owner's %q", c["Ref_Key"], vc.CustomerID, owner.ID)
				}
				if vc.TypeName == "" || (vc.Medium != "PLASTIC" && vc.Medium != "MAGNET") {
					t.Errorf("card %s: type %q medium %q", c["Ref_Key"], vc.TypeName, vc.Medium)
				}
			}
			if n := len(w.vp.Cards()); cards == 0 || n != cards {
				t.Errorf("virtpos has %d cards, 1C %d", n, cards)
			}

			buyer := byExt[str(buyers[0]["Ref_Key"])]
			dec := decimal.RequireFromString
			now := time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-time.Hour).Format(virtposapi.TimeLayout)
			w.vp.AddOrder(virtposapi.Order{GUID: "0b1e6f0e-54a8-4c3e-9d5e-6f8a5b9e1c22", CustomerID: buyer.ID, CreatedDate: now,
				Amount: dec("976.59"), Discount: dec("10.20"), ShippingCost: dec("0"),
				Items: []virtposapi.Item{
					{ItemID: onectest.DemoItemCode(0), Quantity: dec("3.450"), UnitBasePrice: dec("100.10"), Discount: dec("10.20"), Amount: dec("335.15")},
					{ItemID: onectest.DemoItemCode(1), Quantity: dec("2.000"), UnitBasePrice: dec("320.72"), Discount: dec("0.00"), Amount: dec("641.44")},
				}})
			w.mustRun(0, "-once", "-job", "orders")
			docs := oc.All(pc.orders)
			if len(docs) != 1 {
				t.Fatalf("1C has %d order documents, want 1", len(docs))
			}
			d := docs[0]
			// The key (41 characters) does not fit these marker fields:
			// a digest of their length is written.
			if m := str(d[pc.marker]); m == "" || strings.Contains(m, ":") {
				t.Errorf("%s = %q, want a digest of the key", pc.marker, m)
			}
			if got := pc.buyerRef(d); got != buyer.ExternalID {
				t.Errorf("the document's buyer is %q, want %s", got, buyer.ExternalID)
			}
			if s := fmt.Sprint(d["СуммаДокумента"]); s != "976.59" {
				t.Errorf("СуммаДокумента = %s", s)
			}
			rows, _ := d[pc.rows].([]onectest.Object)
			if len(rows) != 2 || str(rows[0][pc.itemRef]) == "" || fmt.Sprint(rows[0]["Количество"]) != "3.45" ||
				fmt.Sprint(rows[1]["Сумма"]) != "641.44" {
				t.Fatalf("%s rows = %v", pc.rows, rows)
			}

			before := w.vp.Counts()
			oc.ResetCounters()
			w.mustRun(0, "-once")
			if after := w.vp.Counts(); writes(after) != writes(before) {
				t.Errorf("a run with no change wrote to virtpos: %+v -> %+v", before, after)
			}
			if n := oc.Writes(pc.orders); n != 0 {
				t.Errorf("a run with no change wrote %d documents", n)
			}
		})
	}
}

// TestWrongProfileIsNamed: a УНФ base run with the default profile stops
// at the $metadata check (exit 2), naming what is missing and the
// profile that fits.
func TestWrongProfileIsNamed(t *testing.T) {
	oc, ocURL := onectest.StartDemo(t, onectest.Options{User: "sync", Password: "pw-Секрет", Profile: onectest.ProfileUNF}, 5, 5, 1, 1)
	w := newWorldOn(t, oc, ocURL, "")
	r := w.mustRun(2, "-once")
	for _, want := range []string{
		"Catalog_КартыЛояльности is not published (cards.entity); this publication has Catalog_ДисконтныеКарты: is it `onec.profile: unf`?",
		"set `onec.profile: unf`",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := len(w.vp.Customers()); n != 0 {
		t.Errorf("%d customers pushed before the check", n)
	}
}
