package virtposapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(w http.ResponseWriter, r *http.Request)
		breaker  BreakerPolicy
		timeout  time.Duration
		calls    int
		wantReqs int32  // requests virtpos receives for all the calls
		wantLast string // in the refusal's message; "" wants no refusal
	}{
		{name: "a virtpos answering 502 to everything is given up after 8 requests",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(502)
				fmt.Fprint(w, "<html><h1>502 Bad Gateway</h1></html>")
			},
			calls: 20, wantReqs: 8, wantLast: `customer_update: HTTP 502 body starts "<html><h1>502 Bad Gateway</h1></html>"`},
		{name: "a virtpos that never answers is given up after 4 timeouts with Failures 4",
			answer:  func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			breaker: BreakerPolicy{Failures: 4}, timeout: 50 * time.Millisecond,
			calls: 10, wantReqs: 4, wantLast: "customer_update: timed out after 50ms waiting for the response"},
		{name: "rejections are a working virtpos and never open it",
			answer: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"success":0,"info":"Неверный email"}`)
			},
			calls: 20, wantReqs: 20},
		{name: "a disabled breaker lets every request through",
			answer:  func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
			breaker: BreakerPolicy{Failures: -1}, calls: 5, wantReqs: 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reqs atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs.Add(1)
				tc.answer(w, r)
			}))
			defer srv.Close()
			c, logs := testClient(t, srv.URL, func(c *Config) {
				c.Breaker = tc.breaker
				if tc.timeout > 0 {
					c.Timeout = tc.timeout
					c.HTTPClient = &http.Client{} // the client's timer is the only one
				}
			})
			var last error
			refused := 0
			for i := 0; i < tc.calls; i++ {
				_, err := c.UpdateCustomer(context.Background(), url.Values{"id": {"5"}, "fname": {"Зоя"}})
				if err == nil {
					t.Fatal("a call succeeded")
				}
				if errors.Is(err, ErrUnavailable) {
					refused++
					last = err
				}
			}
			if n := reqs.Load(); n != tc.wantReqs {
				t.Errorf("%d requests for %d calls, want %d", n, tc.calls, tc.wantReqs)
			}
			if tc.wantLast == "" {
				if refused != 0 {
					t.Errorf("%d calls refused: %v", refused, last)
				}
				return
			}
			if refused == 0 {
				t.Fatal("no call was refused")
			}
			var ue *UnavailableError
			if !errors.As(last, &ue) || !IsTransient(last) || IsRejected(last) || OutcomeOf(last) != OutcomeNotSent {
				t.Errorf("refusal %T %v: want an *UnavailableError, transient, not sent", last, last)
			}
			want := fmt.Sprintf("virtpos unavailable: %d requests in a row failed (last: %s); check that virtpos is up", tc.wantReqs, tc.wantLast)
			if !strings.Contains(last.Error(), want) {
				t.Errorf("refusal says\n%s\nwant it to contain\n%s", last, want)
			}
			if strings.Contains(logs.String(), "Зоя") {
				t.Errorf("log has a parameter's value:\n%s", logs)
			}
		})
	}
}

// After the cooldown one trial request goes through; a healthy answer
// closes the breaker for everyone.
func TestBreakerRecovers(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var reqs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if down.Load() {
			w.WriteHeader(503)
			return
		}
		fmt.Fprint(w, `{"success":1,"id":"5","isnew":0}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv.URL, func(c *Config) {
		c.Breaker = BreakerPolicy{Failures: 2, Cooldown: time.Millisecond}
		c.Retry.MaxAttempts = 1
	})
	ctx := context.Background()
	update := func() error { _, err := c.UpdateCustomer(ctx, url.Values{"id": {"5"}}); return err }
	_ = update()
	_ = update()
	// Open now; within a millisecond a call may or may not be the trial:
	// wait until one is refused, so that the test does not depend on time.
	for !errors.Is(update(), ErrUnavailable) {
	}
	down.Store(false)
	for errors.Is(update(), ErrUnavailable) {
		// still cooling down
	}
	before := reqs.Load()
	for i := 0; i < 5; i++ {
		if err := update(); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	if n := reqs.Load() - before; n != 5 {
		t.Fatalf("%d requests for 5 calls after recovery", n)
	}
}
