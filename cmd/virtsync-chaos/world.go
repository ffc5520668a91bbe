package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// The fakes' credentials. They are distinctive so that a leak into any
// output is found by a plain search.
const (
	apikey       = "chaos-apikey-Ж7-d41d8cd9"
	onecUser     = "chaos"
	onecPassword = "chaos-pw-Секрет-9f86d081"
)

// world is one scenario's pair of fakes, its NATS (when external), config
// and state, and the virtsync processes run on them.
type world struct {
	opts    options
	rng     *rand.Rand
	dir     string
	config  string
	onec    *onectest.Server
	vp      *virtpostest.Server
	servers []*http.Server
	nats    *natsServer // nil: virtsync's embedded NATS
	orders  int         // orders added to virtpos so far
	// partners are the 1C partners' keys at the start: one deleted since
	// may have become a virtpos customer.
	partners map[string]bool
	log      *os.File // every child's stderr, for a post-mortem
}

// newWorld starts the fakes with the scenario's base: partners, cards,
// and (added while the load goes on) orders.
func newWorld(o options, name string, rng *rand.Rand, externalNATS bool) (*world, error) {
	dir, err := os.MkdirTemp(o.workDir, name+"-")
	if err != nil {
		return nil, err
	}
	w := &world{opts: o, rng: rng, dir: dir}
	if w.log, err = os.Create(filepath.Join(dir, "virtsync.log")); err != nil {
		return nil, err
	}
	w.onec = onectest.New(onectest.Options{User: onecUser, Password: onecPassword})
	if err := w.onec.Load(onectest.DemoSeed(o.partners, o.cards, 3, rng.Int64())); err != nil {
		return nil, fmt.Errorf("load 1C: %w", err)
	}
	w.partners = map[string]bool{}
	for _, p := range w.onec.All(onectest.SetPartners) {
		w.partners[fmt.Sprint(p["Ref_Key"])] = true
	}
	w.vp = virtpostest.New(virtpostest.Options{APIKey: apikey})
	ocAddr, err := w.serve(w.onec.Handler())
	if err != nil {
		return nil, err
	}
	vpAddr, err := w.serve(w.vp)
	if err != nil {
		return nil, err
	}
	natsLine := `nats: {url: ""}`
	if externalNATS {
		if w.nats, err = startNATS(filepath.Join(dir, "ext-nats"), 0); err != nil {
			return nil, err
		}
		natsLine = fmt.Sprintf("nats: {url: %q}", w.nats.url)
	}
	w.config = filepath.Join(dir, "virtsync.yaml")
	cfg := fmt.Sprintf(`state: {path: %q}
%s
http: {listen: ""}
log: {level: debug, format: json}
virtpos:
  base_url: http://%s/api
  apikey: ${VIRTPOS_APIKEY}
  rate_limit: 0
  concurrency: 8
  timeout: 1s
  retry: {max_attempts: 4, initial: 20ms, max: 200ms}
onec:
  base_url: http://%s%s
  user: %s
  password: ${ONEC_PASSWORD}
  timeout: 5s
  retry: {max_attempts: 4, initial: 20ms, max: 200ms}
outbox: {drain_timeout: 10s}
jobs:
  customers: {schedule: "@every 2s"}
  cards: {schedule: "@every 2s"}
  orders: {schedule: "@every 1s"}
`, filepath.Join(dir, "state.db"), natsLine, vpAddr, ocAddr, strings.TrimSuffix(onectest.PublicationPath, "/"), onecUser)
	return w, os.WriteFile(w.config, []byte(cfg), 0o600)
}

func (w *world) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	w.servers = append(w.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

func (w *world) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, s := range w.servers {
		_ = s.Shutdown(ctx)
	}
	w.vp.Close()
	if w.nats != nil {
		w.nats.shutdown()
	}
	w.log.Close()
	if !w.opts.keep {
		os.RemoveAll(w.dir)
	}
}

// proc is one running virtsync.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (w *world) start(args ...string) (*proc, error) {
	cmd := exec.Command(w.opts.bin, append([]string{"-config", w.config}, args...)...)
	cmd.Env = append(config.WithoutOwnVariables(os.Environ()), "VIRTPOS_APIKEY="+apikey, "ONEC_PASSWORD="+onecPassword)
	cmd.Dir = w.dir
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = w.log // the summary tables, beside the logs
	fmt.Fprintf(w.log, "=== %s virtsync %s\n", time.Now().Format("15:04:05.000"), strings.Join(args, " "))
	cmd.Stderr = w.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// code waits for the process and returns its exit code (-1 when killed).
func (p *proc) code() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1
		}
		return ee.ExitCode()
	}
	if p.err != nil {
		return -2
	}
	return 0
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) term() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
}

// run runs virtsync to its end, bounded by the scenario's run limit.
func (w *world) run(args ...string) (int, error) {
	p, err := w.start(args...)
	if err != nil {
		return 0, err
	}
	select {
	case <-p.done:
		return p.code(), nil
	case <-time.After(w.opts.runLimit):
		p.kill()
		return -1, fmt.Errorf("virtsync %s still running after %s", strings.Join(args, " "), w.opts.runLimit)
	}
}

// settle runs -once until a run exits 0 with the faults cleared, as an
// operator would after an incident; it fails after a few tries.
func (w *world) settle() (runs int, err error) {
	for runs = 1; runs <= 6; runs++ {
		w.topUpOrders()
		code, err := w.run("-once")
		if err != nil {
			return runs, err
		}
		if code == 0 {
			return runs, nil
		}
	}
	return runs, fmt.Errorf("-once did not exit 0 in %d runs after the faults were cleared (see %s)", runs-1, w.log.Name())
}

// topUpOrders adds orders to virtpos for customers that virtpos already
// has, up to the scenario's number: orders arrive while the first load
// runs, as they would in a shop.
func (w *world) topUpOrders() {
	custs := w.vp.Customers()
	if len(custs) == 0 {
		return
	}
	dec := decimal.RequireFromString
	shop := time.FixedZone("MSK", 3*3600)
	base := time.Now().In(shop).Add(-3 * time.Hour).Truncate(time.Second)
	for w.orders < w.opts.orders {
		i := w.orders
		c := custs[w.rng.IntN(len(custs))]
		q := dec(fmt.Sprintf("%d.%03d", 1+w.rng.IntN(3), w.rng.IntN(1000)))
		price := dec(fmt.Sprintf("%d.%02d", 10+w.rng.IntN(500), w.rng.IntN(100)))
		disc := dec("0.00")
		amount := q.Mul(price).Sub(disc).Round(2)
		o := virtposapi.Order{CustomerID: c.ID, Amount: amount, Discount: disc, ShippingCost: dec("0"),
			Comment:     fmt.Sprintf("заказ №%d «chaos»", i),
			CreatedDate: base.Add(time.Duration(i/3) * time.Second).Format(virtposapi.TimeLayout),
			Items: []virtposapi.Item{{ItemID: onectest.DemoItemCode(w.rng.IntN(onectest.DemoItems)), Quantity: q,
				UnitBasePrice: price, Discount: disc, Amount: amount}}}
		if i%4 != 0 {
			o.GUID = fmt.Sprintf("chaos-%06d-%08x", i, w.rng.Uint32())
		}
		w.vp.AddOrder(o)
		w.orders++
	}
}
