package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	main "github.com/virtsync/virtsync/cmd/virtsync"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/sinks/events"
	"github.com/virtsync/virtsync/state"
)

// ---- helpers -------------------------------------------------------------

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// setConfig replaces one line of the generated config (the base config
// already has nats: and http: keys, so they cannot be appended again).
func (w *world) setConfig(old, new string) {
	w.t.Helper()
	b, err := os.ReadFile(w.config)
	if err != nil {
		w.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		w.t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(w.config, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

const everySecond = `jobs: {customers: {schedule: "@every 1s"}, cards: {schedule: "@every 1s"}, orders: {schedule: "@every 1s"}}
shutdown_timeout: 10s
`

// daemonWorld is a world configured for the daemon: every job each second
// and the HTTP endpoints on a free loopback port.
func daemonWorld(t *testing.T, seed onectest.Seed, natsLine string) (*world, string) {
	t.Helper()
	w := newWorld(t, seed, everySecond)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w.setConfig(`http: {listen: ""}`, fmt.Sprintf(`http: {listen: %q}`, addr))
	if natsLine != "" {
		w.setConfig(`nats: {url: ""}`, natsLine)
	}
	return w, addr
}

// daemon is the daemon run in this process; stop ends Run's context, as
// SIGTERM does.
type daemon struct {
	t      *testing.T
	m      *main.Main
	cancel context.CancelFunc
	stderr *syncbuf.Buffer
	done   chan struct{}
	code   int
	closed sync.Once
}

func startDaemon(t *testing.T, w *world) *daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	d := &daemon{t: t, cancel: cancel, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	d.m = w.newMain(nil, io.Discard, d.stderr)
	if err := d.m.ParseFlags([]string{"-config", w.config}); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		d.code = d.m.Run(ctx)
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
			d.close()
		case <-time.After(stopGrace):
			t.Errorf("the daemon still runs %s after its context ended", stopGrace)
		}
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", tail(d.stderr.String(), 4000))
		}
		if s := d.stderr.String(); strings.Contains(s, apikey) || strings.Contains(s, url.QueryEscape(apikey)) {
			t.Errorf("the apikey leaked into the daemon's log")
		}
	})
	return d
}

// close is what the process does after Run: Close, once.
func (d *daemon) close() {
	d.closed.Do(func() {
		if err := d.m.Close(); err != nil {
			d.t.Errorf("daemon Close: %v", err)
		}
	})
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop ends the daemon's context (SIGTERM) and returns the exit code and
// how long the exit took.
func (d *daemon) stop(within time.Duration) (int, time.Duration) {
	d.t.Helper()
	start := time.Now()
	d.cancel()
	select {
	case <-d.done:
	case <-time.After(within):
		d.t.Fatalf("daemon still running %s after SIGTERM", within)
	}
	took := time.Since(start)
	d.close()
	return d.code, took
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, d *daemon, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if d != nil && d.exited() {
			t.Fatalf("daemon exited while waiting for %s", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

func get(addr, path string) (int, string) {
	resp, err := httpc.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricTotal sums the samples of name whose labels contain every one of
// labels (e.g. `job="cards"`). ok is false when there is no such sample.
func metricTotal(text, name string, labels ...string) (float64, bool) {
	var total float64
	ok := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series := line[:i]
		n := series
		lbl := ""
		if j := strings.IndexByte(series, '{'); j >= 0 {
			n, lbl = series[:j], series[j:]
		}
		if n != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(lbl, l) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		total += v
		ok = true
	}
	return total, ok
}

func scrape(addr string) string {
	code, body := get(addr, "/metrics")
	if code != 200 {
		return ""
	}
	return body
}

// runsOf reads every run from the state file (after the daemon stopped).
func runsOf(t *testing.T, w *world) map[string][]state.Run {
	t.Helper()
	db, err := state.Open(filepath.Join(w.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runs, err := db.LastRuns(ctx, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]state.Run{}
	for _, r := range runs {
		out[r.Job] = append(out[r.Job], r)
	}
	for j := range out {
		sort.Slice(out[j], func(a, b int) bool { return out[j][a].StartedAt.Before(out[j][b].StartedAt) })
	}
	return out
}

// checkNoOverlap fails when two runs of one job overlap in time, or a run
// was left unfinished.
func checkNoOverlap(t *testing.T, runs map[string][]state.Run) {
	t.Helper()
	for job, rs := range runs {
		for i, r := range rs {
			if r.FinishedAt.IsZero() || r.Status == state.RunRunning || r.Status == state.RunCrashed {
				t.Errorf("%s run %s (%s) left as %q", job, r.RunID, r.Mode, r.Status)
				continue
			}
			if i > 0 && r.StartedAt.Before(rs[i-1].FinishedAt) {
				t.Errorf("%s runs overlap: %s (%s) started %s before %s (%s) finished %s", job,
					r.RunID, r.Mode, r.StartedAt.Format(time.StampMicro), rs[i-1].RunID, rs[i-1].Mode,
					rs[i-1].FinishedAt.Format(time.StampMicro))
			}
		}
	}
}

func (w *world) checkClientsOnce() {
	w.t.Helper()
	seen := map[string]int{}
	for _, c := range w.vp.Customers() {
		seen[c.ExternalID]++
	}
	clients := w.clients()
	for _, p := range clients {
		if n := seen[str(p["Ref_Key"])]; n != 1 {
			w.t.Errorf("customer %s exists %d times in virtpos", p["Ref_Key"], n)
		}
	}
	if len(seen) != len(clients) {
		w.t.Errorf("virtpos has %d distinct customers, want %d", len(seen), len(clients))
	}
}

// streamEvent is one message read back from JetStream.
type streamEvent struct {
	subject, msgID string
	fields         map[string]json.RawMessage
	env            events.Envelope
}

// The login of the embedded servers these tests start as "external" NATS:
// a listener needs one.
const testNATSUser, testNATSPassword = "virtsync-test", "test-password"

// startListeningNATS starts an embedded server on store that also listens
// on listen for testNATSUser, stopped at the end of the test.
func startListeningNATS(t *testing.T, store, listen string) *events.Embedded {
	t.Helper()
	emb, err := events.StartEmbedded(events.Options{StoreDir: store, Listen: listen, User: testNATSUser, Password: testNATSPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	return emb
}

// natsLoginURL is the URL of a test server on port with the login in it.
func natsLoginURL(port int) string {
	return fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", testNATSUser, testNATSPassword, port)
}

// readStream returns every message of stream on the server at natsURL.
func readStream(t *testing.T, natsURL, stream string) []streamEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamEvent
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get msg %d: %v", seq, err)
		}
		ev := streamEvent{subject: m.Subject, msgID: m.Header.Get(nats.MsgIdHdr)}
		if err := json.Unmarshal(m.Data, &ev.fields); err != nil {
			t.Errorf("message %d is not JSON: %v", seq, err)
			continue
		}
		if ev.env, err = events.Decode(m.Data); err != nil {
			t.Errorf("message %d: %v", seq, err)
		}
		out = append(out, ev)
	}
	if uint64(len(out)) != info.State.Msgs {
		t.Errorf("read %d messages, stream says %d", len(out), info.State.Msgs)
	}
	return out
}

// checkEnvelopes checks the CloudEvents fields and the Nats-Msg-Id of every
// message, that ids are unique, and returns the count per type.
func checkEnvelopes(t *testing.T, evs []streamEvent, prefix string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	types := map[string]int{}
	for _, e := range evs {
		for _, f := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
			if len(e.fields[f]) == 0 || string(e.fields[f]) == `""` || string(e.fields[f]) == "null" {
				t.Errorf("event on %s lacks %q: %v", e.subject, f, e.fields)
			}
		}
		if e.env.SpecVersion != "1.0" || e.env.DataContentType != "application/json" || e.env.Time.IsZero() {
			t.Errorf("event %s: specversion %q datacontenttype %q time %v", e.env.ID, e.env.SpecVersion, e.env.DataContentType, e.env.Time)
		}
		if e.msgID == "" || e.msgID != e.env.ID {
			t.Errorf("event %s: Nats-Msg-Id %q", e.env.ID, e.msgID)
		}
		ids[e.env.ID]++
		what := strings.TrimPrefix(e.env.Type, "virtsync.")
		if e.subject != prefix+"."+what {
			t.Errorf("event %s of type %s on subject %s", e.env.ID, e.env.Type, e.subject)
		}
		types[what]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("event id %s is in the stream %d times", id, n)
		}
	}
	return types
}

// ---- 1. schedule and graceful stop ----------------------------------------

func TestDaemonSchedulesAndStopsCleanly(t *testing.T) {
	w, addr := daemonWorld(t, onectest.DemoSeed(1500, 10, 1, 21), "")
	w.vp.SetFaults(virtpostest.Faults{Latency: 20 * time.Millisecond})
	clients := w.clients()
	d := startDaemon(t, w)

	waitFor(t, d, 90*time.Second, "repeated cards and orders runs while customers load", func() bool {
		m := scrape(addr)
		cards, _ := metricTotal(m, "virtsync_run_duration_seconds_count", `job="cards"`)
		orders, _ := metricTotal(m, "virtsync_run_duration_seconds_count", `job="orders"`)
		return cards >= 3 && orders >= 3 && w.vp.Counts().CustomersCreated >= 100
	})
	if code, _ := get(addr, "/livez"); code != 200 {
		t.Errorf("/livez = %d", code)
	}
	if code, body := get(addr, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d: %s", code, body)
	}
	// The status page: the three jobs with their runs and when each runs
	// next; no secret of the config.
	if code, body := get(addr, "/"); code != 200 {
		t.Errorf("/ = %d: %s", code, body)
	} else {
		for _, want := range []string{"customers", "cards", "orders", "<svg", "Next run"} {
			if !strings.Contains(body, want) {
				t.Errorf("the status page lacks %q", want)
			}
		}
		if strings.Contains(body, "not scheduled by this process") {
			t.Error("the status page does not know the scheduler's next runs")
		}
		for _, secret := range []string{apikey, "pw-Секрет"} {
			if strings.Contains(body, secret) {
				t.Errorf("the status page shows a secret")
			}
		}
	}
	code, took := d.stop(30 * time.Second)
	mid := w.vp.Counts().CustomersCreated
	t.Logf("SIGTERM after %d of %d customers: exit %d in %s", mid, len(clients), code, took)
	if code != 0 {
		t.Errorf("daemon exit code %d after SIGTERM, want 0", code)
	}
	if took > 10*time.Second {
		t.Errorf("shutdown took %s, more than shutdown_timeout 10s", took)
	}
	if mid >= len(clients) {
		t.Fatalf("the customers run finished (%d) before SIGTERM: not a mid-run stop", mid)
	}

	runs := runsOf(t, w)
	checkNoOverlap(t, runs)
	for _, j := range []string{"cards", "orders"} {
		if len(runs[j]) < 3 {
			t.Errorf("%s ran %d times in the daemon, want >= 3", j, len(runs[j]))
		}
	}
	cr := runs["customers"]
	if len(cr) != 1 || cr[0].Status != state.RunCancelled || cr[0].Mode != "scheduled" {
		t.Errorf("customers runs: %+v, want one scheduled run, cancelled", cr)
	} else if cr[0].Created == 0 || cr[0].Created > mid {
		t.Errorf("cancelled run committed %d customers; virtpos got %d", cr[0].Created, mid)
	}

	w.mustRun(0, "-once")
	w.checkClientsOnce()

	// A fast daemon now runs customers repeatedly too.
	w.vp.SetFaults(virtpostest.Faults{})
	before := len(runsOf(t, w)["customers"])
	d2 := startDaemon(t, w)
	waitFor(t, d2, 30*time.Second, "repeated customers runs", func() bool {
		n, _ := metricTotal(scrape(addr), "virtsync_run_duration_seconds_count", `job="customers"`, `status="ok"`)
		return n >= 3
	})
	if code, _ := d2.stop(30 * time.Second); code != 0 {
		t.Errorf("second daemon exit %d", code)
	}
	runs = runsOf(t, w)
	checkNoOverlap(t, runs)
	if n := len(runs["customers"]) - before; n < 3 {
		t.Errorf("customers ran %d times in the second daemon, want >= 3", n)
	}
	w.checkClientsOnce()
	if st := w.mustRun(0, "status"); !strings.Contains(st.stdout, "Outbox:        empty") {
		t.Errorf("outbox not drained at shutdown:\n%s", st.stdout)
	}

	// The events of both daemons and the -once run, across the SIGTERM:
	// one upserted per customer and per card, one started and one finished
	// per run.
	emb := startListeningNATS(t, filepath.Join(w.dir, "nats"), "127.0.0.1:0")
	evs := readStream(t, natsLoginURL(emb.Port()), "VIRTSYNC")
	types := checkEnvelopes(t, evs, "virtsync")
	nruns := 0
	for _, rs := range runs {
		nruns += len(rs)
	}
	if types["run.started"] != nruns || types["run.finished"] != nruns {
		t.Errorf("stream has %d run.started and %d run.finished, the state has %d runs",
			types["run.started"], types["run.finished"], nruns)
	}
	per := map[string]int{}
	for _, e := range evs {
		if strings.HasSuffix(e.env.Type, ".upserted") {
			var dd struct {
				ExternalID string `json:"external_id"`
			}
			_ = json.Unmarshal(e.env.Data, &dd)
			per[e.env.Type+" "+dd.ExternalID]++
		}
	}
	for _, p := range clients {
		if n := per["virtsync.customer.upserted "+str(p["Ref_Key"])]; n != 1 {
			t.Errorf("customer %s: %d upserted events, want 1", p["Ref_Key"], n)
		}
	}
	for _, c := range w.onec.All(onectest.SetCards) {
		if n := per["virtsync.card.upserted "+str(c["Ref_Key"])]; n != 1 {
			t.Errorf("card %s: %d upserted events, want 1", c["Ref_Key"], n)
		}
	}
}

// TestSIGTERMStopsTheBuiltDaemon is the daemon test that runs the built
// binary: the others run Main in this process and end its context, and
// only the binary shows main turning SIGTERM into that end and Run's code
// into the exit status.
func TestSIGTERMStopsTheBuiltDaemon(t *testing.T) {
	w, addr := daemonWorld(t, onectest.DemoSeed(5, 2, 1, 28), "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := w.command(ctx)
	var stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, nil, time.Minute, "/livez of the built daemon", func() bool {
		code, _ := get(addr, "/livez")
		return code == 200 || len(done) > 0
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the daemon ended with %v after SIGTERM, want exit 0\n%s", err, tail(stderr.String(), 3000))
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the daemon still runs 30s after SIGTERM\n%s", tail(stderr.String(), 3000))
	}
	if !strings.Contains(stderr.String(), "virtsync daemon stopped") {
		t.Errorf("the daemon's log does not say it stopped:\n%s", tail(stderr.String(), 3000))
	}
}

// ---- 2. manual resync while the daemon runs the job ------------------------

func TestDaemonManualResyncWaits(t *testing.T) {
	w, _ := daemonWorld(t, onectest.DemoSeed(600, 0, 1, 22), "")
	w.vp.SetFaults(virtpostest.Faults{Latency: 20 * time.Millisecond})
	d := startDaemon(t, w)
	waitFor(t, d, 60*time.Second, "the daemon's customers run in progress", func() bool {
		return w.vp.Counts().CustomersCreated >= 30
	})
	if n := w.vp.Counts().CustomersCreated; n >= len(w.clients()) {
		t.Fatalf("the daemon's run already finished (%d)", n)
	}
	r := w.mustRun(0, "-resync", "customers")
	if !strings.Contains(r.stderr, "waiting for it to finish") {
		t.Errorf("resync started during the daemon's run does not say it waits:\n%s", tail(r.stderr, 2000))
	}
	if code, _ := d.stop(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	runs := runsOf(t, w)
	checkNoOverlap(t, runs)
	var sched, resync *state.Run
	for i, r := range runs["customers"] {
		if r.Mode == "scheduled" && sched == nil {
			sched = &runs["customers"][i]
		}
		if r.Mode == "resync" {
			if resync != nil {
				t.Errorf("two resync runs")
			}
			resync = &runs["customers"][i]
		}
	}
	if sched == nil || resync == nil {
		t.Fatalf("runs: %+v", runs["customers"])
	}
	if resync.StartedAt.Before(sched.FinishedAt) {
		t.Errorf("resync started %s before the daemon's run finished %s", resync.StartedAt, sched.FinishedAt)
	}
	if sched.Status != state.RunOK || sched.Created != len(w.clients()) {
		t.Errorf("daemon's run: %+v, want ok with %d created", sched, len(w.clients()))
	}
	if resync.Status != state.RunOK || resync.Updated != len(w.clients()) || resync.Created != 0 {
		t.Errorf("resync run: %+v, want ok, %d updated, none created", resync, len(w.clients()))
	}
	w.checkClientsOnce()
}

// ---- 3. events of a -once run -----------------------------------------------

func checkOnceEvents(t *testing.T, w *world, evs []streamEvent, prefix string) {
	t.Helper()
	types := checkEnvelopes(t, evs, prefix)
	clients, cards := w.clients(), w.onec.All(onectest.SetCards)
	want := map[string]int{"customer.upserted": len(clients), "card.upserted": len(cards),
		"run.started": 3, "run.finished": 3}
	for typ, n := range want {
		if types[typ] != n {
			t.Errorf("%d %s events, want %d", types[typ], typ, n)
		}
	}
	for typ, n := range types {
		if _, ok := want[typ]; !ok {
			t.Errorf("unexpected %d %s events", n, typ)
		}
	}
	// One customer.upserted per client, by key.
	per := map[string]int{}
	for _, e := range evs {
		if e.env.Type == "virtsync.customer.upserted" {
			var d struct {
				ExternalID string `json:"external_id"`
			}
			_ = json.Unmarshal(e.env.Data, &d)
			per[d.ExternalID]++
		}
	}
	for _, p := range clients {
		if n := per[str(p["Ref_Key"])]; n != 1 {
			t.Errorf("customer %s has %d upserted events", p["Ref_Key"], n)
		}
	}
}

func TestEventsEmbedded(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(30, 20, 2, 23), "")
	w.mustRun(0, "-once")
	if st := w.mustRun(0, "status"); !strings.Contains(st.stdout, "Outbox:        empty") {
		t.Errorf("outbox not empty after -once:\n%s", st.stdout)
	}
	emb := startListeningNATS(t, filepath.Join(w.dir, "nats"), "127.0.0.1:0")
	evs := readStream(t, natsLoginURL(emb.Port()), "VIRTSYNC")
	checkOnceEvents(t, w, evs, "virtsync")
}

func TestEventsExternalNATS(t *testing.T) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err != nil {
		t.Skipf("no NATS at 127.0.0.1:4222: %v", err)
	}
	c.Close()
	var b [4]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	stream, prefix := "VSTEST_"+h, "vstest"+h
	w := newWorld(t, onectest.DemoSeed(30, 20, 2, 24), "")
	w.setConfig(`nats: {url: ""}`, fmt.Sprintf(`nats: {url: "nats://127.0.0.1:4222", stream: %s, subject_prefix: %s}`, stream, prefix))
	t.Cleanup(func() {
		nc, err := nats.Connect("nats://127.0.0.1:4222", nats.Timeout(5*time.Second))
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
	w.mustRun(0, "-once")
	evs := readStream(t, "nats://127.0.0.1:4222", stream)
	checkOnceEvents(t, w, evs, prefix)
}

// ---- 4. NATS down during a run ------------------------------------------------

func TestEventsNATSDownThenBack(t *testing.T) {
	port := freePort(t)
	store := t.TempDir()
	start := func() *events.Embedded {
		return startListeningNATS(t, store, fmt.Sprintf("127.0.0.1:%d", port))
	}
	emb := start()
	natsURL := natsLoginURL(port)
	w, addr := daemonWorld(t, onectest.DemoSeed(12, 6, 1, 25), fmt.Sprintf(`nats: {url: %q}`, natsURL))
	d := startDaemon(t, w)
	clients := w.clients()
	backlog := func() (float64, bool) { return metricTotal(scrape(addr), "virtsync_outbox_backlog") }

	waitFor(t, d, 60*time.Second, "the initial load published", func() bool {
		n, ok := backlog()
		return ok && n == 0 && len(w.vp.Customers()) == len(clients) && len(w.vp.Cards()) == 6
	})
	if code, body := get(addr, "/readyz"); code != 200 {
		t.Fatalf("/readyz with NATS up = %d: %s", code, body)
	}

	if up, ok := metricTotal(scrape(addr), "virtsync_nats_up"); !ok || up != 1 {
		t.Errorf("virtsync_nats_up = %v (reported %v) with NATS up, want 1", up, ok)
	}

	// NATS down is a degraded dependency, not "not ready": syncing goes
	// on through the outbox, so /readyz stays 200 and says so.
	emb.Shutdown()
	waitFor(t, d, 20*time.Second, "/readyz degraded with NATS down", func() bool {
		code, body := get(addr, "/readyz")
		return code == 200 && strings.HasPrefix(body, "degraded") && strings.Contains(body, "nats")
	})
	waitFor(t, d, 10*time.Second, "virtsync_nats_up 0", func() bool {
		up, ok := metricTotal(scrape(addr), "virtsync_nats_up")
		return ok && up == 0
	})
	before := w.vp.Counts().CustomersUpdated
	changed := map[string]bool{}
	for i, p := range clients[:3] {
		k := str(p["Ref_Key"])
		changed[k] = true
		if _, err := w.onec.Update(onectest.SetPartners, k, onectest.Object{"Description": fmt.Sprintf("Изменённая%d Анна", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, d, 30*time.Second, "the changes synced with NATS down", func() bool {
		return w.vp.Counts().CustomersUpdated-before >= 3
	})
	waitFor(t, d, 10*time.Second, "a backlog on /metrics", func() bool {
		n, _ := backlog()
		return n > 0
	})
	if st := w.mustRun(0, "status"); !strings.Contains(st.stdout, "waiting for NATS") {
		t.Errorf("status does not show the backlog:\n%s", st.stdout)
	}
	if code, body := get(addr, "/readyz"); code != 200 || !strings.HasPrefix(body, "degraded") {
		t.Errorf("/readyz = %d %q with NATS down, want 200 degraded", code, body)
	}

	start()
	waitFor(t, d, 30*time.Second, "/readyz ok after NATS is back", func() bool {
		code, body := get(addr, "/readyz")
		return code == 200 && strings.TrimSpace(body) == "ok"
	})
	if up, ok := metricTotal(scrape(addr), "virtsync_nats_up"); !ok || up != 1 {
		t.Errorf("virtsync_nats_up = %v (reported %v) after NATS is back, want 1", up, ok)
	}
	waitFor(t, d, 30*time.Second, "the backlog drained", func() bool {
		n, ok := backlog()
		return ok && n == 0
	})
	if code, _ := d.stop(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}

	evs := readStream(t, natsURL, "VIRTSYNC")
	types := checkEnvelopes(t, evs, "virtsync")
	runs := runsOf(t, w)
	nruns := 0
	for _, rs := range runs {
		nruns += len(rs)
	}
	if types["run.started"] != nruns || types["run.finished"] != nruns {
		t.Errorf("stream has %d run.started and %d run.finished, the state has %d runs",
			types["run.started"], types["run.finished"], nruns)
	}
	if want := len(clients) + 3; types["customer.upserted"] != want {
		t.Errorf("%d customer.upserted, want %d (initial load + 3 changes)", types["customer.upserted"], want)
	}
	if types["card.upserted"] != 6 {
		t.Errorf("%d card.upserted, want 6", types["card.upserted"])
	}
	per := map[string]int{}
	for _, e := range evs {
		if e.env.Type == "virtsync.customer.upserted" {
			var dd struct {
				ExternalID string `json:"external_id"`
			}
			_ = json.Unmarshal(e.env.Data, &dd)
			per[dd.ExternalID]++
		}
	}
	for k := range changed {
		if per[k] != 2 {
			t.Errorf("changed customer %s has %d upserted events, want 2", k, per[k])
		}
	}
	// Nothing left behind in the outbox.
	if st := w.mustRun(0, "status"); !strings.Contains(st.stdout, "Outbox:        empty") {
		t.Errorf("outbox not empty at the end:\n%s", st.stdout)
	}
}

// ---- 5. metrics ---------------------------------------------------------------

var guidRe = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func TestMetricsDaemon(t *testing.T) {
	w, addr := daemonWorld(t, onectest.DemoSeed(20, 10, 2, 26), "")
	d := startDaemon(t, w)
	var text string
	waitFor(t, d, 60*time.Second, "a successful run of every job on /metrics", func() bool {
		text = scrape(addr)
		for _, j := range []string{"customers", "cards", "orders"} {
			if v, ok := metricTotal(text, "virtsync_last_success_timestamp_seconds", `job="`+j+`"`); !ok || v <= 0 {
				return false
			}
		}
		// Cards whose owner was not in virtpos yet are held until a later
		// run (the jobs start together): wait for all of them.
		n, _ := metricTotal(text, "virtsync_records_total", `job="cards"`, `result="created"`)
		return n >= 10
	})
	clients := w.clients()
	checks := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"virtsync_records_total", []string{`job="customers"`, `result="created"`}, float64(len(clients))},
		{"virtsync_records_total", []string{`job="cards"`, `result="created"`}, 10},
		{"virtsync_api_request_duration_seconds_count", []string{`system="virtpos"`}, 1},
		{"virtsync_api_request_duration_seconds_count", []string{`system="onec"`}, 1},
		{"virtsync_api_request_duration_seconds_bucket", []string{`system="onec"`, `le="+Inf"`}, 1},
		{"virtsync_run_duration_seconds_count", []string{`job="customers"`}, 1},
		{"virtsync_run_duration_seconds_count", []string{`job="orders"`}, 1},
		{"virtsync_outbox_backlog", nil, 0},
		{"virtsync_dead_letters", []string{`job="customers"`}, 0},
	}
	for _, c := range checks {
		v, ok := metricTotal(text, c.name, c.labels...)
		if !ok {
			t.Errorf("no %s%v on /metrics", c.name, c.labels)
		} else if v < c.min {
			t.Errorf("%s%v = %v, want >= %v", c.name, c.labels, v, c.min)
		}
	}
	if v, _ := metricTotal(text, "virtsync_records_total", `job="customers"`, `result="created"`); v != float64(len(clients)) {
		t.Errorf("customers created = %v, want %d", v, len(clients))
	}
	if v, _ := metricTotal(text, "virtsync_dead_letters"); v != 0 {
		t.Errorf("dead letters = %v", v)
	}
	if strings.Contains(text, apikey) || strings.Contains(text, url.QueryEscape(apikey)) || strings.Contains(text, "pw-Секрет") {
		t.Errorf("a secret is on /metrics")
	}
	keys := map[string]bool{}
	for _, p := range w.onec.All(onectest.SetPartners) {
		keys[str(p["Ref_Key"])] = true
	}
	for _, c := range w.onec.All(onectest.SetCards) {
		keys[str(c["Ref_Key"])] = true
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i, j := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
		if i < 0 || j < i {
			continue
		}
		lbl := line[i:j]
		if g := guidRe.FindString(lbl); g != "" {
			t.Errorf("a GUID in a label (record key %v): %s", keys[strings.ToLower(g)] || keys[g], line)
		}
		for k := range keys {
			if strings.Contains(lbl, k) {
				t.Errorf("a record key in a label: %s", line)
			}
		}
	}
	if code, _ := d.stop(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// ---- /readyz with NATS absent from the start ----------------------------------

func TestReadyzNATSAbsentAtStart(t *testing.T) {
	port := freePort(t)
	store := t.TempDir()
	natsURL := natsLoginURL(port)
	w, addr := daemonWorld(t, onectest.DemoSeed(8, 4, 1, 27), fmt.Sprintf(`nats: {url: %q}`, natsURL))
	d := startDaemon(t, w)
	clients := w.clients()
	// Syncing does not wait for NATS; /livez is fine, /readyz says degraded.
	waitFor(t, d, 30*time.Second, "the initial load without NATS", func() bool {
		return len(w.vp.Customers()) == len(clients) && len(w.vp.Cards()) == 4
	})
	if code, _ := get(addr, "/livez"); code != 200 {
		t.Errorf("/livez = %d without NATS, want 200", code)
	}
	if code, body := get(addr, "/readyz"); code != 200 || !strings.HasPrefix(body, "degraded") || !strings.Contains(body, "nats") {
		t.Errorf("/readyz without NATS = %d %q, want 200 degraded naming nats", code, body)
	}
	if up, ok := metricTotal(scrape(addr), "virtsync_nats_up"); !ok || up != 0 {
		t.Errorf("virtsync_nats_up = %v (reported %v) without NATS, want 0", up, ok)
	}
	if n, _ := metricTotal(scrape(addr), "virtsync_outbox_backlog"); n < float64(len(clients)+4) {
		t.Errorf("outbox backlog %v without NATS, want >= %d", n, len(clients)+4)
	}

	startListeningNATS(t, store, fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, d, 30*time.Second, "/readyz ok once NATS is up", func() bool {
		code, body := get(addr, "/readyz")
		return code == 200 && strings.TrimSpace(body) == "ok"
	})
	waitFor(t, d, 30*time.Second, "the backlog drained", func() bool {
		n, ok := metricTotal(scrape(addr), "virtsync_outbox_backlog")
		return ok && n == 0
	})
	if code, _ := d.stop(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	types := checkEnvelopes(t, readStream(t, natsURL, "VIRTSYNC"), "virtsync")
	if types["customer.upserted"] != len(clients) || types["card.upserted"] != 4 {
		t.Errorf("events after NATS came up: %v, want %d customer.upserted and 4 card.upserted", types, len(clients))
	}
}
