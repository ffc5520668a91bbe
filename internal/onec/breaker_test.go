package onec

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time for the breaker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// statusServer answers every request with the status its status field
// holds at the time.
type statusServer struct {
	status   atomic.Int32
	body     atomic.Value // string
	requests atomic.Int32
}

func (s *statusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	w.WriteHeader(int(s.status.Load()))
	if b, _ := s.body.Load().(string); b != "" {
		_, _ = io.WriteString(w, b)
	} else if s.status.Load() == 200 && strings.HasSuffix(r.URL.Path, "/$count") {
		_, _ = io.WriteString(w, "7")
	}
}

func breakerClient(t *testing.T, base string, b Breaker, clk *clock) *Client {
	c := newTestClient(t, base, func(c *Config) { c.Breaker = b; c.Retry.MaxAttempts = 5; c.Timeout = time.Second })
	c.breaker.now = clk.now
	return c
}

// TestBreakerOpensAndProbes: after Failures failed attempts in a row calls
// fail fast with ErrUnavailable and send nothing; after the cooldown one
// probe goes out: a failure opens it again, a success closes it.
func TestBreakerOpensAndProbes(t *testing.T) {
	srv := &statusServer{}
	srv.status.Store(503)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	clk := &clock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	c := breakerClient(t, ts.URL, Breaker{Failures: 3, Cooldown: time.Minute}, clk)

	step := func(name string, wantRequests int32, check func(error) bool) {
		t.Helper()
		srv.requests.Store(0)
		err := countCall(t.Context(), c)
		if !check(err) || srv.requests.Load() != wantRequests {
			t.Fatalf("%s: err = %v after %d requests; want %d requests", name, err, srv.requests.Load(), wantRequests)
		}
	}
	unavailable := func(err error) bool {
		return errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "requests in a row failed") &&
			strings.Contains(err.Error(), "HTTP 503") && IsTransient(err)
	}
	step("the third failed attempt opens it, the fourth is not sent", 3, unavailable)
	step("open: fails fast", 0, unavailable)
	clk.add(59 * time.Second)
	step("still open just before the cooldown ends", 0, unavailable)
	clk.add(2 * time.Second)
	step("half-open: one failed probe opens it again", 1, func(err error) bool { return errors.Is(err, ErrUnavailable) })
	step("open again", 0, unavailable)
	clk.add(2 * time.Minute)
	srv.status.Store(200)
	step("a good probe closes it", 1, func(err error) bool { return err == nil })
	srv.status.Store(503)
	step("closed: counts anew from zero", 3, unavailable)
}

// TestBreakerCountsOnlyOutages: answers that prove 1C is up (a 404, a
// 400, a posting error) reset the count; network errors count.
func TestBreakerCountsOnlyOutages(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantOpen bool
	}{
		{name: "a 502 from the proxy counts", status: 502, wantOpen: true},
		{name: "the HTML application-error page counts", status: 500, body: "<html><title>1C:Enterprise 8 application error</title></html>", wantOpen: true},
		{name: "a posting error with code -1 does not count", status: 500, body: `{"odata.error":{"code":"-1","message":{"lang":"ru","value":"Не проведён"}}}`},
		{name: "a 404 does not count", status: 404, body: `{"odata.error":{"code":"9","message":{"lang":"ru","value":"нет"}}}`},
		{name: "a 401 does not count (it is not an outage)", status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &statusServer{}
			srv.status.Store(int32(tt.status))
			srv.body.Store(tt.body)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			c := breakerClient(t, ts.URL, Breaker{Failures: 2}, &clock{t: time.Now()})
			for range 3 {
				_ = postCall(t.Context(), c)
			}
			if err := countCall(t.Context(), c); errors.Is(err, ErrUnavailable) != tt.wantOpen {
				t.Fatalf("breaker open = %v, want %v (err %v)", errors.Is(err, ErrUnavailable), tt.wantOpen, err)
			}
		})
	}
	t.Run("an unreachable 1C counts", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		_ = ln.Close()
		c := breakerClient(t, dead, Breaker{Failures: 2}, &clock{t: time.Now()})
		if err := countCall(t.Context(), c); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("err = %v, want ErrUnavailable after two refused connections", err)
		}
	})
	t.Run("a negative Failures disables it", func(t *testing.T) {
		srv := &statusServer{}
		srv.status.Store(503)
		ts := httptest.NewServer(srv)
		defer ts.Close()
		c := breakerClient(t, ts.URL, Breaker{Failures: -1}, &clock{t: time.Now()})
		for range 3 {
			if err := countCall(t.Context(), c); errors.Is(err, ErrUnavailable) {
				t.Fatalf("disabled breaker opened: %v", err)
			}
		}
		if srv.requests.Load() != 15 {
			t.Fatalf("%d requests, want 3 calls x 5 attempts", srv.requests.Load())
		}
	})
	t.Run("a cancelled call does not count", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cancel() // the caller gives up while 1C works
			<-r.Context().Done()
		}))
		defer ts.Close()
		c := breakerClient(t, ts.URL, Breaker{Failures: 1}, &clock{t: time.Now()})
		if err := countCall(ctx, c); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the cancellation", err)
		}
		if err := c.breaker.allow(); err != nil {
			t.Fatalf("breaker opened by a cancellation: %v", err)
		}
	})
}

// TestSetupFaultsSayWhatToDo: a 401 names the settings and password
// authentication, a 403 the rights and allowedOnly; both are IsAuth and
// keep the typed *Error.
func TestSetupFaultsSayWhatToDo(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{"401 names the credentials settings", 401, "", []string{"HTTP 401", "onec.user", "onec.password", "ONEC_USER", "ONEC_PASSWORD", "password authentication"}},
		{"403 #exception names rights and allowedOnly", 403, "\ufeff" + `{"#exception":{"descr":"Недостаточно прав"}}`, []string{"HTTP 403", "Недостаточно прав", "rights", "role", "allowedOnly"}},
		{"code 20 names rights", 400, `{"odata.error":{"code":"20","message":{"lang":"ru","value":"Нарушение прав доступа"}}}`, []string{"code 20", "rights", "allowedOnly"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &statusServer{}
			srv.status.Store(int32(tt.status))
			srv.body.Store(tt.body)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			err := listCall(t.Context(), newTestClient(t, ts.URL, nil))
			var e *Error
			if !errors.As(err, &e) || !IsAuth(err) || IsRejected(err) && tt.status != 400 || IsTransient(err) {
				t.Fatalf("err = %v (%T): want a typed *Error, IsAuth, not transient", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if srv.requests.Load() != 1 {
				t.Errorf("%d requests: a setup fault is not retried", srv.requests.Load())
			}
		})
	}
}
