// Command virtpos-fake serves the fake virtpos API (package
// internal/virtpos/virtpostest) on a real listener, for demos and manual
// tests of virtsync:
//
//	virtpos-fake -listen 127.0.0.1:8081 -apikey KEY [-seed FILE] [-prefix /api]
//
// The apikey may come from VIRTPOS_APIKEY instead of the flag. Without a
// seed the fake starts empty. Each request is logged with apikey=***.
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
	"syscall"
	"time"

	"github.com/virtsync/virtsync/internal/virtpos/virtpostest"
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
	if err := fs.Parse(args); err != nil {
		return err
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
	srv := virtpostest.New(virtpostest.Options{APIKey: m.APIKey, Prefix: m.Prefix, Logger: m.log})
	defer srv.Close()
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
	m.log.Info("virtpos-fake listening", "addr", ln.Addr().String(), "prefix", m.Prefix, "seed", m.Seed)
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
