package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// demo holds what the steps share: the fakes, the files and where to print.
type demo struct {
	opts   options
	out    io.Writer
	errOut io.Writer
	fakes  *fakes
	config string // the config every virtsync run uses
	store  string // virtsync's embedded NATS store (nats.store_dir)
	// clients are the Ref_Keys of the 1C partners that are customers
	// (Клиент=true), in 1C order: the ones virtsync syncs.
	clients []string
	// changed is what fewChanges edited, for checking the events.
	changed changes
}

// newDemo checks the binary, starts the fakes and writes a fresh config.
func newDemo(ctx context.Context, o options, stdout, stderr io.Writer) (*demo, error) {
	if _, err := os.Stat(o.bin); err != nil {
		return nil, fmt.Errorf("%s not found: run `make demo` (it builds bin/ first) from the repository root", o.bin)
	}
	// A clean directory each time: the demo must show a first sync, and
	// repeat the same way on every run.
	if err := os.RemoveAll(o.dataDir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", o.dataDir, err)
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return nil, err
	}
	seed := onectest.DemoSeed(demoCustomers, demoCards, demoCardKinds, demoRandSeed)
	f, err := startFakes(ctx, seed, stdout)
	if err != nil {
		return nil, err
	}
	d := &demo{opts: o, out: stdout, errOut: stderr, fakes: f, clients: clientRefs(seed)}
	d.config = filepath.Join(o.dataDir, "virtsync.yaml")
	if d.store, err = writeConfig(o.template, d.config, o.dataDir, f.virtposURL(), f.onecURL()); err != nil {
		f.close()
		return nil, err
	}
	return d, nil
}

func (d *demo) close() { d.fakes.close() }

// steps runs the demo in order; the first failure stops it.
func (d *demo) steps(ctx context.Context) error {
	for _, step := range []func(context.Context) error{
		d.intro, d.firstSync, d.ordersToOneC, d.fewChanges, d.showEvents, d.showStatus, d.closingHint,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) heading(title string) {
	fmt.Fprintf(d.out, "\n== %s\n", title)
}

func (d *demo) intro(ctx context.Context) error {
	d.heading("Two fake systems in this process")
	seed := d.fakes.seed
	fmt.Fprintf(d.out, "1C (fake)       %s   user demo / password demo\n", d.fakes.onecURL())
	fmt.Fprintf(d.out, "                %d partners (%d customers, %d suppliers), %d loyalty cards of %d kinds, %d items\n",
		len(seed[onectest.SetPartners]), len(d.clients), len(seed[onectest.SetPartners])-len(d.clients),
		len(seed[onectest.SetCards]), len(seed[onectest.SetCardKinds]), len(seed[onectest.SetItems]))
	fmt.Fprintf(d.out, "virtpos (fake)  %s   apikey %s, empty\n", d.fakes.virtposURL(), virtposKey)
	fmt.Fprintf(d.out, "config          %s (from %s; state and NATS store under %s/)\n",
		d.config, d.opts.template, d.opts.dataDir)
	return nil
}

// clientRefs lists the partners virtsync syncs (the ut11 profile's
// filter is Клиент eq true). The demo picks customers from this list, not
// by virtpos id, which depends on the order concurrent pushes landed in:
// the demo shows the same names on every run.
func clientRefs(seed onectest.Seed) []string {
	var refs []string
	for _, p := range seed[onectest.SetPartners] {
		if c, _ := p["Клиент"].(bool); c {
			refs = append(refs, p["Ref_Key"].(string))
		}
	}
	return refs
}

// serveUntilInterrupted keeps the fakes up for a daemon run by hand.
func (d *demo) serveUntilInterrupted(ctx context.Context) {
	fmt.Fprintf(d.out, "\nThe fakes keep serving (-keep). In another terminal:\n  %s -config %s\nCtrl-C here stops them.\n",
		d.opts.bin, d.config)
	<-ctx.Done()
}

// since formats a duration for progress lines.
func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }
