package statuspage_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/internal/statuspage"
	"github.com/virtsync/virtsync/state"
)

func get(t *testing.T, h http.Handler, method, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestPageShowsTheJobs(t *testing.T) {
	_, src, now := filled(t)
	h := statuspage.New(src, statuspage.Options{Now: func() time.Time { return now }})
	res, body := get(t, h, http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", res.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, job := range virtsync.Jobs() {
		for _, want := range []string{`<tr data-job="` + job + `">`, `<section class="job" id="job-` + job + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("no %s", want)
			}
		}
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="10">`,
		// cards' last run: partial, its counts in order.
		`<td class="st partial">partial</td><td class="n">3s</td>
<td class="n">0</td><td class="n">3</td><td class="n">9</td><td class="n">0</td><td class="n">1</td><td class="n">2</td>`,
		"2 record(s) waiting for a dependency",
		`<span class="warn">1 open</span>`, // cards and orders
		"none open, 1 queued for replay",   // customers: resolved not counted
		`data-backlog="3"`, "3 event(s) waiting for NATS",
		"running on sync-host-1 (pid 4242)", // the daemon
		"running on sync-host-1 (pid 4242) since",
		"not scheduled",
		`<time datetime="2025-03-01T09:43:`, // a UTC time, machine-readable
		" UTC (",                            // and for people, with the zone
		"5s so far",                         // the orders run in flight
		`<svg class="chart" role="img"`,
		"Durations of the last 4 runs of customers",
		"Durations of the last 4 runs of orders",
		"<title>2025-03-01 09:00:00 UTC scheduled, ok, 4.2s: created 12, updated 0, unchanged 0, deleted 0, failed 0, held 0</title>",
		`The same runs as a table`,
		`<code>VP-1042</code>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, "<svg "); n != 3 {
		t.Errorf("%d charts, want 3", n)
	}
	// 4 customers runs, 4 cards, 3 orders and the one in flight.
	if n := strings.Count(body, "<rect "); n != 12 {
		t.Errorf("%d bars, want 12", n)
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestPageEscapesAndHidesSecrets(t *testing.T) {
	_, src, now := filled(t)
	_, body := get(t, statuspage.New(src, statuspage.Options{Now: func() time.Time { return now }}), http.MethodGet, "/")
	if strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, "<img") {
		t.Error("a hostile reason reached the page as markup")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the hostile reason is not shown escaped")
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("page shows %q", s)
		}
	}
	for _, want := range []string{"apikey=&lt;redacted&gt;", "password=&lt;redacted&gt;", "virtsync:&lt;redacted&gt;@db"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The one <style> element is what the CSP's hash allows, or a browser
// would show the page unstyled.
func TestCSPAllowsTheStyleAndNothingElse(t *testing.T) {
	_, src, _ := filled(t)
	res, body := get(t, statuspage.New(src, statuspage.Options{}), http.MethodGet, "/")
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(body, -1)
	if len(m) != 1 {
		t.Fatalf("%d style elements", len(m))
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	csp := res.Header.Get("Content-Security-Policy")
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}
	for _, want := range []string{"default-src 'none'", "img-src data:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(body, " style=") || strings.Contains(body, "<script") {
		t.Error("inline style attribute or script: the CSP would block it")
	}
}

func TestMethodsAndPaths(t *testing.T) {
	_, src, _ := filled(t)
	h := statuspage.New(src, statuspage.Options{})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		res, _ := get(t, h, m, "/")
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	res, body := get(t, h, http.MethodHead, "/")
	if res.StatusCode != http.StatusOK || body != "" || res.Header.Get("Content-Length") == "" ||
		res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD: %d, %d bytes, headers %v", res.StatusCode, len(body), res.Header)
	}
	if res, _ := get(t, h, http.MethodGet, "/favicon.ico"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/favicon.ico: %d", res.StatusCode)
	}
}

// dump is everything the page reads, to show it reads only.
func dump(t *testing.T, db *state.DB) []any {
	t.Helper()
	ctx := context.Background()
	runs, err1 := db.LastRuns(ctx, 100)
	cps, err2 := db.Checkpoints(ctx)
	leases, err3 := db.Leases(ctx)
	holds, err4 := db.Holds(ctx, "")
	dls, err5 := db.DeadLetters(ctx, "", "")
	evs, err6 := db.PendingEvents(ctx, 0)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		t.Fatal(err)
	}
	return []any{runs, cps, leases, holds, dls, evs}
}

func TestPageOnlyReads(t *testing.T) {
	db, src, now := filled(t)
	before := dump(t, db)
	h := statuspage.New(src, statuspage.Options{Now: func() time.Time { return now }})
	for range 3 {
		if res, _ := get(t, h, http.MethodGet, "/"); res.StatusCode != http.StatusOK {
			t.Fatal(res.Status)
		}
	}
	if after := dump(t, db); !reflect.DeepEqual(before, after) {
		t.Errorf("the state changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestEmptyState(t *testing.T) {
	db, err := state.Open(filepath.Join(t.TempDir(), "virtsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, body := get(t, statuspage.New(statuspage.StateSource{DB: db}, statuspage.Options{Refresh: 30 * time.Second}), http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatal(res.Status)
	}
	for _, want := range []string{"No run yet.", "empty: every event is on NATS", "not running (no live daemon lease)",
		`<meta http-equiv="refresh" content="30">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<rect ") {
		t.Error("bars without runs")
	}
}

type failing struct{}

func (failing) Status(context.Context, statuspage.Query) (statuspage.Status, error) {
	return statuspage.Status{}, errors.New("open /srv/private/virtsync.db: disk I/O error")
}

func TestUnreadableStateSaysSoWithoutDetails(t *testing.T) {
	res, body := get(t, statuspage.New(failing{}, statuspage.Options{}), http.MethodGet, "/")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d", res.StatusCode)
	}
	if strings.Contains(body, "/srv/private") || !strings.Contains(body, "cannot be read right now") {
		t.Errorf("body:\n%s", body)
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("headers %v", res.Header)
	}
}
