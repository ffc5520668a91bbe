package onecapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

const benchRecords = 100_000

// benchServer serves benchRecords sweep rows, generated on the fly, paged
// by $top/$skip, in 1C's shape.
func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/$count") {
			_, _ = io.WriteString(w, strconv.Itoa(benchRecords))
			return
		}
		q := r.URL.Query()
		top, _ := strconv.Atoi(q.Get("$top"))
		skip, _ := strconv.Atoi(q.Get("$skip"))
		end := min(skip+top, benchRecords)
		var sb strings.Builder
		sb.Grow(top * 110)
		sb.WriteString(`{"odata.metadata":"http://1c/odata/standard.odata/$metadata#Catalog_Партнеры",`)
		if q.Get("$inlinecount") == "allpages" {
			sb.WriteString(`"odata.count":"` + strconv.Itoa(benchRecords) + `",`)
		}
		sb.WriteString(`"value":[`)
		for i := skip; i < end; i++ {
			if i > skip {
				sb.WriteByte(',')
			}
			sb.WriteString(`{"Ref_Key":"`)
			sb.WriteString(testKey(i))
			sb.WriteString(`","DataVersion":"AAAAAQAAAAA=","DeletionMark":false}`)
		}
		sb.WriteString(`]}`)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, sb.String())
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkSweep: a no-change sweep of 100k records through the client.
func BenchmarkSweep(b *testing.B) {
	srv := benchServer(b)
	c, err := New(Config{BaseURL: srv.URL + pubPath, User: testUser, Password: testPassword})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.Sweep(b.Context(), "Catalog_Партнеры", "")
		if err != nil {
			b.Fatal(err)
		}
		if len(v) != benchRecords {
			b.Fatalf("got %d", len(v))
		}
	}
}

// BenchmarkSweepBaseline reads the same pages with a bare http.Get and a
// json.Decoder.Token loop, collecting the same map.
func BenchmarkSweepBaseline(b *testing.B) {
	srv := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		v := make(map[string]string)
		for skip := 0; ; skip += 1000 {
			resp, err := http.Get(srv.URL + pubPath + "/Catalog?$top=1000&$skip=" + strconv.Itoa(skip))
			if err != nil {
				b.Fatal(err)
			}
			n, err := baselinePage(resp.Body, v)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			if n < 1000 {
				break
			}
		}
		if len(v) != benchRecords {
			b.Fatalf("got %d", len(v))
		}
	}
}

func baselinePage(r io.Reader, v map[string]string) (int, error) {
	dec := json.NewDecoder(r)
	n, depth := 0, 0
	expectKey := false
	var key, ref, ver string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
				expectKey = depth == 3
			case '}', ']':
				if d == '}' && depth == 3 {
					v[ref] = ver
					n++
				}
				depth--
			}
			continue
		}
		if depth != 3 {
			continue
		}
		if expectKey {
			key, _ = tok.(string)
			expectKey = false
			continue
		}
		switch key {
		case "Ref_Key":
			ref, _ = tok.(string)
		case "DataVersion":
			ver, _ = tok.(string)
		}
		expectKey = true
	}
}
