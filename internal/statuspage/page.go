// Package statuspage serves the daemon's read-only status page: each job's
// last run, next run, counts, holds and dead letters, the outbox backlog,
// and a chart of the last runs. It is one server-rendered HTML page with
// inline CSS and SVG, no JavaScript and no build step; it refreshes itself
// with a meta refresh.
//
// The page shows numbers, job names, record keys (1C references and
// virtpos ids) and the latest few dead-letter reasons. It is never given
// the config, so it cannot show a URL, DSN or password from it; the
// reasons, already scrubbed by the clients, are scrubbed again here and
// escaped by html/template.
package statuspage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Defaults of [Options].
const (
	RefreshDefault  = 10 * time.Second
	RunsDefault     = 20
	FailuresDefault = 3
	TimeoutDefault  = 5 * time.Second
)

// Options tune the page; the zero value is the defaults.
type Options struct {
	// Refresh is how often the browser reloads the page (RefreshDefault).
	Refresh time.Duration
	// Runs is how many recent runs each job's chart shows (RunsDefault).
	Runs int
	// Failures is how many newest dead-letter reasons each job lists
	// (FailuresDefault); negative lists none.
	Failures int
	// Timeout bounds one read of the Source (TimeoutDefault).
	Timeout time.Duration
	// Now is the clock for ages and live leases (time.Now).
	Now func() time.Time
	// Log receives read errors, which the page does not show (they may
	// name the state file's path). nil discards them.
	Log *slog.Logger
}

// csp allows nothing but the page's own <style> element (by its hash) and
// a data: favicon, so even markup that slipped past escaping could neither
// run script nor load anything.
var csp = "default-src 'none'; style-src 'sha256-" + cssHash() + "'; img-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func cssHash() string {
	sum := sha256.Sum256([]byte(css))
	return base64.StdEncoding.EncodeToString(sum[:])
}

type handler struct {
	src  Source
	opts Options
}

// New returns the page's handler. Mount it at "/" (exactly: the handler
// answers 404 for any other path, such as /favicon.ico).
func New(src Source, opts Options) http.Handler {
	if opts.Refresh <= 0 {
		opts.Refresh = RefreshDefault
	}
	if opts.Runs <= 0 {
		opts.Runs = RunsDefault
	}
	if opts.Failures == 0 {
		opts.Failures = FailuresDefault
	}
	opts.Failures = max(opts.Failures, 0)
	if opts.Timeout <= 0 {
		opts.Timeout = TimeoutDefault
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &handler{src: src, opts: opts}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the status page is read-only", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		http.NotFound(w, r)
		return
	}

	now := h.opts.Now().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	st, err := h.src.Status(ctx, Query{Runs: h.opts.Runs, Failures: h.opts.Failures, Now: now})
	var buf bytes.Buffer
	code := http.StatusOK
	if err != nil {
		h.opts.Log.Error("status page: read the state", "err", err)
		code = http.StatusServiceUnavailable
		err = page.ExecuteTemplate(&buf, "unavailable", unavailable{Refresh: int(h.opts.Refresh.Seconds()), Now: stamp(now)})
	} else {
		err = page.ExecuteTemplate(&buf, "page", build(st, now, h.opts))
	}
	if err != nil {
		h.opts.Log.Error("status page: render", "err", err)
		http.Error(w, "status page: render failed", http.StatusInternalServerError)
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}
