package sinkvp_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/sinks/sinkvp"
	"github.com/virtsync/virtsync/state"
)

// What the customers job asks virtpos, by purpose.
const (
	callCount  = "count"     // GET /customer, page_size=1
	callPage   = "list page" // GET /customer, a page of the listing
	callLookup = "look-up"   // GET /customer?external_id=
	callCreate = "create"    // customer/update without an id
	callUpdate = "update"    // customer/update by id
)

// callCounter sits in front of the fake virtpos and counts the customer
// calls by purpose.
type callCounter struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
}

func (c *callCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil { // the fake parses it again: a no-op
		p := r.Form
		what := ""
		switch {
		case strings.HasSuffix(r.URL.Path, virtpostest.PathCustomerUpdate) && p.Get("id") != "":
			what = callUpdate
		case strings.HasSuffix(r.URL.Path, virtpostest.PathCustomerUpdate):
			what = callCreate
		case strings.HasSuffix(r.URL.Path, virtpostest.PathCustomer) && p.Has("external_id"):
			what = callLookup
		case strings.HasSuffix(r.URL.Path, virtpostest.PathCustomer) && p.Get("page_size") == "1":
			what = callCount
		case strings.HasSuffix(r.URL.Path, virtpostest.PathCustomer):
			what = callPage
		}
		c.mu.Lock()
		c.n[what]++
		c.mu.Unlock()
	}
	c.next.ServeHTTP(w, r)
}

// take returns the counts since the last take.
func (c *callCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := maps.Clone(c.n)
	clear(c.n)
	return out
}

// seedCustomers puts customers in the fake virtpos: one per 1C reference
// given, and others customers of the shop with no 1C reference (one whose
// external_id is a phone, which must never reach the state file).
func seedCustomers(t *testing.T, srv *virtpostest.Server, refs []string, others int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"customers":[`)
	for i, ref := range refs {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"external_id":%q,"lname":"Было%d"}`, ref, i)
	}
	for i := 0; i < others; i++ {
		if len(refs) > 0 || i > 0 {
			b.WriteString(",")
		}
		ext := ""
		if i == 0 {
			ext = "79990001122"
		}
		fmt.Fprintf(&b, `{"external_id":%q,"lname":"Касса%d"}`, ext, i)
	}
	b.WriteString(`]}`)
	if err := srv.LoadSeed(strings.NewReader(b.String())); err != nil {
		t.Fatalf("LoadSeed: %v", err)
	}
}

func keysOf(recs []engine.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// checkOnceEach fails unless virtpos holds each partner exactly once and
// the id map points each at its own customer.
func (e *runEnv) checkOnceEach(t *testing.T, src *partners) {
	t.Helper()
	by := e.byExternalID()
	for _, r := range src.recs {
		if by[r.Key] != 1 {
			t.Fatalf("external_id %s: %d customers in virtpos, want 1", r.Key, by[r.Key])
		}
	}
	for _, c := range e.srv.Customers() {
		if c.ExternalID == "" || !strings.Contains(c.ExternalID, "-") {
			continue
		}
		ref, ok, err := e.db.LookupRef(context.Background(), "customer", c.ID)
		if err != nil || !ok || ref != c.ExternalID {
			t.Fatalf("virtpos id %s maps to %q (%v, %v), want %s", c.ID, ref, ok, err, c.ExternalID)
		}
	}
}

// A first load into a virtpos with no customers asks once how many it has
// and then creates each customer with one call: no look-up per record. A
// rerun with nothing changed calls virtpos not at all.
func TestFirstLoadIntoAnEmptyVirtposLooksNothingUp(t *testing.T) {
	const n = 1000
	e := newRunEnv(t, "json", "GET", nil)
	e.listings = e.db
	src := newPartners(n)
	sum, err := e.run(t, src)
	if err != nil || sum.Counts[virtsync.Created] != n {
		t.Fatalf("run: %v, counts %v", err, sum.Counts)
	}
	calls := e.calls.take()
	if want := map[string]int{callCount: 1, callCreate: n}; !maps.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	e.checkOnceEach(t, src)
	for _, d := range e.upserted(t) {
		if d["created"] != true || d["adopted"] != nil {
			t.Fatalf("event %v: want created by virtsync", d)
		}
	}

	sum, err = e.run(t, src)
	if err != nil || sum.Counts[virtsync.Unchanged] != n {
		t.Fatalf("rerun: %v, counts %v", err, sum.Counts)
	}
	if calls := e.calls.take(); len(calls) != 0 {
		t.Fatalf("a rerun with nothing changed called virtpos: %v", calls)
	}
}

// A new install beside a virtpos that already has 3,000 of the partners
// (and 200 customers of its own) adopts them from one listing of about
// N/page_size calls, after a handful of look-ups; the 500 new partners are
// created without one. Nothing is created twice, and a later run with a
// small delta looks its few new customers up one by one, without listing.
func TestNewInstallAdoptsAnExistingVirtposFromOneListing(t *testing.T) {
	const existing, others, fresh, pageSize = 3000, 200, 500, 500
	e := newRunEnv(t, "json", "GET", nil)
	e.listings, e.pageSize = e.db, pageSize
	src := newPartners(existing + fresh)
	seedCustomers(t, e.srv, keysOf(src.recs[:existing]), others)

	sum, err := e.run(t, src)
	if err != nil || sum.Counts[virtsync.Updated] != existing || sum.Counts[virtsync.Created] != fresh {
		t.Fatalf("run: %v, counts %v; want %d adopted and %d created", err, sum.Counts, existing, fresh)
	}
	calls := e.calls.take()
	pages := (existing + others + pageSize - 1) / pageSize // 7; the last one short
	lookupsBeforeListing := pages
	// Look-ups: those that made the listing worth it, and those of the
	// records other workers finished while one listed (the rest of its
	// batch).
	maxLookups := lookupsBeforeListing + e.runner.BatchSize
	t.Logf("calls for %d partners beside %d virtpos customers: %v", existing+fresh, existing+others, calls)
	if calls[callCount] != 1 || calls[callPage] != pages || calls[callLookup] == 0 || calls[callLookup] > maxLookups ||
		calls[callCreate] != fresh || calls[callUpdate] != existing {
		t.Fatalf("calls %v, want 1 count, %d pages, 1 to %d look-ups, %d creates and %d updates",
			calls, pages, maxLookups, fresh, existing)
	}
	if got := len(e.srv.Customers()); got != existing+others+fresh {
		t.Fatalf("%d customers in virtpos, want %d", got, existing+others+fresh)
	}
	e.checkOnceEach(t, src)
	adopted := 0
	for _, d := range e.upserted(t) {
		if d["adopted"] == true {
			adopted++
		}
	}
	if adopted != existing {
		t.Fatalf("%d customers reported adopted, want %d", adopted, existing)
	}
	// The listing holds 1C references only: never the phone another
	// system put in external_id.
	if _, ok, err := e.db.Listed(context.Background(), "customer", sum.RunID, "79990001122"); ok || err != nil {
		t.Fatalf("the phone in an external_id was listed (%v, %v)", ok, err)
	}
	if id, ok, err := e.db.Listed(context.Background(), "customer", sum.RunID, src.recs[0].Key); !ok || err != nil || id == "" {
		t.Fatalf("partner 0 not in the run's listing: %q %v %v", id, ok, err)
	}

	// A small delta: 5 new partners, 2 of them already in virtpos.
	delta := newPartners(existing + fresh + 5)
	seedCustomers(t, e.srv, keysOf(delta.recs[existing+fresh:existing+fresh+2]), 0)
	sum2, err := e.run(t, delta)
	if err != nil || sum2.Counts[virtsync.Updated] != 2 || sum2.Counts[virtsync.Created] != 3 {
		t.Fatalf("delta run: %v, counts %v; want 2 adopted and 3 created", err, sum2.Counts)
	}
	if calls, want := e.calls.take(), map[string]int{callCount: 1, callLookup: 5, callCreate: 3, callUpdate: 2}; !maps.Equal(calls, want) {
		t.Fatalf("delta calls %v, want %v", calls, want)
	}
	e.checkOnceEach(t, delta)
	// The first run's listing was dropped when the next run started.
	if _, ok, err := e.db.Listed(context.Background(), "customer", sum.RunID, src.recs[0].Key); ok || err != nil {
		t.Fatalf("an earlier run's listing is still there (%v, %v)", ok, err)
	}
}

// bulkEnv is an env whose handler has bulk adoption on and is listing
// after its first look-up.
func bulkEnv(t *testing.T) (*env, *sinkvp.Customers) {
	t.Helper()
	e := newEnv(t)
	h := customersHandler(e)
	h.Listings, h.BulkAdoptAfter = e.db, 1
	if err := h.Prepare(context.Background(), e.run); err != nil {
		t.Fatal(err)
	}
	return e, h
}

func partnerRec(i int) engine.Record { return newPartners(i + 1).recs[i] }

func (e *env) lookups() int { return e.srv.Counts().Requests[virtpostest.PathCustomer] }

// With a complete listing, a record whose earlier create was interrupted
// is still looked up one by one: that create may have reached virtpos
// after the listing was taken. It is found and reported as virtsync's own.
func TestInterruptedRecordIsLookedUpDespiteAListing(t *testing.T) {
	e, h := bulkEnv(t)
	e.seed(t, `{"customers":[{"id":"7","external_id":"`+partnerRec(0).Key+`","lname":"Было"}]}`)
	// The first look-up counts (1 customer), looks partner 0 up, then lists.
	if out, err := h.Apply(context.Background(), e.run, partnerRec(0)); err != nil || out.Result != virtsync.Updated || out.RemoteID != "7" {
		t.Fatalf("partner 0: %+v, %v", out, err)
	}
	if got := e.lookups(); got != 3 { // count, look-up, one page
		t.Fatalf("%d GET /customer before the listing was ready, want 3", got)
	}
	// An interrupted create that landed after the listing was taken.
	e.seed(t, `{"customers":[{"id":"8","external_id":"`+custKey+`","lname":"Петров"}]}`)
	before := e.lookups()
	rec := custRec("Петров Иван", "")
	rec.Interrupted = true
	out, err := h.Apply(context.Background(), e.run, rec)
	if err != nil || out.Result != virtsync.Created || out.RemoteID != "8" {
		t.Fatalf("interrupted record: %+v, %v; want found as 8 and reported created", out, err)
	}
	if got := e.lookups() - before; got != 1 {
		t.Fatalf("%d look-ups for the interrupted record, want 1", got)
	}
	// A record the listing lacks is created without a look-up.
	before = e.lookups()
	out, err = h.Apply(context.Background(), e.run, partnerRec(1))
	if err != nil || out.Result != virtsync.Created {
		t.Fatalf("partner 1: %+v, %v", out, err)
	}
	if got := e.lookups() - before; got != 0 {
		t.Fatalf("%d look-ups for a record the complete listing lacks, want 0", got)
	}
	if n := len(e.srv.Customers()); n != 3 || e.srv.Counts().CustomersCreated != 1 {
		t.Fatalf("%d customers, %d created", n, e.srv.Counts().CustomersCreated)
	}
}

// A customer listed and deleted from virtpos since: the update by its
// listed id is not found, so it is looked up and created. A key that is
// no 1C reference is never answered from the listing.
func TestListingFallsBackToALookUp(t *testing.T) {
	e, h := bulkEnv(t)
	e.seed(t, `{"customers":[{"id":"7","external_id":"`+partnerRec(0).Key+`","lname":"Было"}]}`)
	if _, err := h.Apply(context.Background(), e.run, partnerRec(0)); err != nil {
		t.Fatal(err)
	}
	// The run's listing now says partner 2 is customer 999, which virtpos
	// no longer has.
	gone := partnerRec(2)
	err := e.db.ReplaceListing(context.Background(), "customer", e.run.ID, func(add func([]state.ListedRow) error) error {
		return add([]state.ListedRow{{Ref: gone.Key, RemoteID: "999"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	before := e.lookups()
	out, err := h.Apply(context.Background(), e.run, gone)
	if err != nil || out.Result != virtsync.Created || out.RemoteID == "999" {
		t.Fatalf("gone: %+v, %v; want created anew", out, err)
	}
	if got := e.lookups() - before; got != 1 {
		t.Fatalf("%d look-ups after the listed id was not found, want 1", got)
	}

	odd := custRec("Петров Иван", "")
	odd.Key = "not-a-1c-reference"
	before = e.lookups()
	if _, err := h.Apply(context.Background(), e.run, odd); err != nil {
		t.Fatal(err)
	}
	if got := e.lookups() - before; got != 1 {
		t.Fatalf("%d look-ups for a key that is no 1C reference, want 1", got)
	}
}

// listFails is a client whose listing breaks after its first page.
type listFails struct {
	*virtposapi.Client
	err error
}

func (c listFails) ListCustomers(ctx context.Context, size int, fn func([]virtposapi.Customer) error) error {
	err := c.Client.ListCustomers(ctx, 1, func(cs []virtposapi.Customer) error {
		if err := fn(cs); err != nil {
			return err
		}
		return c.err
	})
	if err == nil {
		return errors.New("the listing was meant to fail")
	}
	return err
}

// A listing that does not add up (or fails) is not used: the run looks
// each customer up, and what the listing stored of its first page is
// gone.
func TestBrokenListingIsNotUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"pages that do not add up", &virtposapi.PagingError{Page: 2, Reason: "customers were deleted while listing"}},
		{"virtpos gone mid-listing", virtposapi.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, h := bulkEnv(t)
			h.Client = listFails{Client: e.client, err: tc.err}
			e.seed(t, `{"customers":[{"id":"7","external_id":"`+partnerRec(0).Key+`"},{"id":"8","external_id":"`+partnerRec(1).Key+`"}]}`)
			if _, err := h.Apply(context.Background(), e.run, partnerRec(0)); err != nil {
				t.Fatal(err)
			}
			// The listing was tried: a count, partner 0's look-up, page 1.
			if got := e.lookups(); got != 3 {
				t.Fatalf("%d GET /customer, want 3 (count, look-up, the listing's first page)", got)
			}
			if _, ok, err := e.db.Listed(context.Background(), "customer", e.run.ID, partnerRec(0).Key); ok || err != nil {
				t.Fatalf("a broken listing left rows (%v, %v)", ok, err)
			}
			// Partner 1 is in virtpos: looked up and adopted, not created.
			before := e.lookups()
			out, err := h.Apply(context.Background(), e.run, partnerRec(1))
			if err != nil || out.Result != virtsync.Updated || out.RemoteID != "8" {
				t.Fatalf("partner 1: %+v, %v", out, err)
			}
			if got := e.lookups() - before; got != 1 {
				t.Fatalf("%d look-ups, want 1", got)
			}
			if e.srv.Counts().CustomersCreated != 0 {
				t.Fatal("a customer was created")
			}
		})
	}
}

// Without a store, or for a run Prepare did not start, every customer is
// looked up as before.
func TestNoBulkAdoptionWithoutPrepare(t *testing.T) {
	e := newEnv(t)
	h := customersHandler(e)
	h.Listings = e.db
	other := *e.run
	other.ID = "another run"
	if err := h.Prepare(context.Background(), &other); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Apply(context.Background(), e.run, partnerRec(0)); err != nil {
		t.Fatal(err)
	}
	if got := e.lookups(); got != 1 {
		t.Fatalf("%d GET /customer, want the one look-up", got)
	}
}

// A new install beside a virtpos that has half of the partners, with
// faults on every call (the listing's pages included): after as many runs
// as it takes, each partner is in virtpos once, the half virtpos had is
// reported adopted and the other half created.
func TestNewInstallUnderFaultsNeverDuplicates(t *testing.T) {
	const n, had = 300, 150
	e := newRunEnv(t, "json", "GET", nil)
	e.listings, e.pageSize = e.db, 40
	src := newPartners(n)
	seedCustomers(t, e.srv, keysOf(src.recs[:had]), 0)
	e.srv.SetFaults(virtpostest.Faults{Seed: 21, LostReplyRate: 0.05, HTMLRate: 0.05, ThrottleRate: 0.02, RetryAfter: 1})
	var errs []error
	for len(errs) < 8 {
		sum, err := e.run(t, src)
		if sum.Counts[virtsync.Failed] != 0 {
			t.Fatalf("run dead-lettered %d records: %v", sum.Counts[virtsync.Failed], sum.Failures)
		}
		if err == nil && sum.Counts[virtsync.Held] == 0 {
			break
		}
		errs = append(errs, fmt.Errorf("%v, %d held", err, sum.Counts[virtsync.Held]))
	}
	if len(errs) == 8 {
		t.Fatalf("8 runs did not finish: %v", errs)
	}
	calls := e.calls.take()
	t.Logf("calls over %d runs: %v; faults %+v", len(errs)+1, calls, e.srv.Counts())
	if calls[callPage] == 0 {
		t.Fatal("no listing was made: the test proves nothing")
	}
	if c := e.srv.Counts(); c.LostReplies == 0 || c.HTMLPages == 0 {
		t.Fatalf("faults did not happen: %+v", c)
	}
	if got := len(e.srv.Customers()); got != n {
		t.Fatalf("%d customers in virtpos, want %d", got, n)
	}
	e.checkOnceEach(t, src)
	adopted, created := 0, 0
	for _, d := range e.upserted(t) {
		switch {
		case d["adopted"] == true:
			adopted++
		case d["created"] == true:
			created++
		}
	}
	if adopted != had || created != n-had {
		t.Fatalf("%d adopted and %d created, want %d each", adopted, created, had)
	}
}
