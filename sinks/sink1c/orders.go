// Package sink1c writes virtpos orders into 1C as customer-order documents
// (Document_ЗаказКлиента in the ut11 profile, Document_ЗаказПокупателя in
// unf and roznica): it resolves the buyer, counterparty and items, creates
// the document once (looking the order key up in the marker field first),
// updates it when the order changes, and posts it when configured. Which
// 1C field gets which value is the profile's order map.
package sink1c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/mapping"
)

// Client is what the handler needs from the 1C client.
type Client interface {
	FindByField(ctx context.Context, entity, field, value string) (onecapi.Entity, bool, error)
	List(ctx context.Context, q onecapi.Query, fn func(onecapi.Entity) error) error
	Create(ctx context.Context, entity string, body map[string]any) (onecapi.Entity, error)
	Update(ctx context.Context, entity, key, dataVersion string, body map[string]any) (onecapi.Entity, error)
	Post(ctx context.Context, entity, key string) error
}

// CustomerFinder finds a virtpos customer by its id (to learn its
// external_id, the 1C reference, when the id map does not know it).
type CustomerFinder interface {
	Customers(ctx context.Context, q virtposapi.CustomerQuery) (virtposapi.CustomerPage, error)
}

// ReverseLookup finds the 1C reference mapped to a virtpos id.
type ReverseLookup interface {
	LookupRef(ctx context.Context, kind, remoteID string) (string, bool, error)
}

// OrderSettings are the 1C side of the orders job: the profile's order
// map and item matching, with onec.orders from config.
type OrderSettings struct {
	Doc          *mapping.OrderMap           // document, marker field, rows
	Counterparty mapping.CounterpartyProfile // "" entity: the buyer is the counterparty
	Items        mapping.ItemsProfile
	Organization string // Организация_Key, optional
	Warehouse    string // Склад_Key, optional
	Agreement    string // Соглашение_Key, optional
	Currency     string // Валюта_Key, optional
	Operation    string // ХозяйственнаяОперация, optional
	// Status of a live order and of a cancelled one, optional.
	Status          string
	CancelledStatus string
	Post            bool
	ShopZone        *time.Location
}

// Orders is the handler of the orders job.
type Orders struct {
	OneC      Client
	Customers CustomerFinder
	Refs      ReverseLookup
	Settings  OrderSettings

	mu    sync.Mutex
	items map[string]string // item_id -> Номенклатура Ref_Key, per run
	cps   map[string]string // partner -> counterparty, per run
	// keys serializes the records of one key: two copies of an order
	// running at once would both miss the marker and both create.
	keys keyLocks
}

// Prepare implements engine.Handler: per-run caches start empty, so a
// nomenclature item added in 1C between runs is found on the next one.
func (h *Orders) Prepare(context.Context, *engine.RunInfo) error {
	h.mu.Lock()
	h.items, h.cps = map[string]string{}, map[string]string{}
	h.mu.Unlock()
	return nil
}

// Apply implements engine.Handler.
func (h *Orders) Apply(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Outcome, error) {
	o, ok := rec.Data.(*virtposapi.Order)
	if !ok {
		return engine.Outcome{}, fmt.Errorf("order %s: unexpected record type %T", rec.Key, rec.Data)
	}
	if len(o.Problems) > 0 {
		// virtpos sent this order damaged (invalid UTF-8, control
		// characters, a malformed number): its own fault, not the
		// response's. The problems name fields, never values.
		return engine.Outcome{}, engine.Reject(nil, "order %s cannot be used as virtpos sent it: %s",
			rec.Key, strings.Join(o.Problems, "; "))
	}
	unlock, err := h.keys.lock(ctx, rec.Key)
	if err != nil {
		return engine.Outcome{}, fmt.Errorf("order %s: %w", rec.Key, err)
	}
	defer unlock()
	s := h.Settings
	entity := s.Doc.Entity
	docRef, known, err := run.IDs.LookupID(ctx, virtsync.KindOrder, rec.Key)
	if err != nil {
		return engine.Outcome{}, err
	}
	orderEvent := orderSeen(rec.Key, o, known)

	body, err := h.document(ctx, rec.Key, o)
	if err != nil {
		return engine.Outcome{}, err
	}

	var doc onecapi.Entity
	result := virtsync.Updated
	gone := ""
	if known {
		doc, err = h.OneC.Update(ctx, entity, docRef, "", body)
		if onecapi.IsNotFound(err) {
			// Deleted in 1C by hand while the id map kept it: do not stall
			// the job on it forever; look the marker up again below.
			run.Log.Warn("order document gone from 1C; looking it up again", "key", rec.Key, "ref", docRef)
			gone, known = docRef, false
		}
	}
	if !known {
		// Writes to 1C are not idempotent: ask for the marker before any
		// create, so a retry after a timeout or a crash adopts the document.
		found, ok, ferr := h.OneC.FindByField(ctx, entity, s.Doc.MarkerField, s.Doc.Marker(rec.Key))
		if ferr != nil {
			return engine.Outcome{}, orderFailure(rec.Key, ferr)
		}
		if ok {
			docRef = found.Key()
			if rec.Interrupted {
				// An earlier attempt created it and its reply (or the commit)
				// was lost: it is ours, created, not adopted.
				result = virtsync.Created
				run.Log.Info("order document of an interrupted create found by its marker", "key", rec.Key, "ref", docRef)
			} else {
				run.Log.Info("order document already in 1C; adopting it", "key", rec.Key, "ref", docRef)
			}
			doc, err = h.OneC.Update(ctx, entity, docRef, "", body)
		} else {
			doc, err = h.OneC.Create(ctx, entity, body)
			result = virtsync.Created
			if errors.Is(err, onecapi.ErrOutcomeUnknown) {
				doc, err = h.afterLostCreate(ctx, run, rec.Key, err)
			}
		}
	}
	if err != nil {
		return engine.Outcome{}, orderFailure(rec.Key, err)
	}
	if r := doc.Key(); r != "" {
		docRef = r
	}
	number := doc.String("Number")
	exported := virtsync.OrderExported{Key: rec.Key, DocumentRef: docRef, Number: number, Entity: entity}
	out := engine.Outcome{Result: result, RemoteID: docRef, Extra: number, Fingerprint: fingerprint(run.FingerprintKey, body)}
	if gone != "" {
		out.Warning = fmt.Sprintf("order document %s was deleted in 1C; now %s", gone, docRef)
	}
	if kept := doc.String(s.Doc.MarkerField); kept != "" && kept != s.Doc.Marker(rec.Key) {
		// 1C cut the marker: the id map still links this document, but a
		// lost reply to a create could no longer be found by its marker.
		out.Warning = fmt.Sprintf("1C keeps %d of the %d characters of the order key in %s: set onec.orders.marker_length to %d "+
			"so that a lost reply to a create is found again", len([]rune(kept)), len([]rune(s.Doc.Marker(rec.Key))),
			s.Doc.MarkerField, len([]rune(kept)))
	}
	if s.Post && !o.Cancelled {
		if err := h.OneC.Post(ctx, entity, docRef); err != nil {
			// The document is saved, only unposted: keep it, say so, and
			// store a version that differs from the fingerprint so the next
			// run tries posting again instead of creating anything.
			out.Version = "unposted:" + rec.Version
			out.Warning = fmt.Sprintf("order document %s saved but not posted: %v", number, err)
			exported.Posted, exported.PostError = new(false), err.Error()
		} else {
			exported.Posted = new(true)
		}
	}
	if m := o.CheckSums(); len(m) > 0 {
		var ms []string
		for _, x := range m {
			ms = append(ms, x.String())
		}
		exported.SumMismatch = ms
		if out.Warning == "" {
			out.Warning = fmt.Sprintf("order sums do not add up (kept as sent): %v", ms)
		}
	}
	out.Events = []virtsync.Payload{orderEvent, exported}
	return out, nil
}

// afterLostCreate looks the marker up once a create's reply was lost
// (reset, timeout, a proxy's 502/504). 1C commits before it answers, so
// a document found is the one just created. None found may still be in
// flight in 1C: creating again could make two, so the run stops with the
// create's error and the next run looks again.
func (h *Orders) afterLostCreate(ctx context.Context, run *engine.RunInfo, key string, createErr error) (onecapi.Entity, error) {
	found, ok, err := h.OneC.FindByField(ctx, h.Settings.Doc.Entity, h.Settings.Doc.MarkerField, h.Settings.Doc.Marker(key))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w; the look-up by marker after it failed too: %w", createErr, err)
	case !ok:
		return nil, createErr
	}
	run.Log.Info("order document created although the reply was lost; found by its marker", "key", key, "ref", found.Key())
	return found, nil
}

// document builds the 1C document body for o.
func (h *Orders) document(ctx context.Context, key string, o *virtposapi.Order) (map[string]any, error) {
	s := h.Settings
	partner, err := h.partner(ctx, o.CustomerID)
	if err != nil {
		return nil, err
	}
	cp, err := h.counterparty(ctx, partner)
	if err != nil {
		return nil, err
	}
	loc := s.ShopZone
	if loc == nil {
		loc = time.UTC
	}
	created, err := time.ParseInLocation(virtposapi.TimeLayout, o.CreatedDate, loc)
	if err != nil {
		return nil, engine.Reject(nil, "order %s: created_date: expected %q, got a %d-character text", key, virtposapi.TimeLayout, len(o.CreatedDate))
	}
	rows := make([]mapping.Values, 0, len(o.Items))
	for i, it := range o.Items {
		if strings.TrimSpace(it.ItemID) == "" {
			// No item could ever match: the order is rejected at once, not
			// held for runs.
			return nil, engine.Reject(nil, "order %s: items[%d].item_id: empty; expected the id of a 1C item", key, i)
		}
		ref, err := h.item(ctx, it.ItemID)
		if err != nil {
			return nil, err
		}
		rows = append(rows, mapping.Values{
			mapping.ValueLine:          strconv.Itoa(i + 1), // Edm.Int64 travels as a string
			mapping.ValueItem:          ref,
			mapping.ValueItemID:        it.ItemID,
			mapping.ValueItemName:      it.ItemName,
			mapping.ValueQuantity:      num(it.Quantity),
			mapping.ValueUnitBasePrice: num(it.UnitBasePrice),
			mapping.ValueAmount:        num(it.Amount),
			mapping.ValueDiscount:      num(it.Discount),
		})
	}
	status := s.Status
	if o.Cancelled && s.CancelledStatus != "" {
		status = s.CancelledStatus
	}
	head := mapping.Values{
		mapping.ValueKey:  key,
		mapping.ValueGUID: o.GUID,
		// 1C keeps local time without a zone; the shop's wall clock is what
		// the order's people saw.
		mapping.ValueCreatedDate:     created.In(loc).Format("2006-01-02T15:04:05"),
		mapping.ValueCustomer:        partner,
		mapping.ValueCounterparty:    cp,
		mapping.ValueAmount:          num(o.Amount),
		mapping.ValueDiscount:        num(o.Discount),
		mapping.ValueShippingCost:    num(o.ShippingCost),
		mapping.ValueShippingAddress: o.ShippingAddress,
		mapping.ValueComment:         comment(o),
		mapping.ValueVirtposComment:  o.Comment,
		mapping.ValuePaymentType:     o.PaymentTypeName,
		mapping.ValueDeliveryType:    o.DeliveryTypeName,
		mapping.ValueOrganization:    s.Organization,
		mapping.ValueWarehouse:       s.Warehouse,
		mapping.ValueAgreement:       s.Agreement,
		mapping.ValueCurrency:        s.Currency,
		mapping.ValueOperation:       s.Operation,
		mapping.ValueStatus:          status,
	}
	return s.Doc.Document(head, rows), nil
}

// fingerprint is the keyed hash (engine.Fingerprint) of a document body
// in its JSON form: json.Marshal writes map keys sorted, at every level,
// so one body always hashes alike.
func fingerprint(key []byte, body map[string]any) string {
	b, err := json.Marshal(body)
	if err != nil {
		return "" // not of the body's types; the document was written regardless
	}
	return engine.Fingerprint(key, b)
}

// num writes a decimal as a JSON number with its exact digits.
func num(d decimal.Decimal) json.Number { return json.Number(d.String()) }

func comment(o *virtposapi.Order) string {
	flags := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{o.Paid, "оплачен"}, {o.Shipped, "отгружен"}, {o.Cancelled, "отменён"}} {
		if f.on {
			if flags != "" {
				flags += ", "
			}
			flags += f.name
		}
	}
	c := "virtpos"
	if flags != "" {
		c += " (" + flags + ")"
	}
	if o.Comment != "" {
		c += ": " + o.Comment
	}
	return c
}

func (h *Orders) partner(ctx context.Context, customerID string) (string, error) {
	if customerID == "" || customerID == "0" {
		return "", engine.Reject(nil, "order has no customer_id")
	}
	if ref, ok, err := h.Refs.LookupRef(ctx, virtsync.KindCustomer, customerID); err != nil {
		return "", err
	} else if ok {
		return ref, nil
	}
	// Not created by virtsync: the customer's external_id, when it has
	// one, is the 1C reference.
	page, err := h.Customers.Customers(ctx, virtposapi.CustomerQuery{ID: customerID})
	if err != nil {
		if virtposapi.IsRejected(err) {
			return "", engine.Hold("virtpos customer %s cannot be read: %v", customerID, err)
		}
		return "", fmt.Errorf("look up virtpos customer %s: %w", customerID, err)
	}
	for _, c := range page.Customers {
		if c.ID != customerID || c.ExternalID == "" {
			continue
		}
		// Another system may have set external_id; only a GUID can be a
		// 1C reference.
		if !isRef(c.ExternalID) {
			return "", engine.HoldFor(virtsync.JobCustomers, "virtpos customer %s has an external_id (a %d-character text) that is not a 1C reference", customerID, len(c.ExternalID))
		}
		return c.ExternalID, nil
	}
	// The customers job links them: while it has not finished a first
	// load, the hold does not age.
	return "", engine.HoldFor(virtsync.JobCustomers, "virtpos customer %s is not linked to a 1C partner yet", customerID)
}

// isRef reports whether s is a non-empty 1C reference.
func isRef(s string) bool { return s != onecapi.EmptyRef && onecapi.IsGUID(s) }

// counterparty finds the buyer's legal counterparty, when the profile has
// one apart from the buyer and the document is written with it.
func (h *Orders) counterparty(ctx context.Context, partner string) (string, error) {
	cpp := h.Settings.Counterparty
	if cpp.Entity == "" || !h.Settings.Doc.Writes(mapping.ValueCounterparty) {
		return partner, nil
	}
	h.mu.Lock()
	cp, ok := h.cps[partner]
	h.mu.Unlock()
	if ok {
		return cp, nil
	}
	// A partner with two live counterparties is held, not guessed: the
	// document would be issued to the wrong legal entity.
	var refs []string
	err := h.OneC.List(ctx, onecapi.Query{Entity: cpp.Entity, Select: []string{"Ref_Key"},
		Filter: onecapi.FieldEq(cpp.By, partner) + " and DeletionMark eq false"}, func(e onecapi.Entity) error {
		refs = append(refs, e.Key())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("find counterparty of partner %s: %w", partner, err)
	}
	switch len(refs) {
	case 0:
		return "", engine.Hold("partner %s has no counterparty in %s (by %s)", partner, cpp.Entity, cpp.By)
	case 1:
	default:
		return "", engine.Hold("partner %s has %d counterparties in %s (by %s): mark the extra ones for deletion in 1C",
			partner, len(refs), cpp.Entity, cpp.By)
	}
	h.mu.Lock()
	h.cps[partner] = refs[0]
	h.mu.Unlock()
	return refs[0], nil
}

// item finds the 1C item of a virtpos item_id, trying the profile's
// matches in order. A match that finds two items is ambiguous and holds
// the order: guessing would ship the wrong goods.
func (h *Orders) item(ctx context.Context, itemID string) (string, error) {
	h.mu.Lock()
	ref, ok := h.items[itemID]
	h.mu.Unlock()
	if ok {
		return ref, nil
	}
	items := h.Settings.Items
	var tried []string
	for _, m := range items.Match {
		refs, err := h.findItem(ctx, m, itemID)
		if err != nil {
			return "", fmt.Errorf("find item %s by %s: %w", itemID, m, err)
		}
		switch len(refs) {
		case 0:
			tried = append(tried, m.String())
			continue
		case 1:
			h.mu.Lock()
			h.items[itemID] = refs[0]
			h.mu.Unlock()
			return refs[0], nil
		}
		return "", engine.Hold("item %s matches %d items of %s by %s", itemID, len(refs), items.Entity, m)
	}
	return "", engine.Hold("item %s not found in %s; tried %s", itemID, items.Entity, strings.Join(tried, ", "))
}

// findItem returns the item references one match finds. An exact match
// is one equality filter; with a prefix or ignored zeros 1C cannot compare,
// so the candidates containing the id's digits are read and compared here.
func (h *Orders) findItem(ctx context.Context, m mapping.ItemMatch, itemID string) ([]string, error) {
	id := m.ID(itemID)
	if id == "" {
		return nil, nil
	}
	entity, refField := h.Settings.Items.Entity, "Ref_Key"
	if m.Entity != "" {
		entity, refField = m.Entity, m.Ref
	}
	q := onecapi.Query{Entity: entity, Select: []string{refField, m.Field}, Filter: onecapi.FieldEq(m.Field, id)}
	if !m.Exact() {
		q.Filter = "substringof(" + onecapi.Quote(id) + ", " + m.Field + ")"
	}
	if m.Entity == "" {
		// A catalog item marked for deletion is no match: its live twin
		// with the same code is.
		q.Filter = "(" + q.Filter + ") and DeletionMark eq false"
	}
	var refs []string
	err := h.OneC.List(ctx, q, func(e onecapi.Entity) error {
		v := e.String(m.Field)
		if !m.Matches(v, itemID) {
			return nil
		}
		if r := e.String(refField); isRef(r) && !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
		return nil
	})
	return refs, err
}

func orderFailure(key string, err error) error {
	if onecapi.IsAuth(err) {
		// Credentials or rights: a fault of the setup that every record
		// would hit. It stops the run; no record is dead-lettered for it.
		return fmt.Errorf("order %s: %w", key, err)
	}
	var oe *onecapi.Error
	if errors.As(err, &oe) && onecapi.IsRejected(err) {
		return engine.Reject(err, "1C rejected order %s", key)
	}
	return fmt.Errorf("order %s: %w", key, err)
}

// orderSeen is the order.new or order.changed event: the order as virtpos
// sent it, money as decimal strings.
func orderSeen(key string, o *virtposapi.Order, changed bool) virtsync.OrderSeen {
	items := make([]virtsync.OrderItem, 0, len(o.Items))
	for _, it := range o.Items {
		items = append(items, virtsync.OrderItem{ItemID: it.ItemID, ItemName: it.ItemName,
			Quantity: it.Quantity.String(), UnitBasePrice: it.UnitBasePrice.StringFixed(2),
			Discount: it.Discount.StringFixed(2), Amount: it.Amount.StringFixed(2)})
	}
	return virtsync.OrderSeen{Changed: changed, Key: key, GUID: o.GUID, CustomerID: o.CustomerID,
		CreatedDate: o.CreatedDate, Paid: o.Paid, Shipped: o.Shipped, Cancelled: o.Cancelled,
		Amount: o.Amount.StringFixed(2), Discount: o.Discount.StringFixed(2),
		ShippingCost: o.ShippingCost.StringFixed(2), Items: items}
}
