package virtposapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// seedN gives the fake n customers with external ids ext-0 .. ext-(n-1).
func seedN(t *testing.T, srv *virtpostest.Server, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"customers":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"external_id":"ext-%d","lname":"Покупатель"}`, i)
	}
	b.WriteString(`]}`)
	if err := srv.LoadSeed(strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
}

// Every customer is delivered once, a page at a time, in as many calls as
// there are pages plus the short (possibly empty) page that ends it.
func TestListCustomersPagesEverything(t *testing.T) {
	eachCombo(t, func(t *testing.T, format, method string) {
		for _, tc := range []struct{ n, size, calls int }{
			{n: 0, size: 3, calls: 1},
			{n: 7, size: 3, calls: 3},
			{n: 6, size: 3, calls: 3}, // the third page is empty
			{n: 12, size: 0, calls: 1},
		} {
			e := newFakeEnv(t, format, method, nil)
			seedN(t, e.srv, tc.n)
			seen := map[string]int{}
			pages := 0
			err := e.check(e.c.ListCustomers(context.Background(), tc.size, func(cs []virtposapi.Customer) error {
				pages++
				if tc.size > 0 && len(cs) > tc.size {
					t.Errorf("a page of %d for page_size %d", len(cs), tc.size)
				}
				for _, c := range cs {
					seen[c.ExternalID]++
				}
				return nil
			}))
			if err != nil {
				t.Fatalf("n=%d size=%d: %v", tc.n, tc.size, err)
			}
			if len(seen) != tc.n {
				t.Fatalf("n=%d size=%d: %d customers delivered", tc.n, tc.size, len(seen))
			}
			for ext, k := range seen {
				if k != 1 {
					t.Fatalf("%s delivered %d times", ext, k)
				}
			}
			if got := e.requests(virtpostest.PathCustomer); got != tc.calls {
				t.Fatalf("n=%d size=%d: %d calls, want %d", tc.n, tc.size, got, tc.calls)
			}
			if n, err := e.c.CustomerCount(context.Background()); err != nil || n != tc.n {
				t.Fatalf("CustomerCount = %d, %v; want %d", n, err, tc.n)
			}
		}
	})
}

// pager is a scripted GET /customer: page(page, size) returns the ids of
// that page and the count to report (-1: none; -2 with no ids: answer
// "not found" as success=0). It records the page_size of every request.
type pager struct {
	page  func(page, size int) (ids []int, count int)
	mu    sync.Mutex
	sizes []int
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.FormValue("page"))
	size, _ := strconv.Atoi(r.FormValue("page_size"))
	p.mu.Lock()
	p.sizes = append(p.sizes, size)
	p.mu.Unlock()
	ids, count := p.page(page, size)
	if ids == nil && count == -2 {
		fmt.Fprint(w, `{"success":0,"info":"Покупатели не найдены"}`)
		return
	}
	cs := make([]map[string]string, len(ids))
	for i, id := range ids {
		cs[i] = map[string]string{"id": strconv.Itoa(id), "external_id": fmt.Sprintf("ext-%d", id)}
	}
	reply := map[string]any{"success": 1, "customers": cs}
	if count >= 0 {
		reply["count"] = strconv.Itoa(count)
	}
	_ = json.NewEncoder(w).Encode(reply)
}

// rows returns ids lo+1 .. min(hi, total).
func rows(lo, hi, total int) []int {
	var out []int
	for id := lo + 1; id <= min(hi, total); id++ {
		out = append(out, id)
	}
	return out
}

// honest pages total customers as asked.
func honest(total int) func(page, size int) ([]int, int) {
	return func(page, size int) ([]int, int) { return rows((page-1)*size, page*size, total), total }
}

func TestListCustomersPagingThatDoesNotAddUp(t *testing.T) {
	tests := []struct {
		name     string
		page     func(page, size int) ([]int, int)
		wantPage int
		wantErr  string
	}{
		{name: "page ignored", page: func(page, size int) ([]int, int) { return rows(0, size, 10), 10 },
			wantPage: 2, wantErr: "same 3 customers as page 1: virtpos seems to ignore page"},
		{name: "page_size ignored", page: func(page, size int) ([]int, int) { return rows((page-1)*5, page*5, 10), 10 },
			wantPage: 1, wantErr: "page 1 has 5 customers for page_size 3: virtpos does not honour page_size"},
		{name: "the count is the page's", page: func(page, size int) ([]int, int) { return rows((page-1)*size, page*size, 10), size },
			wantPage: 2, wantErr: "virtpos has sent 6 customers by page 2 but counts 3 (3 at the first count): its count is not the total"},
		{name: "customers deleted while listing", page: func(page, size int) ([]int, int) {
			if page == 1 {
				return rows(0, 3, 10), 10
			}
			return rows((page-1)*size+1, page*size+1, 10), 9
		}, wantPage: 2, wantErr: "virtpos counted 10 customers up to page 1 and 9 at page 2: customers were deleted while listing"},
		{name: "a short page before the count", page: func(page, size int) ([]int, int) {
			if page == 2 {
				return rows(3, 4, 10), 10
			}
			return rows((page-1)*size, page*size, 10), 10
		}, wantPage: 2, wantErr: "page 2 has 1 customers for page_size 3, yet virtpos counts 10 and sent 4: paging stopped short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&pager{page: tc.page})
			defer srv.Close()
			c := jsonClient(t, srv.URL)
			err := c.ListCustomers(context.Background(), 3, func([]virtposapi.Customer) error { return nil })
			var pe *virtposapi.PagingError
			if !errors.As(err, &pe) || pe.Page != tc.wantPage || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want a *PagingError at page %d saying %q", err, tc.wantPage, tc.wantErr)
			}
		})
	}
}

// jsonClient is a client of a scripted server.
func jsonClient(t *testing.T, base string) *virtposapi.Client {
	t.Helper()
	c, err := virtposapi.New(virtposapi.Config{BaseURL: base, APIKey: "k", Format: "json",
		Retry: virtposapi.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListCustomersEndsWell(t *testing.T) {
	tests := []struct {
		name      string
		page      func(page, size int) ([]int, int)
		size      int
		want      int
		wantSizes []int
	}{
		{name: "a server that caps page_size goes on at its size",
			page: func(page, size int) ([]int, int) {
				size = min(size, 4)
				return rows((page-1)*size, page*size, 10), 10
			}, size: 100, want: 10, wantSizes: []int{100, 4, 4}},
		{name: "a page past the end answered not found",
			page: func(page, size int) ([]int, int) {
				if page > 2 {
					return nil, -2
				}
				return honest(6)(page, size)
			}, size: 3, want: 6, wantSizes: []int{3, 3, 3}},
		{name: "no count: the first short page ends it",
			page: func(page, size int) ([]int, int) { ids, _ := honest(7)(page, size); return ids, -1 },
			size: 3, want: 7, wantSizes: []int{3, 3, 3}},
		{name: "customers added while listing repeat a row and are listed",
			page: func(page, size int) ([]int, int) {
				// One added before page 2 shifts it by one (id 3 again).
				if page == 1 {
					return rows(0, 3, 7), 7
				}
				return rows((page-1)*size-1, page*size-1, 8), 8
			}, size: 3, want: 8, wantSizes: []int{3, 3, 3, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pager{page: tc.page}
			srv := httptest.NewServer(p)
			defer srv.Close()
			c := jsonClient(t, srv.URL)
			seen := map[string]bool{}
			err := c.ListCustomers(context.Background(), tc.size, func(cs []virtposapi.Customer) error {
				for _, cu := range cs {
					seen[cu.ID] = true
				}
				return nil
			})
			if err != nil || len(seen) != tc.want {
				t.Fatalf("err = %v, %d distinct customers; want %d", err, len(seen), tc.want)
			}
			if fmt.Sprint(p.sizes) != fmt.Sprint(tc.wantSizes) {
				t.Fatalf("page_size asked %v, want %v", p.sizes, tc.wantSizes)
			}
		})
	}
}

// An error from fn stops the listing at once and comes back unchanged.
func TestListCustomersStopsOnCallbackError(t *testing.T) {
	p := &pager{page: honest(10)}
	srv := httptest.NewServer(p)
	defer srv.Close()
	c := jsonClient(t, srv.URL)
	stop := errors.New("enough")
	err := c.ListCustomers(context.Background(), 3, func([]virtposapi.Customer) error { return stop })
	if err != stop || len(p.sizes) != 1 {
		t.Fatalf("err = %v after %d calls; want the callback's error after 1", err, len(p.sizes))
	}
}

func TestCustomerCount(t *testing.T) {
	tests := []struct {
		name    string
		page    func(page, size int) ([]int, int)
		want    int
		wantErr bool
	}{
		{name: "counted", page: honest(42), want: 42},
		{name: "empty", page: honest(0), want: 0},
		{name: "not found", page: func(int, int) ([]int, int) { return nil, -2 }, want: 0},
		{name: "no count", page: func(int, int) ([]int, int) { return []int{1}, -1 }, want: -1},
		{name: "a count of 0 beside a customer", page: func(int, int) ([]int, int) { return []int{1}, 0 }, want: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pager{page: tc.page}
			srv := httptest.NewServer(p)
			defer srv.Close()
			c := jsonClient(t, srv.URL)
			n, err := c.CustomerCount(context.Background())
			if err != nil || n != tc.want {
				t.Fatalf("CustomerCount = %d, %v; want %d", n, err, tc.want)
			}
			if fmt.Sprint(p.sizes) != "[1]" {
				t.Fatalf("page_size asked %v, want one call of 1", p.sizes)
			}
		})
	}
	t.Run("a server that fails", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}))
		defer srv.Close()
		c := jsonClient(t, srv.URL)
		n, err := c.CustomerCount(context.Background())
		if err == nil || n != -1 || !virtposapi.IsTransient(err) || !strings.Contains(err.Error(), "virtpos: count customers") {
			t.Fatalf("CustomerCount = %d, %v; want -1 and a transient error", n, err)
		}
	})
}
