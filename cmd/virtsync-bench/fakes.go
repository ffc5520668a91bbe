package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// The fakes' credentials; nothing real is ever behind them.
const (
	virtposKey   = "bench-apikey"
	onecUser     = "bench"
	onecPassword = "bench"
	virtposPath  = "/api"
)

// counter counts requests per endpoint as they arrive, so that a phase's
// calls are read from the wire and not from what either side reports.
type counter struct {
	mu sync.Mutex
	n  callCounts
}

func newCounter() *counter { return &counter{n: callCounts{}} }

func (c *counter) add(key string) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
}

// take returns the counts since the last take and starts afresh.
func (c *counter) take() callCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = callCounts{}
	return out
}

// peek returns a copy of the counts so far, for progress lines.
func (c *counter) peek() callCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// wrap counts every request h gets under system, method and the endpoint
// that label derives from the path.
func (c *counter) wrap(system string, label func(path string) string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.add(system + " " + r.Method + " " + label(r.URL.Path))
		h.ServeHTTP(w, r)
	})
}

// onecEndpoint names a 1C request by its entity set, without the key
// (Catalog_Партнеры(guid'…') counts as Catalog_Партнеры), keeping $count
// and $metadata apart because they cost differently.
func onecEndpoint(path string) string {
	rest, ok := strings.CutPrefix(path, onectest.PublicationPath)
	if !ok {
		return path
	}
	head, tail, _ := strings.Cut(rest, "/")
	if i := strings.IndexByte(head, '('); i > 0 {
		head = head[:i] + "(key)"
	}
	if tail != "" {
		return head + "/" + tail
	}
	return head
}

// virtposEndpoint names a virtpos request by its path below the API root.
func virtposEndpoint(path string) string {
	if p, ok := strings.CutPrefix(path, virtposPath); ok && p != "" {
		return p
	}
	return path
}

// served is an HTTP server on a free loopback port.
type served struct {
	srv  *http.Server
	addr string
}

func serve(h http.Handler) (*served, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s := &served{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String()}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *served) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// onecFake is the 1C fake loaded with the demo base, served and counted.
type onecFake struct {
	fake      *onectest.Server
	http      *served
	customers int // client partners: what virtsync syncs
	cards     int
}

// startOneC builds the demo base of n partners and n cards straight into
// the fake (a million-record seed is never held as objects) and serves it.
// What virtsync should sync is then counted from 1C's own answers.
func startOneC(ctx context.Context, n int, calls *counter, sets synced) (*onecFake, error) {
	f := &onecFake{fake: onectest.New(onectest.Options{User: onecUser, Password: onecPassword})}
	if err := f.fake.LoadDemo(n, n, 3, 1); err != nil {
		return nil, fmt.Errorf("load the 1C demo base of %d partners: %w", n, err)
	}
	var err error
	if f.http, err = serve(calls.wrap(sysOneC, onecEndpoint, f.fake.Handler())); err != nil {
		return nil, err
	}
	if err := f.census(ctx, sets); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// census counts the client partners and the cards by reading every
// partner's Клиент flag, not through the profile's filter: the check after
// each load then compares the filtered listing against an independent
// figure.
func (f *onecFake) census(ctx context.Context, sets synced) error {
	reader := newBareClient(f.url(), "", 1, sets)
	err := reader.page(ctx, sets.partners, "", "Ref_Key,Клиент", func(dec *json.Decoder) error {
		var p struct {
			Client bool `json:"Клиент"`
		}
		if err := dec.Decode(&p); err != nil {
			return err
		}
		if p.Client {
			f.customers++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count the 1C partners: %w", err)
	}
	err = reader.page(ctx, sets.cards, "", "Ref_Key", func(dec *json.Decoder) error {
		f.cards++
		var k keyRow
		return dec.Decode(&k)
	})
	if err != nil {
		return fmt.Errorf("count the 1C cards: %w", err)
	}
	return nil
}

func (f *onecFake) url() string {
	return "http://" + f.http.addr + strings.TrimSuffix(onectest.PublicationPath, "/")
}

func (f *onecFake) close() { f.http.close() }

// virtposFake is an empty virtpos fake, served and counted, every call
// delayed by latency.
type virtposFake struct {
	fake *virtpostest.Server
	http *served
}

func startVirtpos(latency time.Duration, calls *counter) (*virtposFake, error) {
	f := &virtposFake{fake: virtpostest.New(virtpostest.Options{APIKey: virtposKey, Prefix: virtposPath})}
	if latency > 0 {
		f.fake.SetFaults(virtpostest.Faults{Latency: latency})
	}
	var err error
	if f.http, err = serve(calls.wrap(sysVirtpos, virtposEndpoint, f.fake)); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *virtposFake) url() string { return "http://" + f.http.addr + virtposPath }

func (f *virtposFake) close() {
	f.fake.Close()
	f.http.close()
}

// writes is how many of calls changed 1C (anything but a GET): a phase
// that wrote to 1C leaves a base the next phase must not reuse.
func writes(calls callCounts) int64 {
	return calls.system(sysOneC) - calls.system(sysOneC+" GET")
}
