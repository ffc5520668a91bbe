package virtpostest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks below put each call to a fake of 10,000 customers and to
// one of 1,000,000, alternating, and report the cost of each and their
// ratio: the fake's cost per call must not grow with the store, so that a
// benchmark of virtsync measures virtsync. Alternating keeps a shared,
// noisy machine and the garbage collector (both stores live in one heap)
// from favouring either size.
const benchSmall, benchLarge = 10_000, 1_000_000

// compareSizes runs call(s, i) alternately on small and large for b.N
// rounds and reports ns per call of each and large/small.
func compareSizes(b *testing.B, small, large *Server, call func(b *testing.B, s *Server, n, i int)) {
	b.Helper()
	var tSmall, tLarge time.Duration
	i := 0
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		call(b, small, benchSmall, i)
		t1 := time.Now()
		call(b, large, benchLarge, i)
		tSmall, tLarge = tSmall+t1.Sub(t0), tLarge+time.Since(t1)
		i++
	}
	b.ReportMetric(float64(tSmall.Nanoseconds())/float64(i), "ns/call-10k")
	b.ReportMetric(float64(tLarge.Nanoseconds())/float64(i), "ns/call-1M")
	b.ReportMetric(float64(tLarge)/float64(tSmall), "1M/10k")
}

// benchStore fills a lenient fake with n customers (ids 1..n, external_id
// "ext-<id>") straight into the store, the way a seed would.
func benchStore(b *testing.B, n int) *Server {
	b.Helper()
	s := New(Options{APIKey: "k", MatchUpdateByExternalID: true})
	for id := 1; id <= n; id++ {
		ids := strconv.Itoa(id)
		s.st.customers.put(id, map[string]string{"id": ids, "external_id": "ext-" + ids,
			"fname": "Иван", "lname": "Петров", "phone": "7900" + ids, "email": "c" + ids + "@example.ru",
			"register_date": "2017-08-24 18:45:08"})
	}
	s.st.nextID["customer"] = n
	return s
}

// serve runs one request through the handler and fails on a success=0.
func serve(b *testing.B, s *Server, method, path string, p url.Values) []byte {
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequest(method, "/api"+path, strings.NewReader(p.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "/api"+path+"?"+p.Encode(), nil)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	body := w.Body.Bytes()
	if w.Code != http.StatusOK || !strings.Contains(string(body), `"success":1`) {
		b.Fatalf("%s %s: %d %.200s", method, path, w.Code, body)
	}
	return body
}

func BenchmarkCustomerPage(b *testing.B) {
	small, large := benchStore(b, benchSmall), benchStore(b, benchLarge)
	compareSizes(b, small, large, func(b *testing.B, s *Server, n, i int) {
		// Pages spread over the whole set, not only its head.
		page := 1 + (i*7919)%(n/1000)
		serve(b, s, http.MethodGet, PathCustomer, url.Values{"apikey": {"k"}, "format": {"json"},
			"page": {strconv.Itoa(page)}, "page_size": {"1000"}})
	})
}

func BenchmarkCustomerUpdate(b *testing.B) {
	small, large := benchStore(b, benchSmall), benchStore(b, benchLarge)
	for _, by := range []string{"id", "external_id"} {
		b.Run("by="+by, func(b *testing.B) {
			compareSizes(b, small, large, func(b *testing.B, s *Server, n, i int) {
				id := strconv.Itoa(1 + (i*7919)%n)
				p := url.Values{"apikey": {"k"}, "format": {"json"}, "fname": {"Пётр" + strconv.Itoa(i%2)}}
				if by == "id" {
					p.Set("id", id)
				} else {
					// Lenient: no id, found by external_id.
					p.Set("external_id", "ext-"+id)
				}
				body := serve(b, s, http.MethodPost, PathCustomerUpdate, p)
				if !strings.Contains(string(body), `"isnew":"0"`) {
					b.Fatalf("update of %s %s made a customer: %s", by, id, body)
				}
			})
		})
	}
}
