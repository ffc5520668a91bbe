package virtposapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hangUp closes the client's connection without a reply; reset makes it
// a TCP reset rather than an orderly close.
func hangUp(t *testing.T, w http.ResponseWriter, reset bool) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// Every failure of a write is classified, and a create (customer/update
// without an id) is sent again only when it surely did not arrive; an
// update by id is retried whatever happened.
func TestWriteOutcomes(t *testing.T) {
	ok := func(w http.ResponseWriter) { fmt.Fprint(w, `{"success":1,"id":"41","isnew":1}`) }
	tests := []struct {
		name string
		// answer serves the nth (1-based) request to customer/update.
		answer func(t *testing.T, w http.ResponseWriter, n int)
		dead   bool // no server listens
		// timeout is the client's; only the case about a timeout sets a
		// short one, so that a slow machine cannot time the others out.
		timeout     time.Duration
		wantOutcome Outcome
		wantCreates int32 // requests a create makes
		wantUpdates int32 // requests an update by id makes
		// getResend: over GET, Go's transport itself re-sends an update by
		// id (replayable) once when a kept-alive connection breaks.
		getResend int32
	}{
		{name: "a refused connection was not sent: the create is tried again", dead: true,
			wantOutcome: OutcomeNotSent},
		{name: "a 429 was not sent: the create is tried again and succeeds",
			answer: func(t *testing.T, w http.ResponseWriter, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				ok(w)
			}, wantOutcome: OutcomeDone, wantCreates: 2, wantUpdates: 2},
		{name: "a 500 may have been carried out: the create is sent once",
			answer:      func(t *testing.T, w http.ResponseWriter, n int) { w.WriteHeader(500) },
			wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3},
		{name: "a proxy's HTML 502 may have been carried out",
			answer: func(t *testing.T, w http.ResponseWriter, n int) {
				w.WriteHeader(502)
				fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
			}, wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3},
		{name: "a 503 with Retry-After after the whole request was sent may have been carried out",
			answer: func(t *testing.T, w http.ResponseWriter, n int) {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(503)
			}, wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3},
		{name: "a timeout after the request was written may have been carried out",
			answer:      func(t *testing.T, w http.ResponseWriter, n int) { time.Sleep(400 * time.Millisecond) },
			timeout:     200 * time.Millisecond,
			wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3},
		{name: "a connection reset may have been carried out",
			answer:      func(t *testing.T, w http.ResponseWriter, n int) { hangUp(t, w, true) },
			wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3, getResend: 1},
		{name: "a reply lost on a kept-alive connection may have been carried out, and Go's transport does not re-send it",
			answer:      func(t *testing.T, w http.ResponseWriter, n int) { hangUp(t, w, false) },
			wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3, getResend: 1},
		{name: "a body cut short may have been carried out",
			answer: func(t *testing.T, w http.ResponseWriter, n int) {
				w.Header().Set("Content-Length", "40")
				fmt.Fprint(w, `{"success":1,"id":`)
				w.(http.Flusher).Flush()
				hangUp(t, w, false)
			}, wantOutcome: OutcomeUnknown, wantCreates: 1, wantUpdates: 3},
		{name: "a success=0 that says try later was not carried out: the create is tried again",
			answer: func(t *testing.T, w http.ResponseWriter, n int) {
				fmt.Fprint(w, `{"success":0,"info":"Сервис временно недоступен"}`)
			}, wantOutcome: OutcomeNotSent, wantCreates: 3, wantUpdates: 3},
		{name: "a rejection is this record's and is not repeated",
			answer: func(t *testing.T, w http.ResponseWriter, n int) {
				fmt.Fprint(w, `{"success":0,"info":"Неверный email"}`)
			}, wantOutcome: OutcomeRejected, wantCreates: 1, wantUpdates: 1},
	}
	for _, tc := range tests {
		for _, method := range []string{"GET", "POST"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				var updates atomic.Int32
				base := "http://127.0.0.1:1/api"
				if !tc.dead {
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.URL.Path != "/customer/update" {
							fmt.Fprint(w, `{"success":1,"customers":[]}`)
							return
						}
						tc.answer(t, w, int(updates.Add(1)))
					}))
					defer srv.Close()
					base = srv.URL
				} else {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					base = "http://" + ln.Addr().String()
					ln.Close()
				}
				c, _ := testClient(t, base, func(c *Config) { c.Method = method; c.Timeout = cmp.Or(tc.timeout, 30*time.Second) })
				ctx := context.Background()
				for _, call := range []struct {
					what   string
					params url.Values
					want   int32
				}{
					{"create", url.Values{"create_if_not_exist": {"1"}, "external_id": {"e1"}, "fname": {"Зоя"}}, tc.wantCreates},
					{"update by id", url.Values{"id": {"41"}, "external_id": {"e1"}, "fname": {"Зоя"}}, tc.wantUpdates + map[string]int32{"GET": tc.getResend}[method]},
				} {
					// A look-up first, so that the write goes over a
					// kept-alive connection, as in a run.
					if !tc.dead {
						if _, _, err := c.FindCustomerByExternalID(ctx, "e1"); err != nil {
							t.Fatalf("warm-up look-up: %v", err)
						}
					}
					updates.Store(0)
					_, err := c.UpdateCustomer(ctx, call.params)
					if n := updates.Load(); n != call.want {
						t.Errorf("%s: %d requests, want %d (err %v)", call.what, n, call.want, err)
					}
					got := OutcomeOf(err)
					if got != tc.wantOutcome {
						t.Errorf("%s: outcome %v, want %v (err %v)", call.what, got, tc.wantOutcome, err)
					}
					if IsOutcomeUnknown(err) != (got == OutcomeUnknown && err != nil) {
						t.Errorf("%s: IsOutcomeUnknown disagrees with OutcomeOf for %v", call.what, err)
					}
					var te *TransientError
					if got == OutcomeUnknown && !errors.As(err, &te) {
						t.Errorf("%s: an unknown outcome is not a *TransientError: %v", call.what, err)
					}
				}
			})
		}
	}
}

// A refused key is a fault of the configuration, never a rejection of the
// record that happened to carry it, whatever words virtpos uses.
func TestAuthRefusals(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string // JSON unless it starts with '<'
	}{
		{"invalid apikey, as the fake says it", 200, `{"success":0,"info":"invalid apikey"}`},
		{"wrong api key", 200, `{"success":0,"info":"Wrong API key"}`},
		{"неверный ключ", 200, `{"success":0,"info":"Неверный ключ"}`},
		{"доступ запрещен", 200, `{"success":0,"info":"Доступ запрещен"}`},
		{"access denied in XML", 200, `<?xml version="1.0"?><root><success>0</success><info>Access denied</info></root>`},
		{"unauthorized", 200, `{"success":0,"info":"Unauthorized"}`},
		{"HTTP 401", 401, `{"error":"no"}`},
		{"HTTP 403", 403, `<html>Forbidden</html>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			format := "json"
			if tc.body[0] == '<' && tc.status == 200 {
				format = "xml"
			}
			c, _ := testClient(t, srv.URL, func(c *Config) { c.Format = format })
			ctx := context.Background()
			errs := map[string]error{
				"create": func() error {
					_, err := c.UpdateCustomer(ctx, url.Values{"create_if_not_exist": {"1"}, "external_id": {"e"}})
					return err
				}(),
				"look-up": func() error { _, _, err := c.FindCustomerByExternalID(ctx, "e"); return err }(),
				"orders":  c.Orders(ctx, OrdersQuery{}, func(*Order) error { return nil }),
				"card":    c.DeleteCard(ctx, CardKey{Field: "uid", Value: "1"}),
			}
			for what, err := range errs {
				if !IsAuth(err) || IsRejected(err) || IsNotFound(err) || IsTransient(err) || OutcomeOf(err) != OutcomeNotSent {
					t.Errorf("%s: IsAuth=%v IsRejected=%v IsTransient=%v outcome=%v: %v", what, IsAuth(err), IsRejected(err),
						IsTransient(err), OutcomeOf(err), err)
				}
				if err != nil && !strings.Contains(err.Error(), "check virtpos.apikey") {
					t.Errorf("%s: %v does not say what to check", what, err)
				}
			}
			if n := calls.Load(); n != int32(len(errs)) {
				t.Errorf("%d requests for %d calls: a refused key is not retried", n, len(errs))
			}
		})
	}
}
