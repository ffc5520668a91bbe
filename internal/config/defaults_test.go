package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/retry"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/events"
	"github.com/virtsync/virtsync/sources/sourcevp"
)

// TestDefaultsAreThePackages: a key whose package also falls back to a
// default when given nothing has that package's default in the config, so
// a program built on the package alone and the daemon behave alike.
func TestDefaultsAreThePackages(t *testing.T) {
	c := Default()
	tests := []struct {
		key       string
		got, want any
	}{
		{"nats.stream", c.NATS.Stream, events.StreamDefault},
		{"nats.subject_prefix", c.NATS.SubjectPrefix, events.SubjectPrefixDefault},
		{"nats.dedupe_window", c.NATS.DedupeWindow.D(), events.DedupeWindowDefault},
		{"nats.connect_timeout", c.NATS.ConnectTimeout.D(), events.ConnectTimeoutDefault},
		{"virtpos.format", c.Virtpos.Format, virtposapi.FormatDefault},
		{"virtpos.method", c.Virtpos.Method, virtposapi.MethodDefault},
		{"virtpos.timeout", c.Virtpos.Timeout.D(), virtposapi.TimeoutDefault},
		{"virtpos.orders_timeout", c.Virtpos.OrdersTimeout.D(), virtposapi.OrdersTimeoutDefault},
		{"virtpos.concurrency", c.Virtpos.Concurrency, virtposapi.ConcurrencyDefault},
		// The engine's runner gets virtpos.concurrency too.
		{"virtpos.concurrency (engine)", c.Virtpos.Concurrency, engine.ConcurrencyDefault},
		{"virtpos.rate_limit", c.Virtpos.RateLimit, float64(virtposapi.RateLimitDefault)},
		{"virtpos.retry.max_attempts", c.Virtpos.Retry.MaxAttempts, virtposapi.RetryAttemptsDefault},
		{"virtpos.breaker.failures", c.Virtpos.Breaker.Failures, retry.BreakerFailuresDefault},
		{"virtpos.breaker.cooldown", c.Virtpos.Breaker.Cooldown.D(), retry.BreakerCooldownDefault},
		{"virtpos.paths.orders", c.Virtpos.Paths.Orders, virtposapi.OrdersPathDefault},
		{"virtpos.paths.customer", c.Virtpos.Paths.Customer, virtposapi.CustomerPathDefault},
		{"virtpos.paths.customer_update", c.Virtpos.Paths.CustomerUpdate, virtposapi.CustomerUpdatePathDefault},
		{"virtpos.paths.card_update", c.Virtpos.Paths.CardUpdate, virtposapi.CardUpdatePathDefault},
		{"virtpos.paths.card_insert", c.Virtpos.Paths.CardInsert, virtposapi.CardInsertPathDefault},
		{"virtpos.paths.card_delete", c.Virtpos.Paths.CardDelete, virtposapi.CardDeletePathDefault},
		{"onec.timeout", c.OneC.Timeout.D(), onecapi.TimeoutDefault},
		{"onec.page_size", c.OneC.PageSize, onecapi.PageSizeDefault},
		{"onec.profile", c.OneC.Profile, mapping.ProfileDefault},
		{"onec.retry.max_attempts", c.OneC.Retry.MaxAttempts, onecapi.RetryAttemptsDefault},
		{"onec.breaker.failures", c.OneC.Breaker.Failures, retry.BreakerFailuresDefault},
		{"onec.breaker.cooldown", c.OneC.Breaker.Cooldown.D(), retry.BreakerCooldownDefault},
		{"onec.orders.hold_max_attempts", c.OneC.Orders.HoldMaxAttempts, engine.HoldMaxAttemptsDefault},
		{"onec.orders.hold_max_age", c.OneC.Orders.HoldMaxAge.D(), engine.HoldMaxAgeDefault},
		{"jobs.customers.batch_size", c.Jobs.Customers.BatchSize, engine.BatchSizeDefault},
		{"jobs.cards.batch_size", c.Jobs.Cards.BatchSize, engine.BatchSizeDefault},
		{"jobs.orders.batch_size", c.Jobs.Orders.BatchSize, engine.BatchSizeDefault},
		{"jobs.orders.window", c.Jobs.Orders.Window.D(), sourcevp.WindowDefault},
		{"jobs.orders.overlap", c.Jobs.Orders.Overlap.D(), sourcevp.OverlapDefault},
		{"outbox.relay_interval", c.Outbox.RelayInterval.D(), events.RelayIntervalDefault},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("Default() has %v, the package's default is %v", tt.got, tt.want)
			}
		})
	}
}

// defaultIn finds the value a key's documentation gives as its default:
// the word after "Default" or "Default:", quoted or not.
var defaultIn = regexp.MustCompile(`\bDefault:?\s+("[^"]*"|\S+)`)

// documentedDefault returns the default doc states, and false when it
// states none.
func documentedDefault(doc string) (string, bool) {
	m := defaultIn.FindStringSubmatch(strings.Join(strings.Fields(doc), " "))
	if m == nil {
		return "", false
	}
	if v, err := strconv.Unquote(m[1]); err == nil {
		return v, true
	}
	return strings.TrimRight(m[1], ".,;:"), true
}

// sameDefault reports whether the documented text says v.
func sameDefault(text string, v reflect.Value) bool {
	if want, ok := v.Interface().(Duration); ok {
		d, err := time.ParseDuration(text)
		return err == nil && Duration(d) == want
	}
	switch v.Kind() {
	case reflect.String:
		return text == v.String()
	case reflect.Int:
		n, err := strconv.Atoi(text)
		return err == nil && int64(n) == v.Int()
	case reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		return err == nil && f == v.Float()
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		return err == nil && b == v.Bool()
	}
	return false
}

// scalarKey is a key holding one value: its field in Default() and the
// Go struct type and field that declare it.
type scalarKey struct {
	val        reflect.Value
	typ, field string
}

// scalarDefaults maps every key holding one value (not a list, a map or
// a section) to its scalarKey.
func scalarDefaults() map[string]scalarKey {
	out := map[string]scalarKey{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			switch {
			case sf.Type == reflect.TypeFor[Duration]():
			case f.Kind() == reflect.Struct:
				walk(f, key+".")
				continue
			case f.Kind() == reflect.Map, f.Kind() == reflect.Slice:
				continue
			}
			out[key] = scalarKey{val: f, typ: v.Type().Name(), field: sf.Name}
		}
	}
	d := Default()
	walk(reflect.ValueOf(&d).Elem(), "")
	return out
}

// TestFieldDocsSayTheDefault: the doc comment of every field in
// config.go that names a default names Default()'s value.
func TestFieldDocsSayTheDefault(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[[2]string]string{} // {type, field} -> doc
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		if st, ok := ts.Type.(*ast.StructType); ok {
			for _, fl := range st.Fields.List {
				for _, id := range fl.Names {
					docs[[2]string{ts.Name.Name, id.Name}] = fl.Doc.Text()
				}
			}
		}
		return false
	})
	checked := 0
	for key, k := range scalarDefaults() {
		text, ok := documentedDefault(docs[[2]string{k.typ, k.field}])
		if !ok {
			continue
		}
		checked++
		if !sameDefault(text, k.val) {
			t.Errorf("%s: the doc of %s.%s says Default %q, Default() has %v", key, k.typ, k.field, text, k.val)
		}
	}
	if checked < 70 {
		t.Errorf("only %d field docs name a default; is the parsing broken?", checked)
	}
}

// TestExampleCommentsSayTheDefault: the comment above a key in
// configs/example.yaml that names a default names Default()'s value,
// whatever value the example itself sets.
func TestExampleCommentsSayTheDefault(t *testing.T) {
	raw, err := os.ReadFile("../../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	keys := scalarDefaults()
	checked := 0
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			key := prefix + kn.Value
			if vn.Kind == yaml.MappingNode {
				walk(vn, key+".")
				continue
			}
			k, ok := keys[key]
			if !ok {
				continue
			}
			text, ok := documentedDefault(kn.HeadComment)
			if !ok {
				continue
			}
			checked++
			if !sameDefault(text, k.val) {
				t.Errorf("example.yaml %s (line %d): the comment says Default %q, Default() has %v", key, kn.Line, text, k.val)
			}
		}
	}
	walk(doc.Content[0], "")
	if checked < 45 {
		t.Errorf("only %d example comments name a default; is the parsing broken?", checked)
	}
}
