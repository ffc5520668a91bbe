package virtpostest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/syncbuf"
)

// get makes one GET of /orders and returns status, a header and the body
// read error, if any.
func get(t *testing.T, c *http.Client, s *Server, path string) (int, http.Header, string, error) {
	t.Helper()
	resp, err := c.Get(s.URL + path + "?" + url.Values{"apikey": {s.APIKey()}}.Encode())
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

func TestFaults(t *testing.T) {
	t.Run("latency past the client timeout", func(t *testing.T) {
		s := newTestServer(t)
		s.SetFaults(Faults{Latency: time.Minute})
		_, _, _, err := get(t, &http.Client{Timeout: 50 * time.Millisecond}, s, PathOrders)
		if err == nil || !strings.Contains(err.Error(), "Timeout") {
			t.Errorf("err = %v, want a client timeout", err)
		}
	})
	t.Run("hang until the client gives up", func(t *testing.T) {
		s := newTestServer(t)
		s.SetFaults(Faults{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+PathOrders, nil)
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}
	})
	t.Run("429 for the next N requests", func(t *testing.T) {
		s := newTestServer(t)
		s.SetFaults(Faults{Throttle: 2, RetryAfter: 2500 * time.Millisecond})
		var got []string
		for i := 0; i < 3; i++ {
			code, hdr, _, err := get(t, http.DefaultClient, s, PathOrders)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d/%s", code, hdr.Get("Retry-After")))
		}
		if want := "429/3,429/3,200/"; strings.Join(got, ",") != want {
			t.Errorf("got %v, want %s", got, want)
		}
	})
	t.Run("every Nth request fails", func(t *testing.T) {
		s := newTestServer(t)
		s.SetFaults(Faults{ErrorEvery: 3})
		var got []int
		for i := 0; i < 6; i++ {
			code, _, _, _ := get(t, http.DefaultClient, s, PathCustomer)
			got = append(got, code)
		}
		if want := []int{200, 200, 500, 200, 200, 500}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("seeded error rate repeats", func(t *testing.T) {
		seq := func() string {
			s := newTestServer(t)
			s.SetFaults(Faults{ErrorRate: 0.5, Seed: 7})
			var b strings.Builder
			for i := 0; i < 40; i++ {
				code, _, _, _ := get(t, http.DefaultClient, s, PathCustomer)
				b.WriteString(map[int]string{200: ".", 500: "x"}[code])
			}
			return b.String()
		}
		a, b := seq(), seq()
		if a != b || !strings.Contains(a, "x") || !strings.Contains(a, ".") || len(a) != 40 {
			t.Errorf("sequences %q and %q: want equal, mixed", a, b)
		}
	})
	for _, status := range []int{200, 502} {
		t.Run(fmt.Sprintf("HTML page with %d", status), func(t *testing.T) {
			s := newTestServer(t)
			s.SetFaults(Faults{HTMLStatus: status})
			code, hdr, body, err := get(t, http.DefaultClient, s, PathOrders)
			if err != nil || code != status || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html>") {
				t.Errorf("got %d %q %q %v", code, hdr.Get("Content-Type"), body, err)
			}
		})
	}
	t.Run("truncated body", func(t *testing.T) {
		s := newTestServer(t)
		s.GenerateOrders(100, 1)
		s.SetFaults(Faults{TruncateAfter: 5000})
		_, _, body, err := get(t, http.DefaultClient, s, PathOrders)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 5000 {
			t.Errorf("read %d bytes, err %v; want 5000 and unexpected EOF", len(body), err)
		}
		s.SetFaults(Faults{})
		if _, _, body, err := get(t, http.DefaultClient, s, PathOrders); err != nil || !strings.HasSuffix(body, "</root>\n") {
			t.Errorf("after clearing faults: err %v", err)
		}
	})
	t.Run("reject chosen records", func(t *testing.T) {
		s := newTestServer(t)
		s.SetFaults(Faults{Reject: func(entity string, p url.Values) (bool, string) {
			return entity == PathCustomerUpdate && p.Get("external_id") == "bad", "Клиент заблокирован"
		}})
		for _, ext := range []string{"good", "bad"} {
			_, _, body := call(t, s, http.MethodGet, PathCustomerUpdate, vals("create_if_not_exist", "1", "external_id", ext))
			r := decodeResult(t, "xml", body)
			wantOK := ext == "good"
			if (r.Success == "1") != wantOK || (!wantOK && r.Info != "Клиент заблокирован") {
				t.Errorf("%s: got %+v", ext, r)
			}
		}
		if _, ok := s.Customer("bad"); ok || len(s.Customers()) != 1 {
			t.Errorf("rejected record was stored: %+v", s.Customers())
		}
		if c := s.Counts(); c.Rejected != 1 || c.CustomersCreated != 1 {
			t.Errorf("counts = %+v", c)
		}
	})
}

func TestLogMasksAPIKey(t *testing.T) {
	var buf syncbuf.Buffer
	s := NewServer(t, Options{APIKey: "Top$ecret-Ключ", Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	call(t, s, http.MethodGet, PathCustomerUpdate, vals("create_if_not_exist", "1", "fname", "Иван"))
	call(t, s, http.MethodPost, PathOrders, vals("apikey", "wrong-key-typed"))
	out := buf.String()
	for _, secret := range []string{"Top$ecret-Ключ", url.QueryEscape("Top$ecret-Ключ"), "wrong-key-typed"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if strings.Count(out, "apikey=***") != 2 || !strings.Contains(out, "fname=") || !strings.Contains(out, "method=POST") {
		t.Errorf("log lacks masked request lines:\n%s", out)
	}
}

func TestCountsAndConcurrency(t *testing.T) {
	// Lenient, so that every worker's create of one external_id lands on
	// one customer: the test is about the store's locking.
	s := NewServer(t, Options{APIKey: "s3cret", MatchUpdateByExternalID: true})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p := url.Values{"apikey": {s.APIKey()}, "create_if_not_exist": {"1"},
					"external_id": {fmt.Sprintf("c%d", i)}, "fname": {fmt.Sprintf("w%d", w)}}
				resp, err := http.PostForm(s.URL+PathCustomerUpdate, p)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				p = url.Values{"apikey": {s.APIKey()}, "create_if_not_exist": {"1"}, "uid": {fmt.Sprintf("%d%d", w, i)}}
				if resp, err = http.PostForm(s.URL+PathCardUpdate, p); err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	c := s.Counts()
	// Every worker upserts the same ten external ids: ten creates, the rest
	// updates, never a duplicate.
	if c.CustomersCreated != each || c.CustomersUpdated != (workers-1)*each || len(s.Customers()) != each {
		t.Errorf("customers: counts %+v, %d stored", c, len(s.Customers()))
	}
	if c.CardsCreated != workers*each || c.Requests[PathCustomerUpdate] != workers*each || c.Requests[PathCardUpdate] != workers*each {
		t.Errorf("counts = %+v", c)
	}
	ids := map[string]bool{}
	for _, cd := range s.Cards() {
		ids[cd.ID] = true
	}
	if len(ids) != workers*each {
		t.Errorf("%d distinct card ids, want %d", len(ids), workers*each)
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct{ prefix, wantSuffix string }{{"", "/api"}, {"/", ""}, {"v2/api/", "/v2/api"}}
	for _, tt := range tests {
		t.Run("prefix "+tt.prefix, func(t *testing.T) {
			s := NewServer(t, Options{Prefix: tt.prefix})
			if !strings.HasSuffix(s.URL, tt.wantSuffix) || strings.HasSuffix(s.URL, "/") {
				t.Fatalf("URL %s, want suffix %q", s.URL, tt.wantSuffix)
			}
			code, _, body := call(t, s, http.MethodGet, PathCustomer, nil)
			if r := decodeResult(t, "xml", body); code != 200 || r.Success != "1" {
				t.Errorf("got %d %s", code, body)
			}
		})
	}
}

// post sends one form to path on a fresh connection (so that Go's
// transport never repeats it by itself) and reports what came back.
func post(t *testing.T, s *Server, path string, p url.Values, timeout time.Duration) (int, string, error) {
	t.Helper()
	q := url.Values{"apikey": {s.APIKey()}}
	for k, v := range p {
		q[k] = v
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.PostForm(s.URL+path, q)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestFaultsOnWritesThatWereCarriedOut(t *testing.T) {
	create := vals("create_if_not_exist", "1", "external_id", "e1", "fname", "Зоя")
	tests := []struct {
		name    string
		faults  Faults
		timeout time.Duration
		// wantErr is a substring of the client's error; "" wants a reply.
		wantErr string
		count   func(Counts) int
	}{
		{name: "a lost reply closes the connection after the write",
			faults: Faults{LostReplyRate: 1}, wantErr: "EOF", count: func(c Counts) int { return c.LostReplies }},
		{name: "a slow reply outlasts the client's timeout after the write",
			faults: Faults{SlowReply: time.Minute}, timeout: 50 * time.Millisecond, wantErr: "Timeout",
			count: func(c Counts) int { return c.SlowReplies }},
		{name: "a truncated reply is cut after the write",
			faults: Faults{TruncateRate: 1}, wantErr: "unexpected EOF", count: func(c Counts) int { return c.Truncated }},
		{name: "a slow reply within the client's timeout arrives whole",
			faults: Faults{SlowReply: time.Millisecond, SlowReplyRate: 1}, timeout: 10 * time.Second,
			count: func(c Counts) int { return c.SlowReplies }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			s.SetFaults(tt.faults)
			_, body, err := post(t, s, PathCustomerUpdate, create, cmp.Or(tt.timeout, 10*time.Second))
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(body, "<isnew>1</isnew>") {
					t.Fatalf("got %q, %v; want the reply", body, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %q, %v; want an error with %q", body, err, tt.wantErr)
			}
			if c, ok := s.Customer("e1"); !ok || c.FName != "Зоя" {
				t.Errorf("the write was not carried out: %+v", s.Customers())
			}
			if n := tt.count(s.Counts()); n != 1 {
				t.Errorf("fault counted %d times, want 1", n)
			}
		})
	}
}

func TestFaultsThatRefuseTheWrite(t *testing.T) {
	create := vals("create_if_not_exist", "1", "external_id", "e1")
	tests := []struct {
		name       string
		faults     Faults
		wantStatus int
		wantBody   string
	}{
		{"429 at a rate", Faults{ThrottleRate: 1, RetryAfter: 2 * time.Second}, 429, "Too Many Requests"},
		{"an HTML 502 page at a rate", Faults{HTMLRate: 1}, 502, "<h1>502 Bad Gateway</h1>"},
		{"a revoked key", Faults{InvalidKey: true}, 200, "<info>invalid apikey</info>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			s.SetFaults(tt.faults)
			code, body, err := post(t, s, PathCustomerUpdate, create, 10*time.Second)
			if err != nil || code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q %v, want %d with %q", code, body, err, tt.wantStatus, tt.wantBody)
			}
			if n := len(s.Customers()); n != 0 {
				t.Errorf("%d customers stored, want none", n)
			}
		})
	}
}

func TestFaultRatesRepeatWithTheSeedAndHonourPaths(t *testing.T) {
	seq := func(seed uint64) (string, Counts) {
		s := newTestServer(t)
		s.SetFaults(Faults{Seed: seed, Paths: []string{PathCustomerUpdate},
			LostReplyRate: 0.2, ThrottleRate: 0.2, HTMLRate: 0.2})
		var b strings.Builder
		for i := 0; i < 60; i++ {
			code, _, err := post(t, s, PathCustomerUpdate, vals("create_if_not_exist", "1", "external_id", fmt.Sprint("e", i)), 10*time.Second)
			switch {
			case err != nil:
				b.WriteByte('L')
			case code == 429:
				b.WriteByte('T')
			case code == 502:
				b.WriteByte('H')
			default:
				b.WriteByte('.')
			}
			// Another path is never faulted.
			if code, _, err := post(t, s, PathCustomer, nil, 10*time.Second); err != nil || code != 200 {
				t.Fatalf("GET /customer under faults limited to /customer/update: %d %v", code, err)
			}
		}
		return b.String(), s.Counts()
	}
	a, ca := seq(11)
	b, _ := seq(11)
	c, _ := seq(12)
	if a != b {
		t.Errorf("seed 11 gave %q then %q", a, b)
	}
	if a == c {
		t.Errorf("seeds 11 and 12 gave the same sequence %q", a)
	}
	for _, k := range "LTH." {
		if !strings.ContainsRune(a, k) {
			t.Errorf("sequence %q lacks %q", a, k)
		}
	}
	if got, want := ca.LostReplies, strings.Count(a, "L"); got != want || ca.CustomersCreated != want+strings.Count(a, ".") {
		t.Errorf("counts %+v for sequence %q", ca, a)
	}
}

func TestFaultsOnTheOrdersStream(t *testing.T) {
	tests := []struct {
		name    string
		faults  Faults
		wantErr bool
		count   func(Counts) int
	}{
		{"a lost reply closes the connection", Faults{LostReplyRate: 1}, true, func(c Counts) int { return c.LostReplies }},
		{"a slow reply streams after the wait", Faults{SlowReply: time.Millisecond}, false, func(c Counts) int { return c.SlowReplies }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			s.GenerateOrders(20, 1)
			s.SetFaults(tt.faults)
			_, body, err := post(t, s, PathOrders, nil, 10*time.Second)
			if (err != nil) != tt.wantErr || (err == nil && strings.Count(body, "<orders>") != 20) {
				t.Fatalf("got %d orders, %v; want error %v", strings.Count(body, "<orders>"), err, tt.wantErr)
			}
			if n := tt.count(s.Counts()); n != 1 {
				t.Errorf("fault counted %d times, want 1", n)
			}
		})
	}
}
