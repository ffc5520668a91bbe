package mapping

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/virtsync/virtsync/configs"
	"github.com/virtsync/virtsync/internal/onecapi"
)

// Names of the shipped profiles (configs/profiles/*.yaml).
const (
	ProfileUT11    = "ut11"    // 1C:Управление торговлей 11, КА 2, ERP 2
	ProfileRoznica = "roznica" // 1C:Розница 2
	ProfileUNF     = "unf"     // 1C:Управление нашей фирмой

	// ProfileDefault is what LoadProfile("") loads and the config's
	// onec.profile default.
	ProfileDefault = ProfileUT11
)

// Ways a profile tells buyers apart from the other items of its catalog.
const (
	BuyersFilter = "filter" // an OData $filter (ut11: Клиент eq true)
	BuyersGroups = "groups" // items under these folders, at any depth
	BuyersAll    = "all"    // every item is a buyer
)

// Profile says how one 1C configuration names what virtsync reads and
// writes: entity sets, the customer filter, field maps, the order document
// and its rows, item matching. It is data (configs/profiles/*.yaml or a
// user's file); config keys under onec.* override it key by key. Field maps
// are kept uncompiled (YAML-shaped) so that overrides merge before Compile.
type Profile struct {
	Name      string           `yaml:"name"`
	Title     string           `yaml:"title"`
	Customers CustomersProfile `yaml:"customers"`
	Cards     CardsProfile     `yaml:"cards"`
	Orders    OrdersProfile    `yaml:"orders"`
	// Source says where the profile came from ("shipped ut11" or a path),
	// for messages.
	Source string `yaml:"-"`
}

// CustomersProfile is the buyers catalog.
type CustomersProfile struct {
	Entity string         `yaml:"entity"`
	Buyers string         `yaml:"buyers"` // BuyersFilter, BuyersGroups or BuyersAll
	Filter string         `yaml:"filter"` // with BuyersFilter
	Groups []string       `yaml:"groups"` // with BuyersGroups: folder Ref_Keys
	Fields map[string]any `yaml:"fields"` // virtpos param -> field spec
}

// CardsProfile is the discount cards catalog.
type CardsProfile struct {
	Entity string `yaml:"entity"`
	// KindsEntity is the card kinds catalog: a lookup spec without an
	// entity reads it.
	KindsEntity string         `yaml:"kinds_entity"`
	Filter      string         `yaml:"filter"` // OData $filter; "" for all
	Fields      map[string]any `yaml:"fields"`
}

// OrdersProfile is the 1C document a virtpos order becomes.
type OrdersProfile struct {
	Entity      string `yaml:"entity"`
	MarkerField string `yaml:"marker_field"`
	// MarkerLength is how many characters the marker field holds; 0 is
	// enough for any key. A longer key is written as a digest that fits.
	MarkerLength int                 `yaml:"marker_length"`
	Counterparty CounterpartyProfile `yaml:"counterparty"`
	// Fields maps a document field to an order value or {const: x}.
	Fields map[string]any `yaml:"fields"`
	Rows   RowsProfile    `yaml:"rows"`
	Items  ItemsProfile   `yaml:"items"`
	// Defaults of onec.orders.operation, status and cancelled_status.
	Operation       string `yaml:"operation"`
	Status          string `yaml:"status"`
	CancelledStatus string `yaml:"cancelled_status"`
}

// CounterpartyProfile finds the legal counterparty of a buyer: the item of
// Entity whose By field is the buyer. Empty Entity: the buyer itself.
type CounterpartyProfile struct {
	Entity string `yaml:"entity"`
	By     string `yaml:"by"`
}

// RowsProfile is the document's tabular section of goods.
type RowsProfile struct {
	Section string         `yaml:"section"`
	Fields  map[string]any `yaml:"fields"` // row field -> row value or {const: x}
}

// ItemsProfile matches virtpos item_ids to 1C items.
type ItemsProfile struct {
	Entity string      `yaml:"entity"`
	Match  []ItemMatch `yaml:"match"`
}

// LoadProfile returns a shipped profile by name ("" is [ProfileDefault]) or
// reads a user's profile file (a value with a slash or a .yaml/.yml suffix).
// Unknown keys and missing names are errors naming the key.
func LoadProfile(ref string) (*Profile, error) {
	var (
		text   []byte
		source string
		err    error
	)
	if isPath(ref) {
		text, err = os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", ref, err)
		}
		source = ref
	} else {
		name := cmp.Or(ref, ProfileDefault)
		if text, err = configs.Profile(name); err != nil {
			return nil, fmt.Errorf("profile: %w (or a path to your own profile file, e.g. ./my-base.yaml)", err)
		}
		source = "shipped " + name
	}
	p, err := ParseProfile(text)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", source, err)
	}
	p.Source = source
	return p, nil
}

// ShippedProfiles lists the profiles built into the binary.
func ShippedProfiles() []string { return configs.ProfileNames() }

func isPath(ref string) bool {
	return strings.ContainsAny(ref, `/\`) || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml")
}

// ParseProfile decodes and checks a profile's YAML.
func ParseProfile(text []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks what a profile must say, after overrides too; every
// problem is reported, each naming its key.
func (p *Profile) Validate() error {
	var errs []error
	need := func(key, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s: required", key))
		}
	}
	need("customers.entity", p.Customers.Entity)
	switch p.Customers.Buyers {
	case BuyersFilter:
		need("customers.filter", p.Customers.Filter)
		if len(p.Customers.Groups) > 0 {
			errs = append(errs, errors.New("customers.groups: read only with buyers: groups, not with buyers: filter"))
		}
	case BuyersGroups:
		if len(p.Customers.Groups) == 0 {
			errs = append(errs, errors.New("customers.groups: buyers: groups needs at least one folder Ref_Key"))
		}
		for i, g := range p.Customers.Groups {
			if !onecapi.IsGUID(g) {
				errs = append(errs, fmt.Errorf("customers.groups[%d]: want a 1C reference (GUID), got a %d-character text", i, len(g)))
			}
		}
	case BuyersAll:
		if len(p.Customers.Groups) > 0 {
			errs = append(errs, errors.New("customers.groups: read only with buyers: groups, not with buyers: all"))
		}
		if p.Customers.Filter != "" {
			errs = append(errs, errors.New("customers.filter: not read with buyers: all (every item but folders is a buyer)"))
		}
	default:
		errs = append(errs, fmt.Errorf("customers.buyers: want %s, %s or %s, got %q", BuyersFilter, BuyersGroups, BuyersAll, p.Customers.Buyers))
	}
	need("cards.entity", p.Cards.Entity)
	o := &p.Orders
	need("orders.entity", o.Entity)
	need("orders.marker_field", o.MarkerField)
	if o.MarkerLength < 0 || o.MarkerLength > 0 && o.MarkerLength < minMarkerLength {
		errs = append(errs, fmt.Errorf("orders.marker_length: want 0 (any length) or at least %d, got %d", minMarkerLength, o.MarkerLength))
	}
	if (o.Counterparty.Entity == "") != (o.Counterparty.By == "") {
		errs = append(errs, errors.New("orders.counterparty: entity and by go together (or leave both out: the buyer is the counterparty)"))
	}
	need("orders.rows.section", o.Rows.Section)
	need("orders.items.entity", o.Items.Entity)
	if len(o.Items.Match) == 0 {
		errs = append(errs, errors.New("orders.items.match: at least one field to match virtpos item_id"))
	}
	for i, m := range o.Items.Match {
		if err := m.validate(); err != nil {
			errs = append(errs, fmt.Errorf("orders.items.match[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Compiled is a profile ready to run: its maps compiled and checked.
type Compiled struct {
	*Profile
	Customers *Map
	Cards     *Map
	Order     *OrderMap
}

// Compile compiles every map of the profile; every problem is reported,
// each naming its key.
func (p *Profile) Compile() (*Compiled, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{Profile: p}
	var errs []error
	var err error
	custFields, err := withoutExternalID(p.Customers.Fields)
	if err != nil {
		errs = append(errs, fmt.Errorf("customers.fields.%w", err))
	}
	if c.Customers, err = Compile(custFields); err != nil {
		errs = append(errs, fmt.Errorf("customers.fields: %w", err))
	}
	cardFields, err := withoutExternalID(p.Cards.Fields)
	if err != nil {
		errs = append(errs, fmt.Errorf("cards.fields.%w", err))
	}
	if c.Cards, err = Compile(withLookupEntity(cardFields, p.Cards.KindsEntity)); err != nil {
		errs = append(errs, fmt.Errorf("cards.fields: %w", err))
	}
	if c.Order, err = CompileOrder(p.Orders); err != nil {
		errs = append(errs, fmt.Errorf("orders: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// withoutExternalID takes external_id out of a field map: virtsync always
// sends the 1C reference (Ref_Key) there, since it is how a record is found
// again in virtpos. "Ref_Key", which says just that, is accepted; anything
// else would be sent over, so it is refused rather than ignored.
func withoutExternalID(fields map[string]any) (map[string]any, error) {
	spec, ok := fields["external_id"]
	if !ok {
		return fields, nil
	}
	if spec != "Ref_Key" {
		return nil, errors.New("external_id: virtsync always sends the 1C reference (Ref_Key) as external_id, " +
			"which is how a record is found again in virtpos; it cannot be mapped (remove the key)")
	}
	out := maps.Clone(fields)
	delete(out, "external_id")
	return out, nil
}

// withLookupEntity gives a lookup spec without an entity the card kinds
// catalog, so that onec.cards.kinds_entity moves every lookup at once.
func withLookupEntity(fields map[string]any, kinds string) map[string]any {
	out := maps.Clone(fields)
	for k, v := range out {
		m, ok := v.(map[string]any)
		if !ok || m["lookup"] == nil || m["entity"] != nil || kinds == "" {
			continue
		}
		m = maps.Clone(m)
		m["entity"] = kinds
		out[k] = m
	}
	return out
}

// Entities lists the entity sets the profile names, by role, for hints
// when a publication lacks one.
func (p *Profile) Entities() map[string]string {
	out := map[string]string{
		"customers.entity":    p.Customers.Entity,
		"cards.entity":        p.Cards.Entity,
		"cards.kinds_entity":  p.Cards.KindsEntity,
		"orders.entity":       p.Orders.Entity,
		"orders.items.entity": p.Orders.Items.Entity,
	}
	if p.Orders.Counterparty.Entity != "" {
		out["orders.counterparty.entity"] = p.Orders.Counterparty.Entity
	}
	for k, v := range out {
		if v == "" {
			delete(out, k)
		}
	}
	return out
}

// Merge returns base with overrides applied key by key, as a new map: an
// override replaces the whole spec of its parameter, and an override of nil
// (YAML `~` or empty) removes the parameter, so a user can stop sending a
// default field. Neither input is modified.
func Merge(base, overrides map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range overrides {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
