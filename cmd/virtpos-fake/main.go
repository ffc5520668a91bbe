// Command virtpos-fake serves the fake virtpos API (package
// internal/virtposapi/virtpostest) on a real listener, for demos and manual
// tests of virtsync:
//
//	virtpos-fake -listen 127.0.0.1:8081 -apikey KEY [-seed FILE] [-prefix /api]
//	             [-lenient-update] [-fault-... flags, see -help and README.md]
//
// The apikey may come from VIRTPOS_APIKEY instead of the flag. Without a
// seed the fake starts empty. Each request is logged with apikey=***. The
// -fault-* flags inject the faults of virtpostest.Faults, drawn from
// -fault-seed so that a run can be repeated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

func main() {
	m := NewMain(os.Stderr)
	if err := m.ParseFlags(os.Args[1:], os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "virtpos-fake:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "virtpos-fake:", err)
		os.Exit(1)
	}
}

// Main is the program, reusable from tests.
type Main struct {
	Listen string
	APIKey string
	Seed   string
	Prefix string
	// Lenient makes customer/update match by external_id without an id
	// (virtpostest.Options.MatchUpdateByExternalID).
	Lenient bool
	// Faults are injected from the start.
	Faults virtpostest.Faults

	out  io.Writer
	log  *slog.Logger
	addr chan net.Addr
}

// NewMain returns a Main logging text lines to out.
func NewMain(out io.Writer) *Main {
	return &Main{out: out, log: slog.New(slog.NewTextHandler(out, nil)), addr: make(chan net.Addr, 1)}
}

// ParseFlags reads the command line; getenv supplies VIRTPOS_APIKEY.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("virtpos-fake", flag.ContinueOnError)
	fs.SetOutput(m.out)
	fs.StringVar(&m.Listen, "listen", "127.0.0.1:8081", "address to listen on")
	fs.StringVar(&m.APIKey, "apikey", "", "API key to require (default $VIRTPOS_APIKEY)")
	fs.StringVar(&m.Seed, "seed", "", "JSON seed file (see virtpostest.Seed); empty starts empty")
	fs.StringVar(&m.Prefix, "prefix", "/api", "path prefix of the endpoints")
	fs.BoolVar(&m.Lenient, "lenient-update", false,
		"customer/update without id finds the customer by external_id (the seed documents a search by id only)")
	f := &m.Faults
	fs.Uint64Var(&f.Seed, "fault-seed", 1, "seed of every fault rate drawn (the same seed repeats the same faults)")
	var paths string
	fs.StringVar(&paths, "fault-paths", "", "comma-separated endpoint paths the faults apply to, e.g. /customer/update (default all)")
	rates := []struct {
		dst        *float64
		name, help string
	}{
		{&f.LostReplyRate, "fault-lost-reply-rate", "share of requests carried out, then answered by closing the connection"},
		{&f.SlowReplyRate, "fault-slow-reply-rate", "share of requests whose reply -fault-slow-reply delays (0: every request)"},
		{&f.ThrottleRate, "fault-429-rate", "share of requests answered 429 with Retry-After (not carried out)"},
		{&f.ErrorRate, "fault-500-rate", "share of requests answered 500 (not carried out)"},
		{&f.HTMLRate, "fault-html-rate", "share of requests answered with an HTML 502 page (not carried out)"},
		{&f.TruncateRate, "fault-truncate-rate", "share of requests carried out whose reply body is cut"},
	}
	for _, r := range rates {
		fs.Float64Var(r.dst, r.name, 0, r.help+"; 0..1")
	}
	fs.DurationVar(&f.SlowReply, "fault-slow-reply", 0, "delay of a slow reply, after the write is done")
	fs.DurationVar(&f.RetryAfter, "fault-retry-after", time.Second, "Retry-After sent with a 429")
	fs.DurationVar(&f.Latency, "fault-latency", 0, "delay before every request is carried out")
	fs.IntVar(&f.TruncateAfter, "fault-truncate-after", 0, "bytes of a cut body (0: a random point in the first 24 bytes)")
	fs.BoolVar(&f.InvalidKey, "fault-invalid-apikey", false, "answer every request as one with a wrong apikey, as after the key was revoked")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, r := range rates {
		if *r.dst < 0 || *r.dst > 1 {
			return fmt.Errorf("-%s %v: want a share between 0 and 1", r.name, *r.dst)
		}
	}
	for _, d := range []struct {
		v    time.Duration
		name string
	}{{f.SlowReply, "fault-slow-reply"}, {f.RetryAfter, "fault-retry-after"}, {f.Latency, "fault-latency"}} {
		if d.v < 0 {
			return fmt.Errorf("-%s %v: want a duration of 0 or more", d.name, d.v)
		}
	}
	if f.TruncateAfter < 0 {
		return fmt.Errorf("-fault-truncate-after %d: want 0 or more bytes", f.TruncateAfter)
	}
	if f.SlowReplyRate > 0 && f.SlowReply == 0 {
		return errors.New("-fault-slow-reply-rate needs -fault-slow-reply (the delay)")
	}
	for _, p := range strings.Split(paths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			f.Paths = append(f.Paths, "/"+strings.Trim(p, "/"))
		}
	}
	if m.APIKey == "" {
		m.APIKey = getenv("VIRTPOS_APIKEY")
	}
	if m.APIKey == "" {
		return errors.New("no apikey: pass -apikey or set VIRTPOS_APIKEY")
	}
	return nil
}

// Addr returns the address the server listens on, once Run has bound it.
func (m *Main) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-m.addr:
		m.addr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run serves until ctx ends, then shuts down gracefully.
func (m *Main) Run(ctx context.Context) error {
	srv := virtpostest.New(virtpostest.Options{APIKey: m.APIKey, Prefix: m.Prefix, Logger: m.log,
		MatchUpdateByExternalID: m.Lenient})
	defer srv.Close()
	srv.SetFaults(m.Faults)
	if m.Seed != "" {
		if err := srv.LoadSeedFile(m.Seed); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", m.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.addr <- ln.Addr()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	f := m.Faults
	m.log.Info("virtpos-fake listening", "addr", ln.Addr().String(), "prefix", m.Prefix, "seed", m.Seed,
		"lenient_update", m.Lenient, "fault_seed", f.Seed, "fault_paths", strings.Join(f.Paths, ","),
		"lost_reply_rate", f.LostReplyRate, "slow_reply", f.SlowReply, "slow_reply_rate", f.SlowReplyRate,
		"429_rate", f.ThrottleRate, "500_rate", f.ErrorRate, "html_rate", f.HTMLRate,
		"truncate_rate", f.TruncateRate, "latency", f.Latency, "invalid_apikey", f.InvalidKey)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Close() // release hanging requests so Shutdown can finish
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.log.Info("virtpos-fake stopped")
	return nil
}
