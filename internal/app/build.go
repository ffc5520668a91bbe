// Package app builds the long-lived parts of a virtsync process from its
// config: the logger, the metrics, the clients, the 1C profile and the
// jobs. The commands that use them are in cmd/virtsync.
package app

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/sinks/sink1c"
	"github.com/virtsync/virtsync/sinks/sinkvp"
	"github.com/virtsync/virtsync/sources/source1c"
	"github.com/virtsync/virtsync/sources/sourcevp"
	"github.com/virtsync/virtsync/state"
)

// Parts are the long-lived objects one process builds from its config.
type Parts struct {
	Config  config.Config
	Log     *slog.Logger
	DB      *state.DB
	Virtpos *virtposapi.Client
	OneC    *onecapi.Client
	// Metrics are fed by the clients (every request), the runs and the
	// state (read at scrape time).
	Metrics *Metrics
	// Jobs by name (JobNames).
	Jobs map[string]engine.JobSpec
	// Profile is the 1C profile with the config's overrides.
	Profile *mapping.Compiled
}

// NewLogger builds the process logger from log.level and log.format.
func NewLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Build wires the metrics, the clients, the 1C profile and the jobs (maps,
// sources and sinks) of a process whose state is db. It fails with a
// *ConfigError (exit 2) when the config cannot be built, a field map that
// does not compile say.
func Build(cfg config.Config, log *slog.Logger, db *state.DB) (*Parts, error) {
	p := &Parts{Config: cfg, Log: log, DB: db, Metrics: NewMetrics(backlogFunc(db), deadFunc(db))}
	comp, err := Profile(cfg.OneC)
	if err != nil {
		return nil, err
	}
	p.Profile = comp
	prof := comp.Profile
	vc := VirtposConfig(cfg.Virtpos)
	vc.Logger = p.Log.With("system", "virtpos")
	vc.OnRequest = func(ep string, status int, d time.Duration) {
		p.Metrics.Request("virtpos", ep, status, d)
	}
	vp, err := virtposapi.New(vc)
	if err != nil {
		return nil, &ConfigError{err}
	}
	p.Virtpos = vp
	occ := OneCConfig(cfg.OneC)
	occ.Logger = p.Log.With("system", "onec")
	occ.HTTPClient = &http.Client{Timeout: occ.Timeout, Transport: &metered{next: http.DefaultTransport, m: p.Metrics}}
	oc, err := onecapi.New(occ)
	if err != nil {
		return nil, &ConfigError{err}
	}
	p.OneC = oc

	loc, err := time.LoadLocation(cfg.OneC.Orders.ShopTimezone)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("onec.orders.shop_timezone: %w", err)}
	}
	co := cfg.OneC.Orders
	settings := sink1c.OrderSettings{
		Doc:             comp.Order,
		Counterparty:    prof.Orders.Counterparty,
		Items:           prof.Orders.Items,
		Organization:    co.OrganizationKey,
		Warehouse:       co.WarehouseKey,
		Agreement:       co.AgreementKey,
		Currency:        co.CurrencyKey,
		Operation:       prof.Orders.Operation,
		Status:          prof.Orders.Status,
		CancelledStatus: prof.Orders.CancelledStatus,
		Post:            co.Post,
		ShopZone:        loc,
	}
	custSource := &source1c.Entities{Client: oc, Entity: prof.Customers.Entity, Select: withKeys(comp.Customers.Sources())}
	switch prof.Customers.Buyers {
	case mapping.BuyersFilter:
		custSource.Filter = prof.Customers.Filter
	case mapping.BuyersGroups:
		// A filter narrows the groups further when one is set.
		custSource.Filter = prof.Customers.Filter
		custSource.Groups = prof.Customers.Groups
	case mapping.BuyersAll:
		// Every item, but never a folder: a folder is no person.
		custSource.Filter = "IsFolder eq false"
	}
	p.Jobs = map[string]engine.JobSpec{
		virtsync.JobCustomers: {
			Name: virtsync.JobCustomers, Kind: virtsync.KindCustomer, BatchSize: cfg.Jobs.Customers.BatchSize,
			Source: custSource,
			Handler: &sinkvp.Customers{Client: vp, Listings: db,
				Mapper: &mapping.EntityMapper{Kind: virtsync.KindCustomer, Fields: comp.Customers, OneC: oc, IDs: db}},
		},
		virtsync.JobCards: {
			Name: virtsync.JobCards, Kind: virtsync.KindCard, BatchSize: cfg.Jobs.Cards.BatchSize,
			Source: &source1c.Entities{Client: oc, Entity: prof.Cards.Entity, Filter: prof.Cards.Filter,
				Select: withKeys(comp.Cards.Sources())},
			Handler: &sinkvp.Cards{Client: vp, OnDelete: cfg.OneC.Cards.OnDelete,
				Mapper: &mapping.EntityMapper{Kind: virtsync.KindCard, Fields: comp.Cards, OneC: oc, IDs: db}},
		},
		virtsync.JobOrders: {
			Name: virtsync.JobOrders, Kind: virtsync.KindOrder, BatchSize: cfg.Jobs.Orders.BatchSize,
			Source: &sourcevp.Orders{Client: vp, Window: cfg.Jobs.Orders.Window.D(), Overlap: cfg.Jobs.Orders.Overlap.D(), Loc: loc,
				Log: p.Log.With("job", virtsync.JobOrders)},
			Handler: &sink1c.Orders{OneC: oc, Customers: vp, Refs: db, Settings: settings},
		},
	}
	return p, nil
}

// VirtposConfig is what the virtpos.* keys set on the client; Build adds
// the logger and the metrics hook. Exported so that a test can show that
// every key reaches the client.
func VirtposConfig(c config.VirtposConfig) virtposapi.Config {
	return virtposapi.Config{
		BaseURL: c.BaseURL, APIKey: c.APIKey, Format: c.Format, Method: c.Method,
		Timeout: c.Timeout.D(), OrdersTimeout: c.OrdersTimeout.D(),
		Concurrency: c.Concurrency, RateLimit: c.RateLimit,
		Retry:   virtposapi.RetryPolicy{MaxAttempts: c.Retry.MaxAttempts, Initial: c.Retry.Initial.D(), Max: c.Retry.Max.D()},
		Breaker: virtposapi.BreakerPolicy{Failures: c.Breaker.Failures, Cooldown: c.Breaker.Cooldown.D()},
		Paths: virtposapi.Paths{Orders: c.Paths.Orders, Customer: c.Paths.Customer,
			CustomerUpdate: c.Paths.CustomerUpdate, CardUpdate: c.Paths.CardUpdate,
			CardInsert: c.Paths.CardInsert, CardDelete: c.Paths.CardDelete},
	}
}

// OneCConfig is what the onec.* client keys set on the 1C client; Build
// adds the logger and the metered HTTP client (whose timeout is Timeout).
// Exported for the same test as VirtposConfig.
func OneCConfig(c config.OneCConfig) onecapi.Config {
	return onecapi.Config{
		BaseURL: c.BaseURL, User: c.User, Password: c.Password,
		Timeout: c.Timeout.D(), PageSize: c.PageSize,
		Retry:   onecapi.Retry{MaxAttempts: c.Retry.MaxAttempts, Initial: c.Retry.Initial.D(), Max: c.Retry.Max.D()},
		Breaker: onecapi.Breaker{Failures: c.Breaker.Failures, Cooldown: c.Breaker.Cooldown.D()},
	}
}

// Profile loads the 1C profile of onec.profile, applies the config's
// onec.* keys to it and compiles it; a *ConfigError says what is wrong.
func Profile(oc config.OneCConfig) (*mapping.Compiled, error) {
	prof, err := mapping.LoadProfile(oc.Profile)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("onec.profile: %w", err)}
	}
	overrideProfile(prof, oc)
	comp, err := prof.Compile()
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("onec (profile %s with the onec.* keys of the config): %w", prof.Source, err)}
	}
	return comp, nil
}

// overrideProfile applies the onec.* keys of the config to the profile,
// key by key: a key left at its default keeps the profile's value.
func overrideProfile(p *mapping.Profile, oc config.OneCConfig) {
	c := &p.Customers
	c.Entity = cmp.Or(oc.Customers.Entity, c.Entity)
	buyers := oc.Customers.Buyers
	switch {
	case buyers != "":
	case len(oc.Customers.Groups) > 0:
		buyers = mapping.BuyersGroups
	case oc.Customers.Filter != "" && c.Buyers != mapping.BuyersGroups:
		// A filter alone on a profile that selects by groups narrows the
		// groups (below); on any other profile it is the way.
		buyers = mapping.BuyersFilter
	}
	if buyers != "" && buyers != c.Buyers {
		// Another way than the profile's: its filter and groups belong to
		// its way, only the config's apply.
		c.Buyers, c.Filter, c.Groups = buyers, "", nil
	}
	c.Filter = cmp.Or(oc.Customers.Filter, c.Filter)
	if len(oc.Customers.Groups) > 0 {
		c.Groups = oc.Customers.Groups
	}
	c.Fields = mapping.Merge(c.Fields, oc.Customers.Fields)

	k := &p.Cards
	k.Entity = cmp.Or(oc.Cards.Entity, k.Entity)
	k.KindsEntity = cmp.Or(oc.Cards.KindsEntity, k.KindsEntity)
	k.Filter = cmp.Or(oc.Cards.Filter, k.Filter)
	k.Fields = mapping.Merge(k.Fields, oc.Cards.Fields)

	o, co := &p.Orders, oc.Orders
	o.Entity = cmp.Or(co.Entity, o.Entity)
	o.MarkerField = cmp.Or(co.MarkerField, o.MarkerField)
	o.MarkerLength = cmp.Or(co.MarkerLength, o.MarkerLength)
	o.Fields = mapping.Merge(o.Fields, co.Fields)
	o.Rows.Section = cmp.Or(co.Rows.Section, o.Rows.Section)
	o.Rows.Fields = mapping.Merge(o.Rows.Fields, co.Rows.Fields)
	o.Items.Entity = cmp.Or(co.ItemsEntity, o.Items.Entity)
	switch {
	case len(co.ItemMatch) > 0:
		o.Items.Match = co.ItemMatch
	case co.ItemMatchField != "":
		o.Items.Match = []mapping.ItemMatch{{Field: co.ItemMatchField}}
	}
	o.Counterparty.Entity = cmp.Or(co.CounterpartyEntity, o.Counterparty.Entity)
	o.Counterparty.By = cmp.Or(co.CounterpartyBy, o.Counterparty.By)
	o.Operation = cmp.Or(co.Operation, o.Operation)
	o.Status = cmp.Or(co.Status, o.Status)
	o.CancelledStatus = cmp.Or(co.CancelledStatus, o.CancelledStatus)
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

// EnabledJobs lists the enabled jobs in run order.
func EnabledJobs(cfg config.Config) []string {
	var out []string
	for _, j := range virtsync.Jobs() {
		on := map[string]bool{virtsync.JobCustomers: cfg.Jobs.Customers.Enabled, virtsync.JobCards: cfg.Jobs.Cards.Enabled,
			virtsync.JobOrders: cfg.Jobs.Orders.Enabled}[j]
		if on {
			out = append(out, j)
		}
	}
	return out
}

// JobSchedule is the jobs.<job>.schedule key.
func JobSchedule(cfg config.Config, job string) string {
	switch job {
	case virtsync.JobCustomers:
		return cfg.Jobs.Customers.Schedule
	case virtsync.JobCards:
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

// ConfigError marks an error the user fixes in the config (exit 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
