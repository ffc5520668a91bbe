package virtposapi

import (
	"github.com/virtsync/virtsync/internal/redact"
	"github.com/virtsync/virtsync/internal/retry"

	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Defaults of a zero Config, and of the virtpos section of the config,
// which uses these constants.
const (
	FormatDefault = "json"
	MethodDefault = http.MethodGet
	// TimeoutDefault bounds one small call, or one pause in the orders
	// stream.
	TimeoutDefault = 30 * time.Second
	// OrdersTimeoutDefault bounds one /orders response as a whole: long
	// enough for a big window on a slow link.
	OrdersTimeoutDefault = 30 * time.Minute
	ConcurrencyDefault   = 4
	// RateLimitDefault is the config's virtpos.rate_limit. A zero
	// Config.RateLimit is unlimited, not this: rate_limit: 0 is a valid
	// choice.
	RateLimitDefault = 10
	// RetryAttemptsDefault is Retry.MaxAttempts when zero, the first try
	// included.
	RetryAttemptsDefault = 6
)

// The documented paths, and for cards assumed ones that follow
// customer/update.
const (
	OrdersPathDefault         = "/orders"
	CustomerPathDefault       = "/customer"
	CustomerUpdatePathDefault = "/customer/update"
	CardUpdatePathDefault     = "/card/update"
	CardInsertPathDefault     = "/card/insert"
	CardDeletePathDefault     = "/card/delete"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the API root, e.g. https://mycompany.myvirtualpos.ru/api.
	BaseURL string
	// APIKey is sent as the apikey query parameter and never shown anywhere.
	APIKey string
	// Format is "json" or "xml". Default [FormatDefault].
	Format string
	// Method is "GET" (parameters in the query, as documented) or "POST"
	// (parameters as a form body; the apikey stays in the query). Default
	// [MethodDefault].
	Method string
	// Timeout bounds one small call; for the orders stream it bounds the wait
	// for the response headers and every pause between body reads, so a big
	// window may take longer in total as long as bytes keep coming.
	// Default [TimeoutDefault].
	Timeout time.Duration
	// OrdersTimeout bounds one /orders response as a whole, from the request
	// to its last byte: a body that trickles a byte now and then never
	// trips Timeout's idle timer, this ends it. Default
	// [OrdersTimeoutDefault].
	OrdersTimeout time.Duration
	// Concurrency caps requests in flight across all calls. Default
	// [ConcurrencyDefault].
	Concurrency int
	// RateLimit caps requests per second across all calls; 0 means
	// unlimited (the config sets [RateLimitDefault]).
	RateLimit float64
	// Retry bounds retries of transient failures. MaxAttempts defaults to
	// [RetryAttemptsDefault].
	Retry RetryPolicy
	// Breaker stops a client whose calls keep failing (transport errors,
	// timeouts, 5xx, garbled bodies, a refused key; not rejections): after
	// Failures in a row every call fails at once with ErrUnavailable for
	// Cooldown, then one trial call is let through. Shared by all calls.
	// Defaults retry.BreakerFailuresDefault and BreakerCooldownDefault;
	// Failures < 0 disables it.
	Breaker BreakerPolicy
	// Paths of the endpoints below BaseURL; empty ones take the
	// XxxPathDefault constants.
	Paths Paths
	// Logger receives one debug line per request and a warning per retry.
	// Nil discards.
	Logger *slog.Logger
	// HTTPClient is used when set (its CheckRedirect is replaced: redirects
	// are never followed). Default: a client with sane transport timeouts.
	HTTPClient *http.Client
	// OnRequest, when set, is called after every HTTP exchange with the
	// logical endpoint, the status (0 for a transport error) and the time
	// to the response headers. Metrics hang off it.
	OnRequest func(endpoint string, status int, d time.Duration)
}

// RetryPolicy is the backoff policy shared with the 1C client; here
// MaxAttempts defaults to [RetryAttemptsDefault].
type RetryPolicy = retry.Policy

// BreakerPolicy configures the client's circuit breaker (Config.Breaker).
type BreakerPolicy = retry.BreakerPolicy

// Paths are the endpoint paths relative to BaseURL. Card paths are not in
// the virtpos documentation; the defaults follow customer/update.
type Paths struct {
	Orders, Customer, CustomerUpdate, CardUpdate, CardInsert, CardDelete string
}

// Endpoint names, as used in errors, logs and metric labels.
const (
	EPOrders         = "orders"
	EPCustomer       = "customer"
	EPCustomerUpdate = "customer_update"
	EPCardUpdate     = "card_update"
	EPCardInsert     = "card_insert"
	EPCardDelete     = "card_delete"
)

// Client calls the virtpos API. It is safe for concurrent use; the
// concurrency cap and the rate limit are shared by all its calls.
type Client struct {
	base    *url.URL
	key     string
	format  string
	method  string
	timeout time.Duration
	orders  time.Duration // OrdersTimeout
	retry   RetryPolicy
	breaker *retry.Breaker // nil when disabled
	paths   map[string]string
	log     *slog.Logger
	hc      *http.Client
	sem     chan struct{}
	limiter *rate.Limiter
	onReq   func(string, int, time.Duration)
	// traced says the transport is Go's, whose trace hooks tell reliably
	// whether a connection was made.
	traced bool
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("virtpos: base URL is empty")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("virtpos: base URL must be an http(s) URL like https://mycompany.myvirtualpos.ru/api")
	}
	if base.RawQuery != "" {
		// The key must come from virtpos.apikey, where it is kept secret.
		return nil, errors.New("virtpos: base URL must not carry a query; put the key in virtpos.apikey")
	}
	if cfg.APIKey == "" {
		return nil, errors.New("virtpos: apikey is empty (set virtpos.apikey, usually ${VIRTPOS_APIKEY})")
	}
	c := &Client{base: base, key: cfg.APIKey, onReq: cfg.OnRequest}
	switch f := strings.ToLower(cmp.Or(cfg.Format, FormatDefault)); f {
	case "json", "xml":
		c.format = f
	default:
		return nil, fmt.Errorf("virtpos: format %q: expected json or xml", cfg.Format)
	}
	switch m := strings.ToUpper(cmp.Or(cfg.Method, MethodDefault)); m {
	case http.MethodGet, http.MethodPost:
		c.method = m
	default:
		return nil, fmt.Errorf("virtpos: method %q: expected GET or POST", cfg.Method)
	}
	// <= 0 rather than cmp.Or: a negative timeout is as unusable as zero.
	c.timeout = cfg.Timeout
	if c.timeout <= 0 {
		c.timeout = TimeoutDefault
	}
	c.orders = cfg.OrdersTimeout
	if c.orders <= 0 {
		c.orders = OrdersTimeoutDefault
	}
	c.retry = cfg.Retry.WithDefaults(RetryAttemptsDefault)
	c.breaker = retry.NewBreaker(cfg.Breaker)
	pick := func(p, d string) string {
		if p == "" {
			return d
		}
		return "/" + strings.TrimLeft(p, "/")
	}
	c.paths = map[string]string{
		EPOrders:         pick(cfg.Paths.Orders, OrdersPathDefault),
		EPCustomer:       pick(cfg.Paths.Customer, CustomerPathDefault),
		EPCustomerUpdate: pick(cfg.Paths.CustomerUpdate, CustomerUpdatePathDefault),
		EPCardUpdate:     pick(cfg.Paths.CardUpdate, CardUpdatePathDefault),
		EPCardInsert:     pick(cfg.Paths.CardInsert, CardInsertPathDefault),
		EPCardDelete:     pick(cfg.Paths.CardDelete, CardDeletePathDefault),
	}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	n := cfg.Concurrency
	if n <= 0 { // a negative cap is as unusable as zero
		n = ConcurrencyDefault
	}
	c.sem = make(chan struct{}, n)
	if cfg.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), 1)
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: c.timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   n,
		}}
	}
	switch t := c.hc.Transport.(type) {
	case nil:
		c.traced = true // http.DefaultTransport
	case *http.Transport:
		c.traced = t != nil
	}
	// A redirect would carry the query, apikey included, to wherever the
	// Location points: stop at the first one and tell the user instead.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// Format returns the format in use ("json" or "xml").
func (c *Client) Format() string { return c.format }

// callErr marks an error returned by a caller's callback: it is returned
// unchanged and never retried.
type callErr struct{ err error }

func (e callErr) Error() string { return e.err.Error() }
func (e callErr) Unwrap() error { return e.err }

// call runs one logical API call with retries. handle reads a 200 body; it
// may be called more than once when a retry happens after a partial read.
// idempotent=false (a call that could create a record) limits retries to
// failures whose outcome is OutcomeNotSent: after an unknown outcome the
// caller must look the record up before it sends the call again.
func (c *Client) call(ctx context.Context, ep string, params url.Values, idempotent, stream bool,
	handle func(body io.Reader) error) error {
	start := time.Now()
	sc := c.scrubberFor(params)
	var last error
	unknown := false // some attempt may have been carried out
	finish := func(te *TransientError) error {
		if unknown {
			te.Outcome = OutcomeUnknown
		}
		return sc.Err(last)
	}
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, sc, ep, params, idempotent, stream, handle)
		if err == nil {
			return nil
		}
		var ce callErr
		if errors.As(err, &ce) {
			return ce.err
		}
		var te *TransientError
		if !errors.As(err, &te) {
			if unknown && errors.Is(err, ErrUnavailable) {
				// An earlier attempt may have been carried out.
				return &TransientError{Endpoint: ep, Params: paramNames(params), Attempts: attempt, Outcome: OutcomeUnknown, Err: err}
			}
			return sc.Err(err)
		}
		te.Attempts = attempt
		te.Params = paramNames(params)
		last = err
		if te.Outcome == OutcomeUnknown {
			unknown = true
		}
		if ctx.Err() != nil {
			return finish(te)
		}
		if !idempotent && te.Outcome != OutcomeNotSent {
			return finish(te)
		}
		if attempt >= c.retry.MaxAttempts {
			return finish(te)
		}
		wait := c.retry.Backoff(attempt)
		if te.RetryAfter > wait {
			wait = te.RetryAfter
		}
		if time.Since(start)+wait > c.retry.MaxElapsed {
			return finish(te)
		}
		c.log.Warn("virtpos: retrying", "endpoint", ep, "attempt", attempt, "wait", wait, "err", sc.String(err.Error()))
		if retry.Sleep(ctx, wait) != nil {
			return finish(te)
		}
	}
}

// transportOutcome classifies a request that got no response. Only what
// surely stopped before the server could act counts as not sent: a dial
// or DNS failure, or (with Go's transport, whose trace hooks are reliable)
// no connection at all. A request written in part or in full may have
// been carried out.
func (c *Client) transportOutcome(err error, gotConn bool) Outcome {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &dns):
		return OutcomeNotSent
	case c.traced && !gotConn:
		return OutcomeNotSent
	}
	return OutcomeUnknown
}

func (c *Client) acquire(ctx context.Context) error {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return &notSentError{err}
		}
	}
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &notSentError{ctx.Err()}
	}
}

// once makes one attempt through the breaker, and tells the breaker what
// the attempt says about virtpos.
func (c *Client) once(ctx context.Context, sc *scrubber, ep string, params url.Values, idempotent, stream bool, handle func(io.Reader) error) error {
	done, err := c.breaker.Allow()
	if err != nil {
		var oe *retry.OpenError
		errors.As(err, &oe)
		return &UnavailableError{Endpoint: ep, Failures: oe.Failures, Last: oe.Last, Until: oe.Until}
	}
	err = c.attempt(ctx, sc, ep, params, idempotent, stream, handle)
	done(c.verdict(ctx, sc, ep, err))
	return err
}

// verdict judges virtpos's health by one attempt: a record's rejection is
// a working system; a 429 or the caller giving up says nothing.
func (c *Client) verdict(ctx context.Context, sc *scrubber, ep string, err error) (retry.Verdict, string) {
	var ce callErr
	var ns *notSentError
	var ae *APIError
	var au *AuthError
	var te *TransientError
	switch {
	case err == nil:
		return retry.Healthy, ""
	case errors.As(err, &ce):
		if IsTransient(ce.err) {
			return retry.Unhealthy, ep + ": the response broke off"
		}
		return retry.Healthy, "" // the caller's own callback failed
	case errors.As(err, &ns), ctx.Err() != nil:
		return retry.Neutral, ""
	case errors.As(err, &au):
		return retry.Unhealthy, ep + ": the apikey was refused"
	case errors.As(err, &ae):
		return retry.Healthy, ""
	case errors.As(err, &te):
		if te.Status == http.StatusTooManyRequests {
			return retry.Neutral, ""
		}
		what := ep + ": "
		if te.Status != 0 {
			what += fmt.Sprintf("HTTP %d ", te.Status)
		}
		return retry.Unhealthy, what + shorten(sc.String(te.Err.Error()), 160)
	}
	return retry.Unhealthy, ep + ": " + shorten(sc.String(err.Error()), 160)
}

// shorten cuts s to at most n bytes, on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func (c *Client) attempt(ctx context.Context, sc *scrubber, ep string, params url.Values, idempotent, stream bool, handle func(io.Reader) error) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-c.sem }()

	// The timer's cause says "timeout" where a bare cancel would read like
	// a shutdown. A small call is bounded whole; a stream only until its
	// headers, then by the idle reader below.
	timedOut := &timeoutError{d: c.timeout}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.AfterFunc(c.timeout, func() { cancel(timedOut) })
	defer deadline.Stop()
	if stream {
		total := time.AfterFunc(c.orders, func() { cancel(&timeoutError{d: c.orders, total: true}) })
		defer total.Stop()
	}
	// What the transport did with the request decides whether a failure
	// may have been carried out.
	var gotConn, wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := c.request(ctx, sc, ep, params, idempotent)
	if err != nil {
		return err
	}
	started := time.Now()
	resp, err := c.hc.Do(req)
	if stream {
		deadline.Stop()
	}
	if err != nil {
		if c.onReq != nil {
			c.onReq(ep, 0, time.Since(started))
		}
		c.log.Debug("virtpos: no response", "endpoint", ep, "method", req.Method, "duration", time.Since(started))
		outcome := c.transportOutcome(err, gotConn.Load())
		var to *timeoutError
		if errors.As(context.Cause(ctx), &to) {
			return &TransientError{Endpoint: ep, Outcome: outcome, Err: fmt.Errorf("%w waiting for the response", to)}
		}
		return &TransientError{Endpoint: ep, Outcome: outcome, Err: redactTransport(err, sc)}
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	if c.onReq != nil {
		c.onReq(ep, resp.StatusCode, time.Since(started))
	}
	c.log.Debug("virtpos: response", "endpoint", ep, "method", req.Method, "status", resp.StatusCode, "duration", time.Since(started))

	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc, _ := resp.Location()
		where := "elsewhere"
		if loc != nil {
			where = sc.String(stripURL(loc.String()))
		}
		return fmt.Errorf("virtpos %s: HTTP %d to %s: %w", ep, resp.StatusCode, where, ErrRedirect)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		head, _ := io.ReadAll(io.LimitReader(resp.Body, headSize+rawSlack))
		after := retry.After(resp.Header.Get("Retry-After"))
		outcome := OutcomeUnknown
		// A 429 is a refusal; so is a 503 asking to come back later before
		// the request was even fully sent. Any other 5xx may come from a
		// proxy whose upstream did the work.
		if resp.StatusCode == http.StatusTooManyRequests ||
			(resp.StatusCode == http.StatusServiceUnavailable && after > 0 && !wrote.Load()) {
			outcome = OutcomeNotSent
		}
		return &TransientError{Endpoint: ep, Status: resp.StatusCode, RetryAfter: after, Outcome: outcome,
			Err: fmt.Errorf("body starts %s", sc.snippet(head, 120))}
	case resp.StatusCode != http.StatusOK:
		head, _ := io.ReadAll(io.LimitReader(resp.Body, headSize+rawSlack))
		he := &HTTPError{Endpoint: ep, Status: resp.StatusCode, Head: sc.snippet(head, 120)}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return &AuthError{Endpoint: ep, Status: resp.StatusCode, Err: he}
		}
		return he
	}

	// A read cut by one of the timers fails with the timer's own error,
	// not a bare "context canceled", so that decoders report a timeout.
	var body io.Reader = &causeReader{r: resp.Body, ctx: ctx}
	if stream {
		// An idle timer instead of a total one: a large window may take
		// minutes, but a stalled connection must not hang the run.
		t := time.AfterFunc(c.timeout, func() { cancel(timedOut) })
		t.Stop()
		body = &idleReader{r: body, t: t, d: c.timeout}
	}
	err = handle(body)
	if err == nil {
		return nil
	}
	var ce callErr
	if errors.As(err, &ce) {
		return err
	}
	var ae *APIError
	if errors.As(err, &ae) {
		info := ae.Info
		// Beside the values we sent, the server's text may name what it has
		// on its own (another customer's e-mail, a name): cleaned by look.
		ae.Endpoint, ae.Info = ep, redact.Text(sc.String(ae.Info))
		if authInfo(info) {
			return &AuthError{Endpoint: ep, Status: resp.StatusCode, Info: ae.Info}
		}
		if transientInfo(info) {
			// virtpos answered that it did not do it.
			return &TransientError{Endpoint: ep, Status: resp.StatusCode, Outcome: OutcomeNotSent, Err: ae}
		}
		return ae
	}
	var de *DecodeError
	if errors.As(err, &de) {
		// A server may echo the request URL in an error page.
		de.Endpoint, de.Status = ep, resp.StatusCode
		de.clean(sc)
	}
	// A garbled or cut body is most often a proxy or a connection failing:
	// worth another try, and reported with what was read if it persists.
	// The server answered 200, so a write may well have been done.
	var to *timeoutError
	if errors.As(context.Cause(ctx), &to) && !errors.Is(err, to) {
		return &TransientError{Endpoint: ep, Status: resp.StatusCode, Outcome: OutcomeUnknown,
			Err: fmt.Errorf("%w reading the body: %w", to, err)}
	}
	return &TransientError{Endpoint: ep, Status: resp.StatusCode, Outcome: OutcomeUnknown, Err: err}
}

// timeoutError is the cause of a request cancelled by Config.Timeout or,
// with total set, by Config.OrdersTimeout. It matches
// context.DeadlineExceeded, as a timeout should.
type timeoutError struct {
	d     time.Duration
	total bool
}

func (e *timeoutError) Error() string {
	if e.total {
		return fmt.Sprintf("the /orders response took longer than virtpos.orders_timeout (%s)", e.d)
	}
	return fmt.Sprintf("timed out after %s", e.d)
}
func (e *timeoutError) Is(t error) bool { return t == context.DeadlineExceeded }

// causeReader replaces the error of a read cut by a timer with the
// timer's *timeoutError.
type causeReader struct {
	r   io.Reader
	ctx context.Context
}

func (r *causeReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		var to *timeoutError
		if errors.As(context.Cause(r.ctx), &to) {
			err = to
		}
	}
	return n, err
}

// HTTPError is an unexpected HTTP status that retrying will not change
// (401, 403, 404 ...): usually a wrong apikey or base URL.
type HTTPError struct {
	Endpoint string
	Status   int
	Head     string // the first bytes of the body, quoted
}

func (e *HTTPError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (check virtpos.apikey)"
	case http.StatusNotFound:
		hint = " (check virtpos.base_url and virtpos.paths)"
	}
	return fmt.Sprintf("virtpos %s: HTTP %d%s; body starts %s", e.Endpoint, e.Status, hint, e.Head)
}

// transientInfo recognises success=0 answers that plainly describe a
// passing condition of the service rather than a bad record. A bare
// "временно" is not enough: "карта временно заблокирована" is the card's
// own state, a rejection.
func transientInfo(info string) bool {
	s := strings.ToLower(info)
	for _, w := range []string{"try again", "try later", "temporarily unavailable", "temporary error",
		"temporary failure", "too many requests", "rate limit", "повторите", "попробуйте позже",
		"временно недоступ", "временная ошибка", "временный сбой", "слишком много запросов"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// request builds the HTTP request; the apikey goes only into the query.
// A call that is not idempotent gets a body Go's transport cannot rewind:
// otherwise it would re-send a GET on its own when a kept-alive connection
// closes before the reply (exactly what a lost reply looks like), and a
// create would be made twice without the client ever seeing a failure.
func (c *Client) request(ctx context.Context, sc *scrubber, ep string, params url.Values, idempotent bool) (*http.Request, error) {
	u := *c.base
	u.Path = c.base.Path + c.paths[ep]
	q := url.Values{}
	q.Set("apikey", c.key)
	q.Set("format", c.format)
	var body io.Reader
	if c.method == http.MethodGet {
		for k, vs := range params {
			q[k] = vs
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return nil, &notSentError{fmt.Errorf("virtpos %s: build request: %w", ep, redactTransport(err, sc))}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	} else if !idempotent {
		// Empty, so nothing goes on the wire: the transport probes the
		// body of a GET and sends none when it is empty.
		req.Body, req.GetBody, req.ContentLength = noReplayBody{}, nil, 0
	}
	if c.format == "json" {
		req.Header.Set("Accept", "application/json")
	} else {
		req.Header.Set("Accept", "application/xml, text/xml")
	}
	req.Header.Set("User-Agent", "virtsync")
	return req, nil
}

// noReplayBody is an empty request body without GetBody: it makes a GET
// non-replayable for Go's transport.
type noReplayBody struct{}

func (noReplayBody) Read([]byte) (int, error) { return 0, io.EOF }
func (noReplayBody) Close() error             { return nil }

// idleReader cancels the request when a Read waits longer than d for
// bytes. The timer runs only inside Read: time the caller spends on an
// order between reads (writing it to 1C, say) is not the server's silence.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.t.Reset(r.d)
	n, err := r.r.Read(p)
	r.t.Stop()
	return n, err
}

// ---------------------------------------------------------------- secrets

// redactTransport rebuilds a *url.Error without the URL's query: Go prints
// the whole URL in its Error(), and with GET the query holds the apikey
// and every parameter.
func redactTransport(err error, sc *scrubber) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: stripURL(ue.URL), Err: sc.Err(ue.Err)}
	}
	return sc.Err(err)
}

// RedactURL masks the apikey query parameter of a URL string.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable URL>"
	}
	q := u.Query()
	if q.Has("apikey") {
		q.Set("apikey", "***")
		u.RawQuery = strings.Replace(q.Encode(), "apikey=%2A%2A%2A", "apikey=***", 1)
	}
	return u.String()
}

// scrub returns err with the apikey removed from its text.
func (c *Client) scrub(err error) error { return c.scrubberFor(nil).Err(err) }
