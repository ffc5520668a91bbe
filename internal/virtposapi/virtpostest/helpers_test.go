package virtpostest

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock of every test server: orders "days" filters and
// generated dates depend on it.
var fixedNow = time.Date(2017, 8, 30, 12, 0, 0, 0, time.FixedZone("MSK", 3*3600))

func newTestServer(t *testing.T) *Server {
	t.Helper()
	return NewServer(t, Options{APIKey: "s3cret", Now: func() time.Time { return fixedNow }})
}

// call makes one raw request, GET with a query or POST with a form, adding
// the apikey unless params already carry one.
func call(t *testing.T, s *Server, method, path string, params url.Values) (int, http.Header, string) {
	t.Helper()
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	if _, ok := p["apikey"]; !ok {
		p.Set("apikey", s.APIKey())
	}
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, s.URL+path, strings.NewReader(p.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, s.URL+path+"?"+p.Encode(), nil)
	}
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// result is the flat answer of the write calls, in either format.
type result struct {
	Success string `xml:"success"`
	Info    string `xml:"info"`
	ID      string `xml:"id"`
	IsNew   string `xml:"isnew"`
}

func decodeResult(t *testing.T, format, body string) result {
	t.Helper()
	var r result
	if format == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("json body %q: %v", body, err)
		}
		str := func(k string) string {
			switch v := m[k].(type) {
			case string:
				return v
			case float64:
				return jsonNum(v)
			}
			return ""
		}
		return result{Success: str("success"), Info: str("info"), ID: str("id"), IsNew: str("isnew")}
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("xml body %q: %v", body, err)
	}
	return r
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
