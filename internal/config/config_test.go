package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// problems returns err's problems formatted, failing the test if err is
// not an *Error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, ce.format(p))
	}
	return out
}

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"state.path", c.State.Path, "data/virtsync.db"},
		{"nats.url", c.NATS.URL, ""},
		{"nats.embedded_listen", c.NATS.EmbeddedListen, ""},
		{"nats.embedded_user", c.NATS.EmbeddedUser, ""},
		{"nats.embedded_password", c.NATS.EmbeddedPassword, ""},
		{"nats.stream", c.NATS.Stream, "VIRTSYNC"},
		{"nats.subject_prefix", c.NATS.SubjectPrefix, "virtsync"},
		{"nats.dedupe_window", c.NATS.DedupeWindow.D(), 10 * time.Minute},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:9464"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"virtpos.format", c.Virtpos.Format, "json"},
		{"virtpos.method", c.Virtpos.Method, "GET"},
		{"virtpos.timeout", c.Virtpos.Timeout.D(), 30 * time.Second},
		{"virtpos.orders_timeout", c.Virtpos.OrdersTimeout.D(), 30 * time.Minute},
		{"virtpos.breaker", c.Virtpos.Breaker, BreakerConfig{8, Duration(time.Minute)}},
		{"virtpos.concurrency", c.Virtpos.Concurrency, 4},
		{"virtpos.rate_limit", c.Virtpos.RateLimit, 10.0},
		{"virtpos.retry", c.Virtpos.Retry, RetryConfig{6, Duration(500 * time.Millisecond), Duration(30 * time.Second)}},
		{"virtpos.paths.card_delete", c.Virtpos.Paths.CardDelete, "/card/delete"},
		{"virtpos.paths.customer_update", c.Virtpos.Paths.CustomerUpdate, "/customer/update"},
		{"onec.timeout", c.OneC.Timeout.D(), 60 * time.Second},
		{"onec.page_size", c.OneC.PageSize, 1000},
		{"onec.breaker", c.OneC.Breaker, BreakerConfig{8, Duration(time.Minute)}},
		{"onec.profile", c.OneC.Profile, "ut11"},
		{"onec.customers.on_delete", c.OneC.Customers.OnDelete, "ignore"},
		{"onec.cards.on_delete", c.OneC.Cards.OnDelete, "delete"},
		// "": the profile's (ut11: НомерПоДаннымКлиента, Code, РеализацияКлиенту).
		{"onec.orders.marker_field", c.OneC.Orders.MarkerField, ""},
		{"onec.orders.item_match_field", c.OneC.Orders.ItemMatchField, ""},
		{"onec.orders.operation", c.OneC.Orders.Operation, ""},
		{"onec.orders.hold_max_attempts", c.OneC.Orders.HoldMaxAttempts, 10},
		{"onec.orders.hold_max_age", c.OneC.Orders.HoldMaxAge.D(), 72 * time.Hour},
		{"onec.orders.shop_timezone", c.OneC.Orders.ShopTimezone, "Europe/Moscow"},
		{"jobs.customers", c.Jobs.Customers, JobConfig{true, "@every 10m", 200}},
		{"jobs.cards", c.Jobs.Cards, JobConfig{true, "@every 10m", 200}},
		{"jobs.orders.schedule", c.Jobs.Orders.Schedule, "@every 1m"},
		{"jobs.orders.window", c.Jobs.Orders.Window.D(), 720 * time.Hour},
		{"jobs.orders.overlap", c.Jobs.Orders.Overlap.D(), 24 * time.Hour},
		{"outbox.relay_interval", c.Outbox.RelayInterval.D(), time.Second},
		{"outbox.drain_timeout", c.Outbox.DrainTimeout.D(), 10 * time.Second},
		{"state.lease_ttl", c.State.LeaseTTL.D(), 2 * time.Minute},
		{"shutdown_timeout", c.ShutdownTimeout.D(), 30 * time.Second},
		{"nats store dir", c.NATSStoreDir(), filepath.Join("data", "nats")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestDefaultNeedsOnlyURLsAndKey(t *testing.T) {
	got := problems(t, Default().Validate())
	want := []string{
		"virtpos.base_url: required: an http(s) URL",
		"virtpos.apikey: required",
		"onec.base_url: required: an http(s) URL",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadMinimalMergesOverDefaults(t *testing.T) {
	c, err := Load("testdata/minimal.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Virtpos.BaseURL = "https://shop.virtpos.ru/api"
	want.Virtpos.APIKey = "key"
	want.OneC.BaseURL = "http://1c.local/ut/odata/standard.odata"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%s\nwant\n%s", c, want)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	got := problems(t, err)
	if len(got) != 3 || !strings.HasPrefix(got[0], path+": virtpos.base_url: required") {
		t.Errorf("got %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
}

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "x", "EMPTY": "", "B_2": "y", "REF": "${A}"})
	tests := []struct {
		name, in, want string
		fromEnv        []string
		missing        []string
		bad            []string
	}{
		{name: "plain", in: "b", want: "b"},
		{name: "present", in: "${A}", want: "x", fromEnv: []string{"A"}},
		{name: "default used", in: "${NOPE:def}", want: "def"},
		{name: "default with colon", in: "${NOPE:http://h:1}", want: "http://h:1"},
		{name: "empty default", in: "${NOPE:}", want: ""},
		{name: "present wins over default", in: "${A:def}", want: "x", fromEnv: []string{"A"}},
		{name: "set but empty wins over default", in: "${EMPTY:def}", want: "", fromEnv: []string{"EMPTY"}},
		{name: "dollar escape", in: "$${A} $$", want: "${A} $"},
		{name: "lone dollar kept", in: "$5 $A", want: "$5 $A"},
		{name: "dollar at end", in: "5$", want: "5$"},
		{name: "two in a row", in: "${A}${B_2}", want: "xy", fromEnv: []string{"A", "B_2"}},
		{name: "a value is not expanded again", in: "${REF}", want: "${A}", fromEnv: []string{"REF"}},
		{name: "every missing one is listed", in: "${M1} ${M2}", want: " ", missing: []string{"M1", "M2"}},
		{name: "unclosed", in: "${A\n}", want: "${A\n}", bad: []string{`"${" without a closing "}" on the same line (write "$$" for a literal "$")`}},
		{name: "bad name", in: "${1A}", want: "", bad: []string{`bad variable reference "${1A}": want ${NAME} or ${NAME:default}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := expand(tt.in, env)
			if r.out != tt.want || !slices.Equal(r.fromEnv, tt.fromEnv) || !slices.Equal(r.missing, tt.missing) || !slices.Equal(r.bad, tt.bad) {
				t.Errorf("got %q from %q, missing %q, bad %q; want %q from %q, missing %q, bad %q",
					r.out, r.fromEnv, r.missing, r.bad, tt.want, tt.fromEnv, tt.missing, tt.bad)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	c, err := Load("testdata/env.yaml", envOf(map[string]string{"VP_URL": "https://env.virtpos.ru/api"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Virtpos.BaseURL != "https://env.virtpos.ru/api" || c.Virtpos.APIKey != "fallback" ||
		c.OneC.User != "" || c.OneC.Password != "pa$word" || c.OneC.Orders.Status != "cost $5" {
		t.Errorf("got %+v / %+v", c.Virtpos, c.OneC)
	}
}

func TestLoadEnvMissingAllReported(t *testing.T) {
	_, err := Load("testdata/env_missing.yaml", nil)
	got := problems(t, err)
	want := []string{
		"testdata/env_missing.yaml:2: virtpos.base_url: environment variable VP_URL is not set",
		"testdata/env_missing.yaml:3: virtpos.apikey: environment variable VP_KEY is not set",
		"testdata/env_missing.yaml:6: onec.password: environment variable ONEC_PASSWORD is not set",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	_, err := Load("testdata/unknown.yaml", nil)
	got := problems(t, err)
	want := []string{
		"testdata/unknown.yaml:4: virtpos.retyr: unknown key",
		"testdata/unknown.yaml:6: virtpos.retry.max_atempts: unknown key",
		"testdata/unknown.yaml:10: onec.orders.hold_max: unknown key",
		"testdata/unknown.yaml:11: colour: unknown key",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadBadShapes(t *testing.T) {
	_, err := Load("testdata/badtypes.yaml", nil)
	got := problems(t, err)
	want := []string{
		"testdata/badtypes.yaml:4: virtpos.timeout: want a duration such as 30s or 720h, got \"30\"",
		"testdata/badtypes.yaml:5: virtpos.concurrency: want an integer, got \"many\"",
		"testdata/badtypes.yaml:6: virtpos.retry: want a mapping, got a single value",
		"testdata/badtypes.yaml:10: onec.orders.post: want true or false, got \"maybe\"",
		"testdata/badtypes.yaml:11: onec.orders.hold_max_age: want a duration such as 30s or 720h, got \"3 days\"",
		"testdata/badtypes.yaml:13: onec.customers.fields: want a mapping of virtpos parameter to field spec, got a list",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadSyntaxAndDuplicates(t *testing.T) {
	tests := []struct {
		name, text string
		want       *regexp.Regexp
	}{
		{"syntax error", "virtpos: [\n", regexp.MustCompile(`^x\.yaml: .*line \d`)},
		{"duplicate key", "log: {level: info}\nlog: {level: debug}\n", regexp.MustCompile(`^x\.yaml:2: log: duplicate key$`)},
		{"an unquoted reference in a flow mapping gets a hint", "onec:\n  retry: {max_attempts: ${N}}\n",
			regexp.MustCompile(`^x\.yaml: line \d+: did not find expected ',' or '}' \(inside \{\.\.\.\} or \[\.\.\.\], quote a reference: "\$\{NAME\}"\)$`)},
		{"top level is a list", "- a\n", regexp.MustCompile(`^x\.yaml:1: want a mapping, got a list$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("x.yaml", []byte(tt.text), nil)
			got := problems(t, err)
			if len(got) != 1 || !tt.want.MatchString(got[0]) {
				t.Errorf("got %q, want one matching %s", got, tt.want)
			}
		})
	}
}

func TestValidateEveryProblem(t *testing.T) {
	_, err := Load("testdata/invalid.yaml", nil)
	got := problems(t, err)
	// Each problem names the line of its key in the file.
	want := []string{
		"1: state.path", "2: nats.url", "2: nats.stream", "2: nats.subject_prefix",
		"2: nats.dedupe_window", "2: nats.connect_timeout", "2: nats.embedded_listen", "2: nats.embedded_listen", "3: http.listen",
		"4: log.level", "4: log.format", "6: virtpos.base_url", "7: virtpos.apikey",
		"8: virtpos.format", "9: virtpos.method", "10: virtpos.timeout", "11: virtpos.orders_timeout",
		"12: virtpos.concurrency", "13: virtpos.rate_limit", "14: virtpos.retry.max_attempts", "14: virtpos.retry.max",
		"15: virtpos.breaker.cooldown", "16: virtpos.paths.orders", "18: onec.base_url", "19: onec.timeout",
		"20: onec.page_size", "21: onec.profile", "22: onec.retry.max_attempts", "22: onec.retry.initial",
		"23: onec.breaker.cooldown", "24: onec.customers.on_delete", "25: onec.cards.on_delete", "26: onec.orders.marker_length",
		"26: onec.orders.hold_max_attempts", "26: onec.orders.hold_max_age", "26: onec.orders.shop_timezone", "28: jobs.customers.schedule",
		"28: jobs.customers.batch_size", "29: jobs.cards.schedule", "30: jobs.orders.schedule", "30: jobs.orders.window",
		"30: jobs.orders.overlap", "31: outbox.relay_interval", "31: outbox.drain_timeout", "32: shutdown_timeout",
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if i >= len(got) {
			break
		}
		if prefix := "testdata/invalid.yaml:" + w + ": "; !strings.HasPrefix(got[i], prefix) {
			t.Errorf("problem %d = %q, want prefix %q", i, got[i], prefix)
		}
	}
	for _, s := range []string{
		`log.level: want one of debug, info, warn, error, got "verbose"`,
		`virtpos.retry.max: want at least initial (10s), got 1s`,
		`onec.profile: profile: no shipped profile "ut10" (shipped: roznica, unf, ut11)`,
		`onec.orders.shop_timezone: unknown time zone "Mars/Olympus"`,
		`virtpos.base_url: want an absolute http or https URL, got "ftp://shop/api"`,
	} {
		if !strings.Contains(strings.Join(got, "\n"), s) {
			t.Errorf("no problem contains %q", s)
		}
	}
}

func TestScheduleProblemNamesFileLineAndKey(t *testing.T) {
	text := "virtpos:\n  base_url: https://v.example/api\n  apikey: k\nonec:\n  base_url: http://o.example/odata\njobs:\n  orders:\n    schedule: \"@every 0s\"\n"
	_, err := parse("s.yaml", []byte(text), nil)
	got := problems(t, err)
	want := []string{`s.yaml:8: jobs.orders.schedule: want a cron expression or descriptor such as "@every 10m": parse schedule "@every 0s": an @every interval must be a whole number of seconds, at least 1s, got 0s`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCyrillicSurvives(t *testing.T) {
	c, err := Load("testdata/cyrillic.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"apikey", c.Virtpos.APIKey, "ключ"},
		{"user", c.OneC.User, "Администратор"},
		{"base_url", c.OneC.BaseURL, "http://1c.local/торговля/odata/standard.odata"},
		{"filter", c.OneC.Customers.Filter, "Клиент eq true and ЮрФизЛицо eq 'ФизЛицо'"},
		{"fields map", c.OneC.Customers.Fields["gender"], map[string]any{"from": "Пол", "map": map[string]any{"Мужской": "M", "Женский": "F"}}},
		{"fields name", c.OneC.Customers.Fields["fname"], "Наименование"},
		{"item_match_field", c.OneC.Orders.ItemMatchField, "Артикул"},
		{"env default", c.OneC.Orders.Operation, "РеализацияКлиенту"},
		{"disabled job keeps default batch", c.Jobs.Orders, OrdersJobConfig{false, "CRON_TZ=Europe/Moscow 0 */5 * * * *", 200, Duration(720 * time.Hour), Duration(24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Virtpos.APIKey = "s3cr3t-key"
	c.OneC.Password = "p4ss-word"
	c.OneC.User = "Администратор"
	c.NATS.EmbeddedUser = "consumer"
	c.NATS.EmbeddedPassword = "n4ts-Пароль"
	r := c.Redacted()
	if r.Virtpos.APIKey != RedactedValue || r.OneC.Password != RedactedValue || r.NATS.EmbeddedPassword != RedactedValue ||
		r.OneC.User != "Администратор" || r.NATS.EmbeddedUser != "consumer" {
		t.Errorf("Redacted = %+v / %+v / %+v", r.Virtpos, r.OneC, r.NATS)
	}
	if c.Virtpos.APIKey != "s3cr3t-key" || c.NATS.EmbeddedPassword != "n4ts-Пароль" {
		t.Error("Redacted modified its receiver")
	}
	s := c.String()
	for _, secret := range []string{"s3cr3t-key", "p4ss-word", "n4ts-Пароль"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() leaks %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{"apikey: '[redacted]'", "embedded_password: '[redacted]'", "timeout: 30s", "user: Администратор"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	if got, want := c.Secrets(), []string{"n4ts-Пароль", "s3cr3t-key", "p4ss-word"}; !slices.Equal(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
	if empty := Default().Redacted(); empty.Virtpos.APIKey != "" || empty.NATS.EmbeddedPassword != "" {
		t.Errorf("an empty secret should stay empty, got %+v", empty)
	}
	if got := Default().Secrets(); got != nil {
		t.Errorf("Secrets() of the defaults = %q, want none", got)
	}
}

// TestSecretKeys pins the keys tagged secret: a new password or key field
// must be tagged (and added here), or it would be printed.
func TestSecretKeys(t *testing.T) {
	var got []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, join(prefix, name))
			} else if f.Tag.Get("secret") == "true" {
				got = append(got, join(prefix, name))
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	want := []string{"state.dsn", "nats.embedded_password", "virtpos.apikey", "onec.password"}
	if !slices.Equal(got, want) {
		t.Errorf("secret keys %q, want %q", got, want)
	}
	for _, k := range yamlKeys(reflect.TypeFor[Config](), "") {
		last := k[strings.LastIndex(k, ".")+1:]
		if (strings.Contains(last, "password") || strings.Contains(last, "key") && !strings.HasSuffix(last, "_key")) && !slices.Contains(want, k) {
			t.Errorf("%s looks like a secret but is not tagged secret:\"true\"", k)
		}
	}
}

func TestEmbeddedNATSValidation(t *testing.T) {
	tests := []struct {
		name                  string
		url, listen, user, pw string
		want                  []string
	}{
		{name: "in-process only needs no login"},
		{name: "a listener with a login is accepted", listen: "127.0.0.1:4222", user: "u", pw: "p"},
		{name: "a listener on every interface is the user's choice", listen: ":4222", user: "u", pw: "p"},
		{name: "a listener without a login is refused", listen: "127.0.0.1:4222", want: []string{
			"nats.embedded_user: required when nats.embedded_listen is set: every client of the embedded server must log in",
			"nats.embedded_password: required when nats.embedded_listen is set: every client of the embedded server must log in",
		}},
		{name: "a blank password is no password", listen: "127.0.0.1:4222", user: "u", pw: "  ", want: []string{
			"nats.embedded_password: required when nats.embedded_listen is set: every client of the embedded server must log in",
		}},
		{name: "a listener without a port is refused", listen: "127.0.0.1", user: "u", pw: "p", want: []string{
			`nats.embedded_listen: want host:port with a port 1-65535 such as 127.0.0.1:4222, or "" for in-process connections only, got "127.0.0.1"`,
		}},
		{name: "port 0 is refused: no client could find it", listen: "127.0.0.1:0", user: "u", pw: "p", want: []string{
			`nats.embedded_listen: want host:port with a port 1-65535 such as 127.0.0.1:4222, or "" for in-process connections only, got "127.0.0.1:0"`,
		}},
		{name: "a named port is refused", listen: "localhost:nats", user: "u", pw: "p", want: []string{
			`nats.embedded_listen: want host:port with a port 1-65535 such as 127.0.0.1:4222, or "" for in-process connections only, got "localhost:nats"`,
		}},
		{name: "an external server needs no embedded login", url: "nats://10.0.0.1:4222"},
		{name: "the embedded server's keys beside an external server are refused", url: "nats://10.0.0.1:4222",
			listen: "127.0.0.1:4222", user: "bob", pw: "pw", want: []string{
				"nats.embedded_listen: configures the embedded server, which does not run when nats.url is set; remove it or nats.url",
				"nats.embedded_user: configures the embedded server, which does not run when nats.url is set; remove it or nats.url",
				"nats.embedded_password: configures the embedded server, which does not run when nats.url is set; remove it or nats.url",
			}},
		{name: "a user needs a password", user: "bob", want: []string{
			"nats.embedded_password: required with nats.embedded_user: a login is a user and a password"}},
		{name: "a password needs a user", pw: "pw", want: []string{
			"nats.embedded_user: required with nats.embedded_password: a login is a user and a password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.NATS.URL, c.NATS.EmbeddedListen, c.NATS.EmbeddedUser, c.NATS.EmbeddedPassword = tt.url, tt.listen, tt.user, tt.pw
			var got []string
			if err := c.Validate(); err != nil {
				got = problems(t, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// validConfig is Default() with the three required keys set.
func validConfig() Config {
	c := Default()
	c.Virtpos.BaseURL = "https://v.example/api"
	c.Virtpos.APIKey = "k"
	c.OneC.BaseURL = "http://o.example/odata/standard.odata"
	return c
}

func TestStringRoundTrips(t *testing.T) {
	c, err := Load("testdata/cyrillic.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parse("printed.yaml", []byte(c.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Virtpos.APIKey = RedactedValue
	if !reflect.DeepEqual(got, c) {
		t.Errorf("printed config does not load back:\n%s", c)
	}
}

func TestNATSStoreDir(t *testing.T) {
	tests := []struct {
		name, state, store, want string
	}{
		{"beside relative state", "demo-data/virtsync.db", "", filepath.Join("demo-data", "nats")},
		{"beside absolute state", "/var/lib/virtsync/state.db", "", filepath.Join("/var/lib/virtsync", "nats")},
		{"state in cwd", "virtsync.db", "", "nats"},
		{"explicit", "data/virtsync.db", "/srv/nats", "/srv/nats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.State.Path, c.NATS.StoreDir = tt.state, tt.store
			if got := c.NATSStoreDir(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// yamlKeys lists the dotted key path of every leaf of t, by yaml tag.
// fields maps are leaves: their contents are mapping's business.
func yamlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		key := join(prefix, name)
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(f.Type, key)...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// set reports whether the dotted key is present in the decoded document.
func set(doc map[string]any, key string) bool {
	var cur any = doc
	for part := range strings.SplitSeq(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestShippedConfigs(t *testing.T) {
	env := envOf(map[string]string{"VIRTPOS_APIKEY": "k", "ONEC_USER": "u", "ONEC_PASSWORD": "p"})
	t.Run("example loads", func(t *testing.T) {
		c, err := Load("../../configs/example.yaml", env)
		if err != nil {
			t.Fatal(err)
		}
		if c.Virtpos.APIKey != "k" || c.OneC.User != "u" || c.OneC.Password != "p" {
			t.Errorf("secrets not expanded: %q %q %q", c.Virtpos.APIKey, c.OneC.User, c.OneC.Password)
		}
	})
	t.Run("example shows every key", func(t *testing.T) {
		raw, err := os.ReadFile("../../configs/example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		keys := yamlKeys(reflect.TypeFor[Config](), "")
		if len(keys) < 70 {
			t.Fatalf("only %d keys found by reflection; yamlKeys is broken", len(keys))
		}
		for _, k := range keys {
			if !set(doc, k) {
				t.Errorf("configs/example.yaml lacks %s", k)
			}
		}
	})
	t.Run("example shows the defaults where it can", func(t *testing.T) {
		c, err := Load("../../configs/example.yaml", env)
		if err != nil {
			t.Fatal(err)
		}
		d := Default()
		if !reflect.DeepEqual(c.Jobs, d.Jobs) || !reflect.DeepEqual(c.NATS, d.NATS) ||
			c.Virtpos.Retry != d.Virtpos.Retry || c.Virtpos.Paths != d.Virtpos.Paths || c.Outbox != d.Outbox ||
			c.Virtpos.Breaker != d.Virtpos.Breaker || c.OneC.Breaker != d.OneC.Breaker ||
			c.Virtpos.OrdersTimeout != d.Virtpos.OrdersTimeout || c.Virtpos.Timeout != d.Virtpos.Timeout {
			t.Errorf("example.yaml disagrees with Default()")
		}
	})
	t.Run("demo loads", func(t *testing.T) {
		c, err := Load("../../configs/demo.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Virtpos.APIKey != "demo-key" || c.Virtpos.BaseURL != "http://127.0.0.1:18081/api" ||
			c.OneC.BaseURL != "http://127.0.0.1:18082/odata/standard.odata" || c.OneC.User != "demo" ||
			c.NATS.URL != "" || c.NATSStoreDir() != filepath.Join("demo-data", "nats") ||
			c.Jobs.Orders.Schedule != "@every 5s" || c.Jobs.Cards.Schedule != "@every 5s" {
			t.Errorf("unexpected demo config:\n%s", c)
		}
	})
}

func TestNullValuesKeepDefaults(t *testing.T) {
	text := "virtpos:\n  base_url: https://v/api\n  apikey: k\n  timeout:\n  retry:\nonec:\n  base_url: http://o/odata\nnats:\njobs:\n  orders: {window: ~}\n"
	c, err := parse("n.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Virtpos.Timeout.D() != 30*time.Second || c.Virtpos.Retry.MaxAttempts != 6 || c.NATS.Stream != "VIRTSYNC" || c.Jobs.Orders.Window.D() != 720*time.Hour {
		t.Errorf("null values changed defaults: %s", c)
	}
}
