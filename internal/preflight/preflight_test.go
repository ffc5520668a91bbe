package preflight_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/preflight"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/events"
)

// Secrets with a look of their own, so that a leak cannot hide.
const (
	onecUser     = "virtsync-check"
	onecPassword = "1C-пароль:Zq8!w"
	apiKey       = "vp-key-7Hq2-Ключ"
	natsUser     = "virtsync"
	natsPassword = "nats-Пароль-731"
)

// world is one set of fakes the checks run against.
type world struct {
	onec      *onectest.Server
	onecURL   string
	vp        *virtpostest.Server
	vpURL     string
	natsURL   string
	stream    jetstream.Stream
	writesVP  func() []string
	statePath string
	// denied is a 1C entity set the user may not read.
	denied atomic.Value
	// blind makes virtpos answer every request without the apikey with
	// its "invalid apikey" envelope, whatever the path.
	blind atomic.Bool
}

// writePaths are virtpos's write endpoints.
var writePaths = []string{virtpostest.PathCustomerUpdate, virtpostest.PathCardUpdate, virtpostest.PathCardInsert,
	virtpostest.PathCardDelete}

// newWorld starts the 1C fake of profile with a small demo base, the
// virtpos fake (behind a wrapper that answers an HTML 404 at /api/cards/insert,
// a path no endpoint has) and an embedded NATS server that listens with a
// password and holds the VIRTSYNC stream, as after a daemon's first start.
func newWorld(t *testing.T, profile string) *world {
	t.Helper()
	w := &world{}
	w.onec = onectest.New(onectest.Options{User: onecUser, Password: onecPassword, Profile: profile})
	if err := w.onec.LoadDemo(20, 10, 3, 7); err != nil {
		t.Fatal(err)
	}
	oh := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if d, _ := w.denied.Load().(string); d != "" && strings.HasPrefix(r.URL.Path, onectest.PublicationPath+d) {
			// What 1C answers a user whose roles do not allow the object.
			rw.Header().Set("Content-Type", "application/json;charset=utf-8")
			rw.WriteHeader(http.StatusForbidden)
			fmt.Fprint(rw, `{"odata.error":{"code":"20","message":{"lang":"ru","value":"Недостаточно прав для выполнения операции"}}}`)
			return
		}
		w.onec.ServeHTTP(rw, r)
	}))
	t.Cleanup(oh.Close)
	w.onecURL = oh.URL + onectest.PublicationPath

	var mu sync.Mutex
	var writes []string
	w.vp = virtpostest.New(virtpostest.Options{APIKey: apiKey})
	w.vp.SetFaults(virtpostest.Faults{Reject: func(path string, p url.Values) (bool, string) {
		// Reached only by a request virtpos would carry out.
		mu.Lock()
		defer mu.Unlock()
		writes = append(writes, path)
		return true, "the check must not write"
	}})
	w.writesVP = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(writes)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		keyed := r.FormValue("apikey") != ""
		if keyed && slices.Contains(writePaths, strings.TrimPrefix(r.URL.Path, "/api")) {
			mu.Lock()
			writes = append(writes, "with the apikey: "+r.URL.Path)
			mu.Unlock()
		}
		if w.blind.Load() && !keyed {
			// An API that checks the key before it routes: every path,
			// even one that does not exist, answers alike.
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprint(rw, `{"success":0,"info":"invalid apikey"}`)
			return
		}
		if r.URL.Path == "/api/cards/insert" {
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			rw.WriteHeader(http.StatusNotFound)
			fmt.Fprint(rw, "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n")
			return
		}
		w.vp.ServeHTTP(rw, r)
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(w.vp.Close)
	w.vpURL = hs.URL + "/api"

	emb, err := events.StartEmbedded(events.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", User: natsUser, Password: natsPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	ctx := context.Background()
	conn, err := emb.Connect(ctx, events.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if w.stream, err = conn.EnsureStream(ctx, events.StreamDefault, []string{events.SubjectPrefixDefault + ".>"}, 0); err != nil {
		t.Fatal(err)
	}
	w.natsURL = (&url.URL{Scheme: "nats", User: url.UserPassword(natsUser, natsPassword),
		Host: net.JoinHostPort("127.0.0.1", fmt.Sprint(emb.Port()))}).String()
	w.statePath = filepath.Join(t.TempDir(), "data", "virtsync.db")
	return w
}

// config is what a user would write for the world.
func (w *world) config() config.Config {
	cfg := config.Default()
	cfg.State.Path = w.statePath
	cfg.NATS.URL = w.natsURL
	cfg.Virtpos.BaseURL, cfg.Virtpos.APIKey = w.vpURL, apiKey
	cfg.OneC.BaseURL, cfg.OneC.User, cfg.OneC.Password = w.onecURL, onecUser, onecPassword
	return cfg
}

// inputs builds what the command hands the check: the profile with the
// config's field overrides, and clients that try once.
func inputs(t *testing.T, cfg config.Config) preflight.Inputs {
	t.Helper()
	in := preflight.Inputs{ConfigPath: "virtsync.yaml", Config: cfg}
	if prof, err := mapping.LoadProfile(cfg.OneC.Profile); err != nil {
		in.ProfileErr = err
	} else {
		prof.Customers.Fields = mapping.Merge(prof.Customers.Fields, cfg.OneC.Customers.Fields)
		prof.Cards.Fields = mapping.Merge(prof.Cards.Fields, cfg.OneC.Cards.Fields)
		in.Profile, in.ProfileErr = prof.Compile()
	}
	once := onecapi.Retry{MaxAttempts: 1}
	if oc, err := onecapi.New(onecapi.Config{BaseURL: cfg.OneC.BaseURL, User: cfg.OneC.User, Password: cfg.OneC.Password,
		Timeout: 10 * time.Second, Retry: once}); err != nil {
		in.OneCErr = err
	} else {
		in.OneC = oc
	}
	vc := virtposapi.Config{BaseURL: cfg.Virtpos.BaseURL, APIKey: cfg.Virtpos.APIKey, Format: cfg.Virtpos.Format,
		Method: cfg.Virtpos.Method, Timeout: 10 * time.Second, Retry: virtposapi.RetryPolicy{MaxAttempts: 1},
		Paths: virtposapi.Paths{Orders: cfg.Virtpos.Paths.Orders, Customer: cfg.Virtpos.Paths.Customer,
			CustomerUpdate: cfg.Virtpos.Paths.CustomerUpdate, CardUpdate: cfg.Virtpos.Paths.CardUpdate,
			CardInsert: cfg.Virtpos.Paths.CardInsert, CardDelete: cfg.Virtpos.Paths.CardDelete}}
	if vp, err := virtposapi.New(vc); err != nil {
		in.VirtposErr = err
	} else {
		in.Virtpos = vp
	}
	return in
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		// fake1C is the 1C fake's profile ("" is ut11).
		fake1C string
		edit   func(t *testing.T, w *world, cfg *config.Config)
		// configErr replaces the config with a load error.
		configErr error
		// fail lists the lines that must fail, and no other may.
		fail []string
		// skip lists lines that must be skipped.
		skip []string
		// want are texts the printed report must hold (fixes, hints).
		want []string
	}{
		{name: "all ok", want: []string{"All ", "takes events", "and deleted", "answers like the API"}},
		{name: "embedded NATS", edit: func(t *testing.T, w *world, cfg *config.Config) { cfg.NATS.URL = "" },
			want: []string{"NATS embedded store", "created on the first run"}},
		{name: "config does not load", configErr: errors.New("virtsync.yaml:12: onec.page_size: want an integer, got \"many\""),
			fail: []string{"config virtsync.yaml"}, skip: []string{"state, 1C, virtpos, NATS"},
			want: []string{"virtsync.yaml:12: onec.page_size"}},
		{name: "wrong 1C password", edit: func(t *testing.T, w *world, cfg *config.Config) { cfg.OneC.Password = "wrong-пароль-1C" },
			fail: []string{"1C credentials"}, skip: []string{"1C $metadata, reads, maps"},
			want: []string{"HTTP 401", "onec.password"}},
		{name: "wrong 1C path", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.OneC.BaseURL = strings.Replace(w.onecURL, "/odata/", "/trade/odata/", 1)
		}, fail: []string{"1C reachable"}, skip: []string{"1C $metadata, reads, maps"},
			want: []string{"HTTP 404", "onec.base_url must be the publication's OData root"}},
		{name: "1C unreachable", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.OneC.BaseURL = "http://" + closedPort(t) + "/odata/standard.odata"
		}, fail: []string{"1C reachable"}, skip: []string{"1C $metadata, reads, maps"},
			want: []string{"no answer from", "connection refused"}},
		{name: "1C user may not read a set", edit: func(t *testing.T, w *world, cfg *config.Config) {
			w.denied.Store(onectest.SetCards)
		}, fail: []string{"1C read cards.entity"}, skip: []string{"1C map cards.fields"},
			want: []string{"HTTP 403 (code 20)", "the right to read Catalog_КартыЛояльности"}},
		{name: "profile of another configuration", fake1C: onectest.ProfileUNF,
			fail: []string{"1C $metadata (profile shipped ut11)"},
			skip: []string{"1C read customers.entity", "1C map customers.fields", "1C read cards.entity", "1C read orders.entity"},
			want: []string{"Catalog_Партнеры is not published", "onec.profile: unf"}},
		{name: "field map fails on the sample", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.OneC.Customers.Fields = map[string]any{"email": map[string]any{"from": "Description", "as": "email"}}
		}, fail: []string{"1C map customers.fields"},
			want: []string{"field email (from Description)", "onec.customers.fields."}},
		{name: "wrong virtpos apikey", edit: func(t *testing.T, w *world, cfg *config.Config) { cfg.Virtpos.APIKey = "wrong-key-Ключ-9" },
			fail: []string{"virtpos apikey"}, want: []string{"invalid apikey", "VIRTPOS_APIKEY", "orders not read"}},
		{name: "virtpos path with an HTML 404", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.Virtpos.Paths.CardInsert = "/cards/insert"
		}, fail: []string{"virtpos.paths.card_insert"},
			want: []string{`HTTP 404: no endpoint at this path titled "404 Not Found"`, "set virtpos.paths.card_insert"}},
		{name: "virtpos path with a plain 404", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.Virtpos.Paths.Orders = "/order"
		}, fail: []string{"virtpos.paths.orders"}, want: []string{"HTTP 404", "set virtpos.paths.orders"}},
		{name: "virtpos unreachable", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.Virtpos.BaseURL = "http://" + closedPort(t) + "/api"
		}, fail: []string{"virtpos reachable"}, skip: []string{"virtpos.paths"}, want: []string{"virtpos.base_url"}},
		{name: "NATS unreachable", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.NATS.URL = "nats://" + natsUser + ":" + url.QueryEscape(natsPassword) + "@" + closedPort(t)
		}, fail: []string{"NATS reachable"}, skip: []string{"NATS stream VIRTSYNC"}, want: []string{"start the NATS server"}},
		{name: "NATS stream not created yet", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.NATS.Stream = "VIRTSYNC_NEW"
			cfg.NATS.SubjectPrefix = "virtsync-new"
		}, want: []string{"does not exist yet: the first run creates it"}},
		{name: "NATS subjects held by another stream", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.NATS.Stream = "EVENTS"
		}, fail: []string{"NATS stream EVENTS"}, want: []string{"set nats.stream: VIRTSYNC"}},
		{name: "state directory is a file", edit: func(t *testing.T, w *world, cfg *config.Config) {
			file := filepath.Join(t.TempDir(), "plain")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.State.Path = filepath.Join(file, "data", "virtsync.db")
		}, fail: []string{"state.path"}, want: []string{"is a file, not a directory", "set state.path"}},
		{name: "unf profile", fake1C: onectest.ProfileUNF,
			edit: func(t *testing.T, w *world, cfg *config.Config) { cfg.OneC.Profile = mapping.ProfileUNF },
			want: []string{"All ", "Catalog_Контрагенты: 5 record(s) read", "Catalog_ДисконтныеКарты"}},
		{name: "virtpos xml over POST", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.Virtpos.Format, cfg.Virtpos.Method = "xml", "POST"
		}, want: []string{"All ", `without the apikey: success=0, "invalid apikey"`, "decoded"}},
		{name: "jobs off", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.Jobs.Cards.Enabled, cfg.Jobs.Orders.Enabled = false, false
		}, skip: []string{"1C cards", "1C orders"}, want: []string{"jobs.cards.enabled is false"}},
		{name: "virtpos answers every keyless path alike", edit: func(t *testing.T, w *world, cfg *config.Config) {
			w.blind.Store(true)
			cfg.Virtpos.Paths.CardInsert = "/cards/insert"
		}, skip: []string{"virtpos.paths.customer_update", "virtpos.paths.card_update", "virtpos.paths.card_insert",
			"virtpos.paths.card_delete"}, want: []string{"answers with the apikey (without it every path answers alike)", "decoded"}},
		{name: "state file exists", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.State.Path = filepath.Join(t.TempDir(), "virtsync.db")
			if err := os.WriteFile(cfg.State.Path, []byte("not touched"), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if b, err := os.ReadFile(cfg.State.Path); err != nil || string(b) != "not touched" {
					t.Errorf("the state file changed: %q, %v", b, err)
				}
			})
		}, want: []string{"exists and is writable", "warning:", "chmod 600"}},
		{name: "state path is a directory", edit: func(t *testing.T, w *world, cfg *config.Config) {
			cfg.State.Path = t.TempDir()
		}, fail: []string{"state.path"}, want: []string{"is a directory", "names the database file"}},
		{name: "state directory not writable", edit: func(t *testing.T, w *world, cfg *config.Config) {
			if os.Geteuid() == 0 {
				t.Skip("root writes into a directory of any mode")
			}
			dir := filepath.Join(t.TempDir(), "ro")
			if err := os.Mkdir(dir, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
			cfg.State.Path = filepath.Join(dir, "virtsync.db")
		}, fail: []string{"state.path"}, want: []string{"not writable", "set state.path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.fake1C)
			cfg := w.config()
			if tc.edit != nil {
				tc.edit(t, w, &cfg)
			}
			in := inputs(t, cfg)
			if tc.configErr != nil {
				in = preflight.Inputs{ConfigPath: "virtsync.yaml", ConfigErr: tc.configErr}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep := preflight.Run(ctx, in)
			var out bytes.Buffer
			if err := rep.Print(&out); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			t.Logf("report:\n%s", text)

			var failed, skipped []string
			for _, l := range rep.Lines {
				switch {
				case l.Failed():
					failed = append(failed, l.Name)
					if l.Fix == "" {
						t.Errorf("line %q failed without a fix", l.Name)
					}
				case l.Skipped:
					skipped = append(skipped, l.Name)
				}
			}
			if !slices.Equal(failed, tc.fail) {
				t.Errorf("failed lines %q, want %q", failed, tc.fail)
			}
			for _, s := range tc.skip {
				if !slices.Contains(skipped, s) {
					t.Errorf("line %q not skipped; skipped: %q", s, skipped)
				}
			}
			if rep.OK() != (len(tc.fail) == 0) {
				t.Errorf("OK() = %v with failures %q", rep.OK(), failed)
			}
			for _, s := range tc.want {
				if !strings.Contains(text, s) {
					t.Errorf("report lacks %q", s)
				}
			}
			noSecrets(t, text, cfg)
			noPersonalData(t, text, w)
			nothingWritten(t, w, cfg)
		})
	}
}

func noSecrets(t *testing.T, text string, cfg config.Config) {
	t.Helper()
	for _, s := range append(cfg.Secrets(), onecPassword, apiKey, natsPassword, url.QueryEscape(natsPassword),
		"wrong-пароль-1C", "wrong-key-Ключ-9") {
		if strings.Contains(text, s) {
			t.Errorf("the report holds the secret %q", s)
		}
	}
}

// noPersonalData looks for the 1C fake's names, phones, e-mails and birth
// dates in the report.
func noPersonalData(t *testing.T, text string, w *world) {
	t.Helper()
	var values []string
	for _, set := range []string{w.onec.Sets().Buyers, onectest.SetCounterpty} {
		for _, o := range w.onec.All(set) {
			for _, f := range []string{"Description", "НаименованиеПолное", "ДатаРождения", "ИНН"} {
				if s, ok := o[f].(string); ok && len([]rune(s)) >= 6 && !strings.HasPrefix(s, "0001-01-01") {
					values = append(values, s)
				}
			}
			rows, _ := o["КонтактнаяИнформация"].([]onectest.Object)
			for _, r := range rows {
				for _, f := range []string{"Представление", "АдресЭП", "НомерТелефона", "НомерТелефонаБезКодов"} {
					if s, ok := r[f].(string); ok && len(s) >= 6 {
						values = append(values, s)
					}
				}
			}
		}
	}
	if len(values) == 0 {
		t.Fatal("no personal values found in the fake: the test looks at the wrong fields")
	}
	for _, v := range values {
		if strings.Contains(text, v) {
			t.Errorf("the report holds personal data %q", v)
		}
	}
}

// nothingWritten checks both fakes' write counters and that neither the
// state file nor its directory was created.
func nothingWritten(t *testing.T, w *world, cfg config.Config) {
	t.Helper()
	c := w.vp.Counts()
	if n := c.CustomersCreated + c.CustomersUpdated + c.CardsCreated + c.CardsUpdated + c.CardsDeleted +
		c.GroupsCreated + c.CardTypesCreated; n != 0 || len(w.writesVP()) != 0 {
		t.Errorf("virtpos was written to: %+v, write handlers reached: %q", c, w.writesVP())
	}
	if prof, err := mapping.LoadProfile(cfg.OneC.Profile); err == nil {
		for _, e := range prof.Entities() {
			if n := w.onec.Writes(e); n != 0 {
				t.Errorf("1C %s: %d writes", e, n)
			}
		}
	}
	if _, err := os.Stat(w.statePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file %s: %v, want it absent", w.statePath, err)
	}
	if _, err := os.Stat(filepath.Dir(w.statePath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory %s: %v, want it absent", filepath.Dir(w.statePath), err)
	}
	if info, err := w.stream.Info(context.Background()); err == nil && info.State.Msgs != 0 {
		t.Errorf("the stream keeps %d message(s); the test event should be deleted", info.State.Msgs)
	}
}
