package onectest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks below put each request to a fake of 10,000 partners and to
// one of 1,000,000, alternating, and report the cost of each and their
// ratio: a page of a sweep or a fetch by keys must cost the same whatever
// the size of the set, so that a benchmark of virtsync measures virtsync.
// Alternating keeps a shared, noisy machine and the garbage collector
// (both fakes live in one heap) from favouring either size.
const benchSmall, benchLarge = 10_000, 1_000_000

// benchFake loads n demo partners (and their counterparties).
func benchFake(b *testing.B, n int) *Server {
	b.Helper()
	s := New(Options{User: "u", Password: "p"})
	if err := s.LoadDemo(n, 0, 1, 1); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchGet runs one GET through the handler and returns the body.
func benchGet(b *testing.B, s *Server, entity string, q url.Values) []byte {
	req := httptest.NewRequest(http.MethodGet, "http://fake"+PublicationPath+url.PathEscape(entity)+"?"+q.Encode(), nil)
	req.SetBasicAuth("u", "p")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s?%s: %d %.300s", entity, q.Encode(), w.Code, w.Body.Bytes())
	}
	return w.Body.Bytes()
}

// compareSizes runs call(s, n, i) alternately on small and large for b.N
// rounds, after one round of warm-up, and reports ns per call of each and
// large/small.
func compareSizes(b *testing.B, small, large *Server, call func(b *testing.B, s *Server, n, i int)) {
	b.Helper()
	call(b, small, benchSmall, 0)
	call(b, large, benchLarge, 0)
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

// sweepQuery is a page of virtsync's change-detection sweep.
func sweepQuery(skip int) url.Values {
	return url.Values{"$format": {"json"}, "$select": {"Ref_Key,DataVersion,DeletionMark"}, "$orderby": {"Ref_Key"},
		"$top": {"1000"}, "$skip": {strconv.Itoa(skip)}, "$inlinecount": {"allpages"}, "allowedOnly": {"true"}}
}

func BenchmarkSweepPage(b *testing.B) {
	small, large := benchFake(b, benchSmall), benchFake(b, benchLarge)
	compareSizes(b, small, large, func(b *testing.B, s *Server, n, i int) {
		// Pages spread over the whole set, not only its head.
		benchGet(b, s, SetPartners, sweepQuery(1000*((i*7919)%(n/1000))))
	})
}

func BenchmarkFetchByKeys(b *testing.B) {
	small, large := benchFake(b, benchSmall), benchFake(b, benchLarge)
	keys := map[*Server][]string{}
	for _, s := range []*Server{small, large} {
		es := s.sets[SetPartners]
		for _, seq := range es.live() {
			keys[s] = append(keys[s], es.rec(seq).key.String())
		}
	}
	compareSizes(b, small, large, func(b *testing.B, s *Server, n, i int) {
		// A batch of 100 keys, as the client fetches changed records.
		var f strings.Builder
		for j := range 100 {
			if j > 0 {
				f.WriteString(" or ")
			}
			f.WriteString("Ref_Key eq guid'" + keys[s][(i*100+j)*7919%n] + "'")
		}
		body := benchGet(b, s, SetPartners, url.Values{"$format": {"json"}, "$filter": {f.String()},
			"$orderby": {"Ref_Key"}, "$top": {"101"}})
		var page struct{ Value []json.RawMessage }
		if err := json.Unmarshal(body, &page); err != nil || len(page.Value) != 100 {
			b.Fatalf("fetch of 100 keys gave %d records (%v)", len(page.Value), err)
		}
	})
}

// BenchmarkPageAfterWrite is the price of a write between two pages (as
// the churn fault makes): the next page sorts the set again. It grows with
// the set, as n log n.
func BenchmarkPageAfterWrite(b *testing.B) {
	small, large := benchFake(b, benchSmall), benchFake(b, benchLarge)
	compareSizes(b, small, large, func(b *testing.B, s *Server, n, i int) {
		es := s.sets[SetPartners]
		r := es.rec(es.order[(i*7919)%n])
		if _, err := s.Update(SetPartners, r.key.String(), Object{"Комментарий": strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
		benchGet(b, s, SetPartners, sweepQuery(1000*((i*7919)%(n/1000))))
	})
}

// BenchmarkBareSweep is what a complete no-change sweep of the fake costs a
// plain Go client over loopback HTTP (pages of 1000, each decoded): the
// floor under virtsync's own sweep. Run it with -benchtime 1x; one op is a
// sweep.
func BenchmarkBareSweep(b *testing.B) {
	for _, n := range []int{100_000, benchLarge} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			s := benchFake(b, n)
			hs := httptest.NewServer(s)
			defer hs.Close()
			base := hs.URL + PublicationPath + url.PathEscape(SetPartners) + "?"
			b.ResetTimer()
			for b.Loop() {
				seen := 0
				for skip := 0; ; skip += 1000 {
					req, _ := http.NewRequest(http.MethodGet, base+sweepQuery(skip).Encode(), nil)
					req.SetBasicAuth("u", "p")
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					var page struct {
						Count string `json:"odata.count"`
						Value []struct {
							RefKey       string `json:"Ref_Key"`
							DataVersion  string
							DeletionMark bool
						} `json:"value"`
					}
					err = json.NewDecoder(res.Body).Decode(&page)
					res.Body.Close()
					if err != nil || res.StatusCode != http.StatusOK {
						b.Fatalf("page at %d: %d %v", skip, res.StatusCode, err)
					}
					seen += len(page.Value)
					if len(page.Value) < 1000 {
						break
					}
				}
				if seen != n {
					b.Fatalf("swept %d partners, want %d", seen, n)
				}
			}
			b.ReportMetric(float64(n), "records/sweep")
		})
	}
}
