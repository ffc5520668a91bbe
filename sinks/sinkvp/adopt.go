package sinkvp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/state"
)

// Listings keeps a run's listing of virtpos customers: the state store.
type Listings interface {
	ReplaceListing(ctx context.Context, kind, runID string, fill func(add func([]state.ListedRow) error) error) error
	Listed(ctx context.Context, kind, runID, ref string) (remoteID string, ok bool, err error)
	ClearListing(ctx context.Context, kind string) error
}

// Bulk adoption. A customer the id map lacks costs a GET /customer look-up
// before its create; a first load or a new install beside a virtpos that
// already has customers would pay one per record. Instead a run may learn
// every customer's external_id at once:
//
//   - At its first look-up the run counts virtpos customers (one call; a
//     run that looks nothing up, such as an unchanged rerun, makes none).
//     None at all: every customer the run meets is absent, and it is
//     created without a look-up.
//   - Otherwise the run looks customers up one by one until it has made as
//     many look-ups as a listing takes calls (count / page size, or
//     Customers.BulkAdoptAfter); then it lists every customer once, into
//     the state store, and answers later look-ups from there. A small delta
//     never pays for a listing, and a large one pays at most twice what
//     the cheaper way would have cost.
//
// A listing is a snapshot, and a ref it lacks is taken as absent, so the
// create is sent without asking. That is safe for the customers it is
// used for: the job's lease keeps any other virtsync from creating them
// while this run holds it, each record comes once per run, and an earlier
// run's create that may have gone through left an intent, which marks the
// record Interrupted: those, and every create whose outcome is unknown,
// are still looked up one by one. A listing whose pages do not add up (a
// customer deleted while listing may shift another past the pages read)
// is not used; the run goes on one look-up at a time. What no client can
// see is a customer with the same 1C reference created by someone else
// (a person, another system) in virtpos between the snapshot and the
// create; a look-up per record has the same window, only shorter.

// listMode is where one run's bulk adoption stands.
type listMode int

const (
	modeOff       listMode = iota // look each customer up
	modeUncounted                 // the run has not counted virtpos customers yet
	modeCounting                  // counted: looking up one by one, counting the look-ups
	modeDue                       // enough look-ups: the next record to finish lists
	modeListing                   // a record's worker is listing
	modeEmpty                     // virtpos had no customers: every one is absent
	modeListed                    // the run's listing is complete in the store
)

// bulk is the handler's bulk adoption state for the run Prepare last
// started; a record of any other run is looked up one by one.
type bulk struct {
	mu  sync.Mutex
	run string
	// ctx is the run's context from Prepare. A listing is the run's work,
	// not one record's: it must end when the run is cancelled, while the
	// context of the record whose worker does it outlives a cancel (so the
	// record can finish) and is bounded by a per-record timeout that a
	// long listing would exceed.
	ctx     context.Context
	log     *slog.Logger
	mode    listMode
	after   int // look-ups before listing
	lookups int
}

// startBulk resets the bulk adoption state for run and drops the listing
// an earlier run left in the store.
func (h *Customers) startBulk(ctx context.Context, run *engine.RunInfo) error {
	b := &h.bulk
	b.mu.Lock()
	b.run, b.ctx, b.log, b.after, b.lookups = run.ID, ctx, run.Log, 0, 0
	b.mode = modeOff
	if h.Listings != nil && h.BulkAdoptAfter >= 0 {
		b.mode = modeUncounted
	}
	b.mu.Unlock()
	if h.Listings == nil {
		return nil
	}
	if err := h.Listings.ClearListing(ctx, virtsync.KindCustomer); err != nil {
		return fmt.Errorf("drop the listing of virtpos customers an earlier run left: %w", err)
	}
	return nil
}

// fromListing answers a look-up of key from the run's bulk adoption:
// complete is false when there is nothing to answer from yet (the caller
// looks key up in virtpos). It counts the run's look-ups and, at the
// first, counts virtpos customers.
func (h *Customers) fromListing(ctx context.Context, run *engine.RunInfo, key string) (id string, ok, complete bool, err error) {
	b := &h.bulk
	b.mu.Lock()
	if b.run != run.ID || !refShaped(key) {
		b.mu.Unlock()
		return "", false, false, nil
	}
	if b.mode == modeUncounted {
		// Under the lock: the run's other first look-ups wait for this
		// one call rather than each make it.
		h.countCustomers(ctx)
	}
	mode := b.mode
	if mode == modeCounting {
		b.lookups++
		if b.lookups >= b.after {
			b.mode = modeDue
		}
	}
	b.mu.Unlock()
	switch mode {
	case modeEmpty:
		return "", false, true, nil
	case modeListed:
		id, ok, err := h.Listings.Listed(ctx, virtsync.KindCustomer, run.ID, key)
		if err != nil {
			return "", false, false, err
		}
		return id, ok, true, nil
	}
	return "", false, false, nil
}

// countCustomers decides the run's bulk adoption from virtpos's count of
// customers. b.mu is held.
func (h *Customers) countCustomers(ctx context.Context) {
	b := &h.bulk
	n, err := h.Client.CustomerCount(ctx)
	size := h.listPageSize()
	switch {
	case err != nil:
		b.mode = modeOff
		b.log.Warn("bulk adoption: virtpos customers could not be counted; each customer is looked up", "err", err)
	case n < 0:
		b.mode = modeOff
		b.log.Info("bulk adoption: virtpos reports no count of its customers; each customer is looked up")
	case n == 0:
		b.mode = modeEmpty
		b.log.Info("bulk adoption: virtpos has no customers yet; customers are created without a look-up")
	default:
		b.mode = modeCounting
		b.after = h.BulkAdoptAfter
		if b.after == 0 {
			b.after = (n + size - 1) / size
		}
		b.log.Info("bulk adoption: virtpos has customers; listing them once this run has looked up as many one by one",
			"virtpos_customers", n, "look_ups", b.after, "page_size", size)
	}
}

// listIfDue lists virtpos customers into the store when the run's
// look-ups made it worth it and no other worker is at it. It runs after a
// record's own work, so the listing does not eat into that record's time;
// records finishing meanwhile are looked up one by one. A failed listing
// leaves the run looking up one by one: it costs calls, never a customer.
func (h *Customers) listIfDue(run *engine.RunInfo) {
	b := &h.bulk
	b.mu.Lock()
	if b.run != run.ID || b.mode != modeDue {
		b.mu.Unlock()
		return
	}
	b.mode = modeListing
	ctx, log := b.ctx, b.log
	b.mu.Unlock()

	start := time.Now()
	size := h.listPageSize()
	pages, customers, refs := 0, 0, 0
	err := h.Listings.ReplaceListing(ctx, virtsync.KindCustomer, run.ID, func(add func([]state.ListedRow) error) error {
		rows := make([]state.ListedRow, 0, size)
		return h.Client.ListCustomers(ctx, size, func(cs []virtposapi.Customer) error {
			rows = rows[:0]
			for _, c := range cs {
				// Only 1C references: an external_id of another system
				// may be a phone or an e-mail, which the store never holds.
				if refShaped(c.ExternalID) {
					rows = append(rows, state.ListedRow{Ref: c.ExternalID, RemoteID: c.ID})
				}
			}
			pages, customers, refs = pages+1, customers+len(cs), refs+len(rows)
			return add(rows)
		})
	})
	mode := modeListed
	var pe *virtposapi.PagingError
	switch {
	case err == nil:
		log.Info("bulk adoption: virtpos customers listed; look-ups are answered from the listing",
			"customers", customers, "with_1c_ref", refs, "pages", pages, "duration", time.Since(start).Round(time.Millisecond))
	case ctx.Err() != nil:
		mode = modeOff
	case errors.As(err, &pe):
		mode = modeOff
		log.Warn("bulk adoption: the listing of virtpos customers does not add up and is not used; each customer is looked up",
			"err", err)
	default:
		mode = modeOff
		log.Warn("bulk adoption: virtpos customers could not be listed; each customer is looked up", "err", err)
	}
	b.mu.Lock()
	if b.run == run.ID {
		b.mode = mode
	}
	b.mu.Unlock()
}

func (h *Customers) listPageSize() int {
	if h.ListPageSize > 0 {
		return h.ListPageSize
	}
	return virtposapi.ListPageSizeDefault
}

// refShaped reports whether s looks like a 1C reference (a GUID, as
// Ref_Key is written). Only such external_ids are listed, so only such
// keys may be answered from a listing.
func refShaped(s string) bool { return onecapi.IsGUID(s) }
