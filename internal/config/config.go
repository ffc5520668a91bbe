// Package config loads virtsync's YAML configuration: defaults, ${ENV}
// expansion, strict decoding (unknown keys are errors) and validation.
//
// The keys are a public contract (DESIGN.md section 7); configs/example.yaml
// shows every one of them.
package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/retry"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/events"
	"github.com/virtsync/virtsync/sources/sourcevp"
	"github.com/virtsync/virtsync/state"
)

// Allowed values of enumerated keys.
const (
	FormatJSON = "json"
	FormatXML  = "xml"

	MethodGET  = "GET"
	MethodPOST = "POST"

	// ProfileUT11 is 1C:Управление торговлей 11 (also КА 2, ERP 2), the default.
	ProfileUT11 = "ut11"
	// ProfileRoznica is 1C:Розница 2.
	ProfileRoznica = "roznica"
	// ProfileUNF is 1C:Управление нашей фирмой 3.0.
	ProfileUNF = "unf"

	// OnDeleteIgnore leaves the record in virtpos and records that it was deleted in 1C.
	OnDeleteIgnore = "ignore"
	// OnDeleteDelete deletes the record in virtpos.
	OnDeleteDelete = "delete"
	// OnDeleteBlock blocks the card in virtpos instead of deleting it.
	OnDeleteBlock = "block"

	LogFormatText = "text"
	LogFormatJSON = "json"

	// RedactedValue replaces a non-empty secret in Redacted.
	RedactedValue = "[redacted]"

	// DefaultPath is the config file used when neither -config nor
	// $VIRTSYNC_CONFIG is set, relative to the working directory.
	DefaultPath = "virtsync.yaml"
	// EnvPath names the environment variable holding the config path.
	EnvPath = "VIRTSYNC_CONFIG"
)

// Config is virtsync's whole configuration. Build it with Default or Load.
type Config struct {
	// State is the SQLite state store.
	State StateConfig `yaml:"state"`
	// NATS is where events are published.
	NATS NATSConfig `yaml:"nats"`
	// HTTP is the /livez, /readyz and /metrics server.
	HTTP HTTPConfig `yaml:"http"`
	// Log configures log/slog.
	Log LogConfig `yaml:"log"`
	// Virtpos is the virtpos HTTP API.
	Virtpos VirtposConfig `yaml:"virtpos"`
	// OneC is the 1C OData standard interface.
	OneC OneCConfig `yaml:"onec"`
	// Jobs configures the customers, cards and orders jobs.
	Jobs JobsConfig `yaml:"jobs"`
	// Outbox configures the relay from the SQLite outbox to NATS.
	Outbox OutboxConfig `yaml:"outbox"`
	// ShutdownTimeout bounds a graceful shutdown after SIGTERM/SIGINT.
	// Default 30s; must be > 0.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// StateConfig configures the SQLite state store.
type StateConfig struct {
	// Driver is where the state lives: sqlite (a file, one host) or
	// postgres (a database two hosts share, one of them active).
	// Default "sqlite".
	Driver string `yaml:"driver"`
	// Path of the SQLite database. A relative path is relative to the
	// working directory of the process (not to the config file). With
	// postgres it only places the embedded NATS store (nats.store_dir).
	// Default "data/virtsync.db"; required.
	Path string `yaml:"path"`
	// DSN of the PostgreSQL database with driver postgres, e.g.
	// "postgres://virtsync@db.local:5432/virtsync" or key=value pairs.
	// Secret (it may hold a password). Default "": required with postgres.
	DSN string `yaml:"dsn" secret:"true"`
	// LeaseTTL is how long the daemon's lease and a job's lease outlive a
	// process that stopped renewing them (renewed every third of it). On
	// two hosts it is the failover time: the standby takes over at most
	// this long (plus a schedule tick) after the active host stopped.
	// Default 2m; at least 3s.
	LeaseTTL Duration `yaml:"lease_ttl"`
}

// NATSConfig configures event publishing.
type NATSConfig struct {
	// URL of the NATS server, e.g. "nats://127.0.0.1:4222". Default "":
	// start an embedded nats-server with JetStream on loopback, stored in
	// StoreDir.
	URL string `yaml:"url"`
	// Stream is the JetStream stream name. Default "VIRTSYNC".
	Stream string `yaml:"stream"`
	// SubjectPrefix prefixes every subject ("<prefix>.<kind>.<what>") and
	// the stream's subjects ("<prefix>.>"). Default "virtsync".
	SubjectPrefix string `yaml:"subject_prefix"`
	// DedupeWindow is the stream's duplicate window (Nats-Msg-Id). Default 10m.
	DedupeWindow Duration `yaml:"dedupe_window"`
	// ConnectTimeout bounds connecting to NATS. Default 5s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// StoreDir is the embedded server's JetStream directory. Default "":
	// "nats" beside the state file (see Config.NATSStoreDir). Ignored when
	// URL is set.
	StoreDir string `yaml:"store_dir"`
	// SyncAlways makes the embedded server fsync every write. Default false.
	SyncAlways bool `yaml:"sync_always"`
	// EmbeddedListen is a host:port on which the embedded server also
	// accepts TCP clients (consumers, the nats CLI, a second virtsync).
	// Default "": no listener at all, virtsync connects in-process and no
	// other user of the host can reach the stream. Ignored when URL is set.
	EmbeddedListen string `yaml:"embedded_listen"`
	// EmbeddedUser is the user clients on EmbeddedListen log in as.
	// Required when EmbeddedListen is set and URL is not.
	EmbeddedUser string `yaml:"embedded_user"`
	// EmbeddedPassword is EmbeddedUser's password. Secret; required when
	// EmbeddedListen is set and URL is not.
	EmbeddedPassword string `yaml:"embedded_password" secret:"true"`
}

// HTTPConfig configures the health and metrics server.
type HTTPConfig struct {
	// Listen is the host:port to listen on. Default "127.0.0.1:9464"
	// (loopback only); "" disables the server.
	Listen string `yaml:"listen"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// RetryConfig is an exponential backoff for transient failures.
type RetryConfig struct {
	// MaxAttempts counts the first try; 1 means no retry. Default 6.
	MaxAttempts int `yaml:"max_attempts"`
	// Initial is the first delay. Default 500ms.
	Initial Duration `yaml:"initial"`
	// Max caps every delay; must be >= Initial. Default 30s.
	Max Duration `yaml:"max"`
}

// BreakerConfig is a circuit breaker on one remote system. Failures that
// say the system itself is unusable (down, 5xx, timeouts, a refused
// credential), not one record's fault, count; a success resets the count.
type BreakerConfig struct {
	// Failures is how many such failures in a row open the breaker: calls
	// then fail at once with a message naming the system and the last
	// failure, and the run stops instead of failing record after record.
	// Default 8; 0 means the default; a negative value disables the breaker.
	Failures int `yaml:"failures"`
	// Cooldown is how long an open breaker refuses calls before it lets one
	// trial call through; that call's outcome closes or reopens it.
	// Default 1m; > 0.
	Cooldown Duration `yaml:"cooldown"`
}

// VirtposConfig configures the virtpos API client.
type VirtposConfig struct {
	// BaseURL is the API root, e.g. "https://mycompany.virtpos.ru/api".
	// Required; http or https.
	BaseURL string `yaml:"base_url"`
	// APIKey is sent with every request. Secret; required.
	APIKey string `yaml:"apikey" secret:"true"`
	// Format is json or xml. Default json.
	Format string `yaml:"format"`
	// Method is GET or POST. Default GET.
	Method string `yaml:"method"`
	// Timeout bounds one HTTP request. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// OrdersTimeout is the total deadline of one /orders response stream,
	// from the request to the last byte of the body (Timeout still bounds
	// the wait for its headers). Default 30m; > 0.
	OrdersTimeout Duration `yaml:"orders_timeout"`
	// Concurrency is the number of parallel requests. Default 4; >= 1.
	Concurrency int `yaml:"concurrency"`
	// RateLimit is requests per second. Default 10; 0 means unlimited.
	RateLimit float64 `yaml:"rate_limit"`
	// Retry is the backoff for transient failures. Default 6/500ms/30s.
	Retry RetryConfig `yaml:"retry"`
	// Breaker stops a run when virtpos is down or refuses every call.
	// Default 8 failures, 1m cooldown.
	Breaker BreakerConfig `yaml:"breaker"`
	// Paths are the endpoints relative to BaseURL; each starts with "/".
	Paths VirtposPaths `yaml:"paths"`
}

// VirtposPaths are the virtpos endpoints.
type VirtposPaths struct {
	// Orders lists orders. Default "/orders".
	Orders string `yaml:"orders"`
	// Customer reads customers. Default "/customer".
	Customer string `yaml:"customer"`
	// CustomerUpdate creates and updates a customer. Default "/customer/update".
	CustomerUpdate string `yaml:"customer_update"`
	// CardUpdate updates a card. Default "/card/update".
	CardUpdate string `yaml:"card_update"`
	// CardInsert creates a card. Default "/card/insert".
	CardInsert string `yaml:"card_insert"`
	// CardDelete deletes a card. Default "/card/delete".
	CardDelete string `yaml:"card_delete"`
}

// OneCConfig configures the 1C OData client and what is read and written.
type OneCConfig struct {
	// BaseURL is the OData root, ending in "/odata/standard.odata".
	// Required; http or https.
	BaseURL string `yaml:"base_url"`
	// User for HTTP basic auth. Default "" (no auth).
	User string `yaml:"user"`
	// Password for HTTP basic auth. Secret.
	Password string `yaml:"password" secret:"true"`
	// Timeout bounds one HTTP request. Default 60s.
	Timeout Duration `yaml:"timeout"`
	// PageSize is $top of a page. Default 1000; >= 1.
	PageSize int `yaml:"page_size"`
	// Profile is the 1C configuration's profile: a shipped one (ut11,
	// unf, roznica) or the path of a profile file of one's own (README,
	// "1C profiles"). Keys below override it key by key. Default "ut11".
	Profile string `yaml:"profile"`
	// Retry is the backoff for transient failures. Default 6/500ms/30s.
	Retry RetryConfig `yaml:"retry"`
	// Breaker stops a run when 1C is down or refuses every call.
	// Default 8 failures, 1m cooldown.
	Breaker BreakerConfig `yaml:"breaker"`
	// Customers configures reading customers.
	Customers CustomersConfig `yaml:"customers"`
	// Cards configures reading discount cards.
	Cards CardsConfig `yaml:"cards"`
	// Orders configures writing orders.
	Orders OrdersConfig `yaml:"orders"`
}

// FieldSpecs maps a virtpos parameter to a field spec: a 1C field name or a
// map ({from, as, where, take, map, const, part, kind}). Kept as decoded YAML;
// package mapping compiles it. Entries override the profile's defaults key
// by key; nil means the profile's defaults.
type FieldSpecs = map[string]any

// CustomersConfig configures the customers source.
type CustomersConfig struct {
	// Entity is the 1C catalog. Default "": the profile's (ut11: Catalog_Партнеры).
	Entity string `yaml:"entity"`
	// Buyers says how buyers are told apart from the catalog's other
	// items: filter, groups or all. Default "": the profile's (ut11:
	// filter); set by Filter or Groups alone too.
	Buyers string `yaml:"buyers"`
	// Filter is an OData $filter. Default "": the profile's (ut11: "Клиент eq true").
	Filter string `yaml:"filter"`
	// Groups are folder Ref_Keys: buyers are the items under them, at any
	// depth. Default none.
	Groups []string `yaml:"groups,omitempty"`
	// Fields overrides field specs. Default nil: the profile's mapping.
	Fields FieldSpecs `yaml:"fields,omitempty"`
	// OnDelete is ignore or delete. Default ignore: leave the customer in
	// virtpos and record it.
	OnDelete string `yaml:"on_delete"`
}

// CardsConfig configures the cards source.
type CardsConfig struct {
	// Entity is the 1C catalog. Default "": the profile's (ut11: Catalog_КартыЛояльности).
	Entity string `yaml:"entity"`
	// KindsEntity is the card kinds catalog that lookup specs without an
	// entity read. Default "": the profile's (ut11: Catalog_ВидыКартЛояльности).
	KindsEntity string `yaml:"kinds_entity"`
	// Filter is an OData $filter of the cards to sync. Default "": the
	// profile's (ut11: all; roznica: IsFolder eq false).
	Filter string `yaml:"filter"`
	// Fields overrides field specs. Default nil: the profile's mapping.
	Fields FieldSpecs `yaml:"fields,omitempty"`
	// OnDelete is delete or block. Default delete.
	OnDelete string `yaml:"on_delete"`
}

// OrdersConfig configures writing virtpos orders into 1C.
type OrdersConfig struct {
	// Entity is the 1C document. Default "": the profile's (ut11: Document_ЗаказКлиента).
	Entity string `yaml:"entity"`
	// Fields maps document fields to order values or {const: x},
	// overriding the profile's key by key (nil removes a field).
	Fields FieldSpecs `yaml:"fields,omitempty"`
	// Rows overrides the tabular section of goods.
	Rows OrderRowsConfig `yaml:"rows"`
	// Post posts the document after writing it. Default false.
	Post bool `yaml:"post"`
	// MarkerField holds the virtpos order key in 1C. Default "": the
	// profile's (ut11: НомерПоДаннымКлиента).
	MarkerField string `yaml:"marker_field"`
	// MarkerLength is how many characters MarkerField holds; a longer key
	// is written as a digest that fits. Default 0: the profile's (ut11: any
	// length, unf: 30, roznica: 11).
	MarkerLength int `yaml:"marker_length"`
	// ItemsEntity is the items catalog. Default "": the profile's
	// (Catalog_Номенклатура).
	ItemsEntity string `yaml:"items_entity"`
	// ItemMatchField is one field matched to virtpos item_id, exactly.
	// Default "": the profile's (Code). Excludes ItemMatch.
	ItemMatchField string `yaml:"item_match_field"`
	// ItemMatch are the ways tried in order to match item_id: a field
	// name or {field, zeros: keep|ignore, prefix, entity, ref}. Default
	// none: the profile's.
	ItemMatch []mapping.ItemMatch `yaml:"item_match,omitempty"`
	// CounterpartyEntity is the legal counterparty catalog. Default "":
	// the profile's (ut11: Catalog_Контрагенты; unf, roznica: none).
	CounterpartyEntity string `yaml:"counterparty_entity"`
	// CounterpartyBy is its field holding the buyer. Default "": the
	// profile's (ut11: Партнер_Key).
	CounterpartyBy string `yaml:"counterparty_by"`
	// OrganizationKey is the Организация_Key (a GUID). Default "": not set.
	OrganizationKey string `yaml:"organization_key"`
	// WarehouseKey is the Склад_Key. Default "": not set.
	WarehouseKey string `yaml:"warehouse_key"`
	// AgreementKey is the Соглашение_Key. Default "": not set.
	AgreementKey string `yaml:"agreement_key"`
	// CurrencyKey is the Валюта_Key. Default "": not set.
	CurrencyKey string `yaml:"currency_key"`
	// Operation is the operation kind written (ut11 ХозяйственнаяОперация,
	// unf ВидОперации). Default "": the profile's (ut11 РеализацияКлиенту,
	// unf ЗаказНаПродажу, roznica none).
	Operation string `yaml:"operation"`
	// Status is the Статус value. Default "": the profile's (none: 1C's default).
	Status string `yaml:"status"`
	// CancelledStatus is the Статус written when virtpos marks the order
	// cancelled (ut11: "Закрыт"). Default "": the status is left as is and
	// only the comment says "отменён". A cancelled order is never posted.
	CancelledStatus string `yaml:"cancelled_status"`
	// HoldMaxAttempts is how many times a held order (e.g. unmatched item)
	// is retried before it is dead-lettered. Default 10; >= 1.
	HoldMaxAttempts int `yaml:"hold_max_attempts"`
	// HoldMaxAge is how long an order may be held before it is
	// dead-lettered. Default 72h; > 0.
	HoldMaxAge Duration `yaml:"hold_max_age"`
	// ShopTimezone is the IANA zone of virtpos created_date (shop-local).
	// Default "Europe/Moscow".
	ShopTimezone string `yaml:"shop_timezone"`
}

// OrderRowsConfig overrides the order document's tabular section.
type OrderRowsConfig struct {
	// Section is the tabular section. Default "": the profile's (ut11 Товары).
	Section string `yaml:"section"`
	// Fields maps row fields to row values or {const: x}, overriding the
	// profile's key by key (nil removes a field).
	Fields FieldSpecs `yaml:"fields,omitempty"`
}

// JobsConfig configures the jobs.
type JobsConfig struct {
	// Customers pushes 1C customers to virtpos.
	Customers JobConfig `yaml:"customers"`
	// Cards pushes 1C cards to virtpos.
	Cards JobConfig `yaml:"cards"`
	// Orders pulls virtpos orders into 1C.
	Orders OrdersJobConfig `yaml:"orders"`
}

// JobConfig configures one job.
type JobConfig struct {
	// Enabled runs the job. Default true.
	Enabled bool `yaml:"enabled"`
	// Schedule is a cron expression (optional seconds field), a descriptor
	// ("@every 10m", "@hourly"), optionally prefixed "CRON_TZ=Zone ".
	// Default "@every 10m".
	Schedule string `yaml:"schedule"`
	// BatchSize is records per checkpoint commit. Default 200; >= 1.
	BatchSize int `yaml:"batch_size"`
}

// OrdersJobConfig configures the orders job.
type OrdersJobConfig struct {
	// Enabled runs the job. Default true.
	Enabled bool `yaml:"enabled"`
	// Schedule as in JobConfig. Default "@every 1m".
	Schedule string `yaml:"schedule"`
	// BatchSize is records per checkpoint commit. Default 200; >= 1.
	BatchSize int `yaml:"batch_size"`
	// Window is how far back from now every run reads orders, not only a
	// first one, so that orders paid, shipped or cancelled late are seen;
	// a resync reads every order. Default 720h; > 0.
	Window Duration `yaml:"window"`
	// Overlap is added to Window, so that a run that starts late still
	// covers the previous run's edge. Default 24h; >= 0 (0: none).
	Overlap Duration `yaml:"overlap"`
}

// OutboxConfig configures the outbox relay.
type OutboxConfig struct {
	// RelayInterval is how often the outbox is polled. Default 1s; > 0.
	RelayInterval Duration `yaml:"relay_interval"`
	// DrainTimeout bounds draining the outbox at shutdown. Default 10s;
	// 0 means do not drain.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Default returns the configuration with every default set. BaseURL and
// APIKey have no default; Default().Validate() therefore fails.
//
// A default the code behind a key also falls back to is that package's
// XxxDefault constant, not a number written again here.
func Default() Config {
	retries := func(attempts int) RetryConfig {
		return RetryConfig{MaxAttempts: attempts, Initial: Duration(retry.InitialDefault), Max: Duration(retry.MaxDefault)}
	}
	breaker := BreakerConfig{Failures: retry.BreakerFailuresDefault, Cooldown: Duration(retry.BreakerCooldownDefault)}
	return Config{
		State: StateConfig{Driver: state.DriverSQLite, Path: "data/virtsync.db", LeaseTTL: Duration(engine.LeaseTTLDefault)},
		NATS: NATSConfig{
			Stream:         events.StreamDefault,
			SubjectPrefix:  events.SubjectPrefixDefault,
			DedupeWindow:   Duration(events.DedupeWindowDefault),
			ConnectTimeout: Duration(events.ConnectTimeoutDefault),
		},
		HTTP: HTTPConfig{Listen: "127.0.0.1:9464"},
		Log:  LogConfig{Level: "info", Format: LogFormatText},
		Virtpos: VirtposConfig{
			Format:        virtposapi.FormatDefault,
			Method:        virtposapi.MethodDefault,
			Timeout:       Duration(virtposapi.TimeoutDefault),
			OrdersTimeout: Duration(virtposapi.OrdersTimeoutDefault),
			Concurrency:   virtposapi.ConcurrencyDefault,
			RateLimit:     virtposapi.RateLimitDefault,
			Retry:         retries(virtposapi.RetryAttemptsDefault),
			Breaker:       breaker,
			Paths: VirtposPaths{
				Orders:         virtposapi.OrdersPathDefault,
				Customer:       virtposapi.CustomerPathDefault,
				CustomerUpdate: virtposapi.CustomerUpdatePathDefault,
				CardUpdate:     virtposapi.CardUpdatePathDefault,
				CardInsert:     virtposapi.CardInsertPathDefault,
				CardDelete:     virtposapi.CardDeletePathDefault,
			},
		},
		OneC: OneCConfig{
			Timeout:   Duration(onecapi.TimeoutDefault),
			PageSize:  onecapi.PageSizeDefault,
			Profile:   mapping.ProfileDefault,
			Retry:     retries(onecapi.RetryAttemptsDefault),
			Breaker:   breaker,
			Customers: CustomersConfig{OnDelete: OnDeleteIgnore},
			Cards:     CardsConfig{OnDelete: OnDeleteDelete},
			Orders: OrdersConfig{
				HoldMaxAttempts: engine.HoldMaxAttemptsDefault,
				HoldMaxAge:      Duration(engine.HoldMaxAgeDefault),
				ShopTimezone:    "Europe/Moscow",
			},
		},
		Jobs: JobsConfig{
			Customers: JobConfig{Enabled: true, Schedule: "@every 10m", BatchSize: engine.BatchSizeDefault},
			Cards:     JobConfig{Enabled: true, Schedule: "@every 10m", BatchSize: engine.BatchSizeDefault},
			Orders: OrdersJobConfig{
				Enabled: true, Schedule: "@every 1m", BatchSize: engine.BatchSizeDefault,
				Window: Duration(sourcevp.WindowDefault), Overlap: Duration(sourcevp.OverlapDefault),
			},
		},
		Outbox: OutboxConfig{
			RelayInterval: Duration(events.RelayIntervalDefault),
			DrainTimeout:  Duration(10 * time.Second),
		},
		ShutdownTimeout: Duration(engine.StopTimeoutDefault),
	}
}

// NATSStoreDir is the embedded NATS server's storage directory:
// NATS.StoreDir if set, else "nats" in the directory of State.Path.
func (c Config) NATSStoreDir() string {
	if c.NATS.StoreDir != "" {
		return c.NATS.StoreDir
	}
	return filepath.Join(filepath.Dir(c.State.Path), "nats")
}

// Redacted returns a copy with every non-empty secret (the fields tagged
// secret:"true": virtpos.apikey, onec.password, nats.embedded_password)
// replaced by RedactedValue.
func (c Config) Redacted() Config {
	eachSecret(reflect.ValueOf(&c).Elem(), func(v reflect.Value) {
		if v.String() != "" {
			v.SetString(RedactedValue)
		}
	})
	return c
}

// Secrets returns the non-empty secret values, for scrubbing text that may
// carry them (a server's error page, a URL) and for leak checks.
func (c Config) Secrets() []string {
	var out []string
	eachSecret(reflect.ValueOf(&c).Elem(), func(v reflect.Value) {
		if s := v.String(); s != "" {
			out = append(out, s)
		}
	})
	return out
}

// eachSecret calls fn with every string field of the struct v tagged
// secret:"true", at any depth. A tag rather than a list: a secret key added
// later is redacted by tagging it, and a test lists the tagged keys.
func eachSecret(v reflect.Value, fn func(reflect.Value)) {
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		switch {
		case sf.Tag.Get("secret") == "true" && f.Kind() == reflect.String:
			fn(f)
		case f.Kind() == reflect.Struct:
			eachSecret(f, fn)
		}
	}
}

// String renders the effective config as YAML with secrets redacted.
func (c Config) String() string {
	b, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return fmt.Sprintf("config: marshal: %v", err)
	}
	return string(b)
}

// Duration is a time.Duration written in YAML as a Go duration string
// ("500ms", "30s", "720h").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return fmt.Errorf("line %d: %s", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func parseDuration(n *yaml.Node) (Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want a duration such as 30s or 720h, got a %s", kindName(n.Kind))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s or 720h, got %q", n.Value)
	}
	return Duration(v), nil
}
