package onecapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testUser     = "Администратор"
	testPassword = "s3cr3t-Пароль-42"
	pubPath      = "/odata/standard.odata"
)

// newTestClient returns a client for srv with fast retries.
func newTestClient(t *testing.T, baseURL string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL:  baseURL + pubPath,
		User:     testUser,
		Password: testPassword,
		Timeout:  5 * time.Second,
		Retry:    Retry{MaxAttempts: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// checkAuth answers 401 unless the request carries the test credentials.
func checkAuth(w http.ResponseWriter, r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok || u != testUser || p != testPassword {
		w.Header().Set("WWW-Authenticate", `Basic realm="1C"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	return true
}

var guidRe = regexp.MustCompile(`guid'([0-9a-fA-F-]{36})'`)

// store is a tiny stateful 1C collection: rows in server order (as 1C
// orders by presentation, not by GUID), $top/$skip paging, and a filter that
// understands only "Ref_Key eq guid'..' or ..." (other filters match all).
type store struct {
	mu   sync.Mutex
	rows []Entity
	// afterSweepPage runs (under the lock) after sweep page n (1-based)
	// was rendered, to simulate writers in 1C between pages.
	afterSweepPage func(s *store, page int)
	sweepPages     int
	fetches        int
	uris           []string
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !checkAuth(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uris = append(s.uris, r.RequestURI)
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	filter := q.Get("$filter")
	var keys []string
	for _, m := range guidRe.FindAllStringSubmatch(filter, -1) {
		keys = append(keys, m[1])
	}
	var sel []Entity
	for _, e := range s.rows {
		if len(keys) == 0 || slices.Contains(keys, e.Key()) {
			sel = append(sel, e)
		}
	}
	total := len(sel)
	if strings.HasSuffix(r.URL.Path, "/$count") {
		_, _ = io.WriteString(w, strconv.Itoa(total))
		return
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	top, _ := strconv.Atoi(q.Get("$top"))
	if skip > len(sel) {
		skip = len(sel)
	}
	sel = sel[skip:]
	if top > 0 && top < len(sel) {
		sel = sel[:top]
	}
	out := make([]map[string]any, 0, len(sel))
	fields := q.Get("$select")
	for _, e := range sel {
		m := map[string]any{}
		for k, v := range e {
			if fields == "" || slices.Contains(splitComma(fields), k) {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	page := map[string]any{"odata.metadata": "http://x" + pubPath + "/$metadata#Catalog_Партнеры", "value": out}
	if q.Get("$inlinecount") == "allpages" {
		page["odata.count"] = strconv.Itoa(total) // Edm.Int64: a string
	}
	body, _ := json.Marshal(page)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(body)
	if len(keys) == 0 {
		s.sweepPages++
		if s.afterSweepPage != nil {
			s.afterSweepPage(s, s.sweepPages)
		}
	} else {
		s.fetches++
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func testKey(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i) }

func testRow(i int, version string) Entity {
	return Entity{"Ref_Key": testKey(i), "DataVersion": version, "DeletionMark": false,
		"Description": fmt.Sprintf("Партнёр №%d", i)}
}

func (s *store) versions() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	for _, e := range s.rows {
		m[e.Key()] = e.DataVersion()
	}
	return m
}

func (s *store) index(key string) int {
	return slices.IndexFunc(s.rows, func(e Entity) bool { return e.Key() == key })
}

func startStore(t *testing.T, s *store) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(pubPath+"/", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
