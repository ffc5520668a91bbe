package config

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// envConfig is a config whose onec.password comes from $ONEC_PASSWORD, written
// the three ways users write it.
func envConfig(passwordLine string) string {
	return "virtpos:\n  base_url: https://v.example/api\n  apikey: k\n" +
		"onec:\n  base_url: http://1c.example/odata/standard.odata\n" +
		"  password: " + passwordLine + "\n" +
		"  page_size: 1000\n"
}

func TestSecretsAreSubstitutedByteForByte(t *testing.T) {
	tests := []struct {
		name     string
		password string
	}{
		{"a YAML escape in the secret stays four characters", `pa\x7ass`},
		{"a double quote in the secret is part of it", `pa"ss`},
		{"a newline in the secret cannot inject a key", "pa\n  page_size: 1"},
		{"a colon and a hash are not YAML syntax", "a: b # c"},
		{"a single quote", `it's`},
		{"a Cyrillic secret survives", "Пароль-Ёлка №1"},
		{"a backslash at the end", `pass\`},
		{"braces and dollars are not re-expanded", "${OTHER} $$ ${"},
		{"leading and trailing spaces are kept", "  spaced  "},
		{"a YAML null word is a string", "~"},
		{"a YAML number is a string", "0123"},
		{"invalid UTF-8 is kept as bytes", "\xff\xfe"},
	}
	for _, tt := range tests {
		for _, form := range []string{`${ONEC_PASSWORD}`, `"${ONEC_PASSWORD}"`, `'${ONEC_PASSWORD}'`} {
			t.Run(tt.name+"/"+form, func(t *testing.T) {
				env := envOf(map[string]string{"ONEC_PASSWORD": tt.password, "OTHER": "x"})
				c, err := parse("s.yaml", []byte(envConfig(form)), env)
				if err != nil {
					t.Fatal(err)
				}
				if c.OneC.Password != tt.password {
					t.Errorf("password = %q, want %q", c.OneC.Password, tt.password)
				}
				if c.OneC.PageSize != 1000 {
					t.Errorf("page_size = %d: the secret changed another key", c.OneC.PageSize)
				}
			})
		}
	}
}

func TestSubstitutionKeepsTheKeysType(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		env   map[string]string
		check func(Config) bool
	}{
		{"an integer key parses the value as an integer",
			"onec:\n  page_size: ${PS}\n", map[string]string{"PS": "50"},
			func(c Config) bool { return c.OneC.PageSize == 50 }},
		{"a quoted integer key parses the value as an integer too",
			"onec:\n  page_size: \"${PS}\"\n", map[string]string{"PS": "50"},
			func(c Config) bool { return c.OneC.PageSize == 50 }},
		{"a duration key parses the value as a duration",
			"virtpos:\n  timeout: ${T}\n", map[string]string{"T": "5s"},
			func(c Config) bool { return c.Virtpos.Timeout.D() == 5*time.Second }},
		{"a boolean key parses the value as a boolean",
			"onec:\n  orders:\n    post: ${POST}\n", map[string]string{"POST": "true"},
			func(c Config) bool { return c.OneC.Orders.Post }},
		{"a float key parses the value as a number",
			"virtpos:\n  rate_limit: ${RL}\n", map[string]string{"RL": "2.5"},
			func(c Config) bool { return c.Virtpos.RateLimit == 2.5 }},
		{"an empty value in a typed key keeps the default, as an empty key does",
			"onec:\n  page_size: ${PS}\n", map[string]string{"PS": ""},
			func(c Config) bool { return c.OneC.PageSize == 1000 }},
		{"an empty value in a string key is the empty string",
			"nats:\n  store_dir: ${SD}\n", map[string]string{"SD": ""},
			func(c Config) bool { return c.NATS.StoreDir == "" }},
		{"a default is used when the variable is unset",
			"onec:\n  page_size: ${PS:7}\n  user: ${U:Администратор}\n", nil,
			func(c Config) bool { return c.OneC.PageSize == 7 && c.OneC.User == "Администратор" }},
		{"a field spec value stays a string",
			"onec:\n  customers:\n    fields:\n      fname: ${F}\n", map[string]string{"F": "123"},
			func(c Config) bool { return c.OneC.Customers.Fields["fname"] == "123" }},
		{"a nested field spec value is substituted",
			"onec:\n  customers:\n    fields:\n      gender: {from: \"${F}\", map: {M: \"${M}\"}}\n", map[string]string{"F": "Пол", "M": "{a: b}"},
			func(c Config) bool {
				g, _ := c.OneC.Customers.Fields["gender"].(map[string]any)
				m, _ := g["map"].(map[string]any)
				return g["from"] == "Пол" && m["M"] == "{a: b}"
			}},
		{"keys are not substituted",
			"onec:\n  customers:\n    fields:\n      ${K}: x\n", map[string]string{"K": "fname"},
			func(c Config) bool { _, ok := c.OneC.Customers.Fields["${K}"]; return ok }},
		{"comments are not substituted: an unset variable there is no error",
			"# ${NOT_SET} and $${ESCAPED}\nonec:\n  user: u # ${ALSO_NOT_SET}\n", nil,
			func(c Config) bool { return c.OneC.User == "u" }},
		{"a double dollar is one literal dollar",
			"onec:\n  password: pa$$word\n  user: $${U}\n", map[string]string{"U": "x"},
			func(c Config) bool { return c.OneC.Password == "pa$word" && c.OneC.User == "${U}" }},
		{"a quoted reference in a flow mapping is parsed as the key's type",
			"onec:\n  retry: {max_attempts: \"${N}\", initial: \"${I}\"}\n", map[string]string{"N": "3", "I": "1s"},
			func(c Config) bool { return c.OneC.Retry.MaxAttempts == 3 && c.OneC.Retry.Initial.D() == time.Second }},
		{"an anchored value used twice is substituted once",
			"onec:\n  user: &u $${X}\n  password: *u\n", map[string]string{"X": "x"},
			func(c Config) bool { return c.OneC.User == "${X}" && c.OneC.Password == "${X}" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := decode("t.yaml", []byte(tt.text), envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config:\n%s", c)
			}
		})
	}
}

func TestSubstitutionErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		env  map[string]string
		want []string
	}{
		{"a value that is not an integer names the variable, not the value",
			"onec:\n  page_size: ${PS}\n", map[string]string{"PS": "12x"},
			[]string{"e.yaml:2: onec.page_size: want an integer, got the value of ${PS} (not shown: it comes from the environment)"}},
		{"a value with a newline and a key is not an integer either",
			"onec:\n  page_size: ${PS}\n", map[string]string{"PS": "5\n  timeout: 1s"},
			[]string{"e.yaml:2: onec.page_size: want an integer, got the value of ${PS} (not shown: it comes from the environment)"}},
		{"a value that is not a duration",
			"virtpos:\n  timeout: ${T}\n", map[string]string{"T": "soon"},
			[]string{"e.yaml:2: virtpos.timeout: want a duration such as 30s or 720h, got the value of ${T} (not shown: it comes from the environment)"}},
		{"every missing variable once, with its first line and key, beside other problems",
			"virtpos:\n  base_url: ${VP_URL}\n  apikey: ${VP_KEY}\n  colour: red\nonec:\n  base_url: ${VP_URL}\n  password: \"${ONEC_PASSWORD}\"\n", nil,
			[]string{
				"e.yaml:2: virtpos.base_url: environment variable VP_URL is not set",
				"e.yaml:3: virtpos.apikey: environment variable VP_KEY is not set",
				"e.yaml:4: virtpos.colour: unknown key",
				"e.yaml:7: onec.password: environment variable ONEC_PASSWORD is not set",
			}},
		{"an unclosed reference",
			"onec:\n  user: \"${U\"\n", nil,
			[]string{`e.yaml:2: onec.user: "${" without a closing "}" on the same line (write "$$" for a literal "$")`}},
		{"a bad name",
			"onec:\n  user: ${1U}\n", nil,
			[]string{`e.yaml:2: onec.user: bad variable reference "${1U}": want ${NAME} or ${NAME:default}`}},
		{"a missing variable inside field specs",
			"onec:\n  customers:\n    fields:\n      fname:\n        from: ${F}\n", nil,
			[]string{"e.yaml:5: onec.customers.fields.fname.from: environment variable F is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decode("e.yaml", []byte(tt.text), envOf(tt.env))
			got := problems(t, err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// FuzzParse feeds arbitrary files and variable values to the loader: it
// must never panic, and a secret of any bytes must reach its key unchanged
// and leave every other key alone.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"testdata/cyrillic.yaml", "testdata/env.yaml", "testdata/invalid.yaml", "../../configs/example.yaml"} {
		raw, err := os.ReadFile(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, "p")
	}
	f.Add([]byte("onec:\n  page_size: ${X}\n  timeout: ${X:5s}\n"), "5\n  page_size: 1")
	f.Add([]byte("a: &x ${X}\nb: *x\n"), `"\x7a`)
	f.Fuzz(func(t *testing.T, raw []byte, secret string) {
		env := func(string) (string, bool) { return secret, true }
		_, _ = parse("f.yaml", raw, env)
		for _, form := range []string{`${ONEC_PASSWORD}`, `"${ONEC_PASSWORD}"`} {
			c, err := parse("s.yaml", []byte(envConfig(form)), env)
			if err != nil {
				t.Fatalf("%s: %v", form, err)
			}
			if c.OneC.Password != secret || c.OneC.PageSize != 1000 {
				t.Fatalf("%s: password %q, page_size %d; want %q, 1000", form, c.OneC.Password, c.OneC.PageSize, secret)
			}
		}
	})
}

func TestWithoutOwnVariables(t *testing.T) {
	in := []string{"PATH=/bin", "VIRTSYNC_CONFIG=/etc/v.yaml", "VIRTPOS_APIKEY=k", "ONEC_USER=u",
		"ONEC_PASSWORD=p", "VIRTPOS_APIKEY_OLD=keep", "HOME=/root"}
	got := WithoutOwnVariables(in)
	want := []string{"PATH=/bin", "VIRTPOS_APIKEY_OLD=keep", "HOME=/root"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
