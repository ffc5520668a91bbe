// Command virtsync-chaos drives the built virtsync against both fakes under
// faults and checks that nothing was lost or doubled: kill -9 at many
// moments of a first load, virtpos and 1C faults, NATS down for a whole
// run, two processes on one state file. After each scenario every 1C
// partner must be one virtpos customer, every card one card, every order
// one 1C document, every event on the stream once (by id), the outbox
// empty, no dead letter, and the state file must pass SQLite's integrity
// check. It prints one table and exits 1 if any scenario found a problem.
//
//	virtsync-chaos -bin bin/virtsync [-seed N] [-long] [-only kill9,nats-down]
//
// `make chaos` runs it; the seed is printed so that a failure can be run
// again exactly.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	bin      string
	seed     uint64
	partners int
	cards    int
	orders   int
	kills    int
	runLimit time.Duration
	workDir  string
	keep     bool
	only     map[string]bool
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("virtsync-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var only string
	long := os.Getenv("CHAOS_LONG") == "1"
	fs.StringVar(&o.bin, "bin", "bin/virtsync", "the virtsync binary to drive")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock; printed either way)")
	fs.IntVar(&o.partners, "partners", 5000, "1C partners (every 8th is a supplier, not a customer)")
	fs.IntVar(&o.cards, "cards", 5000, "1C discount cards")
	fs.IntVar(&o.orders, "orders", 1000, "virtpos orders, added while the load runs")
	fs.IntVar(&o.kills, "kills", 22, "kill -9 points in the kill scenario")
	fs.BoolVar(&long, "long", long, "more kills and fault rounds (also CHAOS_LONG=1)")
	fs.DurationVar(&o.runLimit, "run-limit", 6*time.Minute, "longest one virtsync run may take")
	fs.StringVar(&o.workDir, "dir", "", "where scenario directories go (default: a temporary directory)")
	fs.BoolVar(&o.keep, "keep", false, "keep each scenario's directory (config, state, logs)")
	fs.StringVar(&only, "only", "", "comma-separated scenario names to run (default: all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if long {
		o.kills *= 3
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			o.only[strings.TrimSpace(s)] = true
		}
	}
	if abs, err := filepath.Abs(o.bin); err == nil {
		o.bin = abs // the children run in their scenario's directory
	}
	if _, err := os.Stat(o.bin); err != nil {
		fmt.Fprintf(stderr, "virtsync-chaos: %v (run `make build` first)\n", err)
		return 2
	}
	if o.workDir != "" {
		if err := os.MkdirAll(o.workDir, 0o700); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	} else {
		dir, err := os.MkdirTemp("", "virtsync-chaos-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		o.workDir = dir
		if !o.keep {
			// Scenarios remove their own directories unless they failed.
			defer os.Remove(dir)
		}
	}
	fmt.Fprintf(stdout, "virtsync-chaos: seed %d (rerun with -seed %d), %d partners, %d cards, %d orders\n",
		o.seed, o.seed, o.partners, o.cards, o.orders)

	var rows []tally
	failed := false
	for i, sc := range scenarios(long) {
		if o.only != nil && !o.only[sc.name] {
			continue
		}
		rng := rand.New(rand.NewPCG(o.seed, uint64(i)))
		fmt.Fprintf(stdout, "-- %s: %s\n", sc.name, sc.what)
		t := play(o, sc, rng)
		rows = append(rows, t)
		for _, p := range t.Problems {
			fmt.Fprintf(stdout, "   PROBLEM: %s\n", p)
		}
		if !t.ok() {
			failed = true
		}
	}
	printTable(stdout, rows)
	if failed {
		fmt.Fprintf(stdout, "FAIL: see the problems above (seed %d)\n", o.seed)
		return 1
	}
	fmt.Fprintf(stdout, "%d passed, 0 failed\n", len(rows))
	return 0
}

// play runs one scenario in a world of its own and checks the result.
func play(o options, sc scenario, rng *rand.Rand) (t tally) {
	t.Scenario = sc.name
	start := time.Now()
	defer func() { t.Seconds = time.Since(start).Seconds() }()
	w, err := newWorld(o, sc.name, rng, sc.externalNATS)
	if err != nil {
		t.problem("set up: %v", err)
		return t
	}
	defer w.close()
	// A failed scenario keeps its directory (config, state, every run's
	// log) for a post-mortem.
	defer func() {
		if !t.ok() {
			w.opts.keep = true
			t.Problems = append(t.Problems, "kept for a post-mortem: "+w.dir)
		}
	}()
	if err := sc.play(w, &t); err != nil {
		t.problem("%v", err)
		return t
	}
	runs, err := w.settle()
	t.Runs += runs
	if err != nil {
		t.problem("%v", err)
		return t
	}
	natsURL, stop, err := w.streamURL()
	if err != nil {
		t.problem("%v", err)
		return t
	}
	defer stop()
	w.check(&t, natsURL)
	return t
}

// streamURL is where the scenario's events can be read once every
// virtsync has exited: the external NATS, or a server of our own on the
// store virtsync's embedded NATS left behind.
func (w *world) streamURL() (string, func(), error) {
	if w.nats != nil {
		return w.nats.url, func() {}, nil
	}
	n, err := startNATS(w.dir+"/nats", 0)
	if err != nil {
		return "", nil, fmt.Errorf("open the embedded NATS store: %w", err)
	}
	return n.url, n.shutdown, nil
}

func printTable(out io.Writer, rows []tally) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFAULTS\tKILLS\tRUNS\tDUPLICATES\tLOSSES\tEVENT DUPS\tEVENT LOSSES\tDEAD LETTERS\tINTEGRITY\tTIME\tRESULT")
	for _, r := range rows {
		res := "ok"
		if !r.ok() {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.0fs\t%s\n", r.Scenario, r.Faults, r.Kills, r.Runs,
			r.Dups, r.Losses, r.EventDups, r.EventLoss, r.DeadLetter, r.Integrity, r.Seconds, res)
	}
	tw.Flush()
}
