// Command onec-fake serves a fake 1C:Enterprise OData publication
// (/odata/standard.odata/) for demos and manual testing: the objects of
// 1C:УТ 11 (-profile ut11, the default), 1C:УНФ 3.0 (unf) or 1C:Розница 2
// (roznica).
//
//	onec-fake -listen 127.0.0.1:8082 -user U -password P [-profile unf] [-seed FILE] [-fault-* ...]
//
// Without -seed it serves the profile's onectest.DemoSeedProfile, loaded
// straight into the store (a million partners and a million cards take
// seconds and about a gigabyte, see the README). The -fault-* flags arm
// onectest.Faults (lost replies on writes, 5xx mid-paging, records
// changing during a sweep, a publication ignoring $skip, slow replies),
// drawn from -fault-seed. SIGINT/SIGTERM shut it down gracefully.
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
	"strings"
	"syscall"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// Main is the program: ParseFlags, then Run.
type Main struct {
	Listen, User, Password, SeedFile string
	// Profile is the 1C configuration served (onectest.Profiles).
	Profile                 string
	Customers, Cards, Kinds int
	RandSeed                int64
	// Faults are armed from the start.
	Faults onectest.Faults
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
	fs.StringVar(&m.Profile, "profile", onectest.ProfileUT11, "1C configuration to serve: "+strings.Join(onectest.Profiles(), ", "))
	fs.StringVar(&m.SeedFile, "seed", "", "JSON seed file, in the profile's entity sets (default: built-in demo data)")
	fs.IntVar(&m.Customers, "demo-customers", 50, "demo seed: number of buyers (partners in ut11)")
	fs.IntVar(&m.Cards, "demo-cards", 40, "demo seed: number of loyalty cards")
	fs.IntVar(&m.Kinds, "demo-kinds", 3, "demo seed: number of card kinds")
	fs.Int64Var(&m.RandSeed, "demo-rand", 1, "demo seed: random seed")
	f := &m.Faults
	fs.Uint64Var(&f.Seed, "fault-seed", 1, "seed of every fault rate drawn (the same seed repeats the same faults)")
	fs.Float64Var(&f.LostReplyRate, "fault-lost-reply-rate", 0, "share of writes (POST, PATCH, Post) carried out, then answered by closing the connection; 0..1")
	fs.Float64Var(&f.PageErrorRate, "fault-page-5xx-rate", 0, "share of collection pages after the first answered 500 (1C's HTML error page) or 502 (a proxy's); 0..1")
	fs.Float64Var(&f.ChurnRate, "fault-churn-rate", 0, "share of pages after the first before which the paged set changes (a DataVersion bumped, a record inserted or deleted); 0..1")
	fs.BoolVar(&f.IgnoreSkip, "fault-ignore-skip", false, "answer every page as if $skip were 0")
	fs.DurationVar(&f.Latency, "fault-latency", 0, "delay before every request is carried out")
	fs.Float64Var(&f.SlowReplyRate, "fault-slow-reply-rate", 0, "share of requests whose reply -fault-slow-reply delays (0: every request); 0..1")
	fs.DurationVar(&f.SlowReply, "fault-slow-reply", 0, "delay of a slow reply, after the request was carried out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if m.User == "" {
		return errors.New("-user is required")
	}
	if err := onectest.ValidateProfile(m.Profile); err != nil {
		return fmt.Errorf("-profile: %w", err)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("-fault-*: %w", err)
	}
	return nil
}

// Run serves until ctx is cancelled.
func (m *Main) Run(ctx context.Context) error {
	if err := onectest.ValidateProfile(m.Profile); err != nil {
		return err // New would panic on it
	}
	s := onectest.New(onectest.Options{User: m.User, Password: m.Password, Logger: m.logger(), Faults: m.Faults, Profile: m.Profile})
	start := time.Now()
	if m.SeedFile != "" {
		seed, err := onectest.LoadSeedFile(m.SeedFile)
		if err != nil {
			return err
		}
		if err := s.Load(seed); err != nil {
			return err
		}
	} else if err := s.LoadDemo(m.Customers, m.Cards, m.Kinds, m.RandSeed); err != nil {
		return err
	}
	loaded := time.Since(start)
	ln, err := net.Listen("tcp", m.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The password is never logged; the request log has no Authorization.
	m.logger().Info("1c fake listening", "addr", ln.Addr().String(), "publication", onectest.PublicationPath, "profile", m.Profile,
		"user", m.User, "seed", m.SeedFile, "loaded_in", loaded.Round(time.Millisecond), "faults", fmt.Sprintf("%+v", m.Faults))
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
