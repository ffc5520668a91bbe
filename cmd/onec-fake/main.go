// Command onec-fake serves a fake 1C:Enterprise OData publication
// (/odata/standard.odata/, УТ 11 profile) for demos and manual testing.
//
//	onec-fake -listen 127.0.0.1:8082 -user U -password P [-seed FILE]
//
// Without -seed it serves onectest.DemoSeed. SIGINT/SIGTERM shut it down
// gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/virtsync/virtsync/internal/onec/onectest"
)

// Main is the program: ParseFlags, then Run.
type Main struct {
	Listen, User, Password, SeedFile string
	Customers, Cards, Kinds          int
	RandSeed                         int64
	// Logger gets the start-up line and one line per request; nil discards.
	Logger *slog.Logger
	// Ready, when set, receives the bound address once listening (tests
	// use -listen 127.0.0.1:0).
	Ready chan<- string
}

// ParseFlags fills m from command-line arguments.
func (m *Main) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("onec-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&m.Listen, "listen", "127.0.0.1:8082", "address to listen on")
	fs.StringVar(&m.User, "user", "", "infobase user for HTTP Basic auth")
	fs.StringVar(&m.Password, "password", "", "password for HTTP Basic auth")
	fs.StringVar(&m.SeedFile, "seed", "", "JSON seed file (default: built-in demo data)")
	fs.IntVar(&m.Customers, "demo-customers", 50, "demo seed: number of partners")
	fs.IntVar(&m.Cards, "demo-cards", 40, "demo seed: number of loyalty cards")
	fs.IntVar(&m.Kinds, "demo-kinds", 3, "demo seed: number of card kinds")
	fs.Int64Var(&m.RandSeed, "demo-rand", 1, "demo seed: random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if m.User == "" {
		return errors.New("-user is required")
	}
	return nil
}

// Run serves until ctx is cancelled.
func (m *Main) Run(ctx context.Context) error {
	seed := onectest.DemoSeed(m.Customers, m.Cards, m.Kinds, m.RandSeed)
	if m.SeedFile != "" {
		var err error
		if seed, err = onectest.LoadSeedFile(m.SeedFile); err != nil {
			return err
		}
	}
	s := onectest.New(onectest.Options{User: m.User, Password: m.Password, Logger: m.logger()})
	if err := s.Load(seed); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The password is never logged; the request log has no Authorization.
	m.logger().Info("1c fake listening", "addr", ln.Addr().String(), "publication", onectest.PublicationPath,
		"user", m.User, "seed", m.SeedFile)
	if m.Ready != nil {
		m.Ready <- ln.Addr().String()
	}
	return s.Serve(ctx, ln)
}

func (m *Main) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func main() {
	m := &Main{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if err := m.ParseFlags(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "onec-fake:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "onec-fake:", err)
		os.Exit(1)
	}
}
