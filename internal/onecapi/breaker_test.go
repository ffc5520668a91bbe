package onecapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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

func breakerClient(t *testing.T, base string, b Breaker) *Client {
	return newTestClient(t, base, func(c *Config) { c.Breaker = b; c.Retry.MaxAttempts = 5; c.Timeout = time.Second })
}

// TestBreakerOpensAndRecovers: after Failures failed attempts in a row
// calls fail fast with ErrUnavailable and send nothing; once the cooldown
// is over a good trial request closes it. (The cooldown and the trial
// request themselves are retry.Breaker's, tested there.)
func TestBreakerOpensAndRecovers(t *testing.T) {
	srv := &statusServer{}
	srv.status.Store(503)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	step := func(c *Client, name string, wantRequests int32, check func(error) bool) {
		t.Helper()
		srv.requests.Store(0)
		err := countCall(t.Context(), c)
		if !check(err) || srv.requests.Load() != wantRequests {
			t.Fatalf("%s: err = %v after %d requests; want %d requests", name, err, srv.requests.Load(), wantRequests)
		}
	}
	unavailable := func(err error) bool {
		return errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "3 requests in a row failed") &&
			strings.Contains(err.Error(), "HTTP 503") && strings.Contains(err.Error(), "count Catalog_Партнеры") && IsTransient(err)
	}
	long := breakerClient(t, ts.URL, Breaker{Failures: 3, Cooldown: time.Hour})
	step(long, "the third failed attempt opens it, the fourth is not sent", 3, unavailable)
	step(long, "open: fails fast", 0, unavailable)

	short := breakerClient(t, ts.URL, Breaker{Failures: 3, Cooldown: time.Nanosecond})
	step(short, "a 1C that stays down", 5, func(err error) bool { return errors.Is(err, ErrUnavailable) || IsTransient(err) })
	srv.status.Store(200)
	step(short, "back up: the trial request closes it", 1, func(err error) bool { return err == nil })
	step(short, "closed", 1, func(err error) bool { return err == nil })
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
			c := breakerClient(t, ts.URL, Breaker{Failures: 2, Cooldown: time.Hour})
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
		c := breakerClient(t, dead, Breaker{Failures: 2, Cooldown: time.Hour})
		if err := countCall(t.Context(), c); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("err = %v, want ErrUnavailable after two refused connections", err)
		}
	})
	t.Run("a negative Failures disables it", func(t *testing.T) {
		srv := &statusServer{}
		srv.status.Store(503)
		ts := httptest.NewServer(srv)
		defer ts.Close()
		c := breakerClient(t, ts.URL, Breaker{Failures: -1})
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
		c := breakerClient(t, ts.URL, Breaker{Failures: 1, Cooldown: time.Hour})
		if err := countCall(ctx, c); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the cancellation", err)
		}
		if _, err := c.breaker.Allow(); err != nil {
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
