// Command virtsync-demo shows virtsync end to end on one machine, with
// nothing to install: it starts a fake 1C and a fake virtpos in this
// process, runs the real bin/virtsync against them three times (first
// sync, orders back to 1C, a few changes), then reads the events virtsync
// left in its embedded NATS and prints `virtsync status`.
//
//	make demo                       (builds bin/ and runs this)
//	bin/virtsync-demo [-keep]       -keep leaves the fakes up afterwards
//
// It exits 0 only when every step did what it says; otherwise it names the
// step that failed and exits 1. Run it from the repository root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Demo data sizes (the brief of `make demo`).
const (
	demoCustomers = 1000 // 1C partners; about 1 in 8 is a supplier, not synced
	demoCards     = 1200
	demoCardKinds = 3
	demoRandSeed  = 1
	demoOrders    = 200
	orderBuyers   = 60 // the orders spread over this many synced customers
)

// options are the command-line flags.
type options struct {
	bin      string        // the virtsync binary
	template string        // the config the demo's own is derived from
	dataDir  string        // wiped and refilled on every run
	timeout  time.Duration // the whole demo; CI must never hang on it
	keep     bool          // keep the fakes serving after the demo
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/virtsync", "virtsync binary to run (make build puts it there)")
	flag.StringVar(&o.template, "template", "configs/demo.yaml", "config the demo's config is based on")
	flag.StringVar(&o.dataDir, "data", "demo-data", "directory for the demo's config, state and NATS store (wiped first)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up (and kill virtsync) after this long")
	flag.BoolVar(&o.keep, "keep", false, "after the demo, keep both fakes serving until Ctrl-C")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole demo; it returns the exit code.
func run(ctx context.Context, o options, stdout, stderr io.Writer) int {
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	d, err := newDemo(tctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "\nvirtsync-demo: FAILED to set up: %v\n", err)
		return 1
	}
	defer d.close()
	if err := d.steps(tctx); err != nil {
		if errors.Is(tctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the whole demo is limited to %s; virtsync was stopped)", err, o.timeout)
		}
		fmt.Fprintf(stderr, "\nvirtsync-demo: FAILED: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nDemo finished in %s: every step worked.\n", time.Since(start).Round(100*time.Millisecond))
	if o.keep {
		d.serveUntilInterrupted(ctx)
	}
	return 0
}
