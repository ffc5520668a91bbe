package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/schedule"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/sink1c"
	"github.com/virtsync/virtsync/sinks/sinkvp"
	"github.com/virtsync/virtsync/sources/source1c"
	"github.com/virtsync/virtsync/sources/sourcevp"
	"github.com/virtsync/virtsync/state"
)

// Every key of configs/example.yaml must do something: changing it changes
// what virtsync builds or does, or the changed value is refused at load
// with an error naming the key. A key that is accepted and ignored misleads
// whoever sets it. The keys are read from example.yaml itself, so a key
// added there (and to internal/config) without a probe here fails
// TestEveryExampleKeyHasAProbe.

const exampleYAML = "../../configs/example.yaml"

// probe changes one key of example.yaml and says what must follow.
type probe struct {
	key string
	// value is the YAML written for the key.
	value string
	// with sets other keys first, on both sides: the setting in which the
	// key acts (a login for the embedded listener, say).
	with map[string]string
	// env adds environment variables, on both sides.
	env map[string]string
	// rejected, when set, is a text the load error must hold besides the
	// key; the change must not load.
	rejected string
	// atStart says the value loads but is refused where the profile is
	// compiled, before anything runs (exit 2); rejected is then a text
	// that error must hold.
	atStart bool
	// obs must each see a difference between the example and the change.
	// With rejected set too, either outcome will do.
	obs []observer
	// gap names a known way the key is accepted and ignored, to be fixed
	// elsewhere (config validation): the probe then skips while it fails
	// and fails once it passes, so the note goes when the gap does.
	gap string
}

// observer looks at what a loaded config makes virtsync build or do. It
// must return the same thing for the same config (checked), and never the
// config itself.
type observer struct {
	name string
	fn   func(t *testing.T, f *keysFixture, l loaded) any
}

// loaded is a config and the file it was loaded from.
type loaded struct {
	cfg  config.Config
	file string
}

func probes() []probe {
	ev := []observer{obsEvents}
	vp := []observer{obsVirtpos}
	oc := []observer{obsOneC}
	const (
		guid  = "11111111-2222-3333-4444-555555555555"
		guid2 = "66666666-7777-4888-9999-000000000000"
	)
	return []probe{
		{key: "state.path", value: "elsewhere/virtsync.db", obs: []observer{obsStateFile, obsEvents}},
		{key: "state.driver", value: "sqlite", rejected: "state.dsn: read only with state.driver: postgres",
			with: map[string]string{"state.driver": "postgres", "state.dsn": "postgres://postgres@127.0.0.1:1/virtsync"}},
		{key: "state.driver", value: "postgres", rejected: "state.dsn: required with state.driver: postgres"},
		{key: "state.driver", value: "mysql", rejected: "state.driver: want one of sqlite, postgres"},
		{key: "state.dsn", value: "postgres://postgres@127.0.0.1:1/virtsync", rejected: "state.dsn: read only with state.driver: postgres"},
		{key: "state.dsn", value: "postgres://postgres@127.0.0.1:2/virtsync", obs: []observer{obsStateOpen},
			with: map[string]string{"state.driver": "postgres", "state.dsn": "postgres://postgres@127.0.0.1:1/virtsync"}},
		{key: "state.lease_ttl", value: "30s", obs: []observer{obsRunner}},
		{key: "state.lease_ttl", value: "1s", rejected: "at least 3s"},

		{key: "nats.url", value: "nats://127.0.0.1:4222", obs: ev},
		{key: "nats.stream", value: "OTHER", obs: ev},
		{key: "nats.stream", value: "a.b", rejected: "without spaces, dots"},
		{key: "nats.subject_prefix", value: "acme.sync", obs: []observer{obsEvents, obsRunner}},
		{key: "nats.dedupe_window", value: "2m", obs: ev},
		{key: "nats.connect_timeout", value: "9s", obs: ev},
		{key: "nats.store_dir", value: "nats-store", obs: ev},
		{key: "nats.sync_always", value: "true", obs: ev},
		{key: "nats.embedded_listen", value: "127.0.0.1:4222", obs: ev,
			with: map[string]string{"nats.embedded_user": "bob", "nats.embedded_password": "s3cret"}},
		{key: "nats.embedded_listen", value: "127.0.0.1:4222", rejected: "nats.embedded_user"},
		{key: "nats.embedded_user", value: "bob", obs: ev,
			with: map[string]string{"nats.embedded_user": "alice"}, env: map[string]string{"NATS_EMBEDDED_PASSWORD": "one"}},
		{key: "nats.embedded_user", value: "bob", rejected: "nats.embedded_password"},
		{key: "nats.sync_always", value: "true", obs: ev, rejected: "nats.url",
			with: map[string]string{"nats.url": "nats://127.0.0.1:4222"}},
		{key: "nats.embedded_listen", value: "127.0.0.1:4222", obs: ev, rejected: "nats.url",
			with: map[string]string{"nats.url": "nats://127.0.0.1:4222"}},
		{key: "nats.embedded_password", value: "two", obs: ev,
			with: map[string]string{"nats.embedded_user": "bob"}, env: map[string]string{"NATS_EMBEDDED_PASSWORD": "one"}},

		{key: "http.listen", value: "127.0.0.1:9999", obs: []observer{obsHTTP}},
		{key: "http.listen", value: `""`, obs: []observer{obsHTTP}},
		{key: "http.listen", value: "9464", rejected: "want host:port"},

		{key: "log.level", value: "debug", obs: []observer{obsLog}},
		{key: "log.level", value: "error", obs: []observer{obsLog}},
		{key: "log.level", value: "verbose", rejected: "want one of"},
		{key: "log.format", value: "json", obs: []observer{obsLog}},
		{key: "log.format", value: "logfmt", rejected: "want one of"},

		{key: "virtpos.base_url", value: "https://other.virtpos.example/api/v2", obs: vp},
		{key: "virtpos.apikey", value: "another-key", obs: vp},
		{key: "virtpos.format", value: "xml", obs: vp},
		{key: "virtpos.method", value: "POST", obs: vp},
		{key: "virtpos.timeout", value: "11s", obs: vp},
		{key: "virtpos.orders_timeout", value: "5m", obs: vp},
		{key: "virtpos.concurrency", value: "2", obs: []observer{obsVirtpos, obsRunner}},
		{key: "virtpos.rate_limit", value: "0", obs: vp},
		{key: "virtpos.retry.max_attempts", value: "2", obs: vp},
		{key: "virtpos.retry.initial", value: "1s", obs: vp},
		{key: "virtpos.retry.max", value: "1m", obs: vp},
		{key: "virtpos.breaker.failures", value: "3", obs: vp},
		{key: "virtpos.breaker.failures", value: "-1", obs: vp},
		{key: "virtpos.breaker.cooldown", value: "2m", obs: vp},
		{key: "virtpos.paths.orders", value: "/v2/orders", obs: vp},
		{key: "virtpos.paths.customer", value: "/v2/customer", obs: vp},
		{key: "virtpos.paths.customer_update", value: "/v2/customer/update", obs: vp},
		{key: "virtpos.paths.card_update", value: "/v2/card/update", obs: vp},
		{key: "virtpos.paths.card_insert", value: "/v2/card/insert", obs: vp},
		{key: "virtpos.paths.card_delete", value: "/v2/card/delete", obs: vp},

		{key: "onec.base_url", value: "https://1c.other.example/trade/odata/standard.odata", obs: oc},
		{key: "onec.user", value: "другой", obs: oc},
		{key: "onec.password", value: "another-password", obs: oc},
		{key: "onec.timeout", value: "20s", obs: oc},
		{key: "onec.page_size", value: "100", obs: oc},
		{key: "onec.profile", value: "unf", obs: []observer{obsNeeds, obsOrderDoc}},
		{key: "onec.profile", value: "ut10", rejected: "onec.profile"},
		{key: "onec.retry.max_attempts", value: "2", obs: oc},
		{key: "onec.retry.initial", value: "1s", obs: oc},
		{key: "onec.retry.max", value: "1m", obs: oc},
		{key: "onec.breaker.failures", value: "3", obs: oc},
		{key: "onec.breaker.cooldown", value: "2m", obs: oc},

		{key: "onec.customers.entity", value: "Catalog_Покупатели", obs: []observer{obsCustomers, obsNeeds}},
		{key: "onec.customers.buyers", value: "all", obs: []observer{obsCustomers},
			with: map[string]string{"onec.customers.filter": `""`}},
		{key: "onec.customers.buyers", value: "all", rejected: "onec.customers.filter"},
		{key: "onec.customers.buyers", value: "everyone", rejected: "want one of"},
		{key: "onec.customers.filter", value: "Покупатель eq true", obs: []observer{obsCustomers, obsNeeds}},
		// groups are read with buyers: groups; the example picks filter.
		// Alone, groups picks that way.
		{key: "onec.customers.groups", value: "[" + guid + "]", obs: []observer{obsCustomers, obsNeeds},
			with: map[string]string{"onec.customers.buyers": `""`, "onec.customers.filter": `""`}},
		{key: "onec.customers.groups", value: "[" + guid2 + "]", obs: []observer{obsCustomers},
			with: map[string]string{"onec.customers.buyers": "groups", "onec.customers.groups": "[" + guid + "]"}},
		{key: "onec.customers.groups", value: "[" + guid + "]", obs: []observer{obsCustomers}, rejected: "onec.customers.buyers"},
		{key: "onec.customers.filter", value: "Покупатель eq true", obs: []observer{obsCustomers}, rejected: "onec.customers.buyers",
			with: map[string]string{"onec.customers.buyers": "groups", "onec.customers.groups": "[" + guid + "]"}},
		{key: "onec.customers.fields", value: "{fname: {from: Description, as: name_part, part: 3}}",
			obs: []observer{obsCustomers}},
		{key: "onec.customers.on_delete", value: "delete", rejected: "want one of ignore"},

		{key: "onec.cards.entity", value: "Catalog_ДисконтныеКарты", obs: []observer{obsCardsSource, obsNeeds}},
		{key: "onec.cards.kinds_entity", value: "Catalog_ВидыДисконтныхКарт", obs: []observer{obsCardsMap}},
		{key: "onec.cards.filter", value: "IsFolder eq false", obs: []observer{obsCardsSource}},
		{key: "onec.cards.fields", value: "{uid: Код}", obs: []observer{obsCardsSource, obsCardsMap}},
		{key: "onec.cards.on_delete", value: "block", obs: []observer{obsCardsOnDelete}},
		{key: "onec.cards.on_delete", value: "ignore", rejected: "want one of delete, block"},

		{key: "onec.orders.entity", value: "Document_ЗаказПокупателя", obs: []observer{obsOrderDoc}},
		{key: "onec.orders.fields", value: "{Комментарий: {const: Другой комментарий}}", obs: []observer{obsOrderDoc}},
		{key: "onec.orders.fields", value: "{Комментарий: nonsense}", atStart: true,
			rejected: `orders: fields.Комментарий: unknown value "nonsense"`},
		{key: "onec.orders.rows.section", value: "Запасы", obs: []observer{obsOrderDoc}},
		{key: "onec.orders.rows.fields", value: "{СуммаСНДС: discount}", obs: []observer{obsOrderDoc}},
		{key: "onec.orders.post", value: "false", obs: []observer{obsOrderSettings}},
		{key: "onec.orders.marker_field", value: "НомерВходящегоДокумента", obs: []observer{obsOrderDoc}},
		{key: "onec.orders.marker_length", value: "12", obs: []observer{obsOrderDoc}},
		{key: "onec.orders.marker_length", value: "-1", rejected: "want 0"},
		{key: "onec.orders.items_entity", value: "Catalog_Товары", obs: []observer{obsOrderSettings, obsNeeds}},
		// item_match_field excludes item_match, which the example sets.
		{key: "onec.orders.item_match_field", value: "Артикул", rejected: "not both"},
		{key: "onec.orders.item_match_field", value: "Артикул", obs: []observer{obsOrderSettings},
			with: map[string]string{"onec.orders.item_match": "[]"}},
		{key: "onec.orders.item_match", value: "[Code]", obs: []observer{obsOrderSettings}},
		{key: "onec.orders.item_match", value: "[{field: Code, zeros: sometimes}]", atStart: true,
			rejected: "zeros: want keep or ignore"},
		{key: "onec.orders.counterparty_entity", value: "Catalog_Контрагенты2", obs: []observer{obsOrderSettings, obsNeeds}},
		{key: "onec.orders.counterparty_by", value: "Владелец_Key", obs: []observer{obsOrderSettings, obsNeeds}},
		{key: "onec.orders.organization_key", value: guid, obs: []observer{obsOrderSettings}},
		{key: "onec.orders.warehouse_key", value: guid, obs: []observer{obsOrderSettings}},
		{key: "onec.orders.agreement_key", value: guid, obs: []observer{obsOrderSettings}},
		{key: "onec.orders.currency_key", value: guid, obs: []observer{obsOrderSettings}},
		{key: "onec.orders.operation", value: "ЗаказНаПродажу", obs: []observer{obsOrderSettings}},
		{key: "onec.orders.status", value: "Согласован", obs: []observer{obsOrderSettings}},
		{key: "onec.orders.cancelled_status", value: "Закрыт", obs: []observer{obsOrderSettings}},
		{key: "onec.orders.hold_max_attempts", value: "3", obs: []observer{obsRunner}},
		{key: "onec.orders.hold_max_attempts", value: "0", rejected: "want at least 1"},
		{key: "onec.orders.hold_max_age", value: "24h", obs: []observer{obsRunner}},
		{key: "onec.orders.shop_timezone", value: "Asia/Yekaterinburg", obs: []observer{obsOrdersSource, obsOrderSettings}},
		{key: "onec.orders.shop_timezone", value: "Mars/Olympus", rejected: "unknown time zone"},

		{key: "jobs.customers.enabled", value: "false", obs: []observer{obsScheduler}},
		{key: "jobs.customers.schedule", value: `"@every 5m"`, obs: []observer{obsScheduler}},
		{key: "jobs.customers.schedule", value: `"@every 500ms"`, rejected: "whole number of seconds"},
		{key: "jobs.customers.batch_size", value: "50", obs: []observer{obsJobs}},
		{key: "jobs.cards.enabled", value: "false", obs: []observer{obsScheduler}},
		{key: "jobs.cards.schedule", value: "0 3 * * *", obs: []observer{obsScheduler}},
		{key: "jobs.cards.batch_size", value: "50", obs: []observer{obsJobs}},
		{key: "jobs.orders.enabled", value: "false", obs: []observer{obsScheduler}},
		{key: "jobs.orders.schedule", value: "CRON_TZ=Asia/Tokyo 0 3 * * *", obs: []observer{obsScheduler}},
		{key: "jobs.orders.batch_size", value: "50", obs: []observer{obsJobs}},
		{key: "jobs.orders.window", value: "48h", obs: []observer{obsOrdersSource}},
		{key: "jobs.orders.overlap", value: "1h", obs: []observer{obsOrdersSource}},

		{key: "outbox.relay_interval", value: "3s", obs: ev},
		{key: "outbox.drain_timeout", value: "0s", obs: ev},
		{key: "shutdown_timeout", value: "10s", obs: []observer{obsScheduler}},
		{key: "shutdown_timeout", value: "0s", rejected: "want a duration > 0"},
	}
}

// TestEveryExampleKeyHasAProbe ties the probe table to example.yaml both
// ways.
func TestEveryExampleKeyHasAProbe(t *testing.T) {
	doc := readExample(t)
	keys := exampleKeys(doc)
	if len(keys) < 50 {
		t.Fatalf("found only %d keys in %s; is the walk broken?", len(keys), exampleYAML)
	}
	probed := map[string]bool{}
	for _, p := range probes() {
		probed[p.key] = true
	}
	inExample := map[string]bool{}
	for _, k := range keys {
		inExample[k] = true
		if !probed[k] {
			t.Errorf("%s: a key of example.yaml without a probe in keys_test.go: show that changing it does something, or that other values are refused", k)
		}
	}
	for k := range probed {
		if !inExample[k] {
			t.Errorf("%s: probed in keys_test.go but not a key of example.yaml", k)
		}
	}
}

// TestExampleKeysWalk pins how keys are collected.
func TestExampleKeysWalk(t *testing.T) {
	var doc yaml.Node
	src := "a: {b: 1, c: [x]}\nfields: {p: q}\nd:\n  fields:\n    e: f\n  rows:\n    fields: {g: h}\n    section: s\n  list:\n    - {i: j}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	want := []string{"a.b", "a.c", "d.fields", "d.list", "d.rows.fields", "d.rows.section", "fields"}
	if got := exampleKeys(&doc); !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

// TestEveryConfigKeyDoesSomething runs the probes.
func TestEveryConfigKeyDoesSomething(t *testing.T) {
	f := newKeysFixture(t)
	for _, p := range probes() {
		name := p.key + "=" + p.value
		switch {
		case p.gap != "":
			name += "/gap"
		case p.atStart:
			name += "/refused-at-start"
		case p.rejected != "":
			name += "/refused"
		}
		t.Run(name, func(t *testing.T) { f.run(t, p) })
	}
}

// keysFixture is where the probes run: a working directory of their own
// (state.path and store_dir are relative), a state database for the
// parts, and the environment example.yaml refers to.
type keysFixture struct {
	example *yaml.Node
	env     map[string]string
	db      *state.DB
}

func newKeysFixture(t *testing.T) *keysFixture {
	f := &keysFixture{
		example: readExample(t),
		env: map[string]string{
			"VIRTPOS_APIKEY": "vp-test-key",
			"ONEC_USER":      "sync",
			"ONEC_PASSWORD":  "onec-test-password",
		},
	}
	dbDir := t.TempDir()
	t.Chdir(t.TempDir())
	db, err := state.Open(filepath.Join(dbDir, "parts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	// The state file of the example, for obsStateFile: status reads it.
	base := f.load(t, probe{}, nil)
	if base.err != nil {
		t.Fatalf("%s does not load: %v", exampleYAML, base.err)
	}
	if err := os.MkdirAll(filepath.Dir(base.cfg.State.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	sdb, err := state.Open(base.cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	return f
}

func (f *keysFixture) run(t *testing.T, p probe) {
	problem := f.verdict(t, p)
	switch {
	case p.gap == "" && problem != "":
		t.Error(problem)
	case p.gap != "" && problem != "":
		t.Skipf("known gap (%s): %s", p.gap, problem)
	case p.gap != "":
		t.Errorf("%s: the known gap %q is closed; drop the probe's gap note", p.key, p.gap)
	}
}

// verdict runs a probe and says what is wrong, "" when nothing is.
func (f *keysFixture) verdict(t *testing.T, p probe) string {
	base := f.load(t, p, nil)
	if base.err != nil {
		t.Fatalf("example.yaml with %v does not load: %v", p.with, base.err)
	}
	changed := f.load(t, p, &p)
	if p.atStart {
		if changed.err != nil {
			return fmt.Sprintf("%s: %s: refused by config.Load, not at start as the probe says; make it a plain rejection: %v", p.key, p.value, changed.err)
		}
		_, err := app.Build(changed.cfg, slog.New(slog.DiscardHandler), f.db)
		var ce *app.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), p.rejected) {
			return fmt.Sprintf("%s: %s loads; want app.Build to refuse it as a config error saying %q, got %v", p.key, p.value, p.rejected, err)
		}
		return ""
	}
	if changed.err != nil {
		msg := changed.err.Error()
		switch {
		case p.rejected == "":
			return fmt.Sprintf("%s: %s does not load: %v", p.key, p.value, msg)
		case !strings.Contains(msg, p.key) || !strings.Contains(msg, p.rejected):
			return fmt.Sprintf("%s: refused, but the error does not name the key and say %q:\n%s", p.key, p.rejected, msg)
		}
		return ""
	}
	if len(p.obs) == 0 {
		return fmt.Sprintf("%s: %s is accepted; want it refused (%q)", p.key, p.value, p.rejected)
	}
	var problems []string
	for _, o := range p.obs {
		// Values are not printed: some keys are secrets.
		b1, b2 := o.fn(t, f, base.loaded), o.fn(t, f, base.loaded)
		if !reflect.DeepEqual(b1, b2) {
			t.Fatalf("observer %s sees two different things in one config; it could not tell a change", o.name)
		}
		if reflect.DeepEqual(b1, o.fn(t, f, changed.loaded)) {
			problems = append(problems, fmt.Sprintf("%s: changed to %s, it is accepted, and %s is the same: an ignored key", p.key, p.value, o.name))
		}
	}
	return strings.Join(problems, "\n")
}

type loadResult struct {
	loaded
	err error
}

// load writes example.yaml with p.with (and, when change is set, its key)
// set to a file and loads it through config.Load.
func (f *keysFixture) load(t *testing.T, p probe, change *probe) loadResult {
	t.Helper()
	doc := cloneNode(f.example)
	for _, k := range sortedKeys(p.with) {
		setKey(t, doc, k, p.with[k])
	}
	if change != nil {
		setKey(t, doc, change.key, change.value)
	}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "virtsync.yaml")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, f.lookup(p.env))
	return loadResult{loaded{cfg, file}, err}
}

func (f *keysFixture) lookup(extra map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := extra[k]; ok {
			return v, true
		}
		v, ok := f.env[k]
		return v, ok
	}
}

// parts builds what a process builds from cfg, with the real app.Build.
func (f *keysFixture) parts(t *testing.T, cfg config.Config) *app.Parts {
	t.Helper()
	p, err := app.Build(cfg, slog.New(slog.DiscardHandler), f.db)
	if err != nil {
		t.Fatalf("loaded, but app.Build refuses it: %v", err)
	}
	return p
}

// The observers.

var obsVirtpos = observer{"the virtpos client's settings", func(t *testing.T, f *keysFixture, l loaded) any {
	return app.VirtposConfig(l.cfg.Virtpos)
}}

var obsOneC = observer{"the 1C client's settings", func(t *testing.T, f *keysFixture, l loaded) any {
	return app.OneCConfig(l.cfg.OneC)
}}

var obsEvents = observer{"the events pipe's settings (NATS, stream, outbox relay)", func(t *testing.T, f *keysFixture, l loaded) any {
	return eventsOptions(l.cfg)
}}

var obsHTTP = observer{"the daemon's HTTP listener", func(t *testing.T, f *keysFixture, l loaded) any {
	addr, on := httpListen(l.cfg)
	return struct {
		Addr string
		On   bool
	}{addr, on}
}}

var logTime = regexp.MustCompile(`time=\S+ |"time":"[^"]*",`)

var obsLog = observer{"the log output", func(t *testing.T, f *keysFixture, l loaded) any {
	var b bytes.Buffer
	lg := app.NewLogger(l.cfg.Log, &b)
	lg.Debug("probe", "level", "debug")
	lg.Info("probe", "level", "info")
	lg.Warn("probe", "level", "warn")
	lg.Error("probe", "level", "error")
	return logTime.ReplaceAllString(b.String(), "")
}}

// obsStateFile runs `virtsync status` through Main: it reads the state file
// at state.path, which exists only where the example puts it.
var obsStateFile = observer{"`virtsync status` on the state file", func(t *testing.T, f *keysFixture, l loaded) any {
	return runMain(t, &Main{Stdout: io.Discard, Stderr: io.Discard, LookupEnv: f.lookup(nil)}, "-config", l.file, "status")
}}

// obsStateOpen looks at which state `virtsync status` tries to open: its
// exit code and what it says, the temporary directory left out.
var obsStateOpen = observer{"the state `virtsync status` opens", func(t *testing.T, f *keysFixture, l loaded) any {
	var errb bytes.Buffer
	code := runMain(t, &Main{Stdout: io.Discard, Stderr: &errb, LookupEnv: f.lookup(nil)}, "-config", l.file, "status")
	return fmt.Sprint(code, " ", strings.ReplaceAll(errb.String(), filepath.Dir(l.file), "DIR"))
}}

var obsRunner = observer{"the job runner", func(t *testing.T, f *keysFixture, l loaded) any {
	r := new(Main).newRunner(f.parts(t, l.cfg), nil)
	ev, err := r.NewEvent("customer", "created", map[string]string{"id": "1"})
	if err != nil {
		t.Fatal(err)
	}
	return struct {
		Concurrency, HoldMaxAttempts int
		HoldMaxAge, LeaseTTL         time.Duration
		Subject                      string
	}{r.Concurrency, r.HoldMaxAttempts, r.HoldMaxAge, r.LeaseTTL, ev.Subject}
}}

// obsScheduler looks at the daemon's scheduler: which jobs, their next
// runs (parsed as the scheduler parses them) and the stop timeout.
var obsScheduler = observer{"the daemon's scheduler", func(t *testing.T, f *keysFixture, l loaded) any {
	s := newScheduler(f.parts(t, l.cfg), nil)
	type job struct {
		Name string
		Next [2]time.Time
	}
	var jobs []job
	from := time.Date(2025, 3, 14, 10, 7, 30, 0, time.UTC)
	for _, j := range s.Jobs {
		sc, err := schedule.Parse(j.Schedule)
		if err != nil {
			t.Fatal(err)
		}
		n1 := sc.Next(from)
		jobs = append(jobs, job{j.Spec.Name, [2]time.Time{n1, sc.Next(n1)}})
	}
	return struct {
		Jobs        []job
		Location    *time.Location
		StopTimeout time.Duration
	}{jobs, s.Location, s.StopTimeout}
}}

var obsJobs = observer{"the job specs", func(t *testing.T, f *keysFixture, l loaded) any {
	p := f.parts(t, l.cfg)
	out := map[string][3]any{}
	for name, j := range p.Jobs {
		out[name] = [3]any{j.Name, j.Kind, j.BatchSize}
	}
	return out
}}

var obsNeeds = observer{"what the 1C $metadata is checked for", func(t *testing.T, f *keysFixture, l loaded) any {
	p := f.parts(t, l.cfg)
	return []any{p.Profile.Source, p.Profile.Needs()}
}}

// obsCustomers looks at the customers job: what it reads from 1C and what
// it sends virtpos for a sample partner.
var obsCustomers = observer{"the customers job (source and mapping)", func(t *testing.T, f *keysFixture, l loaded) any {
	p := f.parts(t, l.cfg)
	j := p.Jobs["customers"]
	src := j.Source.(*source1c.Entities)
	m := j.Handler.(*sinkvp.Customers).Mapper.(*mapping.EntityMapper)
	rec := onecapi.Entity{
		"Ref_Key": "5a2c6b0e-0000-4000-8000-000000000001", "DataVersion": "AAAAAQAAAAA=", "DeletionMark": false,
		"Description": "Петров Пётр Петрович", "Пол": "Мужской", "ДатаРождения": "1990-05-17T00:00:00",
		"КонтактнаяИнформация": []any{
			map[string]any{"Тип": "Телефон", "НомерТелефона": "+7 900 111-22-33", "Представление": "+7 (900) 111-22-33"},
			map[string]any{"Тип": "АдресЭлектроннойПочты", "АдресЭП": "petrov@example.com"},
		},
	}
	vals, err := m.Map(context.Background(), engine.Record{Key: rec.Key(), Data: rec})
	return []any{src.Entity, src.Filter, src.Groups, src.Select, m.Fields.Params(), vals, errText(err)}
}}

var obsCardsSource = observer{"the cards job's source", func(t *testing.T, f *keysFixture, l loaded) any {
	src := f.parts(t, l.cfg).Jobs["cards"].Source.(*source1c.Entities)
	return []any{src.Entity, src.Filter, src.Groups, src.Select}
}}

// obsCardsMap looks at the cards map: the card kinds it prefetches and
// what it sends virtpos for a sample card (kinds served as prefetched).
var obsCardsMap = observer{"the cards job's mapping", func(t *testing.T, f *keysFixture, l loaded) any {
	p := f.parts(t, l.cfg)
	m := p.Jobs["cards"].Handler.(*sinkvp.Cards).Mapper.(*mapping.EntityMapper)
	const kind = "7b0e0000-0000-4000-8000-000000000002"
	m.OneC = kindsLister{onecapi.Entity{"Ref_Key": kind, "ТипКарты": "Штриховая", "Description": "Дисконтная"}}
	if err := m.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := onecapi.Entity{
		"Ref_Key": "7b0e0000-0000-4000-8000-000000000001", "DataVersion": "AAAAAQAAAAA=", "DeletionMark": false,
		"Штрихкод": "2000000000017", "Код": "000000042", "МагнитныйКод": "", "Статус": "Действует", "Owner_Key": kind,
	}
	vals, err := m.Map(context.Background(), engine.Record{Key: rec.Key(), Data: rec})
	return []any{m.Fields.Lookups(), m.Fields.Params(), vals, errText(err)}
}}

// kindsLister serves the same card kind from whatever set is asked, so
// that the map's prefetch runs as it does against 1C.
type kindsLister struct{ kind onecapi.Entity }

func (l kindsLister) List(_ context.Context, _ onecapi.Query, fn func(onecapi.Entity) error) error {
	return fn(l.kind)
}

var obsCardsOnDelete = observer{"what the cards job does with a card deleted in 1C", func(t *testing.T, f *keysFixture, l loaded) any {
	return f.parts(t, l.cfg).Jobs["cards"].Handler.(*sinkvp.Cards).OnDelete
}}

var obsOrdersSource = observer{"the orders job's source", func(t *testing.T, f *keysFixture, l loaded) any {
	src := f.parts(t, l.cfg).Jobs["orders"].Source.(*sourcevp.Orders)
	return []any{src.Window, src.Overlap, src.Loc.String(), src.Full}
}}

// obsOrderDoc looks at the 1C document the orders job writes for a sample
// order.
var obsOrderDoc = observer{"the 1C order document", func(t *testing.T, f *keysFixture, l loaded) any {
	d := f.parts(t, l.cfg).Jobs["orders"].Handler.(*sink1c.Orders).Settings.Doc
	head := mapping.Values{
		"key": "order:2025-000123@shop-01", "guid": "0c9d0000-0000-4000-8000-000000000003",
		"created_date": "2025-03-14T10:00:00", "customer": "5a2c6b0e-0000-4000-8000-000000000001",
		"counterparty": "6b3d0000-0000-4000-8000-000000000004", "amount": 1500.0, "discount": 100.0,
		"comment": "позвонить", "shipping_address": "Москва", "operation": "РеализацияКлиенту",
	}
	rows := []mapping.Values{{"line": 1, "item": "8e4f0000-0000-4000-8000-000000000005", "item_id": "282",
		"quantity": 2.0, "unit_base_price": 800.0, "amount": 1500.0, "discount": 100.0}}
	return []any{d.Entity, d.MarkerField, d.MarkerLength, d.Section, d.Fields(), d.RowFields(), d.Document(head, rows)}
}}

var obsOrderSettings = observer{"the orders job's settings", func(t *testing.T, f *keysFixture, l loaded) any {
	s := f.parts(t, l.cfg).Jobs["orders"].Handler.(*sink1c.Orders).Settings
	zone := s.ShopZone.String()
	s.Doc, s.ShopZone = nil, nil
	return []any{s, zone}
}}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The YAML document.

func readExample(t *testing.T) *yaml.Node {
	t.Helper()
	raw, err := os.ReadFile(exampleYAML)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// exampleKeys lists the keys of a document, dotted and sorted: every leaf,
// with a map under a `fields` key and any list counted as one key.
func exampleKeys(doc *yaml.Node) []string {
	var out []string
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if v.Kind == yaml.MappingNode && k != "fields" {
				walk(key, v)
				continue
			}
			out = append(out, key)
		}
	}
	if len(doc.Content) > 0 {
		walk("", doc.Content[0])
	}
	sort.Strings(out)
	return out
}

// setKey sets the dotted key of doc to the YAML value.
func setKey(t *testing.T, doc *yaml.Node, key, value string) {
	t.Helper()
	var v yaml.Node
	if err := yaml.Unmarshal([]byte(value), &v); err != nil || len(v.Content) != 1 {
		t.Fatalf("%s: value %q is not one YAML value: %v", key, value, err)
	}
	n := doc.Content[0]
next:
	for _, part := range strings.Split(key, ".") {
		if n.Kind != yaml.MappingNode {
			t.Fatalf("%s: %s is not under a map in example.yaml", key, part)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				n = n.Content[i+1]
				continue next
			}
		}
		t.Fatalf("%s: no such key in example.yaml", key)
	}
	*n = *v.Content[0]
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = cloneNode(x)
	}
	return &c
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
