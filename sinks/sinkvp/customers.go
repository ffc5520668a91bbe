// Package sinkvp pushes 1C customers and discount cards to virtpos as
// upserts. Each handler decides, per record, between an update by the
// virtpos id (known from the id map), an adoption of a record virtpos
// already has (looked up by external_id, or found in a listing of every
// customer when a run has many to look up), and a create. A create is
// never sent twice blindly: after an unknown outcome the record is looked
// up first.
package sinkvp

import (
	"context"
	"fmt"
	"net/url"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// Client is what the handlers need from the virtpos client.
type Client interface {
	FindCustomerByExternalID(ctx context.Context, ext string) (virtposapi.Customer, bool, error)
	CustomerCount(ctx context.Context) (int, error)
	ListCustomers(ctx context.Context, pageSize int, fn func([]virtposapi.Customer) error) error
	UpdateCustomer(ctx context.Context, p url.Values) (virtposapi.UpdateResult, error)
	UpdateCard(ctx context.Context, p url.Values) (virtposapi.UpdateResult, error)
	DeleteCard(ctx context.Context, k virtposapi.CardKey) error
}

// Mapper turns a source record into virtpos parameters. Its errors are
// already classified: *engine.RejectedError for a bad value, *engine.HeldError
// for a reference not synced yet. Prepare runs once per run (to load what
// the map looks up, such as card kinds).
type Mapper interface {
	Prepare(ctx context.Context) error
	Map(ctx context.Context, rec engine.Record) (url.Values, error)
}

// Fingerprint is the fingerprint of a customer/update or updateCard call
// with parameters p, as Apply stores it in the record's log: a keyed hash
// (engine.Fingerprint) of the parameters that hold a value, sorted, in
// their query encoding. The parameters that steer the call (id, card_id,
// create_if_not_exist) are left out, so a create and an update of the
// same values hash alike.
func Fingerprint(key []byte, p url.Values) string {
	held := make(url.Values, len(p))
	for _, k := range sent(p) {
		held[k] = p[k]
	}
	return engine.Fingerprint(key, []byte(held.Encode())) // Encode sorts by name
}

// Preview is what Apply would send for rec now, without sending anything:
// the names of the parameters that hold a value (never the values: they
// are personal data) and their fingerprint under key, to compare with the
// one of the last push. A record the map rejects or holds returns that
// error. Call PreparePlan first.
func (h *Customers) Preview(ctx context.Context, key []byte, rec engine.Record) (names []string, fingerprint string, err error) {
	return preview(ctx, h.Mapper, virtsync.KindCustomer, key, rec)
}

// Preview is Customers.Preview for a card.
func (h *Cards) Preview(ctx context.Context, key []byte, rec engine.Record) (names []string, fingerprint string, err error) {
	return preview(ctx, h.Mapper, virtsync.KindCard, key, rec)
}

func preview(ctx context.Context, m Mapper, kind string, key []byte, rec engine.Record) ([]string, string, error) {
	p, err := params(ctx, m, kind, rec)
	if err != nil {
		return nil, "", err
	}
	return sent(p), Fingerprint(key, p), nil
}

// params maps a record and sets its external_id, the 1C reference: it is
// how virtsync finds the record again in virtpos, so no map sets it.
func params(ctx context.Context, m Mapper, kind string, rec engine.Record) (url.Values, error) {
	p, err := m.Map(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, rec.Key, err)
	}
	if p == nil { // a mapper with nothing beyond the key: never panic in a worker
		p = url.Values{}
	}
	p.Set("external_id", rec.Key)
	return p, nil
}

// Customers is the handler of the customers job. A customer deleted or
// marked for deletion in 1C stays in virtpos, which has no call to delete
// one (onec.customers.on_delete accepts only "ignore"); the run counts it
// as skipped.
type Customers struct {
	Client Client
	Mapper Mapper
	// Listings, when set, lets a run that has many customers to look up
	// list virtpos customers once instead (bulk adoption, see adopt.go).
	// Nil looks every customer up on its own.
	Listings Listings
	// ListPageSize is the page_size of that listing. Default
	// virtposapi.ListPageSizeDefault (500).
	ListPageSize int
	// BulkAdoptAfter is how many customers a run looks up one by one
	// before it lists them all. 0 (the default) means as many as the
	// listing takes calls: virtpos's count of customers over ListPageSize,
	// rounded up. Negative never lists.
	BulkAdoptAfter int

	bulk bulk
}

// Prepare implements engine.Handler. ctx must be the run's context: a
// listing that a later record starts is bounded by it.
func (h *Customers) Prepare(ctx context.Context, run *engine.RunInfo) error {
	if err := h.Mapper.Prepare(ctx); err != nil {
		return err
	}
	return h.startBulk(ctx, run)
}

// Apply implements engine.Handler.
func (h *Customers) Apply(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Outcome, error) {
	// An id virtpos hands to two customers is caught by the engine before
	// it commits (engine.IDConflictError).
	out, err := h.apply(ctx, run, rec)
	h.listIfDue(run)
	if err != nil {
		return engine.Outcome{}, err
	}
	return out, nil
}

func (h *Customers) apply(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Outcome, error) {
	if rec.Deleted || rec.Marked {
		what := "deleted"
		if rec.Marked {
			what = "marked for deletion"
		}
		run.Log.Info("customer "+what+" in 1C; left in virtpos", "key", rec.Key)
		return engine.Outcome{Result: virtsync.Skipped}, nil
	}
	p, err := params(ctx, h.Mapper, virtsync.KindCustomer, rec)
	if err != nil {
		return engine.Outcome{}, err
	}
	p.Del("id")
	out, err := h.push(ctx, run, rec, p)
	if err != nil {
		return engine.Outcome{}, err
	}
	out.Fingerprint = Fingerprint(run.FingerprintKey, p)
	return out, nil
}

// push sends p, the customer's parameters: an update by the id the id map
// holds, else findOrCreate.
func (h *Customers) push(ctx context.Context, run *engine.RunInfo, rec engine.Record, p url.Values) (engine.Outcome, error) {
	id, known, err := run.IDs.LookupID(ctx, virtsync.KindCustomer, rec.Key)
	if err != nil {
		return engine.Outcome{}, err
	}
	if known {
		q := cloneValues(p)
		q.Set("id", id)
		res, err := h.Client.UpdateCustomer(ctx, q)
		if err == nil {
			if res.ID != id {
				return engine.Outcome{}, fmt.Errorf("virtpos answered customer id %s to an update of customer %s (%s): "+
					"virtpos is not honouring ids", res.ID, id, rec.Key)
			}
			return customerOutcome(rec.Key, res.ID, res.IsNew, false), nil
		}
		// Deleted by hand in virtpos: fall through to a fresh look-up.
		if !virtposapi.IsNotFound(err) {
			return engine.Outcome{}, rejectOrStop(virtsync.KindCustomer, rec.Key, err)
		}
		run.Log.Warn("customer gone from virtpos; looking it up again", "key", rec.Key, "virtpos_id", id)
	}
	return h.findOrCreate(ctx, run, rec, p, true)
}

// findOrCreate pushes a customer whose virtpos id is not known: first
// push, a crash between the call and the commit, or a stale id. virtpos
// matches customer/update by id only, so a create sent twice makes two
// customers: it asks before creating, and after a create whose outcome is
// unknown (a lost reply, a timeout, a proxy's 5xx) it asks again. When
// that finds nothing the create is not sent again in this run: the server
// may still be writing it (a proxy that gave up, a reset mid-write). The
// record waits for the next run, which asks once more and creates only if
// the customer is still absent.
//
// With useListing, the run's listing of virtpos customers (adopt.go), when
// it has a complete one, answers instead of a look-up; an adoption of a
// listed customer that virtpos no longer has falls back to the look-up.
func (h *Customers) findOrCreate(ctx context.Context, run *engine.RunInfo, rec engine.Record, p url.Values, useListing bool) (engine.Outcome, error) {
	foundID, ok, listed, err := h.find(ctx, run, rec, useListing)
	if err != nil {
		return engine.Outcome{}, rejectOrStop(virtsync.KindCustomer, rec.Key, err)
	}
	if ok {
		q := cloneValues(p)
		q.Set("id", foundID)
		res, err := h.Client.UpdateCustomer(ctx, q)
		if err != nil && listed && virtposapi.IsNotFound(err) {
			run.Log.Warn("listed customer gone from virtpos; looking it up", "key", rec.Key, "virtpos_id", foundID)
			return h.findOrCreate(ctx, run, rec, p, false)
		}
		if err != nil {
			return engine.Outcome{}, rejectOrStop(virtsync.KindCustomer, rec.Key, err)
		}
		if res.ID != foundID {
			return engine.Outcome{}, fmt.Errorf("virtpos answered customer id %s to an update of customer %s (%s): "+
				"virtpos is not honouring ids", res.ID, foundID, rec.Key)
		}
		// An earlier run's create, interrupted before its commit, is
		// virtsync's own record, not one adopted from virtpos.
		return customerOutcome(rec.Key, res.ID, rec.Interrupted || res.IsNew, !rec.Interrupted), nil
	}
	q := cloneValues(p)
	q.Set("create_if_not_exist", "1")
	res, err := h.Client.UpdateCustomer(ctx, q)
	if err == nil {
		return customerOutcome(rec.Key, res.ID, true, false), nil
	}
	if !virtposapi.IsOutcomeUnknown(err) {
		return engine.Outcome{}, rejectOrStop(virtsync.KindCustomer, rec.Key, err)
	}
	run.Log.Warn("customer create: outcome unknown; looking it up before anything else", "key", rec.Key, "err", err)
	found, ok, ferr := h.Client.FindCustomerByExternalID(ctx, rec.Key)
	if ferr != nil {
		return engine.Outcome{}, rejectOrStop(virtsync.KindCustomer, rec.Key, fmt.Errorf("look up after a create whose outcome is unknown (%v): %w", err, ferr))
	}
	if ok {
		// The create whose reply was lost went through, with these very
		// parameters: nothing more to send.
		run.Log.Info("customer created although the reply was lost", "key", rec.Key, "virtpos_id", found.ID)
		return customerOutcome(rec.Key, found.ID, true, false), nil
	}
	if virtposapi.IsBadID(err) {
		// virtpos answered, with an id that is no id, and does not list
		// the customer: a server that does not honour ids; stop.
		return engine.Outcome{}, fmt.Errorf("customer %s: virtpos answered its create with an unusable id and does not list it: %w", rec.Key, err)
	}
	return engine.Outcome{}, &engine.HeldError{KeepIntent: true, Reason: fmt.Sprintf("customer %s: the reply to its create was "+
		"lost and virtpos does not list it yet; the next run looks again and creates it only if it is still absent", rec.Key)}
}

// find returns the virtpos id of rec's customer, if virtpos has one;
// listed says the answer came from the run's listing. A record whose
// earlier create was interrupted is always looked up: that create may
// have reached virtpos after the listing's snapshot.
func (h *Customers) find(ctx context.Context, run *engine.RunInfo, rec engine.Record, useListing bool) (id string, ok, listed bool, err error) {
	if useListing && !rec.Interrupted {
		id, ok, complete, err := h.fromListing(ctx, run, rec.Key)
		if err != nil || complete {
			return id, ok, complete, err
		}
	}
	found, ok, err := h.Client.FindCustomerByExternalID(ctx, rec.Key)
	return found.ID, ok, false, err
}

func customerOutcome(key, id string, created, adopted bool) engine.Outcome {
	r := virtsync.Updated
	if created {
		r = virtsync.Created
	}
	return engine.Outcome{Result: r, RemoteID: id, Events: []virtsync.Payload{
		virtsync.CustomerUpserted{ExternalID: key, VirtposID: id, Created: created, Adopted: adopted}}}
}

// rejectOrStop turns a virtpos rejection into a dead letter; everything else
// (transient after the client's retries, wrong key, redirects) stops the run.
func rejectOrStop(kind, key string, err error) error {
	if virtposapi.IsRejected(err) {
		return engine.Reject(err, "virtpos rejected %s %s", kind, key)
	}
	return fmt.Errorf("%s %s: %w", kind, key, err)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+2)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
