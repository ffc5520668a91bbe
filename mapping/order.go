package mapping

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/virtsync/virtsync/internal/onecapi"
)

// Order values: what a document field or a row field of the order profile
// can be filled from. The orders handler supplies them (Values); the
// profile says which 1C field gets which.
const (
	// Document header.
	ValueKey             = "key"              // the virtpos order key (also written to marker_field)
	ValueGUID            = "guid"             // the virtpos order guid
	ValueCreatedDate     = "created_date"     // shop-local date and time, 1C's format
	ValueCustomer        = "customer"         // the buyer's 1C reference
	ValueCounterparty    = "counterparty"     // the buyer's counterparty (or the buyer)
	ValueAmount          = "amount"           // order amount (also a row's amount)
	ValueDiscount        = "discount"         // order discount (also a row's discount)
	ValueShippingCost    = "shipping_cost"    //
	ValueShippingAddress = "shipping_address" //
	ValueComment         = "comment"          // "virtpos (оплачен, ...): <comment>"
	ValueVirtposComment  = "virtpos_comment"  // the order's comment as virtpos sent it
	ValuePaymentType     = "payment_type"     // payment_type_name
	ValueDeliveryType    = "delivery_type"    // delivery_type_name
	ValueOrganization    = "organization"     // onec.orders.organization_key
	ValueWarehouse       = "warehouse"        // onec.orders.warehouse_key
	ValueAgreement       = "agreement"        // onec.orders.agreement_key
	ValueCurrency        = "currency"         // onec.orders.currency_key
	ValueOperation       = "operation"        // onec.orders.operation
	ValueStatus          = "status"           // onec.orders.status, or cancelled_status
	// Rows.
	ValueLine          = "line"            // row number from 1
	ValueItem          = "item"            // the matched 1C item's reference
	ValueItemID        = "item_id"         // virtpos item_id
	ValueItemName      = "item_name"       //
	ValueQuantity      = "quantity"        //
	ValueUnitBasePrice = "unit_base_price" //
)

// headerValue and rowValue say which values exist where, and their type.
// A reference value written to a non-reference field is a string (1C's
// composite fields hold a GUID as text), so refType decides per field.
func headerValue(name string) (string, bool) {
	switch name {
	case ValueKey, ValueGUID, ValueShippingAddress, ValueComment, ValueVirtposComment,
		ValuePaymentType, ValueDeliveryType, ValueOperation:
		return onecapi.TypeString, true
	case ValueCreatedDate:
		return onecapi.TypeDateTime, true
	case ValueCustomer, ValueCounterparty, ValueOrganization, ValueWarehouse, ValueAgreement, ValueCurrency:
		return onecapi.TypeGUID, true
	case ValueStatus:
		// An enum (ut11 Статус) or a catalog reference (УНФ СостояниеЗаказа_Key).
		return onecapi.TypeAny, true
	case ValueAmount, ValueDiscount, ValueShippingCost:
		return onecapi.TypeNumber, true
	}
	return "", false
}

func rowValue(name string) (string, bool) {
	switch name {
	case ValueItem:
		return onecapi.TypeGUID, true
	case ValueItemID, ValueItemName:
		return onecapi.TypeString, true
	case ValueLine, ValueQuantity, ValueUnitBasePrice, ValueAmount, ValueDiscount:
		return onecapi.TypeNumber, true
	}
	return "", false
}

const (
	headerValueNames = "key, guid, created_date, customer, counterparty, amount, discount, shipping_cost, " +
		"shipping_address, comment, virtpos_comment, payment_type, delivery_type, organization, warehouse, " +
		"agreement, currency, operation, status"
	rowValueNames = "line, item, item_id, item_name, quantity, unit_base_price, amount, discount"
)

// Values are one order's (or one row's) values by name. A value that is
// absent or "" is not written: an unset organization_key leaves
// Организация_Key to 1C.
type Values map[string]any

// OrderMap builds the 1C document of an order from the profile's field
// and row maps. It is immutable and safe for concurrent use.
type OrderMap struct {
	Entity       string
	MarkerField  string
	MarkerLength int
	Section      string
	header       []docField
	rows         []docField
}

// docField is one document or row field: filled from a value or a const.
type docField struct {
	name     string // 1C field
	value    string // value name; "" with a const
	konst    any
	hasConst bool
	typ      string // value type, for the $metadata contract
}

// CompileOrder checks an order profile's maps: every field names a known
// value or a const.
func CompileOrder(p OrdersProfile) (*OrderMap, error) {
	m := &OrderMap{Entity: p.Entity, MarkerField: p.MarkerField, MarkerLength: p.MarkerLength, Section: p.Rows.Section}
	var errs []error
	header := Merge(p.Fields, map[string]any{p.MarkerField: ValueKey})
	for _, name := range sortedKeys(header) {
		f, err := compileDocField(name, header[name], headerValue, headerValueNames)
		if err != nil {
			errs = append(errs, fmt.Errorf("fields.%s: %w", name, err))
			continue
		}
		m.header = append(m.header, f)
	}
	if _, clash := header[p.Rows.Section]; clash {
		errs = append(errs, fmt.Errorf("fields.%s: is the rows section; rows are written from rows.fields", p.Rows.Section))
	}
	for _, name := range sortedKeys(p.Rows.Fields) {
		f, err := compileDocField(name, p.Rows.Fields[name], rowValue, rowValueNames)
		if err != nil {
			errs = append(errs, fmt.Errorf("rows.fields.%s: %w", name, err))
			continue
		}
		m.rows = append(m.rows, f)
	}
	if !m.writes(m.rows, ValueItem) {
		errs = append(errs, errors.New("rows.fields: no field is filled from item (the matched 1C item)"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func compileDocField(name string, spec any, known func(string) (string, bool), names string) (docField, error) {
	f := docField{name: name}
	switch v := spec.(type) {
	case string:
		typ, ok := known(v)
		if !ok {
			return f, fmt.Errorf("unknown value %q (known: %s; or {const: x})", v, names)
		}
		f.value, f.typ = v, typ
	case map[string]any:
		c, ok := v["const"]
		if !ok || len(v) != 1 {
			return f, fmt.Errorf("a map must be {const: x}, got keys %s", strings.Join(sortedKeys(v), ", "))
		}
		switch c.(type) {
		case string:
			f.typ = onecapi.TypeString
		case bool:
			f.typ = onecapi.TypeBool
		case int, int64, float64:
			f.typ = onecapi.TypeNumber
		default:
			return f, fmt.Errorf("const must be text, a number or true/false, got %s", valueShape(c))
		}
		f.konst, f.hasConst = c, true
	default:
		return f, fmt.Errorf("want a value name or {const: x}, got %s", valueShape(spec))
	}
	if f.typ == onecapi.TypeGUID && !strings.HasSuffix(name, "_Key") {
		// A composite attribute (X with X_Type) holds the reference as text.
		f.typ = onecapi.TypeAny
	}
	return f, nil
}

func (m *OrderMap) writes(fs []docField, value string) bool {
	for _, f := range fs {
		if f.value == value {
			return true
		}
	}
	return false
}

// Writes reports whether the document header is filled from value (for
// example counterparty: no look-up is needed when nothing is written).
func (m *OrderMap) Writes(value string) bool { return m.writes(m.header, value) }

// minMarkerLength keeps a digest marker long enough (40 bits) that two
// orders of one base never share it.
const minMarkerLength = 8

// Marker is what the marker field holds for an order key: the key, or,
// when it is longer than the field, the first MarkerLength characters of
// the base32 SHA-256 of it. Keys always hold ':' or '@', digests never
// do, so the two cannot meet.
func (m *OrderMap) Marker(key string) string {
	if m.MarkerLength == 0 || len(key) <= m.MarkerLength {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])[:m.MarkerLength]
}

// Document builds the body of the 1C document; the marker field gets the
// Marker of the key value.
func (m *OrderMap) Document(head Values, rows []Values) map[string]any {
	body := fill(m.header, head, len(m.header)+1)
	if key, ok := head[ValueKey].(string); ok {
		body[m.MarkerField] = m.Marker(key)
	}
	out := make([]any, 0, len(rows))
	for _, r := range rows {
		out = append(out, fill(m.rows, r, len(m.rows)))
	}
	body[m.Section] = out
	return body
}

func fill(fs []docField, v Values, n int) map[string]any {
	out := make(map[string]any, n)
	for _, f := range fs {
		if f.hasConst {
			out[f.name] = f.konst
			continue
		}
		x, ok := v[f.value]
		if !ok || x == nil || x == "" {
			continue
		}
		out[f.name] = x
	}
	return out
}

// Fields lists the header fields with their types; Rows the row fields.
func (m *OrderMap) Fields() map[string]string { return types(m.header) }

// RowFields lists the row fields with their types.
func (m *OrderMap) RowFields() map[string]string { return types(m.rows) }

func types(fs []docField) map[string]string {
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		out[f.name] = f.typ
	}
	return out
}
