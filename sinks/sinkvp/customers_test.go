package sinkvp_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/sinks/sinkvp"
	"github.com/virtsync/virtsync/state"
)

// env is a virtpos fake reached over real HTTP by the real client, and a
// real state DB behind RunInfo.IDs. Every write the fake receives is
// recorded (per endpoint path) so tests can see the parameters sent.
type env struct {
	srv    *virtpostest.Server
	client *virtposapi.Client
	db     *state.DB
	run    *engine.RunInfo

	mu     sync.Mutex
	sent   map[string][]url.Values
	reject func(path string, p url.Values) (bool, string)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{sent: map[string][]url.Values{}}
	e.srv = virtpostest.NewServer(t, virtpostest.Options{APIKey: "k-secret"})
	e.srv.SetFaults(virtpostest.Faults{Reject: e.onWrite})
	c, err := virtposapi.New(virtposapi.Config{BaseURL: e.srv.URL, APIKey: "k-secret",
		Retry: virtposapi.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatalf("virtpos.New: %v", err)
	}
	e.client = c
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatalf("state.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.run = &engine.RunInfo{ID: "test", Job: "test", Mode: engine.ModeOnce, IDs: db, Log: slog.New(slog.DiscardHandler)}
	return e
}

func (e *env) onWrite(path string, p url.Values) (bool, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cp := url.Values{}
	for k, v := range p {
		cp[k] = append([]string(nil), v...)
	}
	e.sent[path] = append(e.sent[path], cp)
	if e.reject != nil {
		return e.reject(path, p)
	}
	return false, ""
}

func (e *env) setReject(f func(path string, p url.Values) (bool, string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reject = f
}

// sentTo returns the parameters of every write to path, in order.
func (e *env) sentTo(path string) []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.sent[path]...)
}

func (e *env) putID(t *testing.T, kind, ref, id string) {
	t.Helper()
	if err := e.db.Update(context.Background(), func(tx *state.Tx) error { return tx.PutID(kind, ref, id, "") }); err != nil {
		t.Fatalf("PutID: %v", err)
	}
}

func (e *env) seed(t *testing.T, js string) {
	t.Helper()
	if err := e.srv.LoadSeed(strings.NewReader(js)); err != nil {
		t.Fatalf("LoadSeed: %v", err)
	}
}

func (e *env) totalRequests() int {
	n := 0
	for _, v := range e.srv.Counts().Requests {
		n += v
	}
	return n
}

// mapper is a hand-written sink.Mapper.
type mapper struct {
	prepared int
	fn       func(ctx context.Context, rec engine.Record) (url.Values, error)
}

func (m *mapper) Prepare(context.Context) error { m.prepared++; return nil }
func (m *mapper) Map(ctx context.Context, rec engine.Record) (url.Values, error) {
	return m.fn(ctx, rec)
}

// customerMap maps a partner entity the ut11 way, simplified: Description
// "Last First" to lname/fname, and an email field as is.
func customerMap(_ context.Context, rec engine.Record) (url.Values, error) {
	e := rec.Data.(onecapi.Entity)
	p := url.Values{}
	parts := strings.Fields(e.String("Description"))
	if len(parts) > 0 {
		p.Set("lname", parts[0])
	}
	if len(parts) > 1 {
		p.Set("fname", parts[1])
	}
	if m := e.String("email"); m != "" {
		p.Set("email", m)
	}
	return p, nil
}

const custKey = "0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33"

func custRec(desc, email string) engine.Record {
	return engine.Record{Key: custKey, Version: "AAAAAQAAAAA=",
		Data: onecapi.Entity{"Ref_Key": custKey, "Description": desc, "email": email}}
}

func customersHandler(e *env) *sinkvp.Customers {
	return &sinkvp.Customers{Client: e.client, Mapper: &mapper{fn: customerMap}}
}

func onlyEvent(t *testing.T, out engine.Outcome, kind, what string) map[string]any {
	t.Helper()
	if len(out.Events) != 1 || out.Events[0].Kind() != kind || out.Events[0].What() != what {
		t.Fatalf("events = %+v, want one %s.%s", out.Events, kind, what)
	}
	b, err := json.Marshal(out.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCustomersPrepareCallsMapper(t *testing.T) {
	e := newEnv(t)
	m := &mapper{fn: customerMap}
	h := &sinkvp.Customers{Client: e.client, Mapper: m}
	if err := h.Prepare(context.Background(), e.run); err != nil || m.prepared != 1 {
		t.Fatalf("Prepare: err=%v prepared=%d", err, m.prepared)
	}
}

func TestCustomersCreateUnknown(t *testing.T) {
	e := newEnv(t)
	h := &sinkvp.Customers{Client: e.client, Mapper: &mapper{fn: func(ctx context.Context, rec engine.Record) (url.Values, error) {
		p, _ := customerMap(ctx, rec)
		p.Set("id", "12345") // a mapper's stray id must never reach virtpos
		return p, nil
	}}}
	out, err := h.Apply(context.Background(), e.run, custRec("Петров Иван", "ivan@example.ru"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got, ok := e.srv.Customer(custKey)
	if !ok {
		t.Fatal("customer not created in virtpos")
	}
	if out.Result != virtsync.Created || out.RemoteID != got.ID || out.RemoteID == "" {
		t.Fatalf("outcome = %+v, want created with id %s", out, got.ID)
	}
	if got.LName != "Петров" || got.FName != "Иван" || got.Email != "ivan@example.ru" {
		t.Fatalf("stored customer = %+v", got)
	}
	d := onlyEvent(t, out, "customer", "upserted")
	if d["external_id"] != custKey || d["virtpos_id"] != got.ID || d["created"] != true {
		t.Fatalf("event data = %v", d)
	}
	if _, adopted := d["adopted"]; adopted {
		t.Fatalf("a created customer is not adopted: %v", d)
	}
	c := e.srv.Counts()
	if c.CustomersCreated != 1 || c.CustomersUpdated != 0 {
		t.Fatalf("counts = %+v", c)
	}
	// Looked up by external_id first, then created with create_if_not_exist.
	if c.Requests[virtpostest.PathCustomer] != 1 || c.Requests[virtpostest.PathCustomerUpdate] != 1 {
		t.Fatalf("requests = %v", c.Requests)
	}
	sent := e.sentTo(virtpostest.PathCustomerUpdate)
	if len(sent) != 1 {
		t.Fatalf("updates sent = %v", sent)
	}
	p := sent[0]
	if p.Get("create_if_not_exist") != "1" || p.Get("external_id") != custKey || p.Has("id") {
		t.Fatalf("create params = %v", p)
	}
}

func TestCustomersAdoptExisting(t *testing.T) {
	e := newEnv(t)
	e.seed(t, `{"customers":[{"id":"7","external_id":"`+custKey+`","lname":"Старый","phone":"79001234567"}]}`)
	out, err := customersHandler(e).Apply(context.Background(), e.run, custRec("Петров Иван", ""))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if out.Result != virtsync.Updated || out.RemoteID != "7" {
		t.Fatalf("outcome = %+v, want updated 7", out)
	}
	if d := onlyEvent(t, out, "customer", "upserted"); d["adopted"] != true || d["created"] != false {
		t.Fatalf("event data = %v", d)
	}
	c := e.srv.Counts()
	if c.CustomersCreated != 0 || c.CustomersUpdated != 1 || len(e.srv.Customers()) != 1 {
		t.Fatalf("counts = %+v, customers = %v", c, e.srv.Customers())
	}
	sent := e.sentTo(virtpostest.PathCustomerUpdate)
	if len(sent) != 1 || sent[0].Get("id") != "7" || sent[0].Has("create_if_not_exist") {
		t.Fatalf("update params = %v", sent)
	}
	got, _ := e.srv.Customer(custKey)
	if got.LName != "Петров" || got.Phone != "79001234567" {
		t.Fatalf("customer = %+v: want the new name and the untouched phone", got)
	}
}

func TestCustomersKnownIDUpdatesByIDOnly(t *testing.T) {
	e := newEnv(t)
	e.seed(t, `{"customers":[{"id":"5","external_id":"`+custKey+`","lname":"Старый"}]}`)
	e.putID(t, "customer", custKey, "5")
	out, err := customersHandler(e).Apply(context.Background(), e.run, custRec("Петров Иван", ""))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if out.Result != virtsync.Updated || out.RemoteID != "5" {
		t.Fatalf("outcome = %+v", out)
	}
	c := e.srv.Counts()
	if n := c.Requests[virtpostest.PathCustomer]; n != 0 {
		t.Fatalf("%d look-up requests for a known id, want 0", n)
	}
	if c.Requests[virtpostest.PathCustomerUpdate] != 1 || c.CustomersUpdated != 1 || c.CustomersCreated != 0 {
		t.Fatalf("counts = %+v", c)
	}
	p := e.sentTo(virtpostest.PathCustomerUpdate)[0]
	if p.Get("id") != "5" || p.Get("external_id") != custKey || p.Has("create_if_not_exist") {
		t.Fatalf("params = %v", p)
	}
	if d := onlyEvent(t, out, "customer", "upserted"); d["adopted"] != nil {
		t.Fatalf("event data = %v", d)
	}
}

func TestCustomersKnownIDGoneFallsBack(t *testing.T) {
	tests := []struct {
		name               string
		seed               string // what virtpos has now
		wantRes            virtsync.Result
		wantID             string // "" = a fresh id
		wantCreated        int
		updates, lookups   int
		secondHasCreateFlg bool
		secondID           string // the id the second update carries, "" for none
	}{
		// Deleted by hand: neither the stale id nor the external_id is
		// found, so it is looked up and created again.
		{name: "deleted", seed: `{}`, wantRes: virtsync.Created, wantCreated: 1, updates: 2, lookups: 1, secondHasCreateFlg: true},
		// Re-created by hand under the same external_id: the stale id is
		// not found (virtpos matches customer/update by id only), the
		// look-up finds the new record, and it is updated by its id.
		{name: "recreated by hand", seed: `{"customers":[{"id":"3","external_id":"` + custKey + `","lname":"Руками"}]}`,
			wantRes: virtsync.Updated, wantID: "3", updates: 2, lookups: 1, secondID: "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.seed(t, tc.seed)
			e.putID(t, "customer", custKey, "999")
			out, err := customersHandler(e).Apply(context.Background(), e.run, custRec("Петров Иван", ""))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got, ok := e.srv.Customer(custKey)
			if !ok {
				t.Fatal("customer not in virtpos after the fallback")
			}
			if out.Result != tc.wantRes || out.RemoteID != got.ID || out.RemoteID == "999" ||
				(tc.wantID != "" && out.RemoteID != tc.wantID) {
				t.Fatalf("outcome = %+v, virtpos id %s", out, got.ID)
			}
			c := e.srv.Counts()
			if c.CustomersCreated != tc.wantCreated || len(e.srv.Customers()) != 1 {
				t.Fatalf("counts = %+v, customers %v", c, e.srv.Customers())
			}
			if c.Requests[virtpostest.PathCustomerUpdate] != tc.updates || c.Requests[virtpostest.PathCustomer] != tc.lookups {
				t.Fatalf("requests = %v", c.Requests)
			}
			sent := e.sentTo(virtpostest.PathCustomerUpdate)
			if sent[0].Get("id") != "999" || sent[0].Has("create_if_not_exist") {
				t.Fatalf("first update = %v", sent[0])
			}
			if tc.updates == 2 && (sent[1].Get("id") != tc.secondID || (sent[1].Get("create_if_not_exist") == "1") != tc.secondHasCreateFlg) {
				t.Fatalf("second update = %v", sent[1])
			}
		})
	}
}

func TestCustomersDeletionSkipped(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  engine.Record
	}{
		{"marked", engine.Record{Key: custKey, Marked: true, Data: onecapi.Entity{"Ref_Key": custKey, "DeletionMark": true}}},
		{"deleted", engine.Record{Key: custKey, Deleted: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.putID(t, "customer", custKey, "5")
			mapped := false
			h := &sinkvp.Customers{Client: e.client, Mapper: &mapper{fn: func(context.Context, engine.Record) (url.Values, error) {
				mapped = true
				return url.Values{}, nil
			}}}
			out, err := h.Apply(context.Background(), e.run, tc.rec)
			if err != nil || out.Result != virtsync.Skipped || out.ForgetID || len(out.Events) != 0 {
				t.Fatalf("Apply = %+v, %v; want skipped", out, err)
			}
			if mapped || e.totalRequests() != 0 {
				t.Fatalf("mapped=%v requests=%v: want no work", mapped, e.srv.Counts().Requests)
			}
		})
	}
}

func TestCustomersErrors(t *testing.T) {
	tests := []struct {
		name    string
		known   bool   // id map knows the customer (and virtpos has it)
		email   string // fake validates emails
		reject  string // info of a forced rejection of the update
		mapErr  error
		wantRej bool
		wantHld bool
		html    bool // virtpos behind a broken proxy
	}{
		{name: "invalid value new", email: "not-an-email", wantRej: true},
		{name: "invalid value known", known: true, email: "not-an-email", wantRej: true},
		{name: "forced rejection", reject: "phone is already used by another customer", wantRej: true},
		{name: "mapper held", mapErr: engine.Hold("group %s not synced", "g1"), wantHld: true},
		{name: "mapper rejected", mapErr: engine.Reject(nil, "birth date: not a date"), wantRej: true},
		{name: "transient stops the run", html: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.known {
				e.seed(t, `{"customers":[{"id":"5","external_id":"`+custKey+`","lname":"Старый"}]}`)
				e.putID(t, "customer", custKey, "5")
			}
			if tc.reject != "" {
				e.setReject(func(path string, _ url.Values) (bool, string) {
					return path == virtpostest.PathCustomerUpdate, tc.reject
				})
			}
			if tc.html {
				e.srv.SetFaults(virtpostest.Faults{HTMLStatus: 502})
			}
			h := customersHandler(e)
			if tc.mapErr != nil {
				h.Mapper = &mapper{fn: func(context.Context, engine.Record) (url.Values, error) { return nil, tc.mapErr }}
			}
			before := e.srv.Customers()
			out, err := h.Apply(context.Background(), e.run, custRec("Петров Иван", tc.email))
			if err == nil {
				t.Fatalf("Apply = %+v, want an error", out)
			}
			var re *engine.RejectedError
			var he *engine.HeldError
			if got := errors.As(err, &re); got != tc.wantRej {
				t.Fatalf("err = %v; rejected=%v want %v", err, got, tc.wantRej)
			}
			if got := errors.As(err, &he); got != tc.wantHld {
				t.Fatalf("err = %v; held=%v want %v", err, got, tc.wantHld)
			}
			if tc.mapErr != nil && e.totalRequests() != 0 {
				t.Fatalf("requests after a mapper error: %v", e.srv.Counts().Requests)
			}
			if strings.Contains(err.Error(), "k-secret") {
				t.Fatalf("apikey in error: %v", err)
			}
			if after := e.srv.Customers(); len(after) != len(before) || e.srv.Counts().CustomersCreated != 0 {
				t.Fatalf("virtpos changed: %v -> %v", before, after)
			}
			if tc.known {
				// A rejection of a known customer is not a "gone" customer:
				// no second look-up and no create.
				if n := e.srv.Counts().Requests[virtpostest.PathCustomer]; n != 0 {
					t.Fatalf("look-ups = %d", n)
				}
			}
		})
	}
}

// A retry of the whole Apply after a lost commit (the id never reached the
// id map) finds the customer instead of creating a second one.
func TestCustomersRepeatNeverDuplicates(t *testing.T) {
	e := newEnv(t)
	h := customersHandler(e)
	first, err := h.Apply(context.Background(), e.run, custRec("Петров Иван", ""))
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.Apply(context.Background(), e.run, custRec("Петров Пётр", ""))
	if err != nil {
		t.Fatal(err)
	}
	if first.Result != virtsync.Created || second.Result != virtsync.Updated || first.RemoteID != second.RemoteID {
		t.Fatalf("first %+v second %+v", first, second)
	}
	if n := len(e.srv.Customers()); n != 1 {
		t.Fatalf("%d customers in virtpos, want 1", n)
	}
	if got, _ := e.srv.Customer(custKey); got.FName != "Пётр" {
		t.Fatalf("customer = %+v", got)
	}
}

// A customer an earlier run created and never committed (its intent left
// behind) is found before anything is created, updated by its id, and
// reported as created by virtsync, not as adopted.
func TestCustomersInterruptedCreateIsVirtsyncs(t *testing.T) {
	e := newEnv(t)
	e.seed(t, `{"customers":[{"id":"7","external_id":"`+custKey+`","lname":"Петров"}]}`)
	rec := custRec("Петров Иван", "")
	rec.Interrupted = true
	out, err := customersHandler(e).Apply(context.Background(), e.run, rec)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result != virtsync.Created || out.RemoteID != "7" {
		t.Fatalf("outcome = %+v, want created 7", out)
	}
	if d := onlyEvent(t, out, "customer", "upserted"); d["created"] != true || d["adopted"] != nil {
		t.Fatalf("event data = %v", d)
	}
	if c := e.srv.Counts(); c.CustomersCreated != 0 || c.CustomersUpdated != 1 || len(e.srv.Customers()) != 1 {
		t.Fatalf("counts = %+v", c)
	}
	if sent := e.sentTo(virtpostest.PathCustomerUpdate); len(sent) != 1 || sent[0].Get("id") != "7" || sent[0].Has("create_if_not_exist") {
		t.Fatalf("sent = %v", sent)
	}
}

func TestCustomersUnknownCreateOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		faults      virtpostest.Faults
		wantErr     bool
		wantHeld    bool // held, keeping its create intent
		wantCreates int  // requests to customer/update
		wantLookups int
		wantStored  int
	}{
		// The reply is lost, the customer exists: found, not created again.
		{name: "a lost reply is looked up and not sent again",
			faults:      virtpostest.Faults{LostReplyRate: 1, Paths: []string{virtpostest.PathCustomerUpdate}},
			wantCreates: 1, wantLookups: 2, wantStored: 1},
		// A proxy's 502, nothing stored: one create, a look-up that finds
		// nothing, and the record waits for the next run (the server may
		// still be writing it), keeping its intent.
		{name: "a create without an answer is not sent again in the run",
			faults:  virtpostest.Faults{HTMLRate: 1, Paths: []string{virtpostest.PathCustomerUpdate}},
			wantErr: true, wantHeld: true, wantCreates: 1, wantLookups: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.faults.Reject = e.onWrite
			e.srv.SetFaults(tc.faults)
			out, err := customersHandler(e).Apply(context.Background(), e.run, custRec("Петров Иван", ""))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Apply = %+v, %v; want error %v", out, err, tc.wantErr)
			}
			var re *engine.RejectedError
			var he *engine.HeldError
			if errors.As(err, &re) {
				t.Fatalf("err = %v: an unknown outcome is not the record's fault", err)
			}
			if held := errors.As(err, &he) && he.KeepIntent; held != tc.wantHeld {
				t.Fatalf("err = %v: held keeping the intent = %v, want %v", err, held, tc.wantHeld)
			}
			if err == nil {
				got, _ := e.srv.Customer(custKey)
				if out.Result != virtsync.Created || out.RemoteID != got.ID {
					t.Fatalf("outcome = %+v, virtpos id %s", out, got.ID)
				}
				if d := onlyEvent(t, out, "customer", "upserted"); d["created"] != true || d["adopted"] != nil {
					t.Fatalf("event data = %v", d)
				}
			}
			c := e.srv.Counts()
			if c.Requests[virtpostest.PathCustomerUpdate] != tc.wantCreates || c.Requests[virtpostest.PathCustomer] != tc.wantLookups {
				t.Fatalf("requests = %v", c.Requests)
			}
			if n := len(e.srv.Customers()); n != tc.wantStored {
				t.Fatalf("%d customers stored, want %d", n, tc.wantStored)
			}
		})
	}
}
