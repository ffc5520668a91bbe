package virtposapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const secretKey = "s3cr3t-KEY/with+chars&=%"

func testClient(t *testing.T, base string, mod func(*Config)) (*Client, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	cfg := Config{
		BaseURL: base, APIKey: secretKey, Timeout: 300 * time.Millisecond,
		Retry:  RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, &logs
}

// assertNoKey fails when the key shows up, raw or escaped, in s.
func assertNoKey(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range []string{secretKey, url.QueryEscape(secretKey), url.PathEscape(secretKey), "s3cr3t"} {
		if strings.Contains(s, k) {
			t.Errorf("%s leaks the apikey (%q): %s", what, k, s)
		}
	}
}

func TestAPIKeyNeverLeaks(t *testing.T) {
	// A port that refuses connections: listen, note the address, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/api"
	ln.Close()

	handlers := map[string]http.HandlerFunc{
		"500": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprintf(w, "Internal error for %s", r.URL.String()) // servers echo URLs
		},
		"garbage": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "<html>oops %s", r.URL.RawQuery)
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/api/orders?"+r.URL.RawQuery, http.StatusMovedPermanently)
		},
		"timeout": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		},
		"rejected-echo": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"success":0,"info":"bad key %s"}`, r.URL.Query().Get("apikey"))
		},
		"403": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			fmt.Fprintf(w, "forbidden: %s", r.URL.Query().Get("apikey"))
		},
	}
	bases := map[string]string{"unreachable": dead}
	for name, h := range handlers {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		bases[name] = srv.URL + "/api"
	}
	for name, base := range bases {
		for _, method := range []string{"GET", "POST"} {
			t.Run(name+"/"+method, func(t *testing.T) {
				c, logs := testClient(t, base, func(c *Config) { c.Method = method })
				ctx := context.Background()
				errs := []error{
					c.Orders(ctx, OrdersQuery{}, func(*Order) error { return nil }),
					func() error { _, err := c.UpdateCustomer(ctx, url.Values{"external_id": {"x"}}); return err }(),
					func() error { _, _, err := c.FindCustomerByExternalID(ctx, "x"); return err }(),
					c.DeleteCard(ctx, CardKey{Field: "uid", Value: "1"}),
				}
				for i, err := range errs {
					if err == nil {
						t.Fatalf("call %d: no error from %s", i, name)
					}
					assertNoKey(t, "error", err.Error())
					assertNoKey(t, "error (%+v)", fmt.Sprintf("%+v %#v", err, err))
					for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
						assertNoKey(t, "wrapped error", e.Error())
					}
				}
				assertNoKey(t, "log", logs.String())
			})
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/api/orders?"+r.URL.RawQuery, http.StatusFound)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv.URL+"/api", nil)
	err := c.Orders(context.Background(), OrdersQuery{}, func(*Order) error { return nil })
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("err = %v, want ErrRedirect", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect was followed: the key went to another host")
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name      string
		responses []func(w http.ResponseWriter) // one per attempt; the last repeats
		wantCalls int32
		wantErr   func(error) bool
	}{
		{
			name: "500 then ok",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) { w.WriteHeader(500) },
				func(w http.ResponseWriter) { fmt.Fprint(w, `{"success":1,"id":"5","isnew":"1"}`) },
			},
			wantCalls: 2, wantErr: func(err error) bool { return err == nil },
		},
		{
			name: "429 honours Retry-After",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) { w.Header().Set("Retry-After", "0"); w.WriteHeader(429) },
				func(w http.ResponseWriter) { fmt.Fprint(w, `{"success":1,"id":"5","isnew":0}`) },
			},
			wantCalls: 2, wantErr: func(err error) bool { return err == nil },
		},
		{
			name: "rejection is not retried",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) { fmt.Fprint(w, `{"success":0,"info":"Неверный email"}`) },
			},
			wantCalls: 1, wantErr: IsRejected,
		},
		{
			name: "plainly transient rejection is retried",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) {
					fmt.Fprint(w, `{"success":0,"info":"Сервис временно недоступен"}`)
				},
			},
			wantCalls: 3, wantErr: IsTransient,
		},
		{
			name: "garbled 200 is retried then reported",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) { fmt.Fprint(w, `<html><body>Bad gateway</body></html>`) },
			},
			wantCalls: 3,
			wantErr: func(err error) bool {
				var de *DecodeError
				return IsTransient(err) && errors.As(err, &de) && de.Status == 200 && strings.Contains(err.Error(), "Bad gateway")
			},
		},
		{
			name: "503 exhausts attempts",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) { w.WriteHeader(503) },
			},
			wantCalls: 3,
			wantErr: func(err error) bool {
				var te *TransientError
				return errors.As(err, &te) && te.Attempts == 3 && te.Status == 503
			},
		},
		{
			name: "401 is not retried",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) { w.WriteHeader(401) },
			},
			wantCalls: 1,
			wantErr: func(err error) bool {
				var he *HTTPError
				return errors.As(err, &he) && he.Status == 401 && strings.Contains(err.Error(), "check virtpos.apikey")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(calls.Add(1)) - 1
				tc.responses[min(i, len(tc.responses)-1)](w)
			}))
			defer srv.Close()
			c, _ := testClient(t, srv.URL, nil)
			_, err := c.UpdateCustomer(context.Background(), url.Values{"id": {"5"}, "external_id": {"e1"}})
			if !tc.wantErr(err) {
				t.Errorf("unexpected error: %v", err)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestInsertCardIsNotRepeatedAfterA500(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500) // the card may or may not exist now
	}))
	defer srv.Close()
	c, _ := testClient(t, srv.URL, nil)
	if _, err := c.InsertCard(context.Background(), url.Values{"uid": {"1"}}); !IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("insertCard sent %d times, want 1", calls.Load())
	}
}

func TestConcurrencyCapIsShared(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		fmt.Fprint(w, `{"success":1,"id":"1","isnew":0}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv.URL, func(c *Config) { c.Concurrency = 2; c.Timeout = 5 * time.Second })
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, _ = c.UpdateCard(context.Background(), url.Values{"uid": {"1"}})
			} else {
				_, _ = c.UpdateCustomer(context.Background(), url.Values{"external_id": {"1"}})
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Fatalf("peak in flight = %d, cap 2", p)
	}
}

func TestForbiddenParams(t *testing.T) {
	c, _ := testClient(t, "http://127.0.0.1:1/api", nil)
	_, err := c.UpdateCustomer(context.Background(), url.Values{"age": {"30"}})
	if err == nil || !strings.Contains(err.Error(), `"age"`) {
		t.Fatalf("err = %v, want age refused before sending", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := map[string]Config{
		"no url":     {APIKey: "k"},
		"ftp":        {BaseURL: "ftp://x/api", APIKey: "k"},
		"key in url": {BaseURL: "https://x/api?apikey=k", APIKey: "k"},
		"no key":     {BaseURL: "https://x/api"},
		"bad format": {BaseURL: "https://x/api", APIKey: "k", Format: "csv"},
		"bad method": {BaseURL: "https://x/api", APIKey: "k", Method: "PUT"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Fatal("accepted")
			} else {
				assertNoKey(t, "error", err.Error())
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("https://x.virtpos.ru/api/orders?apikey=" + url.QueryEscape(secretKey) + "&format=json")
	if got != "https://x.virtpos.ru/api/orders?apikey=***&format=json" {
		t.Fatalf("got %s", got)
	}
}
