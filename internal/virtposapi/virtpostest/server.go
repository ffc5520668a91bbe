// Package virtpostest is a faithful fake of the virtpos HTTP API (orders,
// customers, discount cards) for tests, benchmarks and local demos. It
// speaks both formats (xml, the default, and json) over GET query strings
// and POST forms, writes /orders in the exact quirky XML shape of the seed
// (sibling <orders>, flattened <items>, self-closed empties) and streams it
// order by order, and can inject the faults an integrator meets in
// production: latency, 500s, hangs, 429 with Retry-After, truncated bodies,
// HTML error pages, lost and slow replies to writes that were carried out,
// a revoked key, and per-record rejections.
//
// Faithful by default: customer/update finds a customer by id only, as the
// seed documents it; without id and with create_if_not_exist=1 it always
// creates, even when a customer with that external_id exists (so a client
// that re-sends a create whose reply it lost makes a duplicate here, as it
// would in production). Options.MatchUpdateByExternalID restores the older,
// kinder reading.
//
// Authentication: a missing or wrong apikey is answered like any other API
// error, HTTP 200 with success=0 and info "invalid apikey", because that is
// how the real service reports request-level errors.
package virtpostest

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server. The zero value works: key DefaultAPIKey,
// prefix "/api", wall clock, logs discarded.
type Options struct {
	// APIKey every request must carry. Empty means DefaultAPIKey.
	APIKey string
	// Prefix the endpoints are mounted under. Empty means "/api"; "/"
	// mounts them at the root.
	Prefix string
	// Now is the fake's clock, used by the orders "days" filter and by
	// GenerateOrders. Nil means time.Now.
	Now func() time.Time
	// Logger receives one line per request with the apikey masked. Nil
	// discards.
	Logger *slog.Logger
	// MatchUpdateByExternalID makes customer/update without an id find
	// the customer by external_id (and update it) before it creates one.
	// The seed documents no such search; it is off by default so that
	// the fake does not hide a client that re-sends creates.
	MatchUpdateByExternalID bool
}

// DefaultAPIKey is the key a Server expects when Options.APIKey is empty.
const DefaultAPIKey = "test-apikey"

// Endpoint paths below the prefix.
const (
	PathOrders         = "/orders"
	PathCustomer       = "/customer"
	PathCustomerUpdate = "/customer/update"
	PathCardUpdate     = "/card/update"
	PathCardInsert     = "/card/insert"
	PathCardDelete     = "/card/delete"
)

// Faults describe the misbehaviour a Server injects. The zero value injects
// nothing. Faults apply in this order: InvalidKey, Latency, Hang, Throttle
// and ThrottleRate (429), 500s, HTML page (none of these carry a write
// out), then the normal handler (with Reject), then what happens to its
// reply: LostReplyRate, SlowReply, TruncateAfter/TruncateRate (the write
// is done in all three). Every share ("Rate") is drawn from one generator
// seeded with Seed, so a sequence of requests repeats.
type Faults struct {
	// Paths limits the faults below (not Reject, which is told the path
	// itself) to these endpoint paths, e.g. PathCustomerUpdate. Empty
	// means every path.
	Paths []string
	// Latency delays every answer; a cancelled request stops waiting.
	Latency time.Duration
	// Hang blocks every request until the client gives up (its context
	// ends) or the server closes: what a client timeout must survive.
	Hang bool
	// Throttle answers the next Throttle requests with 429 and RetryAfter.
	Throttle int
	// ThrottleRate is the share (0..1) of requests answered 429 with
	// RetryAfter.
	ThrottleRate float64
	// RetryAfter is sent with 429s, rounded up to whole seconds. Zero
	// sends "1".
	RetryAfter time.Duration
	// ErrorEvery makes every Nth request (counted since SetFaults) a 500:
	// deterministic. Zero disables.
	ErrorEvery int
	// ErrorRate is the share (0..1) of requests answered 500. Zero
	// disables.
	ErrorRate float64
	// Seed seeds every share drawn (ErrorRate, ThrottleRate, HTMLRate,
	// LostReplyRate, SlowReplyRate, TruncateRate).
	Seed uint64
	// HTMLStatus, when non-zero (200 or 502) and HTMLRate is zero, answers
	// every request with an HTML error page of that status, like a proxy
	// in front of the API.
	HTMLStatus int
	// HTMLRate is the share (0..1) of requests answered with an HTML
	// error page of status HTMLStatus (502 when zero), not carried out.
	HTMLRate float64
	// LostReplyRate is the share (0..1) of requests that are carried out
	// (a write is stored) and then get no reply at all: the connection is
	// closed, as when the reply is lost on its way back.
	LostReplyRate float64
	// SlowReply delays the reply of SlowReplyRate of the requests after
	// they were carried out: a client whose timeout is shorter gives up on
	// a write that was done.
	SlowReply time.Duration
	// SlowReplyRate is the share (0..1) of requests SlowReply delays;
	// zero with SlowReply set means every request.
	SlowReplyRate float64
	// TruncateAfter cuts response bodies after that many bytes and drops
	// the connection: every body when TruncateRate is zero. Zero with
	// TruncateRate set cuts at a random point within the first 24 bytes,
	// before any reply of a write is complete.
	TruncateAfter int
	// TruncateRate is the share (0..1) of requests whose reply is cut
	// (after the write was carried out).
	TruncateRate float64
	// InvalidKey answers every request as if its apikey were wrong
	// (success=0, "invalid apikey"): a key revoked while virtsync runs.
	InvalidKey bool
	// Reject is asked before every write (entity is the endpoint path
	// below the prefix, e.g. "/customer/update"); true answers success=0
	// with the info it returns, leaving the store untouched.
	Reject func(entity string, params url.Values) (reject bool, info string)
}

// Counts are what a Server did since it was created.
type Counts struct {
	CustomersCreated int
	CustomersUpdated int
	CardsCreated     int
	CardsUpdated     int
	CardsDeleted     int
	GroupsCreated    int
	CardTypesCreated int
	// Rejected counts success=0 answers (validation, not found, Reject,
	// a wrong apikey).
	Rejected int
	// LostReplies, SlowReplies and Truncated count writes (and reads)
	// that were carried out but whose reply was lost, delayed or cut.
	LostReplies int
	SlowReplies int
	Truncated   int
	// Throttled, Errors and HTMLPages count the 429s, 500s and HTML error
	// pages the faults answered instead of carrying a request out.
	Throttled int
	Errors    int
	HTMLPages int
	// Requests per endpoint path below the prefix (unknown paths as sent).
	Requests map[string]int
}

// Server is the fake. It is safe for concurrent use; its zero value is not
// usable, create it with New or NewServer.
type Server struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	st       store
	counts   Counts
	faults   Faults
	faultN   int // requests seen since SetFaults, for ErrorEvery
	throttle int // 429s still to send
	rnd      *rand.Rand
	closed   chan struct{}
	once     sync.Once

	// URL is the base URL (including the prefix) when started by NewServer.
	URL string
	ts  *httptest.Server
}

// New returns a Server with an empty store, ready to be used as an
// http.Handler (it serves Options.Prefix and below).
func New(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	switch opts.Prefix {
	case "":
		opts.Prefix = "/api"
	case "/":
		opts.Prefix = ""
	default:
		opts.Prefix = "/" + strings.Trim(opts.Prefix, "/")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opts:   opts,
		log:    log,
		st:     newStore(),
		counts: Counts{Requests: map[string]int{}},
		rnd:    rand.New(rand.NewPCG(0, 0)),
		closed: make(chan struct{}),
	}
}

// NewServer starts a Server on a loopback httptest server and closes it
// when the test ends. URL holds the base URL to give a client.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL + s.opts.Prefix
	tb.Cleanup(s.Close)
	return s
}

// APIKey is the key the server expects.
func (s *Server) APIKey() string { return s.opts.APIKey }

// Close releases hanging requests and stops the httptest server, if any.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// SetFaults replaces the injected faults and restarts their counters
// (Throttle, ErrorEvery, the seeded draws).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faultN = 0
	s.throttle = f.Throttle
	s.rnd = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// Counts returns a copy of the counters.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	c.Requests = make(map[string]int, len(s.counts.Requests))
	for k, v := range s.counts.Requests {
		c.Requests[k] = v
	}
	return c
}

// MaskParams renders params as a query string for logs, with the apikey
// value replaced by "***" and keys sorted.
func MaskParams(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			if k == "apikey" {
				b.WriteString("***")
			} else {
				b.WriteString(url.QueryEscape(val))
			}
		}
	}
	return b.String()
}

// faultDecision is what the fault settings say about one request.
type faultDecision struct {
	invalidKey bool
	latency    time.Duration
	hang       bool
	throttle   bool
	retryAfter time.Duration
	fail       bool
	htmlStatus int
	lost       bool
	slow       time.Duration
	truncate   int
	reject     func(string, url.Values) (bool, string)
}

func (s *Server) decide(path string) faultDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts.Requests[path]++
	f := s.faults
	d := faultDecision{reject: f.Reject}
	if len(f.Paths) > 0 && !slices.Contains(f.Paths, path) {
		return d
	}
	s.faultN++
	// Every share is drawn on every request, used or not, so that the
	// sequence of one fault does not depend on the others' settings.
	draw := func(rate float64) bool {
		x := s.rnd.Float64()
		return rate > 0 && x < rate
	}
	d.invalidKey, d.latency, d.hang, d.retryAfter = f.InvalidKey, f.Latency, f.Hang, f.RetryAfter
	if s.throttle > 0 {
		s.throttle--
		d.throttle = true
	}
	if draw(f.ThrottleRate) {
		d.throttle = true
	}
	if f.ErrorEvery > 0 && s.faultN%f.ErrorEvery == 0 {
		d.fail = true
	}
	if draw(f.ErrorRate) {
		d.fail = true
	}
	if f.HTMLRate > 0 {
		if draw(f.HTMLRate) {
			d.htmlStatus = cmp.Or(f.HTMLStatus, http.StatusBadGateway)
		}
	} else {
		_ = draw(0)
		d.htmlStatus = f.HTMLStatus
	}
	if draw(f.LostReplyRate) {
		d.lost = true
	}
	if slow := draw(f.SlowReplyRate); f.SlowReply > 0 && (f.SlowReplyRate == 0 || slow) {
		d.slow = f.SlowReply
	}
	cut := s.rnd.IntN(24)
	if f.TruncateRate > 0 {
		if draw(f.TruncateRate) {
			d.truncate = f.TruncateAfter
			if d.truncate == 0 {
				d.truncate = cut
			}
			// A cut at 0 bytes still needs the writer: -1 marks it.
			if d.truncate == 0 {
				d.truncate = -1
			}
		}
	} else {
		_ = draw(0)
		d.truncate = f.TruncateAfter
	}
	return d
}

// ServeHTTP serves the API below Options.Prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, s.opts.Prefix)
	if !ok || path == "" {
		path = r.URL.Path
	}
	path = strings.TrimSuffix(path, "/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	params := r.Form
	s.log.Info("virtpos-fake request", "method", r.Method, "path", r.URL.Path, "params", MaskParams(params))

	d := s.decide(path)
	if d.invalidKey {
		params = cloneParams(params)
		params.Del("apikey")
	}
	if d.latency > 0 && !s.wait(r.Context(), d.latency) {
		return
	}
	if d.hang {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	}
	if d.throttle {
		secs := int((d.retryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.count(func(c *Counts) { c.Throttled++ })
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	}
	if d.fail {
		s.count(func(c *Counts) { c.Errors++ })
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if d.htmlStatus != 0 {
		s.count(func(c *Counts) { c.HTMLPages++ })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(d.htmlStatus)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	if path == PathOrders {
		// A read carries nothing out: a lost reply is a closed
		// connection, a slow one a wait before the stream (which is not
		// held in memory).
		if !s.lostOrSlow(w, r, d) {
			return
		}
		d.lost, d.slow = false, 0
	}
	// The request is carried out in full; what reaches the client is
	// decided afterwards.
	out := w
	var held *heldReply
	if d.lost || d.slow > 0 {
		held = &heldReply{header: http.Header{}}
		out = held
	}
	var cut *truncWriter
	if d.truncate != 0 && !d.lost {
		cut = &truncWriter{ResponseWriter: w, left: max(d.truncate, 0),
			onCut: func() { s.count(func(c *Counts) { c.Truncated++ }) }}
		if held == nil {
			out = cut
		}
	}
	if !s.serve(out, r, path, params, d.reject) {
		return
	}
	if !s.lostOrSlow(w, r, d) {
		return
	}
	if held != nil {
		var dst http.ResponseWriter = w
		if cut != nil {
			dst = cut
		}
		held.replay(dst)
	}
}

// serve runs the endpoint's handler; false when the path is unknown (the
// 404 is written).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string, params url.Values,
	reject func(string, url.Values) (bool, string)) bool {
	var h func(*reply, url.Values, func(string, url.Values) (bool, string)) error
	switch path {
	case PathOrders:
		s.serveOrders(w, r.Context(), params)
		return true
	case PathCustomer:
		s.serveCustomers(w, params)
		return true
	case PathCustomerUpdate:
		h = s.customerUpdate
	case PathCardUpdate:
		h = s.cardUpdate
	case PathCardInsert:
		h = s.cardInsert
	case PathCardDelete:
		h = s.cardDelete
	default:
		http.NotFound(w, r)
		return false
	}
	rep, ok := s.begin(w, params)
	if !ok {
		return true
	}
	if err := h(rep, params, reject); err != nil {
		s.fail(rep, err.Error())
		return true
	}
	rep.flush()
	return true
}

// wait sleeps d; false when the request or the server ended first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// lostOrSlow plays a lost reply (the connection dropped) or a slow one (a
// wait) once the request was carried out; false means the request ends
// there.
func (s *Server) lostOrSlow(w http.ResponseWriter, r *http.Request, d faultDecision) bool {
	switch {
	case d.lost:
		s.count(func(c *Counts) { c.LostReplies++ })
		dropConnection(w)
		return false
	case d.slow > 0:
		s.count(func(c *Counts) { c.SlowReplies++ })
		return s.wait(r.Context(), d.slow)
	}
	return true
}

func (s *Server) count(f func(*Counts)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.counts)
}

func cloneParams(p url.Values) url.Values {
	c := make(url.Values, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

// dropConnection closes the client's connection without a byte of reply,
// as a reply lost on the way back looks to the client.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, a recorder): abort, which closes the stream.
	panic(http.ErrAbortHandler)
}

// heldReply records a reply so that it can be sent later (slow replies)
// or not at all (lost replies).
type heldReply struct {
	header http.Header
	status int
	body   []byte
}

func (h *heldReply) Header() http.Header { return h.header }
func (h *heldReply) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
func (h *heldReply) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	h.body = append(h.body, p...)
	return len(p), nil
}
func (h *heldReply) Flush() {}

func (h *heldReply) replay(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(cmp.Or(h.status, http.StatusOK))
	_, _ = w.Write(h.body)
}

// begin checks format and apikey; false means the error was answered.
func (s *Server) begin(w http.ResponseWriter, params url.Values) (*reply, bool) {
	format := strings.ToLower(params.Get("format"))
	switch format {
	case "", "xml":
		format = "xml"
	case "json":
	default:
		rep := &reply{w: w, json: false}
		s.fail(rep, "unknown format "+strconv.Quote(params.Get("format")))
		return nil, false
	}
	rep := &reply{w: w, json: format == "json"}
	if params.Get("apikey") != s.opts.APIKey {
		s.fail(rep, "invalid apikey")
		return nil, false
	}
	return rep, true
}

func (s *Server) fail(rep *reply, info string) {
	s.mu.Lock()
	s.counts.Rejected++
	s.mu.Unlock()
	rep.fields = nil
	rep.success = false
	rep.add("info", info)
	rep.flush()
}

// truncWriter cuts the body after left bytes and aborts the connection so
// the client sees an unexpected EOF, as with a proxy dying mid-response.
type truncWriter struct {
	http.ResponseWriter
	left  int
	cut   bool
	onCut func()
}

var errTruncated = errors.New("virtpostest: body truncated by fault injection")

func (t *truncWriter) Write(p []byte) (int, error) {
	if t.cut {
		// Deferred flushes run while the abort unwinds: write nothing more.
		return 0, errTruncated
	}
	if len(p) < t.left {
		t.left -= len(p)
		return t.ResponseWriter.Write(p)
	}
	_, _ = t.ResponseWriter.Write(p[:t.left])
	t.cut, t.left = true, 0
	if t.onCut != nil {
		t.onCut()
	}
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}

// Flush lets streaming handlers push what they have.
func (t *truncWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// done reports whether ctx ended, for long streams to stop early.
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
