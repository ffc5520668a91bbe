// Package virtpos reads orders from virtpos for the orders job: it streams
// the window, derives each order's key and fingerprint, and emits only
// orders that are new or changed since the last committed run.
package virtpos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/virtsync/virtsync/internal/virtpos"
	vsync "github.com/virtsync/virtsync/sync"
)

// OrdersClient is what the source needs from the virtpos client.
type OrdersClient interface {
	Orders(ctx context.Context, q virtpos.OrdersQuery, fn func(*virtpos.Order) error) error
}

// Orders is the source of the orders job.
type Orders struct {
	Client OrdersClient
	// Window is how far back each run reads (orders.window; default 720h),
	// so that flags flipped late (paid, shipped, cancelled) are seen.
	Window time.Duration
	// Overlap is added to the window so a run that starts late still
	// covers the previous run's edge. Default 24h.
	Overlap time.Duration
	// Loc is the shop's zone: created_date is local time without a zone
	// and the date filters are dates in that zone.
	Loc *time.Location
	// Full reads every order (no date filter): a resync.
	Full bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives a warning for every key a response lists more than
	// once. Nil discards.
	Log *slog.Logger
}

// Scan streams the window and emits new and changed orders. Unchanged
// orders cost nothing but their fingerprint.
//
// Keys are unique within a run: virtpos has been seen listing one guid
// twice in a response, and two copies in one batch would run at once and
// make two 1C documents. The first copy is emitted; later ones are
// counted and reported after the response, one warning per key.
func (s *Orders) Scan(ctx context.Context, seen map[string]string, emit func(vsync.Record) error) (vsync.ScanStats, error) {
	var st vsync.ScanStats
	q := s.query()
	keys := NewKeyer()
	first := map[string]string{} // key -> fingerprint of its first copy
	dups := map[string]*duplicate{}
	err := s.Client.Orders(ctx, q, func(o *virtpos.Order) error {
		key := keys.Key(o)
		fp := Fingerprint(o)
		if fp0, ok := first[key]; ok {
			d := dups[key]
			if d == nil {
				d = &duplicate{copies: 1}
				dups[key] = d
			}
			d.copies++
			d.differ = d.differ || fp != fp0
			return nil
		}
		first[key] = fp
		st.Seen++
		if v, ok := seen[key]; ok && v == fp {
			st.Unchanged++
			return nil
		}
		return emit(vsync.Record{Key: key, Version: fp, Data: o})
	})
	s.reportDuplicates(ctx, dups)
	if err != nil {
		return st, fmt.Errorf("read orders: %w", err)
	}
	return st, nil
}

// duplicate counts the copies of one key in a response.
type duplicate struct {
	copies int
	differ bool // some copy's content differs from the first
}

// maxDuplicateLines bounds the warnings of one response: a virtpos that
// repeats every order must not flood the log.
const maxDuplicateLines = 20

func (s *Orders) reportDuplicates(ctx context.Context, dups map[string]*duplicate) {
	if len(dups) == 0 || s.Log == nil {
		return
	}
	keys := slices.Sorted(maps.Keys(dups))
	for i, k := range keys {
		if i == maxDuplicateLines {
			s.Log.WarnContext(ctx, "more orders listed more than once in one response", "keys", len(keys)-i)
			return
		}
		d := dups[k]
		s.Log.WarnContext(ctx, "order listed more than once in one virtpos response; processed once, as its first copy",
			"key", k, "copies", d.copies, "copies_differ", d.differ)
	}
}

func (s *Orders) query() virtpos.OrdersQuery {
	if s.Full {
		return virtpos.OrdersQuery{}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	loc := s.Loc
	if loc == nil {
		loc = time.UTC
	}
	window, overlap := s.Window, s.Overlap
	if window <= 0 {
		window = 720 * time.Hour
	}
	if overlap < 0 {
		overlap = 0
	}
	t := now().In(loc)
	return virtpos.OrdersQuery{DateFrom: t.Add(-window - overlap), DateTo: t}
}

// Keyer derives order keys within one response. An order's key is its guid
// when virtpos sends one; otherwise customer_id and created_date, plus an
// ordinal when one customer has two orders in the same second (counted in
// the order the response lists them, which virtpos keeps stable).
type Keyer struct {
	seen map[string]int
}

// NewKeyer returns a Keyer for one response.
func NewKeyer() *Keyer { return &Keyer{seen: map[string]int{}} }

// Key returns the key of o.
func (k *Keyer) Key(o *virtpos.Order) string {
	if g := strings.TrimSpace(o.GUID); g != "" {
		return "guid:" + g
	}
	base := "c" + o.CustomerID + "@" + strings.NewReplacer(" ", "T", ":", "", "-", "").Replace(o.CreatedDate)
	k.seen[base]++
	if n := k.seen[base]; n > 1 {
		return fmt.Sprintf("%s#%d", base, n)
	}
	return base
}

// Fingerprint hashes the normalized order: every field that, when it
// changes, should reach 1C. Decimals are normalized to their value so that
// "2.000" and "2" do not count as a change.
func Fingerprint(o *virtpos.Order) string {
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	w(flag(o.Paid), flag(o.Shipped), flag(o.Cancelled), o.CustomerID, o.ShippingAddress,
		o.ShippingCost.String(), o.PickupReceiptID, o.Comment, o.GUID, o.CreatedDate,
		o.Amount.String(), o.Discount.String(), o.PickupFromWarehouseID, o.DeliveryTypeID, o.PaymentTypeID)
	for _, it := range o.Items {
		w("item", it.ItemID, it.Quantity.String(), it.UnitBasePrice.String(), it.Discount.String(), it.Amount.String())
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
