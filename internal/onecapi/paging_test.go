package onecapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/virtsync/virtsync/internal/syncbuf"
)

// pageServer is a stand-in publication whose pages come from page(skip,
// top); it counts requests and answers /$count with count.
type pageServer struct {
	page      func(skip, top int) []Entity
	count     int  // odata.count and /$count; -1 leaves both out
	noInline  bool // ignore $inlinecount
	requests  atomic.Int32
	countAsks atomic.Int32
}

func (p *pageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if strings.HasSuffix(r.URL.Path, "/$count") {
		p.countAsks.Add(1)
		_, _ = io.WriteString(w, strconv.Itoa(p.count))
		return
	}
	q := r.URL.Query()
	skip, _ := strconv.Atoi(q.Get("$skip"))
	top, _ := strconv.Atoi(q.Get("$top"))
	out := map[string]any{"odata.metadata": "http://x" + pubPath + "/$metadata#Catalog_Партнеры", "value": p.page(skip, top)}
	if q.Get("$inlinecount") == "allpages" && !p.noInline && p.count >= 0 {
		out["odata.count"] = strconv.Itoa(p.count)
	}
	_ = json.NewEncoder(w).Encode(out)
}

func rows(from, n int) []Entity {
	out := make([]Entity, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, testRow(i, "v1"))
	}
	return out
}

// TestPagingIsBounded: a publication whose pages do not add up stops the
// listing with an error that says what it did, after a bounded number of
// requests, for List and for Sweep alike.
func TestPagingIsBounded(t *testing.T) {
	tests := []struct {
		name         string
		srv          *pageServer
		wantErr      string
		maxRequests  int32
		wantCountAsk bool
	}{
		{
			name:        "a 1C that ignores $skip stops at the second page",
			srv:         &pageServer{count: 9, page: func(skip, top int) []Entity { return rows(0, top) }},
			wantErr:     "1C returned the same 3 keys at $skip=3 as at $skip=0: the publication seems to ignore $skip",
			maxRequests: 2,
		},
		{
			name: "a full page of keys already seen stops",
			srv: &pageServer{count: 9, page: func(skip, top int) []Entity {
				if skip == 0 {
					return rows(0, top)
				}
				return []Entity{testRow(2, "v1"), testRow(0, "v1"), testRow(1, "v1")} // page 1 shuffled
			}},
			wantErr: "the page at $skip=3 has 3 keys and every one was on an earlier page",
			// A page's keys are remembered while the next page is fetched,
			// so the stop comes at most one request later.
			maxRequests: 3,
		},
		{
			name:        "endless full pages of new keys stop past twice the count plus two pages",
			srv:         &pageServer{count: 5, page: func(skip, top int) []Entity { return rows(skip, top) }},
			wantErr:     "1C sent 18 rows by $skip=18, but counted 5",
			maxRequests: 6,
		},
		{
			name:         "without odata.count the collection is counted once by /$count",
			srv:          &pageServer{count: 5, noInline: true, page: func(skip, top int) []Entity { return rows(skip, top) }},
			wantErr:      "but counted 5",
			maxRequests:  7,
			wantCountAsk: true,
		},
	}
	calls := []struct {
		name string
		call func(context.Context, *Client) error
	}{
		{"list", listCall},
		{"sweep", func(ctx context.Context, c *Client) error {
			_, err := c.Sweep(ctx, "Catalog_Партнеры", "")
			return err
		}},
	}
	for _, tt := range tests {
		for _, call := range calls {
			t.Run(tt.name+" ("+call.name+")", func(t *testing.T) {
				tt.srv.requests.Store(0)
				tt.srv.countAsks.Store(0)
				srv := httptest.NewServer(tt.srv)
				defer srv.Close()
				c := newTestClient(t, srv.URL, func(c *Config) { c.PageSize = 3; c.MinPageSize = 1 })
				err := call.call(t.Context(), c)
				var pe *PagingError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "Catalog_Партнеры") {
					t.Fatalf("err = %v, want a *PagingError naming the entity and saying %q", err, tt.wantErr)
				}
				if n := tt.srv.requests.Load(); n > tt.maxRequests {
					t.Fatalf("%d requests, want at most %d", n, tt.maxRequests)
				}
				if asked := tt.srv.countAsks.Load() == 1; asked != tt.wantCountAsk {
					t.Fatalf("/$count asked %d times", tt.srv.countAsks.Load())
				}
			})
		}
	}
}

// TestPagingToleratesWhatRealWritersDo: rows shifted by inserts, a count
// that grows while paging, and a page retried after a truncated body are
// not paging faults.
func TestPagingToleratesWhatRealWritersDo(t *testing.T) {
	tests := []struct {
		name string
		srv  *pageServer
		want int
	}{
		{
			name: "an insert before the offset repeats one row of a page",
			srv: &pageServer{count: 6, page: func(skip, top int) []Entity {
				switch skip {
				case 0:
					return rows(0, 3)
				case 3:
					return rows(2, 3) // row 2 again, then 3 and 4
				}
				return rows(0, 0)
			}},
			want: 5,
		},
		{
			name: "inserts during the read push it past the count",
			srv: &pageServer{count: 3, page: func(skip, top int) []Entity {
				if skip >= 9 {
					return rows(0, 0)
				}
				return rows(skip, top)
			}},
			want: 9,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.srv)
			defer srv.Close()
			c := newTestClient(t, srv.URL, func(c *Config) { c.PageSize = 3; c.MinPageSize = 1 })
			n := 0
			if err := c.List(t.Context(), Query{Entity: "Catalog_Партнеры"}, func(Entity) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Fatalf("listed %d, want %d", n, tt.want)
			}
		})
	}
}

// A page whose body was cut after its last row is asked again; the keys it
// delivered count as new to the retried page, which is no paging fault.
func TestPagingRetriedPageIsNotARepeat(t *testing.T) {
	var cut atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/$count") {
			_, _ = io.WriteString(w, "6")
			return
		}
		q := r.URL.Query()
		skip, _ := strconv.Atoi(q.Get("$skip"))
		top, _ := strconv.Atoi(q.Get("$top"))
		body, _ := json.Marshal(map[string]any{"value": rows(skip, min(top, max(0, 6-skip)))})
		if skip == 3 && cut.CompareAndSwap(false, true) {
			body = body[:len(body)-2] // "]}" lost
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, func(c *Config) { c.PageSize = 3; c.MinPageSize = 3 })
	var keys []string
	if err := c.List(t.Context(), Query{Entity: "Catalog_Партнеры"}, func(e Entity) error { keys = append(keys, e.Key()); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 || !cut.Load() {
		t.Fatalf("listed %d keys (cut %v), want 6 each once", len(keys), cut.Load())
	}
}

// TestResponseSizeIsBounded: an answer over the size limit fails naming
// the entity and the $skip, whether it is big or an endless stream of
// whitespace; a page is first asked again smaller.
func TestResponseSizeIsBounded(t *testing.T) {
	const limit = 4 << 10
	big := strings.Repeat("Я", limit)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func(context.Context, *Client) error
		wantErr string
	}{
		{
			name: "a page of big rows is retried smaller, then fails",
			handler: func(w http.ResponseWriter, r *http.Request) {
				top, _ := strconv.Atoi(r.URL.Query().Get("$top"))
				var rs []Entity
				for i := range top {
					rs = append(rs, Entity{"Ref_Key": testKey(i), "Description": big})
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"value": rs})
			},
			call:    listCall,
			wantErr: "list Catalog_Партнеры: the answer at $skip=0 (page size 1) is over 4096 bytes",
		},
		{
			name: "an endless whitespace body stops",
			handler: func(w http.ResponseWriter, r *http.Request) {
				chunk := []byte(strings.Repeat(" ", 1024))
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
			call:    listCall,
			wantErr: "the answer at $skip=0",
		},
		{
			name: "a create answer over the limit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"Ref_Key":"`+testKey(1)+`","Комментарий":"`+big+`"}`)
			},
			call:    createCall,
			wantErr: "create Document_ЗаказКлиента",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := newTestClient(t, srv.URL, func(c *Config) { c.PageSize = 4; c.MinPageSize = 1; c.Retry.MaxAttempts = 4 })
			c.maxBody = limit
			err := tt.call(t.Context(), c)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrTooLarge saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestLongSweepIsVisible: a debug line every pagingLogEvery pages, not one
// per page.
func TestLongSweepIsVisible(t *testing.T) {
	srv := httptest.NewServer(&pageServer{count: 50, page: func(skip, top int) []Entity { return rows(skip, min(top, max(0, 50-skip))) }})
	defer srv.Close()
	var logs syncbuf.Buffer
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.PageSize = 2
		c.MinPageSize = 1
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if _, err := c.Sweep(t.Context(), "Catalog_Партнеры", ""); err != nil {
		t.Fatal(err)
	}
	// 26 pages (the last one empty): lines at pages 10 and 20.
	if n := strings.Count(logs.String(), `msg="onec: paging"`); n != 2 {
		t.Fatalf("%d paging lines, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "rows=40 counted=50") {
		t.Fatalf("paging line does not say how far it got:\n%s", logs.String())
	}
}
