package sinkvp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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

// partners is a source of n 1C partners, honouring the committed
// versions like the real one.
type partners struct{ recs []engine.Record }

func newPartners(n int) *partners {
	p := &partners{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		p.recs = append(p.recs, engine.Record{Key: key, Version: "v1",
			Data: onecapi.Entity{"Ref_Key": key, "Description": fmt.Sprintf("Покупатель%d Имя%d", i, i)}})
	}
	return p
}

func (p *partners) Scan(ctx context.Context, known engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	var st engine.ScanStats
	keys := make([]string, len(p.recs))
	for i, r := range p.recs {
		keys[i] = r.Key
	}
	versions, err := known.Versions(ctx, keys)
	if err != nil {
		return st, err
	}
	for _, r := range p.recs {
		st.Seen++
		if v, ok := versions[r.Key]; ok && v == r.Version {
			st.Unchanged++
			continue
		}
		if err := emit(r); err != nil {
			return st, err
		}
	}
	return st, nil
}

// runEnv is the customers job as the daemon runs it: the real runner on a
// real state file, the real client over loopback HTTP, the fake virtpos
// behind a handler that counts the calls by purpose.
type runEnv struct {
	srv    *virtpostest.Server
	calls  *callCounter
	client *virtposapi.Client
	db     *state.DB
	runner *engine.Runner
	// listings, when set, turns bulk adoption on (as the daemon runs it:
	// the state file); pageSize is its page_size, 0 for the default.
	listings sinkvp.Listings
	pageSize int
}

func newRunEnv(t *testing.T, format, method string, mod func(*virtposapi.Config)) *runEnv {
	t.Helper()
	e := &runEnv{srv: virtpostest.New(virtpostest.Options{APIKey: "k-secret"})}
	e.calls = &callCounter{next: e.srv, n: map[string]int{}}
	ts := httptest.NewServer(e.calls)
	t.Cleanup(ts.Close)
	t.Cleanup(e.srv.Close) // first: it releases hanging requests
	e.srv.URL = ts.URL + "/api"
	cfg := virtposapi.Config{BaseURL: e.srv.URL, APIKey: "k-secret", Format: format, Method: method,
		Timeout: 5 * time.Second, Retry: virtposapi.RetryPolicy{MaxAttempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := virtposapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.runner = &engine.Runner{DB: db, Owner: "test", Concurrency: 4, BatchSize: 50, Log: slog.New(slog.DiscardHandler),
		NewEvent: func(kind, what string, data any) (state.Event, error) {
			b, err := json.Marshal(data)
			return state.Event{ID: engine.NewRunID(), Subject: "virtsync." + kind + "." + what, Data: b}, err
		}}
	return e
}

func (e *runEnv) run(t *testing.T, src engine.Source) (engine.Summary, error) {
	t.Helper()
	h := &sinkvp.Customers{Client: e.client, Mapper: &mapper{fn: customerMap}, Listings: e.listings, ListPageSize: e.pageSize}
	return e.runner.Run(context.Background(), engine.JobSpec{Name: "customers", Kind: "customer", Source: src, Handler: h},
		engine.ModeOnce, nil)
}

// byExternalID counts the fake's customers per external_id.
func (e *runEnv) byExternalID() map[string]int {
	n := map[string]int{}
	for _, c := range e.srv.Customers() {
		n[c.ExternalID]++
	}
	return n
}

// upserted returns the data of every customer.upserted event in the outbox.
func (e *runEnv) upserted(t *testing.T) []map[string]any {
	t.Helper()
	evs, err := e.db.PendingEvents(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, ev := range evs {
		if ev.Subject != "virtsync.customer.upserted" {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// A virtpos that carries out a create and loses its reply must not get
// the create again blindly: 300 partners pushed through faults on
// customer/update become exactly 300 customers, each external_id once,
// each reported as created by virtsync. A run may stop on a fault (then
// the next one carries on, as the daemon's would); none dead-letters.
// Both ways hold it: a look-up per record, and bulk adoption (the first
// run counts an empty virtpos and creates without look-ups; the runs
// after it list virtpos, and the creates interrupted by a fault are
// looked up one by one).
func TestLostRepliesNeverDuplicateACustomer(t *testing.T) {
	t.Run("look-ups", func(t *testing.T) { testLostReplies(t, false) })
	t.Run("bulk adoption", func(t *testing.T) { testLostReplies(t, true) })
}

func testLostReplies(t *testing.T, bulk bool) {
	onUpdate := []string{virtpostest.PathCustomerUpdate}
	tests := []struct {
		name           string
		format, method string
		faults         virtpostest.Faults
		timeout        time.Duration
		lost           func(virtpostest.Counts) int // replies lost, to prove the faults happened
	}{
		{name: "10% lost replies over GET", format: "json", method: "GET",
			faults: virtpostest.Faults{Seed: 8, LostReplyRate: 0.1, Paths: onUpdate},
			lost:   func(c virtpostest.Counts) int { return c.LostReplies }},
		{name: "10% lost replies over POST", format: "xml", method: "POST",
			faults: virtpostest.Faults{Seed: 9, LostReplyRate: 0.1, Paths: onUpdate},
			lost:   func(c virtpostest.Counts) int { return c.LostReplies }},
		{name: "10% replies slower than the client's timeout", format: "json", method: "GET",
			faults: virtpostest.Faults{Seed: 10, SlowReply: 2 * time.Second, SlowReplyRate: 0.1, Paths: onUpdate}, timeout: 500 * time.Millisecond,
			lost: func(c virtpostest.Counts) int { return c.SlowReplies }},
		{name: "10% replies cut short", format: "xml", method: "GET",
			faults: virtpostest.Faults{Seed: 11, TruncateRate: 0.1, Paths: onUpdate},
			lost:   func(c virtpostest.Counts) int { return c.Truncated }},
		{name: "a mix of lost replies, proxy 502s and 429s", format: "json", method: "POST",
			faults: virtpostest.Faults{Seed: 12, LostReplyRate: 0.05, HTMLRate: 0.1, ThrottleRate: 0.02, RetryAfter: time.Millisecond, Paths: onUpdate},
			lost:   func(c virtpostest.Counts) int { return c.LostReplies }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			e := newRunEnv(t, tc.format, tc.method, func(c *virtposapi.Config) {
				if tc.timeout > 0 {
					c.Timeout = tc.timeout
				}
			})
			if bulk {
				e.listings = e.db
				e.pageSize = 40
			}
			e.srv.SetFaults(tc.faults)
			src := newPartners(n)
			created := 0
			var errs []error
			for len(errs) < 5 {
				sum, err := e.run(t, src)
				created += sum.Counts[virtsync.Created]
				if sum.Counts[virtsync.Failed] != 0 {
					t.Fatalf("run dead-lettered %d records: %v", sum.Counts[virtsync.Failed], sum.Failures)
				}
				if err == nil && sum.Counts[virtsync.Held] == 0 {
					break
				}
				if err == nil {
					// Creates whose outcome stayed unknown wait for the
					// next run: it looks again before creating.
					err = fmt.Errorf("%d held", sum.Counts[virtsync.Held])
				}
				errs = append(errs, err)
			}
			if len(errs) == 5 {
				t.Fatalf("5 runs stopped: %v", errs)
			}
			t.Logf("customer calls over %d runs: %v", len(errs)+1, e.calls.take())
			lost := tc.lost(e.srv.Counts())
			if lost == 0 {
				t.Fatal("no reply was lost: the test proves nothing")
			}
			by := e.byExternalID()
			if len(e.srv.Customers()) != n || len(by) != n {
				t.Fatalf("%d customers for %d external ids after %d lost replies, want %d each once", len(e.srv.Customers()), len(by), lost, n)
			}
			for _, r := range src.recs {
				if by[r.Key] != 1 {
					t.Errorf("external_id %s: %d customers", r.Key, by[r.Key])
				}
			}
			if created != n {
				t.Errorf("%d created over %d runs, want %d", created, len(errs)+1, n)
			}
			evs := e.upserted(t)
			if len(evs) != n {
				t.Fatalf("%d customer.upserted events, want %d", len(evs), n)
			}
			for _, d := range evs {
				if d["created"] != true || d["adopted"] != nil {
					t.Errorf("event %v: want created by virtsync, not adopted", d)
				}
			}
			// Every id is mapped to its own partner.
			for _, c := range e.srv.Customers() {
				ref, ok, err := e.db.LookupRef(context.Background(), "customer", c.ID)
				if err != nil || !ok || ref != c.ExternalID {
					t.Errorf("virtpos id %s maps to %q (%v, %v), want %s", c.ID, ref, ok, err, c.ExternalID)
				}
			}
			// A further run finds nothing to do.
			e.srv.SetFaults(virtpostest.Faults{})
			sum, err := e.run(t, src)
			if err != nil || sum.Counts[virtsync.Unchanged] != n {
				t.Fatalf("last run: %v, counts %v", err, sum.Counts)
			}
		})
	}
}

// A refused key stops the run at once: no record becomes a dead letter,
// no version is committed, and once the key is fixed the next run pushes
// everything.
func TestRefusedKeyStopsTheRunAndLosesNothing(t *testing.T) {
	tests := []struct {
		name   string
		key    string // the client's key; the fake expects k-secret
		faults virtpostest.Faults
	}{
		{name: "a wrong apikey", key: "k-wrong"},
		{name: "a key revoked while virtsync runs", key: "k-secret", faults: virtpostest.Faults{InvalidKey: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 60
			e := newRunEnv(t, "json", "GET", func(c *virtposapi.Config) { c.APIKey = tc.key })
			e.srv.SetFaults(tc.faults)
			src := newPartners(n)
			sum, err := e.run(t, src)
			if !virtposapi.IsAuth(err) || !strings.Contains(err.Error(), "check virtpos.apikey") {
				t.Fatalf("run error %v, want the refused key", err)
			}
			if sum.Counts[virtsync.Failed] != 0 || len(sum.Failures) != 0 {
				t.Fatalf("%d records failed, want none: %v", sum.Counts[virtsync.Failed], sum.Failures)
			}
			dl, err := e.db.DeadLetters(context.Background(), "customers", "")
			if err != nil || len(dl) != 0 {
				t.Fatalf("dead letters %v, %v", dl, err)
			}
			// Only the records in flight when the first refusal came were
			// tried: the run stopped, it did not try all 60.
			if r := e.srv.Counts().Requests[virtpostest.PathCustomer]; r > 8 {
				t.Errorf("%d look-ups before the run stopped", r)
			}

			// The key fixed: everything is pushed.
			fixed, err := virtposapi.New(virtposapi.Config{BaseURL: e.srv.URL, APIKey: "k-secret"})
			if err != nil {
				t.Fatal(err)
			}
			e.client = fixed
			e.srv.SetFaults(virtpostest.Faults{})
			sum, err = e.run(t, src)
			if err != nil || sum.Counts[virtsync.Created] != n || len(e.srv.Customers()) != n {
				t.Fatalf("after the fix: %v, counts %v, %d customers", err, sum.Counts, len(e.srv.Customers()))
			}
		})
	}
}

func TestCardsRefusedKeyIsNotTheCardsFault(t *testing.T) {
	e := newEnv(t)
	e.srv.SetFaults(virtpostest.Faults{InvalidKey: true})
	for _, rec := range []engine.Record{cardRec("Действует"), {Key: cardKey, Deleted: true}} {
		_, err := cardsHandler(e, "").Apply(context.Background(), e.run, rec)
		var re *engine.RejectedError
		var he *engine.HeldError
		if !virtposapi.IsAuth(err) || errors.As(err, &re) || errors.As(err, &he) {
			t.Errorf("deleted=%v: err = %v, want the refused key, neither rejected nor held", rec.Deleted, err)
		}
	}
}

// A virtpos that is down stops the run after about Breaker.Failures
// requests (plus those already in flight), not after every record's
// retries; nothing becomes a dead letter.
func TestDownVirtposStopsTheRunQuickly(t *testing.T) {
	tests := []struct {
		name    string
		faults  virtpostest.Faults
		timeout time.Duration
	}{
		{name: "every answer a proxy's 502", faults: virtpostest.Faults{HTMLRate: 1}},
		{name: "no answer at all", faults: virtpostest.Faults{Hang: true}, timeout: 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n, failures, concurrency = 200, 8, 4
			e := newRunEnv(t, "json", "GET", func(c *virtposapi.Config) {
				c.Breaker = virtposapi.BreakerPolicy{Failures: failures, Cooldown: time.Hour}
				if tc.timeout > 0 {
					c.Timeout = tc.timeout
				}
			})
			e.srv.SetFaults(tc.faults)
			sum, err := e.run(t, newPartners(n))
			if !errors.Is(err, virtposapi.ErrUnavailable) || !strings.Contains(err.Error(), "check that virtpos is up") {
				t.Fatalf("run error %v, want virtpos unavailable", err)
			}
			if sum.Counts[virtsync.Failed] != 0 {
				t.Fatalf("%d dead letters", sum.Counts[virtsync.Failed])
			}
			total := 0
			for _, r := range e.srv.Counts().Requests {
				total += r
			}
			if total > failures+concurrency {
				t.Errorf("%d requests before the run stopped, want at most %d", total, failures+concurrency)
			}
		})
	}
}

// sameIDServer is a broken virtpos that answers every write with one id.
func sameIDServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/customer":
			fmt.Fprint(w, `{"success":1,"customers":[],"count":"0"}`)
		case "/customer/update":
			fmt.Fprint(w, `{"success":1,"id":"17","isnew":1}`)
		default:
			fmt.Fprint(w, `{"success":1,"id":"9","isnew":1}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// One id for two records is a fault of virtpos: the run stops, and the id
// map never maps two 1C records to one virtpos record.
func TestOneIDForTwoRecordsStopsTheRun(t *testing.T) {
	t.Run("customers in one run", func(t *testing.T) {
		e := newRunEnv(t, "json", "GET", nil)
		c, err := virtposapi.New(virtposapi.Config{BaseURL: sameIDServer(t), APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		e.client = c
		e.runner.Concurrency = 1
		src := newPartners(5)
		sum, err := e.run(t, src)
		want := fmt.Sprintf("returned customer id 17 for %s, already mapped to %s: it is not honouring ids", src.recs[1].Key, src.recs[0].Key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("run error %v, want %q", err, want)
		}
		if sum.Counts[virtsync.Failed] != 0 || sum.Counts[virtsync.Created] != 1 {
			t.Fatalf("counts %v, want one created and no dead letter", sum.Counts)
		}
		// The next run stops at once, on the committed id map.
		if _, err := e.run(t, src); err == nil || !strings.Contains(err.Error(), "already mapped to "+src.recs[0].Key) {
			t.Fatalf("second run: %v", err)
		}
		if ref, _, _ := e.db.LookupRef(context.Background(), "customer", "17"); ref != src.recs[0].Key {
			t.Fatalf("id 17 maps to %q", ref)
		}
	})
	t.Run("cards", func(t *testing.T) {
		e := newRunEnv(t, "json", "GET", nil)
		c, err := virtposapi.New(virtposapi.Config{BaseURL: sameIDServer(t), APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.Update(context.Background(), func(tx *state.Tx) error { return tx.PutID("card", "other-card", "9", "") }); err != nil {
			t.Fatal(err)
		}
		h := &sinkvp.Cards{Client: c, Mapper: &mapper{fn: cardMap}}
		src := &fixed{recs: []engine.Record{cardRec("Действует")}}
		sum, err := e.runner.Run(context.Background(), engine.JobSpec{Name: "cards", Kind: "card", Source: src, Handler: h}, engine.ModeOnce, nil)
		if err == nil || !strings.Contains(err.Error(), "returned card id 9 for "+cardKey+", already mapped to other-card") {
			t.Fatalf("err = %v", err)
		}
		if sum.Counts[virtsync.Failed] != 0 {
			t.Fatalf("a fault of virtpos became the card's dead letter: %v", sum.Counts)
		}
		if ref, _, _ := e.db.LookupRef(context.Background(), "card", "9"); ref != "other-card" {
			t.Fatalf("id 9 maps to %q, want other-card", ref)
		}
	})
	t.Run("an update by id answered with another id", func(t *testing.T) {
		e := newEnv(t)
		c, err := virtposapi.New(virtposapi.Config{BaseURL: sameIDServer(t), APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		e.putID(t, "customer", custKey, "5")
		_, err = (&sinkvp.Customers{Client: c, Mapper: &mapper{fn: customerMap}}).Apply(context.Background(), e.run, custRec("Петров Иван", ""))
		if err == nil || !strings.Contains(err.Error(), "virtpos answered customer id 17 to an update of customer 5") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A garbled id never reaches the id map: the run stops naming it.
func TestGarbledIDNeverMapped(t *testing.T) {
	for _, id := range []string{"12.5e3", "-1", "<script>alert(1)</script>"} {
		t.Run(id, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/customer" {
					fmt.Fprint(w, `{"success":1,"customers":[]}`)
					return
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"success": 1, "id": id, "isnew": 1})
			}))
			defer srv.Close()
			e := newRunEnv(t, "json", "GET", nil)
			c, err := virtposapi.New(virtposapi.Config{BaseURL: srv.URL, APIKey: "k", Retry: virtposapi.RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			e.client = c
			sum, err := e.run(t, newPartners(3))
			if err == nil || !strings.Contains(err.Error(), "expected a virtpos id") {
				t.Fatalf("run error %v, want the id refused", err)
			}
			if sum.Counts[virtsync.Created]+sum.Counts[virtsync.Failed] != 0 {
				t.Fatalf("counts %v", sum.Counts)
			}
			if ids, err := e.db.IDs(context.Background(), "customer"); err != nil || len(ids) != 0 {
				t.Fatalf("id map %v, %v; want empty", ids, err)
			}
		})
	}
}

// Personal data sent to virtpos never reaches the state file (dead
// letters, the run's error, events), however virtpos fails: a rejection
// that echoes the values, a proxy page that echoes the URL, no answer.
func TestPersonalDataStaysOutOfState(t *testing.T) {
	const (
		fname = "Зоя-Уникальная"
		phone = "+79990001122"
		email = "probe@example.test"
	)
	pii := []string{fname, phone, email, url.QueryEscape(fname), url.QueryEscape(phone), url.QueryEscape(email), "79990001122"}
	personal := &mapper{fn: func(_ context.Context, rec engine.Record) (url.Values, error) {
		return url.Values{"fname": {fname}, "lname": {"Пробная"}, "phone": {phone}, "email": {email},
			"birth_day": {"17"}, "birth_month": {"3"}, "birth_year": {"1987"}}, nil
	}}
	tests := []struct {
		name  string
		setup func(e *runEnv)
	}{
		{"a rejection echoing the values", func(e *runEnv) {
			e.srv.SetFaults(virtpostest.Faults{Reject: func(path string, p url.Values) (bool, string) {
				return true, "Неверный формат телефона " + p.Get("phone") + " для " + p.Get("fname") + " (" + p.Get("email") + ")"
			}})
		}},
		{"a proxy page echoing the URL", func(e *runEnv) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				w.WriteHeader(502)
				fmt.Fprintf(w, "<html>Bad gateway: %s %s %s</html>", r.Form.Get("fname"), r.Form.Get("phone"), r.URL)
			}))
			t.Cleanup(srv.Close)
			c, err := virtposapi.New(virtposapi.Config{BaseURL: srv.URL, APIKey: "k", Retry: virtposapi.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			e.client = c
		}},
		{"no answer", func(e *runEnv) {
			e.srv.SetFaults(virtpostest.Faults{Hang: true})
			c, err := virtposapi.New(virtposapi.Config{BaseURL: e.srv.URL, APIKey: "k-secret", Timeout: 50 * time.Millisecond,
				Retry: virtposapi.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			e.client = c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := newRunEnv(t, "json", "GET", nil)
			db, err := state.Open(filepath.Join(dir, "pii.db"))
			if err != nil {
				t.Fatal(err)
			}
			e.db, e.runner.DB = db, db
			tc.setup(e)
			h := &sinkvp.Customers{Client: e.client, Mapper: personal}
			sum, err := e.runner.Run(context.Background(), engine.JobSpec{Name: "customers", Kind: "customer",
				Source: newPartners(3), Handler: h}, engine.ModeOnce, nil)
			if err == nil && sum.Counts[virtsync.Failed] == 0 {
				t.Fatalf("the run neither failed nor dead-lettered: %+v", sum.Counts)
			}
			texts := []string{fmt.Sprint(err)}
			for _, f := range sum.Failures {
				texts = append(texts, f.Reason)
			}
			for _, s := range texts {
				for _, v := range pii {
					if strings.Contains(s, v) {
						t.Errorf("run result carries %q: %s", v, s)
					}
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "pii.db*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range pii {
					if bytes.Contains(b, []byte(v)) {
						t.Errorf("%s holds %q", filepath.Base(f), v)
					}
				}
			}
		})
	}
}

// fixed is a source of a few records, all new.
type fixed struct{ recs []engine.Record }

func (f *fixed) Scan(ctx context.Context, _ engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	for _, r := range f.recs {
		if err := emit(r); err != nil {
			return engine.ScanStats{}, err
		}
	}
	return engine.ScanStats{Seen: len(f.recs)}, nil
}
