package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/virtsync/virtsync/internal/schedule"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/state"
)

// minLeaseTTL is the shortest state.lease_ttl.
const minLeaseTTL = 3 * time.Second

// Validate checks every value and reports all problems in one *Error
// (File is empty; Load fills it in). It returns nil when c is usable.
func (c Config) Validate() error {
	var v validator

	v.nonEmpty("state.path", c.State.Path)
	switch c.State.Driver {
	case state.DriverSQLite:
		if c.State.DSN != "" {
			v.add("state.dsn", "read only with state.driver: postgres; the sqlite state is the file at state.path")
		}
	case state.DriverPostgres:
		v.nonEmptyWhy("state.dsn", c.State.DSN, "required with state.driver: postgres")
	default:
		v.oneOf("state.driver", c.State.Driver, state.DriverSQLite, state.DriverPostgres)
	}
	// Renewed every third of it: shorter, a slow commit or a busy
	// database lets a live process's lease lapse.
	if c.State.LeaseTTL < Duration(minLeaseTTL) {
		v.add("state.lease_ttl", fmt.Sprintf("want a duration of at least %s, got %s", minLeaseTTL, c.State.LeaseTTL))
	}

	if c.NATS.URL != "" {
		if u, err := url.Parse(c.NATS.URL); err != nil || u.Host == "" {
			// Not the value: a URL can carry a password (nats://user:pass@host).
			v.add("nats.url", fmt.Sprintf("want a NATS URL such as nats://127.0.0.1:4222 or \"\" for the embedded server, got a %d-character text that is not one", len(c.NATS.URL)))
		}
	}
	if c.NATS.Stream == "" || strings.ContainsAny(c.NATS.Stream, " \t.*>/\\") {
		v.add("nats.stream", fmt.Sprintf("want a stream name without spaces, dots, wildcards or slashes, got %q", c.NATS.Stream))
	}
	if c.NATS.SubjectPrefix == "" || strings.ContainsAny(c.NATS.SubjectPrefix, " \t*>") ||
		strings.HasPrefix(c.NATS.SubjectPrefix, ".") || strings.HasSuffix(c.NATS.SubjectPrefix, ".") {
		v.add("nats.subject_prefix", fmt.Sprintf("want subject tokens without spaces or wildcards, not starting or ending with a dot, got %q", c.NATS.SubjectPrefix))
	}
	v.positive("nats.dedupe_window", c.NATS.DedupeWindow)
	v.positive("nats.connect_timeout", c.NATS.ConnectTimeout)
	if c.NATS.EmbeddedListen != "" {
		if !hostPort(c.NATS.EmbeddedListen) {
			v.add("nats.embedded_listen", fmt.Sprintf("want host:port with a port 1-65535 such as 127.0.0.1:4222, or \"\" for in-process connections only, got %q", c.NATS.EmbeddedListen))
		}
		if c.NATS.URL == "" {
			// A listener without a login would let any local user read the
			// stream and publish forged events.
			const why = "required when nats.embedded_listen is set: every client of the embedded server must log in"
			v.nonEmptyWhy("nats.embedded_user", c.NATS.EmbeddedUser, why)
			v.nonEmptyWhy("nats.embedded_password", c.NATS.EmbeddedPassword, why)
		}
	}

	// The pair is checked alone only where nothing else speaks of it: with
	// a listener both are required above, and beside nats.url both are
	// refused below.
	if c.NATS.URL == "" && c.NATS.EmbeddedListen == "" && (c.NATS.EmbeddedUser == "") != (c.NATS.EmbeddedPassword == "") {
		if c.NATS.EmbeddedUser == "" {
			v.add("nats.embedded_user", "required with nats.embedded_password: a login is a user and a password")
		} else {
			v.add("nats.embedded_password", "required with nats.embedded_user: a login is a user and a password")
		}
	}
	if c.NATS.URL != "" {
		// These configure the embedded server, which does not start when
		// nats.url is set: accepting them would leave the user believing
		// they took effect.
		const why = "configures the embedded server, which does not run when nats.url is set; remove it or nats.url"
		if c.NATS.StoreDir != "" {
			v.add("nats.store_dir", why)
		}
		if c.NATS.SyncAlways {
			v.add("nats.sync_always", why)
		}
		if c.NATS.EmbeddedListen != "" {
			v.add("nats.embedded_listen", why)
		}
		if c.NATS.EmbeddedUser != "" {
			v.add("nats.embedded_user", why)
		}
		if c.NATS.EmbeddedPassword != "" {
			v.add("nats.embedded_password", why)
		}
	}

	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			v.add("http.listen", fmt.Sprintf("want host:port such as 127.0.0.1:9464, got %q", c.HTTP.Listen))
		}
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, LogFormatText, LogFormatJSON)

	vp := c.Virtpos
	v.httpURL("virtpos.base_url", vp.BaseURL)
	v.nonEmpty("virtpos.apikey", vp.APIKey)
	v.oneOf("virtpos.format", vp.Format, FormatJSON, FormatXML)
	v.oneOf("virtpos.method", vp.Method, MethodGET, MethodPOST)
	v.positive("virtpos.timeout", vp.Timeout)
	v.positive("virtpos.orders_timeout", vp.OrdersTimeout)
	if vp.Concurrency < 1 {
		v.add("virtpos.concurrency", fmt.Sprintf("want at least 1, got %d", vp.Concurrency))
	}
	if vp.RateLimit < 0 {
		v.add("virtpos.rate_limit", fmt.Sprintf("want requests per second >= 0 (0 means unlimited), got %g", vp.RateLimit))
	}
	v.retry("virtpos.retry", vp.Retry)
	v.positive("virtpos.breaker.cooldown", vp.Breaker.Cooldown)
	for _, p := range []struct{ key, val string }{
		{"orders", vp.Paths.Orders}, {"customer", vp.Paths.Customer},
		{"customer_update", vp.Paths.CustomerUpdate}, {"card_update", vp.Paths.CardUpdate},
		{"card_insert", vp.Paths.CardInsert}, {"card_delete", vp.Paths.CardDelete},
	} {
		if !strings.HasPrefix(p.val, "/") {
			v.add("virtpos.paths."+p.key, fmt.Sprintf("want a path starting with \"/\", got %q", p.val))
		}
	}

	oc := c.OneC
	v.httpURL("onec.base_url", oc.BaseURL)
	v.positive("onec.timeout", oc.Timeout)
	if oc.PageSize < 1 {
		v.add("onec.page_size", fmt.Sprintf("want at least 1, got %d", oc.PageSize))
	}
	if _, err := mapping.LoadProfile(oc.Profile); err != nil {
		v.add("onec.profile", err.Error())
	}
	switch b := oc.Customers.Buyers; b {
	case "", mapping.BuyersGroups:
	case mapping.BuyersFilter, mapping.BuyersAll:
		if len(oc.Customers.Groups) > 0 {
			v.add("onec.customers.groups", fmt.Sprintf("read only with onec.customers.buyers: groups, not with buyers: %s", b))
		}
		if b == mapping.BuyersAll && oc.Customers.Filter != "" {
			v.add("onec.customers.filter", "not read with onec.customers.buyers: all (every item is a buyer)")
		}
	default:
		v.oneOf("onec.customers.buyers", b, mapping.BuyersFilter, mapping.BuyersGroups, mapping.BuyersAll)
	}
	if oc.Orders.ItemMatchField != "" && len(oc.Orders.ItemMatch) > 0 {
		v.add("onec.orders.item_match_field", "set item_match_field or item_match, not both (item_match_field: X is item_match: [X])")
	}

	v.retry("onec.retry", oc.Retry)
	v.positive("onec.breaker.cooldown", oc.Breaker.Cooldown)
	// virtpos has no call that deletes a customer, so "ignore" is the only
	// choice for now; the key exists so that one can be added later.
	v.oneOf("onec.customers.on_delete", oc.Customers.OnDelete, OnDeleteIgnore)
	v.oneOf("onec.cards.on_delete", oc.Cards.OnDelete, OnDeleteDelete, OnDeleteBlock)
	if oc.Orders.MarkerLength < 0 {
		v.add("onec.orders.marker_length", fmt.Sprintf("want 0 (the profile's) or a length, got %d", oc.Orders.MarkerLength))
	}
	if oc.Orders.HoldMaxAttempts < 1 {
		v.add("onec.orders.hold_max_attempts", fmt.Sprintf("want at least 1, got %d", oc.Orders.HoldMaxAttempts))
	}
	v.positive("onec.orders.hold_max_age", oc.Orders.HoldMaxAge)
	if oc.Orders.ShopTimezone == "" {
		v.add("onec.orders.shop_timezone", "required: an IANA time zone such as Europe/Moscow")
	} else if _, err := time.LoadLocation(oc.Orders.ShopTimezone); err != nil {
		v.add("onec.orders.shop_timezone", fmt.Sprintf("unknown time zone %q: want an IANA name such as Europe/Moscow", oc.Orders.ShopTimezone))
	}

	v.job("jobs.customers", c.Jobs.Customers.Schedule, c.Jobs.Customers.BatchSize)
	v.job("jobs.cards", c.Jobs.Cards.Schedule, c.Jobs.Cards.BatchSize)
	v.job("jobs.orders", c.Jobs.Orders.Schedule, c.Jobs.Orders.BatchSize)
	v.positive("jobs.orders.window", c.Jobs.Orders.Window)
	if c.Jobs.Orders.Overlap < 0 {
		v.add("jobs.orders.overlap", fmt.Sprintf("want a duration >= 0, got %s", c.Jobs.Orders.Overlap))
	}

	v.positive("outbox.relay_interval", c.Outbox.RelayInterval)
	if c.Outbox.DrainTimeout < 0 {
		v.add("outbox.drain_timeout", fmt.Sprintf("want a duration >= 0 (0 means do not drain), got %s", c.Outbox.DrainTimeout))
	}
	v.positive("shutdown_timeout", c.ShutdownTimeout)

	if len(v.probs) == 0 {
		return nil
	}
	return &Error{Problems: v.probs}
}

type validator struct{ probs []Problem }

func (v *validator) add(key, reason string) {
	v.probs = append(v.probs, Problem{Key: key, Reason: reason})
}

func (v *validator) nonEmpty(key, val string) {
	if strings.TrimSpace(val) == "" {
		v.add(key, "required")
	}
}

func (v *validator) nonEmptyWhy(key, val, why string) {
	if strings.TrimSpace(val) == "" {
		v.add(key, why)
	}
}

// hostPort reports whether s is host:port with a numeric port 1-65535.
// Port 0 (any free port) is refused: no client could find the server.
func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.add(key, fmt.Sprintf("want a duration > 0 such as 30s, got %s", d))
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(key, fmt.Sprintf("want one of %s, got %q", strings.Join(allowed, ", "), val))
}

func (v *validator) httpURL(key, val string) {
	if val == "" {
		v.add(key, "required: an http(s) URL")
		return
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, fmt.Sprintf("want an absolute http or https URL, got %q", val))
	}
}

func (v *validator) retry(key string, r RetryConfig) {
	if r.MaxAttempts < 1 {
		v.add(key+".max_attempts", fmt.Sprintf("want at least 1 (1 means no retry), got %d", r.MaxAttempts))
	}
	v.positive(key+".initial", r.Initial)
	v.positive(key+".max", r.Max)
	if r.Initial > 0 && r.Max > 0 && r.Max < r.Initial {
		v.add(key+".max", fmt.Sprintf("want at least initial (%s), got %s", r.Initial, r.Max))
	}
}

func (v *validator) job(key, sched string, batch int) {
	if _, err := schedule.Parse(sched); err != nil {
		v.add(key+".schedule", fmt.Sprintf("want a cron expression or descriptor such as \"@every 10m\": %v", err))
	}
	if batch < 1 {
		v.add(key+".batch_size", fmt.Sprintf("want at least 1, got %d", batch))
	}
}
