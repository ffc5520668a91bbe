package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// bench runs the phases in order and collects their figures.
type bench struct {
	opts     options
	dir      string
	progress io.Writer // phase lines while it runs; the report goes to stdout
	calls    *counter
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// measure is the whole bench: virtsync's first load and unchanged rerun,
// then the bare client's load and key paging against fresh fakes holding
// the same base. Every load is checked for lost and duplicated records.
func (b *bench) measure(ctx context.Context) (result, error) {
	o := b.opts
	r := result{n: o.n, latency: o.latency, concurrency: o.concurrency, nats: o.nats}
	sets, err := syncedSets()
	if err != nil {
		return r, err
	}

	b.logf("building the fake 1C: %s partners, %s cards", thousands(int64(o.n)), thousands(int64(o.n)))
	start := time.Now()
	oc, err := startOneC(ctx, o.n, b.calls, sets)
	if err != nil {
		return r, err
	}
	defer func() {
		if oc != nil {
			oc.close()
		}
	}()
	r.customers, r.cards = oc.customers, oc.cards
	// Loading left garbage; give it back so that the harness does not
	// crowd virtsync at a million records.
	debug.FreeOSMemory()
	b.logf("1C ready in %s: %s client partners (what virtsync syncs), %s cards", secs(time.Since(start)),
		thousands(int64(r.customers)), thousands(int64(r.cards)))

	vp, err := startVirtpos(o.latency, b.calls)
	if err != nil {
		return r, err
	}
	defer func() {
		if vp != nil {
			vp.close()
		}
	}()
	stateDir := filepath.Join(b.dir, "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return r, err
	}
	cfg := filepath.Join(b.dir, "virtsync.yaml")
	if err := writeConfig(cfg, stateDir, vp.url(), oc.url(), o.nats, o.concurrency); err != nil {
		return r, err
	}

	if r.first, err = b.phase(ctx, "first load", cfg, "first-load.log"); err != nil {
		return r, err
	}
	if err := b.verify(ctx, "first load", oc, vp, sets); err != nil {
		return r, err
	}
	if r.rerun, err = b.phase(ctx, "no-change rerun", cfg, "rerun.log"); err != nil {
		return r, err
	}
	if err := b.verify(ctx, "no-change rerun", oc, vp, sets); err != nil {
		return r, err
	}

	// The bare client starts from the same place virtsync did: an empty
	// virtpos and an untouched 1C base.
	vp.close()
	vp = nil
	if w := writes(r.first.calls) + writes(r.rerun.calls); w > 0 {
		b.logf("virtsync wrote %d times to 1C: building a fresh 1C for the bare client", w)
		oc.close()
		oc = nil // let the old base go before the new one is built
		if oc, err = startOneC(ctx, o.n, b.calls, sets); err != nil {
			return r, err
		}
		debug.FreeOSMemory()
	}
	if vp, err = startVirtpos(o.latency, b.calls); err != nil {
		return r, err
	}
	bare := newBareClient(oc.url(), vp.url(), o.concurrency, sets)
	b.logf("bare client: page 1C, one virtpos write per record, concurrency %d", o.concurrency)
	b.calls.take()
	start = time.Now()
	err = bare.fullLoad(ctx)
	r.bare = time.Since(start)
	calls := b.calls.take()
	r.bareCalls = calls.virtpos()
	if err != nil {
		return r, fmt.Errorf("bare client: %w", err)
	}
	b.logf("bare client: %s, %s", secs(r.bare), calls)
	if err := b.verify(ctx, "bare client", oc, vp, sets); err != nil {
		return r, err
	}

	b.logf("bare paging: Ref_Key and DataVersion of partners and cards")
	start = time.Now()
	err = bare.keyPaging(ctx)
	r.barePaging = time.Since(start)
	calls = b.calls.take()
	if err != nil {
		return r, fmt.Errorf("bare paging: %w", err)
	}
	b.logf("bare paging: %s, %s", secs(r.barePaging), calls)
	return r, nil
}

// phase runs virtsync -once and takes its figures, reporting every half
// minute how far it got (a million-record load takes a while).
func (b *bench) phase(ctx context.Context, name, cfg, logName string) (phase, error) {
	b.logf("%s: %s -once", name, b.opts.bin)
	b.calls.take()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.logf("%s: %s so far, %s virtpos calls", name, secs(time.Since(start)),
					thousands(b.calls.peek().virtpos()))
			}
		}
	}()
	wall, rss, err := runOnce(ctx, b.opts.bin, cfg, filepath.Join(b.dir, logName))
	close(done)
	p := phase{wall: wall, maxRSS: rss, calls: b.calls.take()}
	if err != nil {
		return p, fmt.Errorf("%s: %w", name, err)
	}
	b.logf("%s: %s, peak RSS %s, %s", name, secs(wall), mibs(rss), p.calls)
	return p, nil
}

// verify checks virtpos after a load; its own reading of 1C is not counted
// against any phase.
func (b *bench) verify(ctx context.Context, after string, oc *onecFake, vp *virtposFake, sets synced) error {
	start := time.Now()
	err := verify(ctx, oc, vp, sets)
	b.calls.take()
	if err != nil {
		return fmt.Errorf("after the %s: %w", after, err)
	}
	b.logf("checked after the %s: every 1C record is in virtpos once (%s)", after, secs(time.Since(start)))
	return nil
}

// machine says where the figures came from.
type machine struct {
	cpus      int
	model     string
	goVersion string
	date      string
}

func currentMachine() machine {
	return machine{cpus: runtime.NumCPU(), model: cpuModel(), date: time.Now().Format("2006-01-02"),
		goVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
}

func (m machine) String() string {
	return fmt.Sprintf("%d CPUs, %s, %s", m.cpus, m.model, m.goVersion)
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown CPU"
}
