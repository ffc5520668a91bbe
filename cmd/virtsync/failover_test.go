package main_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/state"
)

// Two hosts, one active (README): two virtsync daemons, each in a working
// directory of its own, share one PostgreSQL state and one NATS. The
// first is active and the second waits as the standby. Killed with
// SIGKILL mid-run, the active one is replaced by the standby within the
// lease's TTL; a standby that took over from an active one stopped with
// SIGSTOP fences it off, so that the stopped one, woken, commits nothing.
// Nothing is lost or created twice in virtpos, in the state's id map or
// on the stream.

// failoverTTL is the hosts' state.lease_ttl: short, so that the test
// waits seconds, not the default's minutes.
const failoverTTL = 5 * time.Second

// failoverTick is the jobs' schedule (@every 1s).
const failoverTick = time.Second

// failoverSlack is what a takeover may take beyond the TTL and a
// schedule tick: the standby tries the lease every third of the TTL, then
// connects to NATS and starts its scheduler (2s, on a busy machine).
const failoverSlack = failoverTTL/3 + 2*time.Second

// failoverPostgres creates a database of the test's own on the server the
// state's tests use (the machine's, unless $VIRTSYNC_TEST_POSTGRES names
// another; copied from state's test helper, which another package cannot
// import), dropped when the test ends. It returns the database's URL and
// the server's admin connection.
func failoverPostgres(t *testing.T) (string, *sql.DB) {
	t.Helper()
	adminDSN := os.Getenv("VIRTSYNC_TEST_POSTGRES")
	if adminDSN == "" {
		adminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5"
	}
	admin, err := sql.Open("pgx", adminDSN)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err != nil {
			admin.Close()
		}
	}
	if err != nil {
		t.Skipf("PostgreSQL not reachable at 127.0.0.1:5432: %v; skipping", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "virtsync_failover_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		admin.Close()
		t.Fatalf("create the test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop the test database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(adminDSN)
	if err != nil {
		t.Fatalf("$VIRTSYNC_TEST_POSTGRES must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String(), admin
}

// failoverNATS is the machine's NATS with a stream and subject prefix of
// the test's own, the stream deleted when the test ends.
func failoverNATS(t *testing.T) (natsURL, stream, prefix string) {
	t.Helper()
	const addr = "127.0.0.1:4222"
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Skipf("NATS not reachable at %s: %v; skipping", addr, err)
	}
	c.Close()
	var b [4]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	natsURL, stream, prefix = "nats://"+addr, "VSFAILOVER_"+h, "vsfailover"+h
	t.Cleanup(func() {
		nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = js.DeleteStream(ctx, stream)
		}
	})
	return natsURL, stream, prefix
}

// ownHostnames says whether this machine lets a process have a hostname
// of its own (a UTS namespace: root, or a user namespace). Then the two
// "hosts" differ as real ones do; otherwise they share the hostname and a
// killed daemon's lease is taken over at once, its pid being gone on the
// one host (engine.AcquireLease), not after the TTL.
var ownHostnames = sync.OnceValue(func() bool {
	return exec.Command("unshare", "--uts", "sh", "-c", "hostname virtsync-probe").Run() == nil
})

// failoverHost is one host: a working directory with its config, and the
// built virtsync daemon run there.
type failoverHost struct {
	t      *testing.T
	name   string
	dir    string
	config string
	env    []string
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
	err    error
}

func newFailoverHost(t *testing.T, name, dsn, natsURL, stream, prefix, vpURL, ocURL string) *failoverHost {
	t.Helper()
	h := &failoverHost{t: t, name: name, dir: filepath.Join(t.TempDir(), name)}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.config = filepath.Join(h.dir, "virtsync.yaml")
	cfg := fmt.Sprintf(`state: {driver: postgres, path: %q, dsn: "${VIRTSYNC_STATE_DSN}", lease_ttl: %s}
nats: {url: %q, stream: %s, subject_prefix: %s}
http: {listen: ""}
log: {level: info, format: text}
virtpos:
  base_url: %s
  apikey: ${VIRTPOS_APIKEY}
  rate_limit: 0
  concurrency: 4
  retry: {max_attempts: 3, initial: 10ms, max: 100ms}
onec:
  base_url: %s
  user: sync
  password: ${ONEC_PASSWORD}
  retry: {max_attempts: 3, initial: 10ms, max: 100ms}
outbox: {drain_timeout: 5s}
jobs: {customers: {schedule: "@every 1s"}, cards: {schedule: "@every 1s"}, orders: {enabled: false}}
shutdown_timeout: 10s
`, filepath.Join(h.dir, "state.db"), failoverTTL, natsURL, stream, prefix, vpURL, strings.TrimSuffix(ocURL, "/"))
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The host's sessions carry its name, so that the test can see in
	// pg_stat_activity whether it is inside a transaction.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "virtsync-"+name)
	u.RawQuery = q.Encode()
	h.env = append(os.Environ(), "VIRTPOS_APIKEY="+apikey, "ONEC_PASSWORD=pw-Секрет", "VIRTSYNC_STATE_DSN="+u.String())
	return h
}

// start runs the daemon on the host, with the host's own hostname where
// the machine allows it. Stopped with SIGKILL at the end of the test if
// it still runs.
func (h *failoverHost) start() {
	h.t.Helper()
	args := []string{builtBinary(h.t), "-config", h.config}
	if ownHostnames() {
		// unshare and sh exec: the pid is virtsync's.
		args = append([]string{"unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, h.name}, args...)
	}
	h.cmd = exec.Command(args[0], args[1:]...)
	h.cmd.Dir, h.cmd.Env = h.dir, h.env
	h.stderr = &syncbuf.Buffer{}
	h.cmd.Stdout, h.cmd.Stderr = io.Discard, h.stderr
	h.done = make(chan struct{})
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	cmd, stderr, done := h.cmd, h.stderr, h.done
	go func() {
		h.err = cmd.Wait()
		close(done)
	}()
	h.t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-done
		}
		if h.t.Failed() {
			h.t.Logf("%s (pid %d) log:\n%s", h.name, cmd.Process.Pid, tail(stderr.String(), 4000))
		}
		if s := stderr.String(); strings.Contains(s, apikey) || strings.Contains(s, "pw-Секрет") {
			h.t.Errorf("a secret leaked into the log of %s", h.name)
		}
	})
}

func (h *failoverHost) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *failoverHost) signal(sig syscall.Signal) {
	h.t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		h.t.Fatalf("%s to %s: %v", sig, h.name, err)
	}
}

// wait waits for the process to end and returns its exit code.
func (h *failoverHost) wait(within time.Duration) int {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(within):
		h.t.Fatalf("%s still runs after %s\n%s", h.name, within, tail(h.stderr.String(), 3000))
	}
	var ee *exec.ExitError
	switch {
	case h.err == nil:
		return 0
	case errors.As(h.err, &ee):
		return ee.ExitCode()
	}
	h.t.Fatalf("%s: %v", h.name, h.err)
	return -1
}

// logged reports whether the host's log, from byte from on, has a line
// holding every one of parts, and returns the first such line.
func (h *failoverHost) logged(from int, parts ...string) (string, bool) {
	s := h.stderr.String()
	from = max(0, min(from, len(s)))
	for _, line := range strings.Split(s[from:], "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return line, true
		}
	}
	return "", false
}

// until polls cond every 20ms until it holds and returns when it did;
// it fails the test after timeout, or when one of running exited.
func until(t *testing.T, timeout time.Duration, what string, cond func() bool, running ...*failoverHost) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return time.Now()
		}
		for _, h := range running {
			if h.exited() {
				t.Fatalf("%s exited (%v) while waiting for %s\n%s", h.name, h.err, what, tail(h.stderr.String(), 3000))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pauseOutsideTransaction stops h with SIGSTOP at a moment none of its
// sessions is inside a transaction: stopped inside one, it would hold the
// lease's row lock until the server ends the session
// (idle_in_transaction_session_timeout, 30s), and the takeover would wait
// that long, not the TTL. README says so; this test measures the TTL.
func pauseOutsideTransaction(t *testing.T, h *failoverHost, admin *sql.DB, db string) {
	t.Helper()
	for try := 0; try < 200; try++ {
		h.signal(syscall.SIGSTOP)
		// Statements already sent finish meanwhile.
		time.Sleep(30 * time.Millisecond)
		var n int
		err := admin.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND application_name = $2 AND xact_start IS NOT NULL`, db, "virtsync-"+h.name).Scan(&n)
		if err != nil {
			t.Fatalf("read pg_stat_activity: %v", err)
		}
		if n == 0 {
			return
		}
		h.signal(syscall.SIGCONT)
		time.Sleep(time.Duration(5+try%7) * time.Millisecond)
	}
	t.Fatalf("%s was inside a transaction at every one of 200 tries", h.name)
}

var runIDRe = regexp.MustCompile(`run_id=(\w+)`)

// takeoverLines are the lines of a standby's log that tell its takeover,
// for README.
func takeoverLines(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		for _, m := range []string{"standby", "taking over", "daemon started", "another daemon", "write refused",
			"run started", "reconciling", "run finished", "run failed", "taking over the lease", "too long to be sure"} {
			if strings.Contains(line, m) && !strings.Contains(line, "job=cards") {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestFailoverTwoHosts: host A's daemon is active and host B's the
// standby; A is killed (SIGKILL) mid-load and B takes over within the
// lease's TTL and finishes. Then A comes back as the standby, B is stopped
// (SIGSTOP) mid-load, A takes over, and B, woken (SIGCONT), finds its
// commits fenced off and stops. Every 1C client is one virtpos customer,
// every card one card, the state's id map is virtpos's, and the stream
// has each record's upserted event once.
func TestFailoverTwoHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("two daemons and two takeovers")
	}
	began := time.Now()
	dsn, admin := failoverPostgres(t)
	natsURL, stream, prefix := failoverNATS(t)
	dbName := strings.TrimPrefix(func() string { u, _ := url.Parse(dsn); return u.Path }(), "/")

	// The 1C base, its last partners (and their cards) held back for the
	// second takeover.
	const first, later = 1000, 500
	seed := onectest.DemoSeed(first+later, 400, 2, 31)
	heldBack := onectest.Seed{}
	laterKeys := map[string]bool{}
	for _, p := range seed[onectest.SetPartners][first:] {
		laterKeys[str(p["Ref_Key"])] = true
	}
	heldBack[onectest.SetPartners] = seed[onectest.SetPartners][first:]
	seed[onectest.SetPartners] = seed[onectest.SetPartners][:first]
	var nowCards []onectest.Object
	for _, c := range seed[onectest.SetCards] {
		if laterKeys[str(c["Партнер_Key"])] {
			heldBack[onectest.SetCards] = append(heldBack[onectest.SetCards], c)
		} else {
			nowCards = append(nowCards, c)
		}
	}
	seed[onectest.SetCards] = nowCards
	oc, ocURL := onectest.StartTest(t, onectest.Options{User: "sync", Password: "pw-Секрет"}, seed)
	vp := virtpostest.NewServer(t, virtpostest.Options{APIKey: apikey})
	// A load of a few seconds, so that the kill lands in the middle.
	vp.SetFaults(virtpostest.Faults{Latency: 20 * time.Millisecond})
	w := &world{t: t, onec: oc, vp: vp}

	a := newFailoverHost(t, "host-a", dsn, natsURL, stream, prefix, vp.URL, ocURL)
	b := newFailoverHost(t, "host-b", dsn, natsURL, stream, prefix, vp.URL, ocURL)
	if ownHostnames() {
		t.Logf("the hosts have hostnames of their own (host-a, host-b): a takeover waits for the TTL")
	} else {
		t.Logf("no UTS namespace here: the hosts share a hostname, and the killed daemon's lease goes at once (its pid is gone); the paused one's still waits for the TTL")
	}
	clients := len(w.clients())

	// ---- 1. A active, B standby; A killed mid-run. ----
	a.start()
	until(t, 30*time.Second, "host A's daemon started", func() bool {
		_, ok := a.logged(0, "virtsync daemon started")
		return ok
	}, a)
	b.start()
	until(t, 30*time.Second, "host B waiting as the standby", func() bool {
		_, ok := b.logged(0, "standby: another daemon is active")
		return ok
	}, a, b)
	until(t, 60*time.Second, "host A a third through the customers", func() bool {
		return vp.Counts().CustomersCreated >= clients/3
	}, a, b)
	a.signal(syscall.SIGKILL)
	a.wait(10 * time.Second)
	killed := time.Now()
	atKill := vp.Counts().CustomersCreated
	if atKill >= clients {
		t.Fatalf("host A finished the load (%d customers) before it was killed", atKill)
	}
	took := until(t, failoverTTL+failoverTick+failoverSlack+10*time.Second, "host B running the customers", func() bool {
		_, ok := b.logged(0, `msg="run started"`, "job=customers")
		return ok
	}, b).Sub(killed)
	t.Logf("host A killed (SIGKILL) after %d of %d customers; host B took over in %s (lease TTL %s, schedule %s)",
		atKill, clients, took.Round(10*time.Millisecond), failoverTTL, failoverTick)
	if limit := failoverTTL + failoverTick + failoverSlack; took > limit {
		t.Errorf("host B took over %s after the kill, more than TTL %s + tick %s + slack %s", took, failoverTTL, failoverTick, failoverSlack)
	}
	cards := len(oc.All(onectest.SetCards))
	until(t, 60*time.Second, "host B finishing the load", func() bool {
		return len(vp.Customers()) >= clients && len(vp.Cards()) >= cards
	}, b)
	t.Logf("host B's takeover, from its log:\n%s", takeoverLines(b.stderr.String()))

	// ---- 2. A back as the standby; B paused mid-run, then woken. ----
	a.start()
	until(t, 30*time.Second, "host A waiting as the standby", func() bool {
		_, ok := a.logged(0, "standby: another daemon is active")
		return ok
	}, a, b)
	if err := oc.Load(heldBack); err != nil {
		t.Fatal(err)
	}
	clients = len(w.clients())
	cards = len(oc.All(onectest.SetCards))
	before := len(vp.Customers())
	until(t, 60*time.Second, "host B a third through the new customers", func() bool {
		return vp.Counts().CustomersCreated >= before+(clients-before)/3
	}, a, b)
	pauseOutsideTransaction(t, b, admin, dbName)
	paused := time.Now()
	atPause := vp.Counts().CustomersCreated
	if atPause >= clients {
		t.Fatalf("host B finished the load (%d customers) before it was paused", atPause)
	}
	// B's customers run, the one A must fence off.
	var bRun string
	for _, line := range strings.Split(b.stderr.String(), "\n") {
		if m := runIDRe.FindStringSubmatch(line); m != nil && strings.Contains(line, `msg="run started"`) && strings.Contains(line, "job=customers") {
			bRun = m[1]
		}
	}
	aLog := len(a.stderr.String())
	took2 := until(t, failoverTTL+failoverTick+failoverSlack+10*time.Second, "host A running the customers", func() bool {
		_, ok := a.logged(aLog, `msg="run started"`, "job=customers")
		return ok
	}, a).Sub(paused)
	t.Logf("host B paused (SIGSTOP) after %d of %d customers; host A took over in %s", atPause, clients, took2.Round(10*time.Millisecond))
	if limit := failoverTTL + failoverTick + failoverSlack; took2 > limit {
		t.Errorf("host A took over %s after the pause, more than TTL %s + tick %s + slack %s", took2, failoverTTL, failoverTick, failoverSlack)
	}
	// B wakes once A has finished: whatever B sent now would be a second
	// copy. Without the latency, a create B sent would land at once.
	until(t, 60*time.Second, "host A finishing the load", func() bool {
		return len(vp.Customers()) >= clients && len(vp.Cards()) >= cards
	}, a)
	vp.SetFaults(virtpostest.Faults{})
	woke := len(b.stderr.String())
	atWake := vp.Counts()
	b.signal(syscall.SIGCONT)
	if code := b.wait(30 * time.Second); code != 1 {
		t.Errorf("host B, woken after the takeover, exited %d, want 1", code)
	}
	if after := vp.Counts(); writes(after) != writes(atWake) {
		t.Errorf("virtpos took writes while host B woke and stopped (host A had nothing left to do): before %+v after %+v", atWake, after)
	}
	if _, ok := b.logged(woke, "write refused"); !ok {
		t.Errorf("host B's log does not say its commit was refused (fenced):\n%s", tail(b.stderr.String()[woke:], 3000))
	}
	if _, ok := b.logged(woke, "another daemon took over"); !ok {
		t.Errorf("host B's log does not say it stopped because another daemon took over:\n%s", tail(b.stderr.String()[woke:], 3000))
	}
	t.Logf("host B woken (SIGCONT), from its log:\n%s", takeoverLines(b.stderr.String()[woke:]))
	t.Logf("host A's takeover, from its log:\n%s", takeoverLines(a.stderr.String()[aLog:]))
	a.signal(syscall.SIGTERM)
	if code := a.wait(30 * time.Second); code != 0 {
		t.Errorf("host A exited %d after SIGTERM, want 0", code)
	}

	// ---- 3. Nothing lost, nothing doubled. ----
	w.checkClientsOnce()
	cardsSeen := map[string]int{}
	for _, c := range vp.Cards() {
		cardsSeen[c.ExternalID]++
	}
	for _, c := range oc.All(onectest.SetCards) {
		if n := cardsSeen[str(c["Ref_Key"])]; n != 1 {
			t.Errorf("card %s exists %d times in virtpos", c["Ref_Key"], n)
		}
	}
	if c := vp.Counts(); c.CustomersCreated != clients || c.CardsCreated != cards {
		t.Errorf("virtpos created %d customers and %d cards, want %d and %d", c.CustomersCreated, c.CardsCreated, clients, cards)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := state.OpenDriver(ctx, state.DriverPostgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkIDMap := func(kind string, remote map[string]string) {
		t.Helper()
		keys := make([]string, 0, len(remote))
		for k := range remote {
			keys = append(keys, k)
		}
		ids, err := db.LookupIDs(ctx, kind, keys)
		if err != nil {
			t.Fatal(err)
		}
		for k, id := range remote {
			if ids[k] != id {
				t.Errorf("%s %s: the state maps it to %q, virtpos has it as %q", kind, k, ids[k], id)
			}
		}
	}
	custIDs := map[string]string{}
	for _, c := range vp.Customers() {
		custIDs[c.ExternalID] = c.ID
	}
	cardIDs := map[string]string{}
	for _, c := range vp.Cards() {
		cardIDs[c.ExternalID] = c.ID
	}
	checkIDMap(virtsync.KindCustomer, custIDs)
	checkIDMap(virtsync.KindCard, cardIDs)
	if dl, err := db.DeadLetters(ctx, "", ""); err != nil {
		t.Fatal(err)
	} else if len(dl) > 0 {
		t.Errorf("%d dead letters, want none: %+v", len(dl), dl[0])
	}
	if n, _, err := db.OutboxBacklog(ctx); err != nil || n != 0 {
		t.Errorf("outbox backlog %d (%v) after host A stopped, want 0", n, err)
	}
	if bRun == "" {
		t.Errorf("host B's customers run not found in its log")
	} else {
		runs, err := db.LastRuns(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range runs {
			if r.RunID == bRun {
				found = true
				if r.Status != state.RunCrashed {
					t.Errorf("host B's fenced run %s is %q in the state, want %q as host A's takeover left it", bRun, r.Status, state.RunCrashed)
				}
			}
		}
		if !found {
			t.Errorf("host B's run %s is not in the state", bRun)
		}
	}

	// Every record's upserted event once: the stream holds each event id
	// once (readStream and checkEnvelopes), and no record has two.
	evs := readStream(t, natsURL, stream)
	types := checkEnvelopes(t, evs, prefix)
	per := map[string]int{}
	for _, e := range evs {
		if strings.HasSuffix(e.env.Type, ".upserted") {
			var d struct {
				ExternalID string `json:"external_id"`
			}
			_ = json.Unmarshal(e.env.Data, &d)
			per[e.env.Type+" "+d.ExternalID]++
		}
	}
	for _, p := range w.clients() {
		if n := per["virtsync.customer.upserted "+str(p["Ref_Key"])]; n != 1 {
			t.Errorf("customer %s: %d upserted events, want 1", p["Ref_Key"], n)
		}
	}
	for _, c := range oc.All(onectest.SetCards) {
		if n := per["virtsync.card.upserted "+str(c["Ref_Key"])]; n != 1 {
			t.Errorf("card %s: %d upserted events, want 1", c["Ref_Key"], n)
		}
	}
	t.Logf("stream %s: %d events, each id once (%d customer.upserted, %d card.upserted); test wall time %s",
		stream, len(evs), types["customer.upserted"], types["card.upserted"], time.Since(began).Round(100*time.Millisecond))
}
