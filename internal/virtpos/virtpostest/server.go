// Package virtpostest is a faithful fake of the virtpos HTTP API (orders,
// customers, discount cards) for tests, benchmarks and local demos. It
// speaks both formats (xml, the default, and json) over GET query strings
// and POST forms, writes /orders in the exact quirky XML shape of the seed
// (sibling <orders>, flattened <items>, self-closed empties) and streams it
// order by order, and can inject the faults an integrator meets in
// production: latency, 500s, hangs, 429 with Retry-After, truncated bodies,
// HTML error pages and per-record rejections.
//
// Authentication: a missing or wrong apikey is answered like any other API
// error, HTTP 200 with success=0 and info "invalid apikey", because that is
// how the real service reports request-level errors.
package virtpostest

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
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
// nothing. Faults apply in this order: Latency, Hang, Throttle (429),
// 500s, HTML page, then the normal handler (with Reject and TruncateAfter).
type Faults struct {
	// Latency delays every answer; a cancelled request stops waiting.
	Latency time.Duration
	// Hang blocks every request until the client gives up (its context
	// ends) or the server closes: what a client timeout must survive.
	Hang bool
	// Throttle answers the next Throttle requests with 429 and RetryAfter.
	Throttle int
	// RetryAfter is sent with 429s, rounded up to whole seconds. Zero
	// sends "1".
	RetryAfter time.Duration
	// ErrorEvery makes every Nth request (counted since SetFaults) a 500:
	// deterministic. Zero disables.
	ErrorEvery int
	// ErrorRate is the share (0..1) of requests answered 500, drawn from
	// a generator seeded with Seed so runs repeat. Zero disables.
	ErrorRate float64
	// Seed seeds the ErrorRate draw.
	Seed uint64
	// HTMLStatus, when non-zero (200 or 502), answers every request with
	// an HTML error page of that status, like a proxy in front of the API.
	HTMLStatus int
	// TruncateAfter cuts every response body after that many bytes and
	// drops the connection. Zero disables.
	TruncateAfter int
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
	// Rejected counts success=0 answers (validation, not found, Reject).
	Rejected int
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
// (Throttle, ErrorEvery, the ErrorRate draw).
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
	latency    time.Duration
	hang       bool
	throttle   bool
	retryAfter time.Duration
	fail       bool
	htmlStatus int
	truncate   int
	reject     func(string, url.Values) (bool, string)
}

func (s *Server) decide(path string) faultDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts.Requests[path]++
	f := s.faults
	s.faultN++
	d := faultDecision{latency: f.Latency, hang: f.Hang, retryAfter: f.RetryAfter,
		htmlStatus: f.HTMLStatus, truncate: f.TruncateAfter, reject: f.Reject}
	if s.throttle > 0 {
		s.throttle--
		d.throttle = true
	}
	if f.ErrorEvery > 0 && s.faultN%f.ErrorEvery == 0 {
		d.fail = true
	}
	if f.ErrorRate > 0 && s.rnd.Float64() < f.ErrorRate {
		d.fail = true
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
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closed:
			t.Stop()
			return
		}
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
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	}
	if d.fail {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if d.htmlStatus != 0 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(d.htmlStatus)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"))
		return
	}
	if d.truncate > 0 {
		w = &truncWriter{ResponseWriter: w, left: d.truncate}
	}

	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var h func(*reply, url.Values, func(string, url.Values) (bool, string)) error
	switch path {
	case PathOrders:
		s.serveOrders(w, r.Context(), params)
		return
	case PathCustomer:
		s.serveCustomers(w, params)
		return
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
		return
	}
	rep, ok := s.begin(w, params)
	if !ok {
		return
	}
	if err := h(rep, params, d.reject); err != nil {
		s.fail(rep, err.Error())
		return
	}
	rep.flush()
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
	left int
	cut  bool
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
