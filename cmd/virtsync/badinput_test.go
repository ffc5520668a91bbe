package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/state"
)

// TestBadInput runs virtsync against one named bad input each: a
// config, a command line, or a reply of virtpos or 1C that the fakes (or a
// stand-in in front of them) produce. Every case states the exit code
// README promises (0 ok, 1 records failed or a run could not finish, 2
// usage or config error) and what the error must name (the record, field
// or key, and for config the file and line). Every case also checks that
// nothing panicked and no secret reached the output; a case with a heal
// step then removes the fault, runs -once, and checks that nothing was
// lost or doubled: every 1C client is one virtpos customer, every 1C card
// one virtpos card owned by the right customer, every virtpos order one 1C
// document, and no dead letter is left.
func TestBadInput(t *testing.T) {
	for _, c := range badInputs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newBad(t, c)
			args := []string{"-once"}
			if c.setup != nil {
				if a := c.setup(t, b); a != nil {
					args = a
				}
			}
			r := b.run(args...)
			out := r.stdout + r.stderr
			if r.code != c.code {
				t.Errorf("virtsync %v exited %d, want %d", args, r.code, c.code)
			}
			for _, want := range append(c.want, b.want...) {
				want = strings.ReplaceAll(want, "{at}", b.at(c.line))
				want = strings.ReplaceAll(want, "{n}", strings.Trim(strings.TrimPrefix(b.at(c.line), "virtsync.yaml"), ":"))
				if !matches(out, want) {
					t.Errorf("the output of virtsync %v does not name %q", args, want)
				}
			}
			noPanic(t, r)
			if c.check != nil {
				c.check(t, b, r)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", tail(r.stdout, 3000), tail(r.stderr, 3000))
			}
			if c.heal != nil {
				c.heal(t, b)
				b.mustRun(0, "-once")
				b.nothingLost(t)
			}
		})
	}
}

// badInput is one named case.
type badInput struct {
	name string
	// yaml is appended to the world's config; line is a text on the line
	// the error must name: in want, {at} expands to "virtsync.yaml:N:" and
	// {n} to N.
	yaml, line string
	// big seeds more clients than the run's limit of identical rejections
	// (25), so that a system fault cannot pass for 25 bad records.
	big bool
	// setup installs the fault and returns the arguments (nil: -once).
	setup func(t *testing.T, b *bad) []string
	code  int
	want  []string // substrings of stdout+stderr; "re:" starts a regexp
	check func(t *testing.T, b *bad, r result)
	// heal removes the fault; then -once must exit 0 and nothing be lost.
	heal func(t *testing.T, b *bad)
}

func matches(s, want string) bool {
	if re, ok := strings.CutPrefix(want, "re:"); ok {
		return regexp.MustCompile(re).MatchString(s)
	}
	return strings.Contains(s, want)
}

func noPanic(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine "} {
		if strings.Contains(r.stderr, s) || strings.Contains(r.stdout, s) {
			t.Errorf("virtsync panicked (%q in its output):\n%s", s, tail(r.stderr, 4000))
		}
	}
}

// ---- the world of one case ---------------------------------------------------

// bad is a world whose fakes are reached through stand-ins: reverse proxies
// that pass everything through until a case tells them to answer otherwise.
type bad struct {
	*world
	vpIn, ocIn *standIn
	// env is added to the environment of every run; secrets are scanned
	// for in every output besides the world's own.
	env     map[string]string
	secrets []string
	// want is more the output must name, known only once setup ran.
	want []string
	// deadline, when set, stops a run that outlives it: a product that
	// loops forever fails the case instead of stalling the suite.
	deadline time.Duration
}

func newBad(t *testing.T, c badInput) *bad {
	t.Helper()
	seed := onectest.DemoSeed(12, 8, 2, int64(len(c.name)))
	if c.big {
		seed = onectest.DemoSeed(36, 10, 2, int64(len(c.name)))
	}
	return behindStandIns(t, newWorld(t, seed, c.yaml))
}

// behindStandIns puts a stand-in in front of each fake of w and points the
// config at them.
func behindStandIns(t *testing.T, w *world) *bad {
	t.Helper()
	b := &bad{world: w}
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	bases := baseURLs.FindAllStringSubmatch(string(cfg), -1)
	if len(bases) != 2 {
		t.Fatalf("the world's config has %d base_url lines, want 2 (virtpos, onec)", len(bases))
	}
	b.vpIn = newStandIn(t, bases[0][1])
	b.ocIn = newStandIn(t, bases[1][1])
	w.setConfig("  base_url: "+bases[0][1]+"\n", "  base_url: "+b.vpIn.url+"\n")
	w.setConfig("  base_url: "+bases[1][1]+"\n", "  base_url: "+b.ocIn.url+"\n")
	return b
}

// baseURLs finds the base_url lines of a world's config: virtpos, then onec.
var baseURLs = regexp.MustCompile(`(?m)^  base_url: (\S+)$`)

// virtposKey and onecKey add a line to the virtpos or onec section.
func (b *bad) virtposKey(line string) {
	b.setConfig("  rate_limit: 0\n", "  rate_limit: 0\n  "+line+"\n")
}
func (b *bad) onecKey(line string) { b.setConfig("  user: sync\n", "  user: sync\n  "+line+"\n") }

// at is "virtsync.yaml:N:", N the config line holding text. Lines that
// hold the world's directory are skipped: its name is the test's.
func (b *bad) at(text string) string {
	if text == "" {
		return "virtsync.yaml"
	}
	cfg, err := os.ReadFile(b.config)
	if err != nil {
		b.t.Fatal(err)
	}
	for i, l := range strings.Split(string(cfg), "\n") {
		if strings.Contains(l, text) && !strings.Contains(l, b.dir) {
			return fmt.Sprintf("virtsync.yaml:%d:", i+1)
		}
	}
	b.t.Fatalf("the config has no line with %q", text)
	return ""
}

// run is world.run with the case's environment, secrets and deadline.
func (b *bad) run(args ...string) result {
	b.t.Helper()
	limit := 3 * time.Minute
	if b.deadline > 0 {
		limit = b.deadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	r := b.runWith(ctx, b.env, args, b.secrets...)
	if ctx.Err() != nil {
		b.t.Errorf("virtsync %v still ran after %s: stopped", args, limit)
	}
	return r
}

func (b *bad) mustRun(want int, args ...string) result {
	b.t.Helper()
	r := b.run(args...)
	if r.code != want {
		b.t.Fatalf("virtsync %v exited %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, tail(r.stdout, 3000), tail(r.stderr, 3000))
	}
	noPanic(b.t, r)
	return r
}

// loaded runs a clean -once (customers and cards in virtpos) and places n
// orders in virtpos by those customers, guids bad-0.., comment "ok" unless
// comments says otherwise for an index.
func (b *bad) loaded(n int, comments map[int]string) {
	b.t.Helper()
	b.mustRun(0, "-once")
	custs := b.vp.Customers()
	if len(custs) == 0 {
		b.t.Fatal("no customer in virtpos after a clean run")
	}
	dec := decimal.RequireFromString
	at := time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-time.Hour)
	for i := 0; i < n; i++ {
		comment := "ok"
		if c, ok := comments[i]; ok {
			comment = c
		}
		b.vp.AddOrder(virtposapi.Order{GUID: fmt.Sprintf("bad-%d", i), CustomerID: custs[i%len(custs)].ID,
			CreatedDate: at.Add(time.Duration(i) * time.Second).Format(virtposapi.TimeLayout), Comment: comment,
			Amount: dec("200.00"), Discount: dec("0"), ShippingCost: dec("0"),
			Items: []virtposapi.Item{{ItemID: onectest.DemoItemCode(i % onectest.DemoItems), ItemName: "Товар",
				Quantity: dec("2.000"), UnitBasePrice: dec("100.00"), Discount: dec("0"), Amount: dec("200.00")}}})
	}
}

// view is what the state file holds, read after a run.
type view struct {
	customerIDs map[string]string // 1C Ref_Key -> virtpos id
	versions    int               // committed customer and card versions
	dead        []state.DeadLetter
}

func (b *bad) state() view {
	b.t.Helper()
	db, err := state.Open(filepath.Join(b.dir, "state.db"), state.MustExist())
	if err != nil {
		b.t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v view
	if v.customerIDs, err = db.IDs(ctx, "customer"); err != nil {
		b.t.Fatal(err)
	}
	for _, job := range []string{"customers", "cards"} {
		vs, err := db.Versions(ctx, job)
		if err != nil {
			b.t.Fatal(err)
		}
		v.versions += len(vs)
	}
	all, err := db.DeadLetters(ctx, "", "")
	if err != nil {
		b.t.Fatal(err)
	}
	for _, d := range all {
		if d.Status != "resolved" {
			v.dead = append(v.dead, d)
		}
	}
	return v
}

// untouched checks a run that met a fault of a whole system: no dead
// letter, no committed version, no mapped id, so that the next run after
// the fix pushes everything.
func untouched(t *testing.T, b *bad, _ result) {
	t.Helper()
	v := b.state()
	if len(v.dead) > 0 {
		t.Errorf("%d dead letters after a fault of the whole system, want none; first: %s %s: %s", len(v.dead), v.dead[0].Job, v.dead[0].Key, v.dead[0].Reason)
	}
	if v.versions > 0 {
		t.Errorf("%d record versions committed although virtpos took nothing", v.versions)
	}
	if len(v.customerIDs) > 0 {
		t.Errorf("%d customers mapped to a virtpos id although virtpos took nothing", len(v.customerIDs))
	}
}

// noIDMapped checks that no customer is mapped to an id virtpos does not
// have (a garbled id must not enter the id map).
func noIDMapped(t *testing.T, b *bad, _ result) {
	t.Helper()
	real := map[string]bool{}
	for _, c := range b.vp.Customers() {
		real[c.ID] = true
	}
	for ref, id := range b.state().customerIDs {
		if !real[id] {
			t.Errorf("customer %s mapped to %q, which virtpos never gave", ref, id)
		}
	}
}

// mappedOnce checks that every client is one customer and mapped to it.
func mappedOnce(t *testing.T, b *bad, r result) {
	t.Helper()
	noIDMapped(t, b, r)
	b.checkClientsOnce()
	if got, want := len(b.state().customerIDs), len(b.clients()); got != want {
		t.Errorf("%d customers mapped, want %d", got, want)
	}
}

// nothingLost: every 1C client is exactly one virtpos customer, every 1C
// card exactly one virtpos card owned by its partner's customer, every
// virtpos order exactly one 1C document, and no dead letter is open.
func (b *bad) nothingLost(t *testing.T) {
	t.Helper()
	b.checkClientsOnce()
	byExt := map[string]virtposapi.Customer{}
	for _, c := range b.vp.Customers() {
		byExt[c.ExternalID] = c
	}
	cards := map[string][]virtposapi.Card{}
	for _, c := range b.vp.Cards() {
		cards[c.ExternalID] = append(cards[c.ExternalID], c)
	}
	for _, c := range b.onec.All(onectest.SetCards) {
		key := str(c["Ref_Key"])
		vc := cards[key]
		if len(vc) != 1 {
			t.Errorf("card %s exists %d times in virtpos", key, len(vc))
			continue
		}
		if owner := byExt[str(c["Партнер_Key"])]; vc[0].CustomerID != owner.ID {
			t.Errorf("card %s belongs to customer %q in virtpos, want %q", key, vc[0].CustomerID, owner.ID)
		}
	}
	docs := map[string]int{}
	for _, d := range b.onec.All(onectest.SetOrders) {
		docs[str(d["НомерПоДаннымКлиента"])]++
	}
	for _, o := range b.vp.Orders() {
		if n := docs["guid:"+o.GUID]; n != 1 {
			t.Errorf("order %s is %d documents in 1C, want 1", o.GUID, n)
		}
	}
	if n, m := len(docs), len(b.vp.Orders()); n != m {
		t.Errorf("1C has %d order documents, virtpos %d orders", n, m)
	}
	if v := b.state(); len(v.dead) > 0 {
		t.Errorf("%d dead letters left after the fault was removed; first: %s %s: %s", len(v.dead), v.dead[0].Job, v.dead[0].Key, v.dead[0].Reason)
	}
}

// ---- stand-ins -------------------------------------------------------------------

// standIn is a reverse proxy in front of a fake; a fault, when set, answers
// instead of it (and may still call the fake through next).
type standIn struct {
	url   string // the fake's base URL with the stand-in's host
	proxy http.Handler
	mu    sync.Mutex
	fault fault
}

type fault func(w http.ResponseWriter, r *http.Request, next http.Handler)

func newStandIn(t *testing.T, target string) *standIn {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	// A fake that drops the connection (a lost reply) is a dropped
	// connection behind the stand-in too, not the proxy's 502.
	proxy.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	// A fresh connection per request: Go's transport silently re-sends a
	// GET whose reused connection died before the reply, and a stand-in
	// that did so would make duplicates of its own.
	proxy.Transport = &http.Transport{DisableKeepAlives: true}
	s := &standIn{proxy: proxy}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.url = srv.URL + u.Path
	return s
}

func (s *standIn) set(f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.fault
	s.mu.Unlock()
	if f == nil {
		s.proxy.ServeHTTP(w, r)
		return
	}
	f(w, r, s.proxy)
}

// onPath applies f to requests whose path contains part; others pass.
func onPath(part string, f fault) fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, part) {
			f(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	}
}

// answer replies status with body to every request, carrying nothing out.
func answer(status int, ctype, body string) fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// rewrite passes the request on and replaces the reply body with edit's.
func rewrite(edit func(t *testing.T, body []byte) []byte, t *testing.T) fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		relay(w, rec, edit(t, rec.Body.Bytes()))
	}
}

// relay sends a recorded reply with body.
func relay(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// cut passes the request on (the write is carried out), then sends only
// the first n bytes of a reply that announced its full length.
func cut(n int) fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:min(n, len(body))])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drops the connection, as a proxy cutting it would
	}
}

// stream sends head, then chunk every pause until the client goes away.
func stream(head, chunk string, pause time.Duration) fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(head))
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(pause):
			}
			if _, err := w.Write([]byte(chunk)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// replaceID rewrites every "id" of a JSON reply of virtpos (drops it when
// to is empty: only for flat replies, where it never comes first).
func replaceID(to string) func(*testing.T, []byte) []byte {
	re := regexp.MustCompile(`(,?)"id":"[0-9]+"`)
	return func(_ *testing.T, b []byte) []byte {
		if to == "" {
			return re.ReplaceAll(b, nil)
		}
		return re.ReplaceAll(b, []byte(`${1}"id":`+jsonString(to)))
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// editOrders decodes a JSON /orders reply, lets edit change the orders,
// and encodes the reply with what edit returns as "orders".
func editOrders(edit func(orders []map[string]any) any) func(*testing.T, []byte) []byte {
	return func(t *testing.T, body []byte) []byte {
		var reply map[string]json.RawMessage
		if err := json.Unmarshal(body, &reply); err != nil {
			t.Errorf("stand-in: the fake's /orders reply is not JSON: %v", err)
			return body
		}
		var orders []map[string]any
		dec := json.NewDecoder(bytes.NewReader(reply["orders"]))
		dec.UseNumber()
		if err := dec.Decode(&orders); err != nil {
			t.Errorf("stand-in: the fake's orders are not a list: %v", err)
			return body
		}
		out, err := json.Marshal(edit(orders))
		if err != nil {
			t.Errorf("stand-in: %v", err)
			return body
		}
		reply["orders"] = out
		b, _ := json.Marshal(reply)
		return b
	}
}

// basicAuth is the Authorization header of user:password.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// secretCase is a 1C password with characters a YAML expansion would
// break on: the stand-in lets a request through only with exactly that
// password (then with the fake's own), so a run that exits 0 used it byte
// for byte, and the text after the newline never became a key.
func secretCase(name, secret string) badInput {
	return badInput{
		name: name,
		setup: func(t *testing.T, b *bad) []string {
			b.setConfig("password: ${ONEC_PASSWORD}", "password: ${BADINPUT_ONEC_PASSWORD}")
			b.env = map[string]string{"BADINPUT_ONEC_PASSWORD": secret}
			b.secrets = []string{secret}
			want := basicAuth("sync", secret)
			b.ocIn.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				if r.Header.Get("Authorization") != want {
					w.Header().Set("WWW-Authenticate", `Basic realm="1C"`)
					http.Error(w, "stand-in: not the password byte for byte", http.StatusUnauthorized)
					return
				}
				r.Header.Set("Authorization", basicAuth("sync", "pw-Секрет"))
				next.ServeHTTP(w, r)
			})
			return nil
		},
		code: 0,
		check: func(t *testing.T, b *bad, _ result) {
			// page_size: 1 after the newline would have made a page per record.
			if n := b.onec.Requests("GET", onectest.SetPartners); n > 10 {
				t.Errorf("%d partner requests: a key from the secret was taken as config (page_size: 1)", n)
			}
			b.nothingLost(t)
		},
	}
}

// ---- the cases ---------------------------------------------------------------------

func badInputs() []badInput {
	cases := append(configInputs(), commandLineInputs()...)
	cases = append(cases, virtposInputs()...)
	return append(cases, onecInputs()...)
}

func configInputs() []badInput {
	return []badInput{
		{name: "an unknown top-level key is named with its file and line", yaml: "virtpos_typo: 1\n", line: "virtpos_typo",
			code: 2, want: []string{"{at}", "virtpos_typo", "unknown key"}},
		{name: "an unknown key inside onec is named with its full path", line: "page_sise",
			setup: func(t *testing.T, b *bad) []string { b.onecKey("page_sise: 5"); return nil },
			code:  2, want: []string{"{at}", "onec.page_sise"}},
		{name: "a duration in parsecs is refused", yaml: "shutdown_timeout: 5 parsecs\n", line: "parsecs",
			code: 2, want: []string{"{at}", "shutdown_timeout", "5 parsecs"}},
		{name: "a schedule of @every 0s is refused", yaml: "jobs: {customers: {schedule: \"@every 0s\"}}\n", line: "@every 0s",
			code: 2, want: []string{"{at}", "jobs.customers.schedule"}},
		{name: "a negative @every is refused", yaml: "jobs: {orders: {schedule: \"@every -1m\"}}\n", line: "@every -1m",
			code: 2, want: []string{"{at}", "jobs.orders.schedule"}},
		{name: "a schedule in words is refused", yaml: "jobs: {cards: {schedule: \"every ten minutes\"}}\n", line: "every ten",
			code: 2, want: []string{"{at}", "jobs.cards.schedule"}},
		{name: "a negative orders window is refused", yaml: "jobs: {orders: {window: -1h}}\n", line: "window",
			code: 2, want: []string{"{at}", "jobs.orders.window"}},
		{name: "a tab in the indentation is a YAML error with its line", yaml: "jobs:\n\tcards: {enabled: true}\n", line: "\tcards",
			code: 2, want: []string{"virtsync.yaml", "re:line {n}\\b|virtsync.yaml:{n}\\b"}},
		{name: "a missing environment variable is named with key and line", line: "BADINPUT_NOT_SET",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("password: ${ONEC_PASSWORD}", "password: ${BADINPUT_NOT_SET}")
				return nil
			},
			code: 2, want: []string{"{at}", "onec.password", "BADINPUT_NOT_SET"}},
		{name: "an empty apikey is refused naming virtpos.apikey", line: "BADINPUT_EMPTY",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("apikey: ${VIRTPOS_APIKEY}", "apikey: ${BADINPUT_EMPTY:}")
				return nil
			},
			code: 2, want: []string{"{at}", "virtpos.apikey"}},
		{name: "a virtpos base_url with ftp is refused", line: "ftp://",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("  base_url: "+b.vpIn.url, "  base_url: ftp://virtpos.example/api")
				return nil
			},
			code: 2, want: []string{"{at}", "virtpos.base_url"}},
		{name: "a page size of 0 is refused", line: "page_size",
			setup: func(t *testing.T, b *bad) []string { b.onecKey("page_size: 0"); return nil },
			code:  2, want: []string{"{at}", "onec.page_size"}},
		{name: "a concurrency of 0 is refused", line: "concurrency: 0",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("concurrency: 4", "concurrency: 0")
				return nil
			},
			code: 2, want: []string{"{at}", "virtpos.concurrency"}},
		{name: "an embedded NATS listener without a login is refused", line: "embedded_listen",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig(`nats: {url: ""}`, `nats: {url: "", embedded_listen: "127.0.0.1:0"}`)
				return nil
			},
			code: 2, want: []string{"{at}", "nats.embedded_password"}},
		{name: "a number where a map belongs is refused", line: "outbox: 5",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("outbox: {drain_timeout: 5s}", "outbox: 5")
				return nil
			},
			code: 2, want: []string{"virtsync.yaml", "outbox"}},
		secretCase("a 1C password with a quote is used byte for byte", `pw"with'quotes`),
		secretCase("a 1C password with a newline cannot add a config key", "pw\n  page_size: 1\nvirtpos_typo: 1"),
		secretCase(`a 1C password with a backslash escape, a variable and a double dollar is used as is`, `pw\x7a${HOME}$$#`),
	}
}

func commandLineInputs() []badInput {
	args := func(a ...string) func(*testing.T, *bad) []string {
		return func(*testing.T, *bad) []string { return a }
	}
	stateFile := func(t *testing.T, b *bad, _ result) {
		if _, err := os.Stat(filepath.Join(b.dir, "state.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a reading command created the state file (stat: %v)", err)
		}
	}
	return []badInput{
		{name: `-resync "" is a usage error, not the daemon`, setup: args("-resync", ""), code: 2, want: []string{"-resync"}},
		{name: "-job nosuch is a usage error naming the job", setup: args("-once", "-job", "nosuch"), code: 2, want: []string{"nosuch", "customers, cards, orders"}},
		{name: `-job "" is a usage error`, setup: args("-once", "-job", ""), code: 2, want: []string{"-job"}},
		{name: "-once with -resync is a usage error", setup: args("-once", "-resync", "all"), code: 2, want: []string{"-once", "-resync"}},
		{name: "-resync of an unknown job is a usage error", setup: args("-resync", "customers,products"), code: 2, want: []string{"products"}},
		{name: "an unknown command is a usage error", setup: args("stats"), code: 2, want: []string{`"stats"`}},
		{name: "status on a missing state file exits 1 and creates nothing", setup: args("status"), code: 1,
			want: []string{"state.db", "state.path"}, check: stateFile},
		{name: "failures on a missing state file exits 1 and creates nothing", setup: args("failures"), code: 1,
			want: []string{"state.db", "state.path"}, check: stateFile},
		{name: "a state path under a regular file names that file",
			setup: func(t *testing.T, b *bad) []string {
				plain := filepath.Join(b.dir, "plain")
				if err := os.WriteFile(plain, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				b.setConfig(filepath.Join(b.dir, "state.db"), filepath.Join(plain, "state.db"))
				return nil
			},
			code: 1, want: []string{"plain", "not a directory"}},
		{name: "a state path that is a directory says so",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig(filepath.Join(b.dir, "state.db"), b.dir)
				return nil
			},
			code: 1, want: []string{"is a directory", "state.path"}},
	}
}

func virtposInputs() []badInput {
	heal := func(t *testing.T, b *bad) {
		b.vp.SetFaults(virtpostest.Faults{})
		b.vpIn.set(nil)
	}
	everyReply := func(status int, ctype, body string) func(*testing.T, *bad) []string {
		return func(t *testing.T, b *bad) []string { b.vpIn.set(answer(status, ctype, body)); return nil }
	}
	onCustomerUpdate := func(f func(*testing.T, []byte) []byte) func(*testing.T, *bad) []string {
		return func(t *testing.T, b *bad) []string {
			b.vpIn.set(onPath("/customer/update", rewrite(f, t)))
			return []string{"-once", "-job", "customers"}
		}
	}
	// Orders: a clean run first (customers and cards in virtpos), then
	// orders, then the fault on /orders for an orders run.
	orders := func(n int, comments map[int]string, f func(t *testing.T) fault) func(*testing.T, *bad) []string {
		return func(t *testing.T, b *bad) []string {
			b.loaded(n, comments)
			b.vpIn.set(onPath("/orders", f(t)))
			return []string{"-once", "-job", "orders"}
		}
	}
	editing := func(edit func([]map[string]any) any) func(t *testing.T) fault {
		return func(t *testing.T) fault { return rewrite(editOrders(edit), t) }
	}
	return []badInput{
		{name: "an invalid apikey for everything stops the run and dead-letters nothing", big: true,
			setup: func(t *testing.T, b *bad) []string { b.vp.SetFaults(virtpostest.Faults{InvalidKey: true}); return nil },
			code:  1, want: []string{"invalid apikey", "virtpos.apikey"}, check: untouched, heal: heal},
		{name: "success=0 with an empty info for everything stops the run and dead-letters nothing", big: true,
			setup: everyReply(200, "application/json", `{"success":0,"info":""}`),
			code:  1, want: []string{"virtpos customer", "success=0"}, check: untouched, heal: heal},
		{name: "HTTP 401 from virtpos stops the run and dead-letters nothing", big: true,
			setup: everyReply(401, "text/plain", "Unauthorized"),
			code:  1, want: []string{"HTTP 401", "virtpos.apikey"}, check: untouched, heal: heal},
		{name: "an HTML page with HTTP 200 stops the run and dead-letters nothing", big: true,
			setup: everyReply(200, "text/html; charset=utf-8", "<html><body><h1>Технические работы</h1></body></html>"),
			code:  1, want: []string{"virtpos customer", "re:(?i)html"}, check: untouched, heal: heal},
		{name: "an HTML 502 for everything trips the breaker within a bounded number of requests", big: true,
			setup: func(t *testing.T, b *bad) []string { b.vp.SetFaults(virtpostest.Faults{HTMLStatus: 502}); return nil },
			code:  1, want: []string{"HTTP 502", "virtpos"},
			check: func(t *testing.T, b *bad, r result) {
				untouched(t, b, r)
				n := 0
				for _, c := range b.vp.Counts().Requests {
					n += c
				}
				// 32 clients x 3 attempts would be 96 requests without a breaker.
				if n > 60 {
					t.Errorf("%d requests to a virtpos that answers 502 to all: the run was not stopped", n)
				}
			},
			heal: heal},
		{name: "a virtpos that never answers ends the run after its timeouts", big: true,
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("  concurrency: 4\n", "  concurrency: 4\n  timeout: 1s\n  breaker: {failures: 3, cooldown: 1m}\n")
				b.vp.SetFaults(virtpostest.Faults{Hang: true})
				b.deadline = time.Minute
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{"virtpos customer"}, check: untouched, heal: heal},
		{name: "truncated JSON for every reply dead-letters nothing and doubles nothing later", big: true,
			setup: func(t *testing.T, b *bad) []string { b.vpIn.set(cut(9)); return nil },
			code:  1, want: []string{"virtpos customer"}, check: untouched, heal: heal},
		{name: "a proxy's 502 after every third customer write was carried out creates each customer once",
			setup: func(t *testing.T, b *bad) []string {
				var n atomic.Int32
				b.vpIn.set(onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					rec := httptest.NewRecorder()
					next.ServeHTTP(rec, r)
					if n.Add(1)%3 == 0 {
						answer(http.StatusBadGateway, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>")(w, r, next)
						return
					}
					relay(w, rec, rec.Body.Bytes())
				}))
				return []string{"-once", "-job", "customers"}
			},
			code: 0, check: mappedOnce, heal: heal},
		{name: "lost replies to 30% of customer writes create each customer once",
			setup: func(t *testing.T, b *bad) []string {
				b.vp.SetFaults(virtpostest.Faults{Paths: []string{virtpostest.PathCustomerUpdate}, LostReplyRate: 0.3, Seed: 8})
				return []string{"-once", "-job", "customers"}
			},
			code: 0, check: func(t *testing.T, b *bad, _ result) {
				if b.vp.Counts().LostReplies == 0 {
					t.Error("no reply was lost: the case proves nothing")
				}
				b.checkClientsOnce()
			}, heal: heal},
		{name: "429 with Retry-After is waited out", setup: func(t *testing.T, b *bad) []string {
			b.vp.SetFaults(virtpostest.Faults{Throttle: 3, RetryAfter: time.Second})
			return nil
		}, code: 0, check: func(t *testing.T, b *bad, _ result) { b.nothingLost(t) }},
		// A garbled id in the reply of a create: the create may be done, so
		// the customer is looked up by external_id and mapped to the id
		// found there, never to the garbled one.
		{name: "a customer id 12.5e3 is refused naming the field id; the lookup maps the real one",
			setup: onCustomerUpdate(replaceID("12.5e3")), code: 0,
			want: []string{"customer_update", "at id", "12.5e3"}, check: mappedOnce, heal: heal},
		{name: "a customer id -1 is refused naming the field id; the lookup maps the real one",
			setup: onCustomerUpdate(replaceID("-1")), code: 0,
			want: []string{"customer_update", "at id", `re:got \\?"-1\\?"`}, check: mappedOnce, heal: heal},
		{name: "a customer id <script> in every customer reply is refused naming the field id and nothing is mapped",
			setup: func(t *testing.T, b *bad) []string {
				b.vpIn.set(onPath("/customer", rewrite(replaceID("<script>"), t)))
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{"customer", "at id"}, check: untouched, heal: heal},
		{name: "a customer reply success=1 without an id is looked up by external_id, not sent again",
			setup: onCustomerUpdate(replaceID("")), code: 0, want: []string{"customer_update", "at id"},
			check: mappedOnce, heal: heal},
		{name: "a card reply success=1 without an id is accepted",
			setup: func(t *testing.T, b *bad) []string {
				b.vpIn.set(onPath("/card/", rewrite(replaceID(""), t)))
				return nil
			},
			code: 0, check: func(t *testing.T, b *bad, _ result) {
				if got, want := len(b.vp.Cards()), len(b.onec.All(onectest.SetCards)); got != want {
					t.Errorf("virtpos has %d cards, 1C %d", got, want)
				}
			}, heal: heal},
		{name: "one customer rejected is a dead letter naming its key and the reason",
			setup: func(t *testing.T, b *bad) []string {
				victim := str(b.clients()[1]["Ref_Key"])
				b.vp.SetFaults(virtpostest.Faults{Reject: func(path string, p url.Values) (bool, string) {
					return path == virtpostest.PathCustomerUpdate && p.Get("external_id") == victim, "Неверный формат телефона"
				}})
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{"Неверный формат телефона"},
			check: func(t *testing.T, b *bad, r result) {
				victim := str(b.clients()[1]["Ref_Key"])
				if !strings.Contains(r.stdout, victim) {
					t.Errorf("the summary does not name the rejected customer %s:\n%s", victim, r.stdout)
				}
				if v := b.state(); len(v.dead) != 1 || v.dead[0].Key != victim {
					t.Errorf("dead letters %+v, want exactly the rejected customer", v.dead)
				}
			},
			heal: func(t *testing.T, b *bad) {
				heal(t, b)
				b.mustRun(0, "failures", "-replay")
			}},
		{name: "an /orders reply listing a guid twice makes one 1C document",
			setup: orders(3, nil, editing(func(o []map[string]any) any {
				for _, x := range o {
					if x["guid"] == "bad-1" {
						return append(o, x)
					}
				}
				return o
			})),
			code: 0, want: []string{"guid:bad-1", "more than once"},
			check: func(t *testing.T, b *bad, _ result) { b.nothingLost(t) }},
		{name: "an XML order with an unknown nested element is accepted",
			setup: func(t *testing.T, b *bad) []string {
				b.virtposKey("format: xml")
				return orders(3, nil, func(t *testing.T) fault {
					return rewrite(func(_ *testing.T, body []byte) []byte {
						return bytes.Replace(body, []byte("<orders>\n"), []byte("<orders>\n      <extra><nested>1</nested><nested a=\"2\"/></extra>\n"), 1)
					}, t)
				})(t, b)
			},
			code: 0, check: func(t *testing.T, b *bad, _ result) { b.nothingLost(t) }},
		{name: "JSON orders as an object keyed by id are decoded",
			setup: orders(3, nil, editing(func(o []map[string]any) any {
				keyed := map[string]any{}
				for i, x := range o {
					keyed[fmt.Sprint(101+i)] = x
				}
				return keyed
			})),
			code: 0, check: func(t *testing.T, b *bad, _ result) { b.nothingLost(t) }},
		{name: "money as JSON numbers is decoded exactly",
			setup: orders(2, nil, editing(func(o []map[string]any) any {
				for _, x := range o {
					x["amount"] = json.Number("200.00")
					x["discount"] = json.Number("0")
				}
				return o
			})),
			code: 0, check: func(t *testing.T, b *bad, _ result) {
				b.nothingLost(t)
				for _, d := range b.onec.All(onectest.SetOrders) {
					if s := fmt.Sprint(d["СуммаДокумента"]); s != "200" && s != "200.00" {
						t.Errorf("СуммаДокумента = %s, want 200", s)
					}
				}
			}},
		{name: "invalid UTF-8 in one order's comment rejects that order naming comment; the others go through",
			setup: orders(3, map[int]string{1: "BADCOMMENT"}, func(t *testing.T) fault {
				return rewrite(func(_ *testing.T, body []byte) []byte {
					return bytes.Replace(body, []byte("BADCOMMENT"), []byte("BAD\xff\xfeCOMMENT"), 1)
				}, t)
			}),
			code: 1, want: []string{"guid:bad-1", "comment"},
			check: func(t *testing.T, b *bad, _ result) {
				docs := map[string]int{}
				for _, d := range b.onec.All(onectest.SetOrders) {
					docs[str(d["НомерПоДаннымКлиента"])]++
				}
				if docs["guid:bad-0"] != 1 || docs["guid:bad-2"] != 1 || docs["guid:bad-1"] != 0 {
					t.Errorf("1C documents by order %v, want bad-0 and bad-2 once, bad-1 not", docs)
				}
			},
			heal: heal},
		{name: "an amount with a decimal comma is read as a decimal",
			setup: orders(3, nil, editing(func(o []map[string]any) any {
				o[2]["amount"] = "200,00"
				return o
			})),
			code: 0, check: func(t *testing.T, b *bad, _ result) { b.nothingLost(t) }},
		{name: "an amount that is not a number rejects that order naming amount; the others go through",
			setup: orders(3, nil, editing(func(o []map[string]any) any {
				o[0]["amount"] = "2OO.00" // first: the orders after it must not be blocked
				return o
			})),
			code: 1, want: []string{"bad-0", "amount"},
			check: func(t *testing.T, b *bad, _ result) {
				if n := len(b.onec.All(onectest.SetOrders)); n != 2 {
					t.Errorf("1C has %d order documents, want the 2 good ones", n)
				}
			},
			heal: heal},
		{name: "an /orders body that trickles is cut at virtpos.orders_timeout",
			setup: func(t *testing.T, b *bad) []string {
				b.virtposKey("orders_timeout: 2s")
				b.deadline = time.Minute
				return orders(1, nil, func(*testing.T) fault { return stream(`{"success":1,"orders":[`, " ", 200*time.Millisecond) })(t, b)
			},
			code: 1, want: []string{"orders_timeout"}, heal: heal},
		{name: "an endless whitespace /orders body is bounded",
			setup: func(t *testing.T, b *bad) []string {
				b.virtposKey("orders_timeout: 3s")
				b.deadline = time.Minute
				return orders(1, nil, func(*testing.T) fault {
					return stream(`{"success":1,"orders":`, strings.Repeat(" \n\t", 20000), 0)
				})(t, b)
			},
			code: 1, want: []string{"virtpos orders"}, heal: heal},
		{name: "an invalid apikey on /orders stops the orders run naming the key",
			setup: orders(2, nil, func(*testing.T) fault {
				return answer(200, "application/json", `{"success":0,"info":"invalid apikey"}`)
			}),
			code: 1, want: []string{"invalid apikey", "virtpos.apikey"}, heal: heal},
	}
}

func onecInputs() []badInput {
	heal := func(t *testing.T, b *bad) {
		b.onec.ClearFaults()
		b.ocIn.set(nil)
	}
	var before view // the state before a fault installed after a clean run
	return []badInput{
		{name: "a 1C 401 hints at onec.user and onec.password",
			setup: func(t *testing.T, b *bad) []string {
				b.setConfig("password: ${ONEC_PASSWORD}", "password: wrong-password")
				b.secrets = append(b.secrets, "wrong-password")
				return nil
			},
			code: 1, want: []string{"401", "onec.user", "onec.password"},
			heal: func(t *testing.T, b *bad) { b.setConfig("password: wrong-password", "password: ${ONEC_PASSWORD}") }},
		{name: "a 1C 302 to another port is refused, named, and never gets the password",
			setup: func(t *testing.T, b *bad) []string {
				var authed, hits atomic.Int32
				trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					if r.Header.Get("Authorization") != "" {
						authed.Add(1)
					}
					http.Error(w, "trap", http.StatusTeapot)
				}))
				t.Cleanup(func() {
					trap.Close()
					if n := authed.Load(); n > 0 {
						t.Errorf("the redirect target received Authorization %d times (%d requests)", n, hits.Load())
					}
				})
				b.ocIn.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
					http.Redirect(w, r, trap.URL+r.URL.RequestURI(), http.StatusFound)
				})
				b.want = append(b.want, trap.URL+"/odata/standard.odata/")
				return nil
			},
			code: 1, want: []string{"redirect", "onec.base_url"},
			heal: heal},
		{name: "a 1C that ignores $skip stops the sweep with an error",
			setup: func(t *testing.T, b *bad) []string {
				b.onecKey("page_size: 3")
				b.ocIn.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					q := r.URL.Query()
					q.Del("$skip")
					r.URL.RawQuery = q.Encode()
					next.ServeHTTP(w, r)
				})
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{"$skip", onectest.SetPartners},
			check: func(t *testing.T, b *bad, _ result) {
				if n := b.onec.Requests("GET", onectest.SetPartners); n > 30 {
					t.Errorf("%d partner requests to a 1C that repeats its first page", n)
				}
			},
			heal: heal},
		{name: "a 1C that never runs out of full pages stops the sweep with an error",
			setup: func(t *testing.T, b *bad) []string {
				b.onecKey("page_size: 3")
				// A clean first load, then a sweep that never ends: the
				// fetch and confirm look-ups by key are answered truly.
				b.mustRun(0, "-once", "-job", "customers")
				before = b.state()
				b.ocIn.set(endlessPages(onectest.SetPartners, true))
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{onectest.SetPartners, "$skip=", "counted"},
			check: func(t *testing.T, b *bad, r result) {
				after := b.state()
				if after.versions != before.versions || len(after.customerIDs) != len(before.customerIDs) || len(after.dead) > 0 {
					t.Errorf("a sweep stopped by its paging changed the state: versions %d -> %d, ids %d -> %d, %d dead letters",
						before.versions, after.versions, len(before.customerIDs), len(after.customerIDs), len(after.dead))
				}
				if n := b.onec.Requests("GET", onectest.SetPartners); n > 120 {
					t.Errorf("%d partner requests to a 1C whose pages never end", n)
				}
			},
			heal: heal},
		// A first load pushes what 1C lists while it is still listing (no
		// base of millions is held in memory first): records of the pages
		// read before paging broke are pushed once and committed; nothing
		// is inferred deleted from an incomplete read.
		{name: "a first load whose 1C never runs out of full pages pushes what it read, once, and stops",
			setup: func(t *testing.T, b *bad) []string {
				b.onecKey("page_size: 3")
				b.ocIn.set(endlessPages(onectest.SetPartners, false))
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{onectest.SetPartners, "$skip=", "counted"},
			check: func(t *testing.T, b *bad, r result) {
				v := b.state()
				got := map[string]int{}
				for _, c := range b.vp.Customers() {
					got[c.ExternalID]++
				}
				for ext, n := range got {
					if n > 1 {
						t.Errorf("customer %s created %d times", ext, n)
					}
				}
				if len(got) == 0 || len(v.customerIDs) != len(got) || v.versions != len(got) {
					t.Errorf("virtpos has %d customers, the id map %d, committed versions %d: want the same, above 0",
						len(got), len(v.customerIDs), v.versions)
				}
				if n := b.onec.Requests("GET", onectest.SetPartners); n > 60 {
					t.Errorf("%d partner requests to a 1C whose pages never end", n)
				}
			}},
		{name: "a 1C #exception JSON with a BOM is decoded and shown",
			setup: func(t *testing.T, b *bad) []string { b.onec.ExceptionOnNext(1 << 20); return nil },
			code:  1, want: []string{"403", "Недостаточно прав"}, check: untouched, heal: heal},
		{name: "a 1C HTML application error page is named, not dumped",
			setup: func(t *testing.T, b *bad) []string { b.onec.HTMLErrorOnNext(1 << 20); return nil },
			code:  1, want: []string{"500", "onec"},
			check: func(t *testing.T, b *bad, r result) {
				untouched(t, b, r)
				if strings.Contains(r.stdout+r.stderr, "<!DOCTYPE") {
					t.Error("the HTML page is dumped into the output")
				}
			}, heal: heal},
		{name: "a 1C $metadata missing an entity is a setup error naming it",
			setup: func(t *testing.T, b *bad) []string {
				b.ocIn.set(onPath("$metadata", rewrite(func(_ *testing.T, body []byte) []byte {
					return bytes.ReplaceAll(body, []byte(`"`+onectest.SetCards+`"`), []byte(`"Catalog_Другое"`))
				}, t)))
				return nil
			},
			code: 2, want: []string{onectest.SetCards}, check: untouched, heal: heal},
		{name: "a 1C that drops every connection ends the run",
			setup: func(t *testing.T, b *bad) []string {
				b.ocIn.set(func(http.ResponseWriter, *http.Request, http.Handler) { panic(http.ErrAbortHandler) })
				return nil
			},
			code: 1, want: []string{"onec"}, check: untouched, heal: heal},
		{name: "a truncated 1C page names the catalog",
			setup: func(t *testing.T, b *bad) []string {
				b.ocIn.set(onPath(onectest.SetPartners, cut(40)))
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{onectest.SetPartners}, check: untouched, heal: heal},
		{name: "a 1C odata.error 500 on the partners names the catalog",
			setup: func(t *testing.T, b *bad) []string {
				b.ocIn.set(onPath(onectest.SetPartners, answer(500, "application/json;charset=utf-8",
					`{"odata.error":{"code":"-1","message":{"lang":"ru","value":"Ошибка СУБД: нехватка памяти"}}}`)))
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{onectest.SetPartners, "500"}, check: untouched, heal: heal},
		{name: "a partner phone that is not a phone is a dead letter naming the key and field, not the value",
			setup: func(t *testing.T, b *bad) []string {
				p := b.clients()[2]
				contacts, _ := p["КонтактнаяИнформация"].([]onectest.Object)
				var rows []any
				for _, c := range contacts {
					row := map[string]any{}
					for k, v := range c {
						if k != "LineNumber" && k != "Ref_Key" {
							row[k] = v
						}
					}
					if row["Тип"] == "Телефон" {
						row["Представление"], row["НомерТелефона"], row["НомерТелефонаБезКодов"] = "звонить Зое", "звонить Зое", ""
					}
					rows = append(rows, row)
				}
				if _, err := b.onec.Update(onectest.SetPartners, str(p["Ref_Key"]), onectest.Object{"КонтактнаяИнформация": rows}); err != nil {
					t.Fatal(err)
				}
				b.secrets = append(b.secrets, "звонить Зое")
				return []string{"-once", "-job", "customers"}
			},
			code: 1, want: []string{"phone"},
			check: func(t *testing.T, b *bad, r result) {
				key := str(b.clients()[2]["Ref_Key"])
				if !strings.Contains(r.stdout, key) {
					t.Errorf("the summary does not name partner %s:\n%s", key, r.stdout)
				}
			},
			heal: func(t *testing.T, b *bad) {
				p := b.clients()[2]
				if _, err := b.onec.Update(onectest.SetPartners, str(p["Ref_Key"]), onectest.Object{"КонтактнаяИнформация": []any{
					map[string]any{"Тип": "Телефон", "Представление": "+7 912 000-00-00", "НомерТелефона": "+7 912 000-00-00"}}}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "lost replies to 1C document writes make one document per order",
			setup: func(t *testing.T, b *bad) []string {
				b.loaded(4, nil)
				b.onec.ResetAfterNextWrites(2)
				return []string{"-once", "-job", "orders"}
			},
			code: 0, check: func(t *testing.T, b *bad, _ result) { b.nothingLost(t) }},
	}
}

// endlessPages answers every paged read of set with full pages of keys
// never seen before, as a publication whose paging is broken might.
// Look-ups by key (a fetch, a deletion's confirmation) pass through when
// byKey is set.
func endlessPages(set string, byKey bool) func(w http.ResponseWriter, r *http.Request, next http.Handler) {
	var fresh atomic.Int64
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		top := r.URL.Query().Get("$top")
		if !strings.HasSuffix(r.URL.Path, set) || top == "" || (byKey && strings.Contains(r.URL.Query().Get("$filter"), "guid'")) {
			next.ServeHTTP(w, r)
			return
		}
		n, _ := strconv.Atoi(top)
		rows := make([]map[string]any, n)
		for i := range rows {
			rows[i] = map[string]any{"Ref_Key": fmt.Sprintf("00000000-0000-4000-8000-%012d", fresh.Add(1)),
				"DataVersion": "AAAAAAAAAAE=", "DeletionMark": false}
		}
		w.Header().Set("Content-Type", "application/json;odata=minimalmetadata")
		_ = json.NewEncoder(w).Encode(map[string]any{"odata.count": "11", "value": rows})
	}
}
