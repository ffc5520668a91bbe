// Package sourcevp reads orders from virtpos for the orders job: it streams
// the window, derives each order's key and fingerprint, and emits only
// orders that are new or changed since the last committed run.
package sourcevp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// OrdersClient is what the source needs from the virtpos client.
type OrdersClient interface {
	Orders(ctx context.Context, q virtposapi.OrdersQuery, fn func(*virtposapi.Order) error) error
}

// Defaults of jobs.orders.window and jobs.orders.overlap.
const (
	// WindowDefault is long enough that flags flipped late (paid,
	// shipped, cancelled) are still seen.
	WindowDefault = 720 * time.Hour
	// OverlapDefault is the config's jobs.orders.overlap. A zero
	// Orders.Overlap is no overlap, not this: overlap: 0 is a valid choice.
	OverlapDefault = 24 * time.Hour
)

// Orders is the source of the orders job.
type Orders struct {
	Client OrdersClient
	// Window is how far back from now each run reads, so that flags
	// flipped late (paid, shipped, cancelled) are seen: every run (not only
	// the first) reads the orders created in the last Window+Overlap.
	// Default [WindowDefault].
	Window time.Duration
	// Overlap is added to the window so a run that starts late still
	// covers the previous run's edge. 0 means none; negative is taken as
	// 0 (the config sets [OverlapDefault]).
	Overlap time.Duration
	// Loc is the shop's zone: created_date is local time without a zone
	// and the date filters are dates in that zone.
	Loc *time.Location
	// Full reads every order (no date filter, Window and Overlap unused):
	// a resync.
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
// Memory is flat in the size of the window: orders are taken a chunk at a
// time, and what the run must remember about earlier chunks (which keys
// it has seen) is kept by known, in the state store. Scan holds one chunk
// of orders, the hashes of recent fingerprints and at most a few
// thousand order bases (see ordinals), whatever the window holds; emit
// blocks while the engine's queue is full, so nothing piles up behind it.
//
// Keys are unique within a run: virtpos has been seen listing one guid
// twice in a response, and two copies in one batch would run at once and
// make two 1C documents. The first copy is emitted; later ones are
// counted and reported after the response, one warning per key for the
// first maxDuplicateLines keys.
func (s *Orders) Scan(ctx context.Context, known engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	sc := newScanner(known, emit)
	var stopped bool // by a chunk's own failure
	err := s.Client.Orders(ctx, s.query(), func(o *virtposapi.Order) error {
		sc.chunk = append(sc.chunk, o)
		if len(sc.chunk) < chunkSize {
			return nil
		}
		err := sc.flush(ctx)
		stopped = err != nil
		return err
	})
	if !stopped && (err == nil || ctx.Err() == nil) {
		// The orders read before a broken stream are whole: they go
		// through as they did when each was emitted on arrival.
		if ferr := sc.flush(ctx); err == nil {
			err = ferr
		} else if ferr != nil {
			err = errors.Join(err, ferr)
		}
	}
	s.reportDuplicates(ctx, &sc.dups)
	if err != nil {
		return sc.st, fmt.Errorf("read orders: %w", err)
	}
	return sc.st, nil
}

// chunkSize is how many orders Scan holds before it asks known about them:
// large enough that the state store answers a few queries per thousand
// orders, small enough that a chunk of large orders is a few MiB.
const chunkSize = 256

// scanner is one Scan's state. Everything in it is bounded: the chunk and
// its per-order slices by chunkSize, recent by recentGeneration, dups by
// maxDuplicateLines, ords by maxOrdinalBases.
type scanner struct {
	known engine.Known
	emit  func(engine.Record) error
	st    engine.ScanStats
	read  int // orders taken from the response, duplicates included

	chunk []*virtposapi.Order
	keys  []string // per order of the chunk; "" for a copy of an earlier order
	fps   []string
	first map[string]int // guid key -> its first position in the chunk

	recent recentFingerprints
	ords   map[string]int // order base -> highest ordinal this run gave it, when above 1
	dups   duplicates
}

func newScanner(known engine.Known, emit func(engine.Record) error) *scanner {
	return &scanner{known: known, emit: emit,
		chunk: make([]*virtposapi.Order, 0, chunkSize), keys: make([]string, chunkSize), fps: make([]string, chunkSize),
		first: make(map[string]int, chunkSize), ords: map[string]int{}, recent: newRecentFingerprints()}
}

// flush keys the chunk, drops the copies of orders seen earlier in the
// run, and emits the orders whose fingerprint differs from the committed
// version, in the order virtpos listed them.
func (sc *scanner) flush(ctx context.Context) error {
	n := len(sc.chunk)
	if n == 0 {
		return nil
	}
	defer sc.reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	from := sc.read + 1 // 1-based position in the response, for errors
	sc.read += n

	var guids []string // distinct guid keys of the chunk, to mark
	var guidPos []int  // their positions
	var baseless []int // positions of guid-less orders
	for i, o := range sc.chunk {
		sc.fps[i] = Fingerprint(o)
		g := strings.TrimSpace(o.GUID)
		if g == "" {
			sc.keys[i] = ""
			baseless = append(baseless, i)
			continue
		}
		key := "guid:" + g
		if j, ok := sc.first[key]; ok {
			sc.keys[i] = ""
			sc.dups.add(key, differenceOf(sc.fps[j] != sc.fps[i]))
			continue
		}
		sc.first[key] = i
		sc.keys[i] = key
		guids = append(guids, key)
		guidPos = append(guidPos, i)
	}
	if len(guids) > 0 {
		fresh, err := sc.known.Mark(ctx, guids)
		if err != nil {
			return fmt.Errorf("mark the keys of orders %d to %d as seen: %w", from, sc.read, err)
		}
		if len(fresh) != len(guids) {
			return fmt.Errorf("mark the keys of orders %d to %d as seen: %d answers for %d keys", from, sc.read, len(fresh), len(guids))
		}
		for k, i := range guidPos {
			fp := sc.fps[i]
			if !fresh[k] {
				// A copy of an order listed in an earlier chunk.
				sc.keys[i] = ""
				sc.dups.add(guids[k], sc.recent.differs(guids[k], fp))
				continue
			}
			sc.recent.put(guids[k], fp)
		}
	}
	if len(baseless) > 0 {
		if err := sc.ordinals(ctx, baseless, from); err != nil {
			return err
		}
	}

	var fresh []string
	for i := range n {
		if sc.keys[i] != "" {
			fresh = append(fresh, sc.keys[i])
		}
	}
	sc.st.Seen += len(fresh)
	var versions map[string]string
	if !sc.known.Forced() && len(fresh) > 0 {
		var err error
		if versions, err = sc.known.Versions(ctx, fresh); err != nil {
			return fmt.Errorf("read the committed versions of orders %d to %d: %w", from, sc.read, err)
		}
	}
	for i, o := range sc.chunk {
		key, fp := sc.keys[i], sc.fps[i]
		if key == "" {
			continue
		}
		if v, ok := versions[key]; ok && v != "" && v == fp {
			sc.st.Unchanged++
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sc.emit(engine.Record{Key: key, Version: fp, Data: o}); err != nil {
			return err
		}
	}
	return nil
}

// reset empties the chunk, dropping its orders for the collector.
func (sc *scanner) reset() {
	clear(sc.chunk)
	sc.chunk = sc.chunk[:0]
	clear(sc.keys)
	clear(sc.fps)
	clear(sc.first)
}

// maxOrdinalBases bounds ords. It is only a shortcut (see ordinals): when
// it is full an arbitrary base is forgotten, and that base's next order
// costs one more round of Mark.
const maxOrdinalBases = 4096

// ordinals keys the guid-less orders at positions pos of the chunk.
//
// Such an order's key is its base (customer_id + created_date), with an
// ordinal from the second order of that base on, counted in the order
// the response lists them (README, DESIGN 2.1). virtpos does not promise
// to list orders by created_date, so the orders of one base may be far
// apart in a response, and remembering only the current second would
// give two orders one key. The run's marks in known are the count
// instead: a base's keys are marked in ordinal order with no gap, so the
// first unmarked of base, base#2, base#3 ... is the next ordinal, and
// marking it claims it. Each round marks, per base, as many candidates
// as the base still has orders waiting; the fresh ones go, in ascending
// order, to the waiting orders in listing order, and the rest try the
// next candidates. Nothing is marked that is not used, so the ordinals
// stay without gaps, and the keys are the ones a Keyer gives over the
// whole response.
//
// ords remembers the highest ordinal of bases that reached 2, so that the
// common case (a customer with a few orders in one second) needs one
// round; a base it forgot starts again at 1 and needs as many rounds as
// it has earlier orders over the number waiting in this chunk.
//
// Two copies of one guid-less order cannot be told from two orders made
// in one second: they get two keys, as they always did.
func (sc *scanner) ordinals(ctx context.Context, pos []int, from int) error {
	type base struct {
		name    string
		waiting []int // positions still without a key, in listing order
		next    int   // the first ordinal to try
	}
	var bases []*base
	byName := map[string]*base{}
	for _, i := range pos {
		name := baseKey(sc.chunk[i])
		b := byName[name]
		if b == nil {
			b = &base{name: name, next: sc.ords[name] + 1}
			byName[name] = b
			bases = append(bases, b)
		}
		b.waiting = append(b.waiting, i)
	}
	var cands []string
	for {
		cands = cands[:0]
		for _, b := range bases {
			for k := range b.waiting {
				cands = append(cands, ordinalKey(b.name, b.next+k))
			}
		}
		if len(cands) == 0 {
			return nil
		}
		fresh, err := sc.known.Mark(ctx, cands)
		if err != nil {
			return fmt.Errorf("mark the keys of orders %d to %d as seen: %w", from, sc.read, err)
		}
		if len(fresh) != len(cands) {
			return fmt.Errorf("mark the keys of orders %d to %d as seen: %d answers for %d keys", from, sc.read, len(fresh), len(cands))
		}
		c := 0
		for _, b := range bases {
			tried := len(b.waiting)
			got := 0
			for k := range tried {
				if fresh[c+k] {
					sc.keys[b.waiting[got]] = cands[c+k]
					sc.remember(b.name, b.next+k)
					got++
				}
			}
			c += tried
			b.waiting = b.waiting[got:]
			b.next += tried
			// The run has marked at most one key per order read, so an
			// ordinal beyond that count cannot have been taken.
			if len(b.waiting) > 0 && b.next > sc.read {
				return fmt.Errorf("order %d: the state store reports every key of %s up to #%d as seen, but only %d orders were read: its record of seen keys is wrong",
					b.waiting[0]+from, b.name, b.next-1, sc.read)
			}
		}
	}
}

func (sc *scanner) remember(base string, ordinal int) {
	if ordinal < 2 {
		return
	}
	if _, ok := sc.ords[base]; !ok && len(sc.ords) >= maxOrdinalBases {
		for k := range sc.ords {
			delete(sc.ords, k)
			break
		}
	}
	sc.ords[base] = max(sc.ords[base], ordinal)
}

// recentFingerprints remembers the fingerprints of the orders first seen
// most recently, so that a copy listed up to recentGeneration orders after
// its first can be reported as differing or not; further back the answer
// is unknown. Two generations of hashes (key -> fingerprint), the older
// dropped when the newer is full, bound it to about half a MiB. The
// committed version in known cannot tell instead: by the time the copy
// comes, the first copy may or may not have been committed.
type recentFingerprints struct {
	seed      maphash.Seed
	cur, prev map[uint64]uint64
}

const recentGeneration = 8192

func newRecentFingerprints() recentFingerprints {
	return recentFingerprints{seed: maphash.MakeSeed(),
		cur: make(map[uint64]uint64, recentGeneration), prev: make(map[uint64]uint64, recentGeneration)}
}

func (r *recentFingerprints) put(key, fp string) {
	if len(r.cur) >= recentGeneration {
		r.prev, r.cur = r.cur, r.prev
		clear(r.cur)
	}
	r.cur[maphash.String(r.seed, key)] = maphash.String(r.seed, fp)
}

// differs compares fp with the fingerprint of key's first copy, when it
// is still remembered.
func (r *recentFingerprints) differs(key, fp string) difference {
	h := maphash.String(r.seed, key)
	first, ok := r.cur[h]
	if !ok {
		if first, ok = r.prev[h]; !ok {
			return differUnknown
		}
	}
	return differenceOf(first != maphash.String(r.seed, fp))
}

func differenceOf(differ bool) difference {
	if differ {
		return differYes
	}
	return differNo
}

// difference says whether a copy's content differs from its first copy's.
type difference int

const (
	differNo difference = iota
	differUnknown
	differYes
)

func (d difference) String() string {
	return [...]string{"false", "unknown", "true"}[d]
}

// duplicates counts the copies of keys listed more than once, the first
// maxDuplicateLines keys by key and the rest in one count.
type duplicates struct {
	keys   map[string]*duplicate
	others int // copies of keys beyond the first maxDuplicateLines
}

// duplicate counts the copies of one key in a response.
type duplicate struct {
	copies int
	differ difference // the most certain answer over its copies: yes beats unknown beats no
}

func (d *duplicates) add(key string, diff difference) {
	if dup := d.keys[key]; dup != nil {
		dup.copies++
		dup.differ = max(dup.differ, diff)
		return
	}
	if len(d.keys) >= maxDuplicateLines {
		d.others++
		return
	}
	if d.keys == nil {
		d.keys = map[string]*duplicate{}
	}
	d.keys[key] = &duplicate{copies: 2, differ: diff}
}

// maxDuplicateLines bounds the warnings of one response: a virtpos that
// repeats every order must not flood the log.
const maxDuplicateLines = 20

func (s *Orders) reportDuplicates(ctx context.Context, dups *duplicates) {
	if len(dups.keys) == 0 || s.Log == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(dups.keys)) {
		d := dups.keys[k]
		s.Log.WarnContext(ctx, "order listed more than once in one virtpos response; processed once, as its first copy",
			"key", k, "copies", d.copies, "copies_differ", d.differ.String())
	}
	if dups.others > 0 {
		// Which keys these copies belong to is not kept: telling a third
		// copy from a new key would mean holding every key.
		s.Log.WarnContext(ctx, "more order copies in the same response, of other keys or of the keys above", "copies", dups.others)
	}
}

func (s *Orders) query() virtposapi.OrdersQuery {
	if s.Full {
		return virtposapi.OrdersQuery{}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	loc := s.Loc
	if loc == nil {
		loc = time.UTC
	}
	window, overlap := s.Window, max(s.Overlap, 0)
	// <= 0 rather than cmp.Or: a negative window would read the future.
	if window <= 0 {
		window = WindowDefault
	}
	t := now().In(loc)
	return virtposapi.OrdersQuery{DateFrom: t.Add(-window - overlap), DateTo: t}
}

// Keyer derives order keys over a response held whole (a test or a
// checker holding the list); Scan gives the same keys without holding
// them. An order's key is its guid when virtpos sends one; otherwise
// customer_id and created_date, plus an ordinal when one customer has two
// orders in the same second (counted in the order the response lists
// them, which virtpos keeps stable). It remembers every guid-less base.
type Keyer struct {
	seen map[string]int
}

// NewKeyer returns a Keyer for one response.
func NewKeyer() *Keyer { return &Keyer{seen: map[string]int{}} }

// Key returns the key of o.
func (k *Keyer) Key(o *virtposapi.Order) string {
	if g := strings.TrimSpace(o.GUID); g != "" {
		return "guid:" + g
	}
	base := baseKey(o)
	k.seen[base]++
	return ordinalKey(base, k.seen[base])
}

// dateInKey turns "2026-11-20 10:00:00" into "20261120T100000".
var dateInKey = strings.NewReplacer(" ", "T", ":", "", "-", "")

// baseKey is the key of a guid-less order before its ordinal.
func baseKey(o *virtposapi.Order) string {
	return "c" + o.CustomerID + "@" + dateInKey.Replace(o.CreatedDate)
}

// ordinalKey is the key of the n-th order of base (from 1).
func ordinalKey(base string, n int) string {
	if n > 1 {
		return base + "#" + strconv.Itoa(n)
	}
	return base
}

// Fingerprint hashes the normalized order: every field that, when it
// changes, should reach 1C. Decimals are normalized to their value so that
// "2.000" and "2" do not count as a change.
//
// The committed versions of every order are these hashes: any change to
// the bytes hashed re-sends every order in the window once. The fields
// are laid out in one buffer, each followed by a zero byte, and hashed at
// once (a write per field cost more than the hash).
func Fingerprint(o *virtposapi.Order) string {
	b := make([]byte, 0, 512)
	w := func(parts ...string) {
		for _, p := range parts {
			b = append(b, p...)
			b = append(b, 0)
		}
	}
	flag := func(v bool) string {
		if v {
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
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
