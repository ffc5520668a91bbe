package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onec"
	"github.com/virtsync/virtsync/internal/virtpos"
	"github.com/virtsync/virtsync/mapping"
	sinkonec "github.com/virtsync/virtsync/sinks/onec"
	sinkvp "github.com/virtsync/virtsync/sinks/virtpos"
	srconec "github.com/virtsync/virtsync/sources/onec"
	srcvp "github.com/virtsync/virtsync/sources/virtpos"
	"github.com/virtsync/virtsync/state"
	vsync "github.com/virtsync/virtsync/sync"
)

// parts are the long-lived objects one process builds from its config.
type parts struct {
	cfg     config.Config
	log     *slog.Logger
	db      *state.DB
	vp      *virtpos.Client
	onec    *onec.Client
	metrics *Metrics
	jobs    map[string]vsync.JobSpec
	// metaWant is every 1C entity and field the jobs read or write, for
	// the $metadata check at start.
	metaWant map[string][]string
}

// newLogger builds the process logger from log.level and log.format.
func newLogger(cfg config.LogConfig, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// buildJobs wires clients, maps, sources and sinks. It fails with a config
// error (exit 2) when a field map does not compile.
func buildJobs(p *parts) error {
	cfg := p.cfg
	prof, err := mapping.Profile(cfg.OneC.Profile)
	if err != nil {
		return &configError{fmt.Errorf("onec.profile: %w", err)}
	}
	vp, err := virtpos.New(virtpos.Config{
		BaseURL: cfg.Virtpos.BaseURL, APIKey: cfg.Virtpos.APIKey, Format: cfg.Virtpos.Format,
		Method: cfg.Virtpos.Method, Timeout: cfg.Virtpos.Timeout.D(), Concurrency: cfg.Virtpos.Concurrency,
		RateLimit: cfg.Virtpos.RateLimit, OrdersTimeout: cfg.Virtpos.OrdersTimeout.D(),
		Breaker: virtpos.BreakerPolicy{Failures: cfg.Virtpos.Breaker.Failures, Cooldown: cfg.Virtpos.Breaker.Cooldown.D()},
		Retry: virtpos.RetryPolicy{MaxAttempts: cfg.Virtpos.Retry.MaxAttempts, Initial: cfg.Virtpos.Retry.Initial.D(),
			Max: cfg.Virtpos.Retry.Max.D()},
		Paths: virtpos.Paths{Orders: cfg.Virtpos.Paths.Orders, Customer: cfg.Virtpos.Paths.Customer,
			CustomerUpdate: cfg.Virtpos.Paths.CustomerUpdate, CardUpdate: cfg.Virtpos.Paths.CardUpdate,
			CardInsert: cfg.Virtpos.Paths.CardInsert, CardDelete: cfg.Virtpos.Paths.CardDelete},
		Logger: p.log.With("system", "virtpos"),
		OnRequest: func(ep string, status int, d time.Duration) {
			p.metrics.Request("virtpos", ep, status, d)
		},
	})
	if err != nil {
		return &configError{err}
	}
	p.vp = vp
	oc, err := onec.New(onec.Config{
		BaseURL: cfg.OneC.BaseURL, User: cfg.OneC.User, Password: cfg.OneC.Password,
		Timeout: cfg.OneC.Timeout.D(), PageSize: cfg.OneC.PageSize,
		Retry: onec.Retry{MaxAttempts: cfg.OneC.Retry.MaxAttempts, Initial: cfg.OneC.Retry.Initial.D(),
			Max: cfg.OneC.Retry.Max.D()},
		Breaker: onec.Breaker{Failures: cfg.OneC.Breaker.Failures, Cooldown: cfg.OneC.Breaker.Cooldown.D()},
		Logger:  p.log.With("system", "onec"),
		HTTPClient: &http.Client{Timeout: cfg.OneC.Timeout.D(),
			Transport: &metered{next: http.DefaultTransport, m: p.metrics}},
	})
	if err != nil {
		return &configError{err}
	}
	p.onec = oc

	pick := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	want := map[string][]string{}
	addWant := func(entity string, fields ...string) {
		want[entity] = append(want[entity], fields...)
	}

	// customers: 1C -> virtpos
	custEntity := pick(cfg.OneC.Customers.Entity, prof.Customers.Entity)
	custFilter := pick(cfg.OneC.Customers.Filter, prof.Customers.Filter)
	custMap, err := mapping.Compile(mapping.Merge(prof.Customers.Fields, cfg.OneC.Customers.Fields))
	if err != nil {
		return &configError{fmt.Errorf("onec.customers.fields: %w", err)}
	}
	custSelect := withKeys(custMap.Sources())
	addWant(custEntity, custSelect...)
	// cards: 1C -> virtpos
	cardEntity := pick(cfg.OneC.Cards.Entity, prof.Cards.Entity)
	cardMap, err := mapping.Compile(mapping.Merge(prof.Cards.Fields, cfg.OneC.Cards.Fields))
	if err != nil {
		return &configError{fmt.Errorf("onec.cards.fields: %w", err)}
	}
	cardSelect := withKeys(cardMap.Sources())
	addWant(cardEntity, cardSelect...)
	for _, lf := range cardMap.Lookups() {
		addWant(lf.Entity, "Ref_Key", lf.Field)
	}
	// orders: virtpos -> 1C
	od := prof.Orders
	loc, err := time.LoadLocation(cfg.OneC.Orders.ShopTimezone)
	if err != nil {
		return &configError{fmt.Errorf("onec.orders.shop_timezone: %w", err)}
	}
	settings := sinkonec.OrderSettings{
		Entity:             pick(cfg.OneC.Orders.Entity, od.Entity),
		TabularSection:     od.Items,
		MarkerField:        pick(cfg.OneC.Orders.MarkerField, od.KeyField),
		ItemsEntity:        pick(cfg.OneC.Orders.ItemsEntity, od.ItemEntity),
		ItemMatchField:     pick(cfg.OneC.Orders.ItemMatchField, od.ItemMatch),
		CounterpartyEntity: pick(cfg.OneC.Orders.CounterpartyEntity, od.ContractorOf),
		Organization:       cfg.OneC.Orders.OrganizationKey,
		Warehouse:          cfg.OneC.Orders.WarehouseKey,
		Agreement:          cfg.OneC.Orders.AgreementKey,
		Currency:           cfg.OneC.Orders.CurrencyKey,
		Operation:          cfg.OneC.Orders.Operation,
		Status:             cfg.OneC.Orders.Status,
		CancelledStatus:    cfg.OneC.Orders.CancelledStatus,
		Post:               cfg.OneC.Orders.Post,
		ShopZone:           loc,
	}
	addWant(settings.Entity, "Ref_Key", "Number", "Date", settings.MarkerField, "Партнер_Key", "Контрагент_Key",
		"СуммаДокумента", "Комментарий", "АдресДоставки", od.Items)
	addWant(settings.ItemsEntity, "Ref_Key", settings.ItemMatchField)
	addWant(settings.CounterpartyEntity, "Ref_Key", od.ContractorBy)
	p.metaWant = want

	p.jobs = map[string]vsync.JobSpec{
		"customers": {
			Name: "customers", Kind: "customer", BatchSize: cfg.Jobs.Customers.BatchSize,
			Source: &srconec.Entities{Client: oc, Entity: custEntity, Filter: custFilter, Select: custSelect},
			Handler: &sinkvp.Customers{Client: vp, Listings: p.db,
				Mapper: &entityMapper{kind: "customer", m: custMap, onec: oc, db: p.db}},
		},
		"cards": {
			Name: "cards", Kind: "card", BatchSize: cfg.Jobs.Cards.BatchSize,
			Source: &srconec.Entities{Client: oc, Entity: cardEntity, Select: cardSelect},
			Handler: &sinkvp.Cards{Client: vp, OnDelete: cfg.OneC.Cards.OnDelete,
				Mapper: &entityMapper{kind: "card", m: cardMap, onec: oc, db: p.db}},
		},
		"orders": {
			Name: "orders", Kind: "order", BatchSize: cfg.Jobs.Orders.BatchSize,
			Source: &srcvp.Orders{Client: vp, Window: cfg.Jobs.Orders.Window.D(), Overlap: cfg.Jobs.Orders.Overlap.D(), Loc: loc,
				Log: p.log.With("job", "orders")},
			Handler: &sinkonec.Orders{OneC: oc, Customers: vp, Refs: p.db, Settings: settings},
		},
	}
	return nil
}

// withKeys adds the fields every change-detecting read needs.
func withKeys(fields []string) []string {
	out := []string{"Ref_Key", "DataVersion", "DeletionMark"}
	for _, f := range fields {
		if f != "Ref_Key" && f != "DataVersion" && f != "DeletionMark" {
			out = append(out, f)
		}
	}
	return out
}

// enabled lists the enabled jobs in run order.
func enabled(cfg config.Config) []string {
	var out []string
	for _, j := range jobNames() {
		on := map[string]bool{"customers": cfg.Jobs.Customers.Enabled, "cards": cfg.Jobs.Cards.Enabled,
			"orders": cfg.Jobs.Orders.Enabled}[j]
		if on {
			out = append(out, j)
		}
	}
	return out
}

func schedule(cfg config.Config, job string) string {
	switch job {
	case "customers":
		return cfg.Jobs.Customers.Schedule
	case "cards":
		return cfg.Jobs.Cards.Schedule
	}
	return cfg.Jobs.Orders.Schedule
}

// metered observes 1C requests for /metrics. The endpoint label is the
// entity set (bounded by the configuration), never a key.
type metered struct {
	next http.RoundTripper
	m    *Metrics
}

func (t *metered) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.m.Request("onec", onecEndpoint(r.URL.Path), status, time.Since(start))
	return resp, err
}

// onecEndpoint reduces ".../standard.odata/Catalog_X(guid'..')/Post" to
// "Catalog_X/Post".
func onecEndpoint(path string) string {
	i := strings.Index(path, "standard.odata/")
	if i < 0 {
		return "other"
	}
	rest := path[i+len("standard.odata/"):]
	if j := strings.Index(rest, "("); j >= 0 {
		tail := rest[j:]
		rest = rest[:j]
		if k := strings.Index(tail, ")/"); k >= 0 {
			rest += tail[k+1:]
		}
	}
	if rest == "" {
		return "root"
	}
	return rest
}

// configError marks an error the user fixes in the config (exit 2).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }
