// Package onecapi is a client for the standard OData interface of
// 1C:Enterprise 8.3+ ("<publication>/odata/standard.odata").
//
// It reads collections page by page ($top/$skip with a fixed $orderby, never
// nextLink), detects changes with a two-phase DataVersion sweep, writes
// documents (create, update, post) without ever repeating a create whose
// outcome is unknown, and checks $metadata at start-up. Every request carries
// $format=json (except /$count and $metadata, which 1C answers in plain text
// and XML) and, for reads, allowedOnly=true, so row-level security filters
// rows instead of failing the whole request (code 20).
//
// The password travels only in the Authorization header; it never appears in
// an error, a log line or a URL.
package onecapi

import (
	"github.com/virtsync/virtsync/internal/redact"
	"github.com/virtsync/virtsync/internal/retry"

	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of a zero Config, and of the onec section of the config, which
// uses these constants.
const (
	TimeoutDefault  = 60 * time.Second
	PageSizeDefault = 1000
	// MinPageSizeDefault is the floor to which a page is halved after a 5xx.
	MinPageSizeDefault = 50
	// BatchSizeDefault keys per fetch-by-key request: longer filters hit
	// URL limits of IIS/Apache in front of 1C.
	BatchSizeDefault = 40
	// RetryAttemptsDefault is Retry.MaxAttempts when zero, the first try
	// included; the same as virtpos's.
	RetryAttemptsDefault = 6
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the publication's OData root, e.g.
	// "http://1c.example/retail/odata/standard.odata". Required. It must not
	// carry credentials: use User and Password.
	BaseURL string
	// User and Password are the infobase user for HTTP Basic auth.
	User     string
	Password string
	// Timeout bounds one HTTP request (headers and body). Default
	// [TimeoutDefault]. Ignored when HTTPClient is given (its own
	// Timeout applies).
	Timeout time.Duration
	// PageSize is the $top of a page. Default [PageSizeDefault].
	PageSize int
	// MinPageSize is the floor to which a page is halved after a 5xx.
	// Default [MinPageSizeDefault], or PageSize when smaller.
	MinPageSize int
	// BatchSize is how many keys one fetch-by-key request asks for
	// (Ref_Key eq guid'..' or ...). Default [BatchSizeDefault].
	BatchSize int
	// Retry bounds retries of reads, updates and posting. Creates are never
	// retried once the request may have reached 1C. MaxAttempts defaults
	// to [RetryAttemptsDefault].
	Retry Retry
	// Breaker makes calls fail fast (ErrUnavailable) after a run of failed
	// attempts, for a cooldown. Defaults retry.BreakerFailuresDefault and
	// BreakerCooldownDefault.
	Breaker Breaker
	// Logger receives debug request lines and warnings. Nil discards.
	Logger *slog.Logger
	// HTTPClient replaces the default client (whose Timeout is Timeout).
	// A copy is used, with redirects refused.
	HTTPClient *http.Client
}

// Retry is the backoff policy shared with the virtpos client. Here
// MaxAttempts defaults to [RetryAttemptsDefault], and Max also caps a
// server's Retry-After.
type Retry = retry.Policy

// withDefaults fills zero and negative fields: <= 0 rather than cmp.Or,
// as a negative size or timeout is as unusable as zero.
func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = TimeoutDefault
	}
	if c.PageSize <= 0 {
		c.PageSize = PageSizeDefault
	}
	if c.MinPageSize <= 0 {
		c.MinPageSize = MinPageSizeDefault
	}
	c.MinPageSize = min(c.MinPageSize, c.PageSize)
	if c.BatchSize <= 0 {
		c.BatchSize = BatchSizeDefault
	}
	c.Retry = c.Retry.WithDefaults(RetryAttemptsDefault)
	return c
}

// Client talks to one 1C OData publication. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string // BaseURL without a trailing slash
	http *http.Client
	log  *slog.Logger
	// authToken is the Basic credential, scrubbed from server text too.
	authToken string
	// maxBody is MaxResponseBytes; tests lower it.
	maxBody int64
	breaker *retry.Breaker // nil when disabled
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if cfg.BaseURL == "" {
		return nil, errors.New("onec: base_url is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		// url.Parse errors quote the input, which may hold user:password@.
		return nil, errors.New("onec: base_url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("onec: base_url: scheme must be http or https, got %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("onec: base_url must not contain credentials: set user and password")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("onec: base_url must not have a query or fragment")
	}
	hc := &http.Client{Timeout: cfg.Timeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	// Never follow a redirect: Go keeps Authorization when only the port
	// changes, and across https->http on one host, so the password would
	// go wherever Location points. once reports it instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	token := base64.StdEncoding.EncodeToString([]byte(cfg.User + ":" + cfg.Password))
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), http: hc, log: lg, authToken: token,
		maxBody: MaxResponseBytes, breaker: retry.NewBreaker(cfg.Breaker)}, nil
}

// retryMode says which failures a call may retry.
type retryMode int

const (
	// retryIdempotent: GET, PATCH and posting. Network errors, timeouts,
	// 429, 502-504 and a 500 without a 1C error code are retried.
	retryIdempotent retryMode = iota
	// retryPage: a list page. Like retryIdempotent, but every 5xx goes back
	// to the caller at once, which shrinks the page before trying again.
	retryPage
	// retryCreate: a POST that creates. Only failures that prove the
	// request never left (dial errors) are retried; anything after that is
	// ErrOutcomeUnknown.
	retryCreate
)

// request is one logical call (possibly several HTTP attempts).
type request struct {
	op, entity string
	method     string
	url        string
	body       []byte
	ifMatch    string
	want       []int // accepted statuses; empty = any 2xx
	mode       retryMode
}

// do runs r with retries and returns a response whose status is accepted.
// The caller closes the body.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	start := time.Now()
	var lastErr error
	for attempt := 1; ; attempt++ {
		resp, again, after, err := c.once(ctx, r)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !again || attempt >= c.cfg.Retry.MaxAttempts {
			return nil, lastErr
		}
		d := c.backoff(attempt, after)
		if time.Since(start)+d > c.cfg.Retry.MaxElapsed {
			return nil, lastErr
		}
		c.log.WarnContext(ctx, "onec: retrying", "op", r.op, "entity", r.entity,
			"attempt", attempt, "delay", d, "err", err)
		if err := retry.Sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("%w (last error: %w)", err, lastErr)
		}
	}
}

// once makes one HTTP attempt. It reports whether a retry is allowed and a
// server-requested delay (Retry-After), if any.
func (c *Client) once(ctx context.Context, r request) (_ *http.Response, again bool, after time.Duration, _ error) {
	done, err := c.breaker.Allow()
	if err != nil {
		return nil, false, 0, unavailable(r.op, r.entity, err)
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		done(retry.Neutral, "")
		return nil, false, 0, fmt.Errorf("onec: %s %s: build request: %w", r.op, r.entity, redactURLError(err))
	}
	req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.ifMatch != "" {
		req.Header.Set("If-Match", r.ifMatch)
	}
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = redactURLError(err)
		done(transportVerdict(ctx, err))
		if r.mode == retryCreate && !isDialError(err) {
			// Cancelled or timed out after the request may have been sent.
			return nil, false, 0, fmt.Errorf("onec: %s %s: %w: %w", r.op, r.entity, ErrOutcomeUnknown, err)
		}
		if ctx.Err() != nil {
			return nil, false, 0, fmt.Errorf("onec: %s %s: %w", r.op, r.entity, ctx.Err())
		}
		return nil, true, 0, fmt.Errorf("onec: %s %s: %w", r.op, r.entity, err)
	}
	c.log.DebugContext(ctx, "onec: request", "op", r.op, "entity", r.entity, "method", r.method,
		"status", resp.StatusCode, "duration", time.Since(t0))
	if accepted(resp.StatusCode, r.want) {
		done(statusVerdict(nil))
		return resp, false, 0, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		done(statusVerdict(nil))
		where := redirectTarget(resp)
		drainClose(resp.Body)
		return nil, false, 0, fmt.Errorf("onec: %s %s: HTTP %d to %s: %w", r.op, r.entity, resp.StatusCode, where, ErrRedirect)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	drainClose(resp.Body)
	// Secrets and the values we sent go before parsing, which cuts long
	// text (a cut value would no longer match), and again after it, which
	// unescapes JSON text.
	sent := sentValues(r.body)
	// Values 1C adds on its own (an object named by its presentation,
	// which for a partner is a person's name) go by their look.
	raw = []byte(redact.Text(c.scrub(redactSent(string(raw), sent))))
	e := parseError(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	e.Op, e.Entity = r.op, r.entity
	e.Message = redact.Text(c.scrub(redactSent(e.Message, sent)))
	done(statusVerdict(e))
	if r.mode == retryCreate {
		if resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout {
			// A proxy gave up waiting: 1C may still have written the document.
			return nil, false, 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, e)
		}
		return nil, false, 0, e
	}
	if r.mode == retryPage && e.Status >= 500 {
		return nil, false, 0, e
	}
	return nil, e.Transient(), retry.After(resp.Header.Get("Retry-After")), e
}

func accepted(status int, want []int) bool {
	if len(want) == 0 {
		return status >= 200 && status < 300
	}
	for _, w := range want {
		if status == w {
			return true
		}
	}
	return false
}

// backoff is the policy's wait before retry attempt, or the server's
// Retry-After (capped at Retry.Max) when it gave one.
func (c *Client) backoff(attempt int, after time.Duration) time.Duration {
	if after > 0 {
		return min(after, c.cfg.Retry.Max)
	}
	return c.cfg.Retry.Backoff(attempt)
}

func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
	_ = rc.Close()
}

// isDialError reports a failure to connect: the request never reached 1C.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// redirectTarget is where a redirect points, as scheme://host/path: no
// credentials, no query (it repeats ours, filters and all).
func redirectTarget(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil || loc.Host == "" {
		return "an unreadable Location"
	}
	return loc.Scheme + "://" + loc.Host + loc.Path
}

// redactURLError strips the query from a *url.Error's URL: filters may hold
// customer data. The base URL holds no credentials (New refuses them).
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u := ue.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	return &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
}

// scrub removes the password and the Basic credential from text that came
// from the server, in case a proxy or 1C echoes the request back.
func (c *Client) scrub(s string) string {
	if c.cfg.Password != "" {
		s = strings.ReplaceAll(s, c.cfg.Password, "***")
	}
	return strings.ReplaceAll(s, c.authToken, "***")
}
