// Command virtsync-bench measures virtsync at scale, as a new user would
// meet it: the real bin/virtsync run with -once against a fake 1C of N
// partners and N loyalty cards and an empty fake virtpos (both served on
// loopback from this process), then run again on the unchanged base; and
// beside it, in the same run, a bare client doing the least the two
// protocols allow. It prints one markdown table (for README), the issue's
// goals as PASS or MISS, and the machine.
//
//	make bench-scale [SCALE_N=100000] [SCALE_LATENCY=20ms] [SCALE_CONCURRENCY=8]
//	bin/virtsync-bench -n 100000 [-latency 20ms] [-concurrency 8] [-keep]
//
// It exits 1 if a virtsync run failed or virtpos did not end up with
// exactly one record per 1C record (for virtsync's runs and the bare
// client's alike); a missed goal is printed, not fatal. Run it from the
// repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	bin         string
	n           int
	latency     time.Duration
	concurrency int // 0: 4, or 8 with a latency
	dir         string
	keep        bool
	timeout     time.Duration
	nats        string // "" : virtsync's embedded server
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == launchFlag {
		os.Exit(launch(os.Args[2:]))
	}
	var o options
	flag.StringVar(&o.bin, "bin", "bin/virtsync", "virtsync binary to measure (make build puts it there)")
	flag.IntVar(&o.n, "n", 100000, "1C partners, and as many loyalty cards")
	flag.DurationVar(&o.latency, "latency", 0, "delay of every virtpos answer, e.g. 20ms (1C answers at once)")
	flag.IntVar(&o.concurrency, "concurrency", 0, "virtpos concurrency of virtsync and of the bare client (0: 4, or 8 with -latency)")
	flag.StringVar(&o.dir, "dir", "", "directory for the config, state and logs (default: a new temporary one, removed after a successful run unless -keep)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&o.nats, "nats", "", "NATS URL for virtsync's events (default: its embedded server, whose memory counts in virtsync's RSS)")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Hour, "give up (and stop virtsync) after this long")
	flag.Parse()
	if flag.NArg() > 0 || o.n < 1 || o.latency < 0 || o.concurrency < 0 {
		fmt.Fprintln(os.Stderr, "usage: virtsync-bench [-n N>=1] [-latency D>=0] [-concurrency C>=0] [-bin PATH] [-dir DIR] [-keep]")
		os.Exit(2)
	}
	if o.concurrency == 0 {
		o.concurrency = defaultConcurrency(o.latency)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// defaultConcurrency is the setting: 4, and 8 when every virtpos
// call waits, as a user facing a remote API would set it.
func defaultConcurrency(latency time.Duration) int {
	if latency > 0 {
		return 8
	}
	return 4
}

// run measures and reports; it returns the exit code.
func run(ctx context.Context, o options, stdout, stderr io.Writer) int {
	if _, err := os.Stat(o.bin); err != nil {
		fmt.Fprintf(stderr, "virtsync-bench: %s not found: run `make bench-scale` (it builds bin/ first) from the repository root\n", o.bin)
		return 1
	}
	dir := o.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "virtsync-bench-"); err != nil {
			fmt.Fprintf(stderr, "virtsync-bench: %v\n", err)
			return 1
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "virtsync-bench: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	b := &bench{opts: o, dir: dir, progress: stderr, calls: newCounter()}
	r, err := b.measure(ctx)
	if err != nil {
		// The work directory stays: its logs say what virtsync did.
		fmt.Fprintf(stderr, "\nvirtsync-bench: FAILED: %v\nconfig, state and logs are in %s\n", err, dir)
		return 1
	}
	if o.dir == "" && !o.keep {
		_ = os.RemoveAll(dir)
	}
	fmt.Fprintln(stdout)
	writeReport(stdout, r, currentMachine())
	return 0
}
