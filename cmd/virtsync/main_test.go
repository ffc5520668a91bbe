package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	main "github.com/virtsync/virtsync/cmd/virtsync"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// The tests run the program in their own process, as main does: a Main
// with its streams captured, its environment a map and SIGTERM the end of
// Run's context, all under the race detector. Only the tests of what a
// goroutine cannot show run the built binary (builtBinary): a SIGKILL in
// the middle of a run, and main turning SIGTERM into an exit status.

var bin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// builtBinary builds virtsync once, for the tests that kill or signal the
// process.
func builtBinary(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "virtsync-bin")
		if bin.err != nil {
			return
		}
		bin.path = filepath.Join(bin.dir, "virtsync")
		if out, err := exec.Command("go", "build", "-o", bin.path, ".").CombinedOutput(); err != nil {
			bin.err = fmt.Errorf("build virtsync: %v\n%s", err, out)
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

const apikey = "it-secret-apikey-Ж7"

// world is one test's pair of fakes, config and state file.
type world struct {
	t      *testing.T
	onec   *onectest.Server
	vp     *virtpostest.Server
	dir    string
	config string
}

func newWorld(t *testing.T, seed onectest.Seed, extraYAML string) *world {
	t.Helper()
	oc, ocURL := onectest.StartTest(t, onectest.Options{User: "sync", Password: "pw-Секрет"}, seed)
	return newWorldOn(t, oc, ocURL, extraYAML)
}

// newWorldOn is newWorld with a fake 1C the caller started (another
// profile's, a demo base).
func newWorldOn(t *testing.T, oc *onectest.Server, ocURL, extraYAML string) *world {
	t.Helper()
	vp := virtpostest.NewServer(t, virtpostest.Options{APIKey: apikey})
	w := &world{t: t, onec: oc, vp: vp, dir: t.TempDir()}
	w.config = filepath.Join(w.dir, "virtsync.yaml")
	cfg := fmt.Sprintf(`state: {path: %q}
nats: {url: ""}
http: {listen: ""}
log: {level: debug, format: json}
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
%s`, filepath.Join(w.dir, "state.db"), vp.URL, strings.TrimSuffix(ocURL, "/"), extraYAML)
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

type result struct {
	stdout, stderr string
	code           int
}

// env is the environment of the world's virtsync: the secrets its config
// names, and extra (NAME=value) on top.
func (w *world) env(extra map[string]string) func(string) (string, bool) {
	env := map[string]string{"VIRTPOS_APIKEY": apikey, "ONEC_PASSWORD": "pw-Секрет"}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// owners numbers the programs of this process: each takes its leases under
// a name of its own, as separate processes do under their pids.
var owners atomic.Int64

// newMain is the program main would run on the world's config, writing to
// stdout and stderr.
func (w *world) newMain(extra map[string]string, stdout, stderr io.Writer) *main.Main {
	host, _ := os.Hostname()
	return &main.Main{Stdout: stdout, Stderr: stderr, LookupEnv: w.env(extra),
		Owner: fmt.Sprintf("%s:%d/main-%d", host, os.Getpid(), owners.Add(1))}
}

// command is the built binary run on the world's config, for the tests
// that kill it.
func (w *world) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, builtBinary(w.t), append([]string{"-config", w.config}, args...)...)
	cmd.Env = append(os.Environ(), "VIRTPOS_APIKEY="+apikey, "ONEC_PASSWORD=pw-Секрет")
	cmd.Dir = w.dir
	return cmd
}

func (w *world) run(args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return w.runWith(ctx, nil, args)
}

// stopGrace is how long a run may take to return once its context ended
// (SIGTERM): the record in flight finishes and the outbox drains.
const stopGrace = time.Minute

// runWith runs a virtsync command to its end with extra environment and
// returns its output and exit code, failing the test when the world's
// secrets, or the extra ones, show in the output. ctx ending stops the run
// as SIGTERM does.
func (w *world) runWith(ctx context.Context, extra map[string]string, args []string, secrets ...string) result {
	w.t.Helper()
	var out, errb syncbuf.Buffer
	m := w.newMain(extra, &out, &errb)
	code := main.ExitUsage
	if err := m.ParseFlags(append([]string{"-config", w.config}, args...)); err == nil {
		done := make(chan int, 1)
		go func() { done <- m.Run(ctx) }()
		select {
		case code = <-done:
		case <-ctx.Done():
			select {
			case code = <-done:
			case <-time.After(stopGrace):
				w.t.Fatalf("virtsync %v still runs %s after its context ended\nstderr:\n%s", args, stopGrace, tail(errb.String(), 3000))
			}
		}
	}
	if err := m.Close(); err != nil {
		w.t.Errorf("virtsync %v: Close: %v", args, err)
	}
	r := result{out.String(), errb.String(), code}
	for _, s := range append([]string{apikey, url.QueryEscape(apikey), "pw-Секрет"}, secrets...) {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			w.t.Fatalf("a secret leaked into the output of %v", args)
		}
	}
	return r
}

func (w *world) mustRun(want int, args ...string) result {
	w.t.Helper()
	r := w.run(args...)
	if r.code != want {
		w.t.Fatalf("virtsync %v exited %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, tail(r.stderr, 3000))
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// clients returns the 1C partners virtsync should push (Клиент = true).
func (w *world) clients() []onectest.Object {
	var out []onectest.Object
	for _, p := range w.onec.All(onectest.SetPartners) {
		if p["Клиент"] == true {
			out = append(out, p)
		}
	}
	return out
}

func str(v any) string { return fmt.Sprint(v) }

func writes(c virtpostest.Counts) int {
	return c.CustomersCreated + c.CustomersUpdated + c.CardsCreated + c.CardsUpdated + c.CardsDeleted
}

func TestInitialLoadThenNothingToDo(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(40, 30, 3, 7), "")
	r := w.mustRun(0, "-once")
	if !strings.Contains(r.stdout, "customers") || !strings.Contains(r.stdout, "CREATED") {
		t.Errorf("no summary table on stdout:\n%s", r.stdout)
	}

	clients := w.clients()
	if len(clients) == 0 {
		t.Fatal("the seed has no clients")
	}
	byExt := map[string]virtposapi.Customer{}
	for _, c := range w.vp.Customers() {
		if _, dup := byExt[c.ExternalID]; dup {
			t.Errorf("customer %s exists twice in virtpos", c.ExternalID)
		}
		byExt[c.ExternalID] = c
	}
	if len(byExt) != len(clients) {
		t.Errorf("virtpos has %d customers, 1C has %d clients", len(byExt), len(clients))
	}
	for _, p := range clients {
		key := str(p["Ref_Key"])
		c, ok := byExt[key]
		if !ok {
			t.Errorf("1C client %s (%s) not in virtpos", key, p["Description"])
			continue
		}
		parts := strings.Fields(str(p["Description"]))
		if c.LName != parts[0] || (len(parts) > 1 && c.FName != parts[1]) {
			t.Errorf("customer %s: name %q %q, want from %q", key, c.LName, c.FName, p["Description"])
		}
		switch p["Пол"] {
		case "Мужской":
			if c.Gender != "M" {
				t.Errorf("customer %s: gender %q, want M", key, c.Gender)
			}
		case "Женский":
			if c.Gender != "F" {
				t.Errorf("customer %s: gender %q, want F", key, c.Gender)
			}
		}
		if c.Phone != "" && (!strings.HasPrefix(c.Phone, "+7") || len(c.Phone) != 12) {
			t.Errorf("customer %s: phone not normalised: %d chars", key, len(c.Phone))
		}
		if c.Email != strings.ToLower(strings.TrimSpace(c.Email)) {
			t.Errorf("customer %s: email not normalised", key)
		}
	}

	cards := w.onec.All(onectest.SetCards)
	vpCards := w.vp.Cards()
	if len(vpCards) != len(cards) {
		t.Errorf("virtpos has %d cards, 1C has %d", len(vpCards), len(cards))
	}
	for _, c := range cards {
		key := str(c["Ref_Key"])
		vc, ok := w.vp.Card(key)
		if !ok {
			t.Errorf("card %s not in virtpos", key)
			continue
		}
		uid := str(c["Штрихкод"])
		if uid == "" {
			uid = str(c["МагнитныйКод"])
		}
		if vc.UID != uid {
			t.Errorf("card %s: uid %q, want %q", key, vc.UID, uid)
		}
		owner := byExt[str(c["Партнер_Key"])]
		if vc.CustomerID != owner.ID {
			t.Errorf("card %s: customer_id %q, want %q (its owner)", key, vc.CustomerID, owner.ID)
		}
		if vc.TypeName == "" || (vc.Medium != "PLASTIC" && vc.Medium != "MAGNET") {
			t.Errorf("card %s: type %q medium %q", key, vc.TypeName, vc.Medium)
		}
		wantStatus := map[string]string{"Действует": "ACTIVE", "НеДействует": "BLOCKED"}[str(c["Статус"])]
		if vc.Status != wantStatus {
			t.Errorf("card %s: status %q, want %q", key, vc.Status, wantStatus)
		}
	}

	// Orders placed in virtpos by the customers just synced.
	var custs []virtposapi.Customer
	for _, p := range clients[:3] {
		custs = append(custs, byExt[str(p["Ref_Key"])])
	}
	dec := decimal.RequireFromString
	now := time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-time.Hour).Format(virtposapi.TimeLayout)
	w.vp.AddOrder(virtposapi.Order{GUID: "ord-1", CustomerID: custs[0].ID, CreatedDate: now, Comment: "Позвонить",
		Amount: dec("976.59"), Discount: dec("10.20"), ShippingCost: dec("130.00"),
		Items: []virtposapi.Item{
			{ItemID: onectest.DemoItemCode(0), ItemName: "Коньяк", Quantity: dec("3.450"), UnitBasePrice: dec("100.10"), Discount: dec("10.20"), Amount: dec("335.15")},
			{ItemID: onectest.DemoItemCode(1), ItemName: "Сыр", Quantity: dec("2.000"), UnitBasePrice: dec("320.72"), Discount: dec("0.00"), Amount: dec("641.44")},
		}})
	w.vp.AddOrder(virtposapi.Order{CustomerID: custs[1].ID, CreatedDate: now, Amount: dec("0.01"), Discount: dec("0"),
		Items: []virtposapi.Item{{ItemID: onectest.DemoItemCode(2), Quantity: dec("0.001"), UnitBasePrice: dec("10.00"), Discount: dec("0"), Amount: dec("0.01")}}})
	w.mustRun(0, "-once", "-job", "orders")
	docs := w.onec.All(onectest.SetOrders)
	if len(docs) != 2 {
		t.Fatalf("1C has %d order documents, want 2", len(docs))
	}
	for _, d := range docs {
		if str(d["НомерПоДаннымКлиента"]) == "guid:ord-1" {
			if s := fmt.Sprint(d["СуммаДокумента"]); s != "976.59" {
				t.Errorf("СуммаДокумента = %s, want exactly 976.59", s)
			}
			rows, _ := d["Товары"].([]onectest.Object)
			if len(rows) != 2 {
				t.Fatalf("Товары has %d rows, want 2", len(rows))
			}
			r0 := rows[0]
			if fmt.Sprint(r0["Сумма"]) != "335.15" || fmt.Sprint(r0["Количество"]) != "3.45" || fmt.Sprint(r0["Цена"]) != "100.1" {
				t.Errorf("first row = %v", r0)
			}
			if str(d["Партнер_Key"]) != custs[0].ExternalID {
				t.Errorf("Партнер_Key = %v, want %s", d["Партнер_Key"], custs[0].ExternalID)
			}
		}
	}

	// A second run with nothing changed writes nothing anywhere.
	before := w.vp.Counts()
	w.onec.ResetCounters()
	w.mustRun(0, "-once")
	after := w.vp.Counts()
	if writes(after) != writes(before) {
		t.Errorf("a run with no change wrote to virtpos: before %+v after %+v", before, after)
	}
	for _, n := range []string{"customer/update", "card/update", "card/delete"} {
		if after.Requests["/"+n] != before.Requests["/"+n] {
			t.Errorf("a run with no change called %s %d times", n, after.Requests["/"+n]-before.Requests["/"+n])
		}
	}
	if n := w.onec.Writes(onectest.SetOrders); n != 0 {
		t.Errorf("a run with no change wrote %d order documents", n)
	}

	// No secret in the state file or the NATS store: scan every byte.
	filepath.WalkDir(w.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == w.config {
			return nil
		}
		b, rerr := os.ReadFile(path)
		if rerr == nil && (bytes.Contains(b, []byte(apikey)) || bytes.Contains(b, []byte("pw-Секрет"))) {
			t.Errorf("a secret is stored in %s", path)
		}
		return nil
	})

	st := w.mustRun(0, "status")
	for _, want := range []string{"customers", "cards", "orders", "Outbox:", "Dead letters:  none"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}
}

func TestChangesAndDeletions(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(20, 12, 3, 11), "")
	w.mustRun(0, "-once", "-job", "customers")
	w.mustRun(0, "-once", "-job", "cards")
	before := w.vp.Counts()

	clients := w.clients()
	changed := str(clients[0]["Ref_Key"])
	if _, err := w.onec.Update(onectest.SetPartners, changed, onectest.Object{"Description": "Новикова Анна Сергеевна"}); err != nil {
		t.Fatal(err)
	}
	cards := w.onec.All(onectest.SetCards)
	soft, gone := str(cards[0]["Ref_Key"]), str(cards[1]["Ref_Key"])
	if err := w.onec.SoftDelete(onectest.SetCards, soft); err != nil {
		t.Fatal(err)
	}
	if err := w.onec.Delete(onectest.SetCards, gone); err != nil {
		t.Fatal(err)
	}
	w.mustRun(0, "-once")
	after := w.vp.Counts()
	if d := after.CustomersUpdated - before.CustomersUpdated; d != 1 {
		t.Errorf("customers updated: %d, want 1", d)
	}
	if d := after.CardsDeleted - before.CardsDeleted; d != 2 {
		t.Errorf("cards deleted: %d, want 2 (one marked, one deleted)", d)
	}
	if after.CustomersCreated != before.CustomersCreated || after.CardsCreated != before.CardsCreated || after.CardsUpdated != before.CardsUpdated {
		t.Errorf("unexpected writes: before %+v after %+v", before, after)
	}
	if c, _ := w.vp.Customer(changed); c.LName != "Новикова" || c.FName != "Анна" {
		t.Errorf("changed customer is %q %q in virtpos", c.LName, c.FName)
	}
	for _, k := range []string{soft, gone} {
		if _, ok := w.vp.Card(k); ok {
			t.Errorf("card %s still in virtpos", k)
		}
	}

	// -resync pushes every record again as an update and creates nothing.
	before = w.vp.Counts()
	w.mustRun(0, "-resync", "customers,cards")
	after = w.vp.Counts()
	if after.CustomersCreated != before.CustomersCreated || after.CardsCreated != before.CardsCreated {
		t.Errorf("resync created records: before %+v after %+v", before, after)
	}
	if d := after.CustomersUpdated - before.CustomersUpdated; d != len(clients) {
		t.Errorf("resync updated %d customers, want %d", d, len(clients))
	}
	if d := after.CardsUpdated - before.CardsUpdated; d != len(cards)-2 {
		t.Errorf("resync updated %d cards, want %d", d, len(cards)-2)
	}
}

func TestBlockInsteadOfDelete(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(10, 6, 2, 5), "")
	b, _ := os.ReadFile(w.config)
	cfg := strings.Replace(string(b), "  retry: {max_attempts: 3, initial: 10ms, max: 100ms}\noutbox", "  retry: {max_attempts: 3, initial: 10ms, max: 100ms}\n  cards: {on_delete: block}\noutbox", 1)
	os.WriteFile(w.config, []byte(cfg), 0o600)
	w.mustRun(0, "-once")
	card := str(w.onec.All(onectest.SetCards)[0]["Ref_Key"])
	if err := w.onec.SoftDelete(onectest.SetCards, card); err != nil {
		t.Fatal(err)
	}
	w.mustRun(0, "-once", "-job", "cards")
	vc, ok := w.vp.Card(card)
	if !ok || vc.Status != "BLOCKED" {
		t.Fatalf("card after deletion mark with on_delete: block: %+v (present %v), want BLOCKED", vc, ok)
	}
}

func TestRejectedRecordThenReplay(t *testing.T) {
	w := newWorld(t, onectest.DemoSeed(12, 0, 1, 3), "")
	victim := str(w.clients()[2]["Ref_Key"])
	reject := func(entity string, p url.Values) (bool, string) {
		if entity == "/customer/update" && p.Get("external_id") == victim {
			return true, "Неверный формат телефона"
		}
		return false, ""
	}
	w.vp.SetFaults(virtpostest.Faults{Reject: reject})
	r := w.mustRun(1, "-once", "-job", "customers")
	if !strings.Contains(r.stdout, victim) || !strings.Contains(r.stdout, "Неверный формат телефона") {
		t.Errorf("summary does not name the failed record and reason:\n%s", r.stdout)
	}
	if got, want := len(w.vp.Customers()), len(w.clients())-1; got != want {
		t.Errorf("virtpos has %d customers, want %d (all but the rejected one)", got, want)
	}
	f := w.mustRun(0, "failures")
	if !strings.Contains(f.stdout, victim) || !strings.Contains(f.stdout, "Неверный формат телефона") {
		t.Errorf("failures does not list the dead letter:\n%s", f.stdout)
	}
	// Nothing changed in 1C: a plain run does not hammer the bad record.
	before := w.vp.Counts()
	w.mustRun(0, "-once", "-job", "customers")
	if after := w.vp.Counts(); after.Rejected != before.Rejected {
		t.Errorf("an unchanged dead letter was sent again")
	}

	w.vp.SetFaults(virtpostest.Faults{}) // the cause is fixed
	w.mustRun(0, "failures", "-replay")
	if _, ok := w.vp.Customer(victim); !ok {
		t.Fatal("replayed customer is not in virtpos")
	}
	if f := w.mustRun(0, "failures"); !strings.Contains(f.stdout, "no dead letters") {
		t.Errorf("dead letter still listed after a successful replay:\n%s", f.stdout)
	}
}

func TestBadConfigExitsTwo(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"bad schedule", "jobs: {customers: {schedule: \"every ten minutes\"}}\n", "jobs.customers.schedule"},
		{"unknown key", "virtpos_typo: 1\n", "virtpos_typo"},
		{"bad duration", "shutdown_timeout: 5 parsecs\n", "shutdown_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, onectest.Seed{}, tc.yaml)
			r := w.mustRun(2, "-once")
			for _, want := range []string{"virtsync.yaml", tc.want} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("config error does not name %q:\n%s", want, r.stderr)
				}
			}
		})
	}
	w := newWorld(t, onectest.Seed{}, "")
	w.mustRun(2, "-once", "-job", "products")
}

// TestKilledMidRunResumesWithoutDuplicates kills virtsync with SIGKILL in
// the middle of a 2,000-customer load and of an orders export, restarts it,
// and checks that every record exists exactly once on the other side.
func TestKilledMidRunResumesWithoutDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2,000-customer load")
	}
	w := newWorld(t, onectest.DemoSeed(2300, 0, 1, 99), "")
	w.vp.SetFaults(virtpostest.Faults{Latency: 5 * time.Millisecond})
	t.Logf("start at %s", time.Now().Format("15:04:05.000"))
	killWhen(t, w, func() bool { return w.vp.Counts().CustomersCreated >= 400 }, "-once", "-job", "customers")
	mid := w.vp.Counts().CustomersCreated
	clients := w.clients()
	if mid >= len(clients) {
		t.Fatalf("the run finished (%d customers) before it was killed", mid)
	}
	t.Logf("killed at %s", time.Now().Format("15:04:05.000"))
	w.mustRun(0, "-once", "-job", "customers")
	t.Logf("restart done at %s", time.Now().Format("15:04:05.000"))
	seen := map[string]int{}
	for _, c := range w.vp.Customers() {
		seen[c.ExternalID]++
	}
	for _, p := range clients {
		if n := seen[str(p["Ref_Key"])]; n != 1 {
			t.Errorf("customer %s exists %d times in virtpos", p["Ref_Key"], n)
		}
	}
	if len(seen) != len(clients) {
		t.Errorf("virtpos has %d distinct customers, want %d", len(seen), len(clients))
	}
	t.Logf("killed after %d of %d customers; after the restart all exist exactly once", mid, len(clients))

	// Orders: 300 of them, killed mid-export, then finished.
	custs := w.vp.Customers()
	dec := decimal.RequireFromString
	created := time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-2 * time.Hour)
	for i := 0; i < 300; i++ {
		o := virtposapi.Order{CustomerID: custs[i%len(custs)].ID, Amount: dec("100.00"), Discount: dec("0"),
			CreatedDate: created.Add(time.Duration(i/7) * time.Second).Format(virtposapi.TimeLayout),
			Items:       []virtposapi.Item{{ItemID: onectest.DemoItemCode(i % 20), Quantity: dec("1.000"), UnitBasePrice: dec("100.00"), Discount: dec("0"), Amount: dec("100.00")}}}
		if i%3 != 0 {
			o.GUID = fmt.Sprintf("g-%04d", i)
		}
		w.vp.AddOrder(o)
	}
	w.vp.SetFaults(virtpostest.Faults{})
	w.onec.SetLatency(5 * time.Millisecond)
	killWhen(t, w, func() bool { return w.onec.Writes(onectest.SetOrders) >= 60 }, "-once", "-job", "orders")
	w.onec.SetLatency(0)
	t.Logf("orders killed at %s", time.Now().Format("15:04:05.000"))
	w.mustRun(0, "-once", "-job", "orders")
	t.Logf("orders restart done at %s", time.Now().Format("15:04:05.000"))
	marks := map[string]int{}
	for _, d := range w.onec.All(onectest.SetOrders) {
		marks[str(d["НомерПоДаннымКлиента"])]++
	}
	if len(marks) != 300 {
		t.Errorf("1C has %d distinct orders, want 300", len(marks))
	}
	for k, n := range marks {
		if n != 1 {
			t.Errorf("order %s exists %d times in 1C", k, n)
		}
	}
}

// killWhen starts virtsync and SIGKILLs it once cond holds.
func killWhen(t *testing.T, w *world, cond func() bool, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := w.command(ctx, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			t.Fatalf("virtsync ended (%v) before the kill point", err)
		case <-tick.C:
			if cond() {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return
			}
		}
	}
}
