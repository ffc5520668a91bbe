package virtposapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// headSize is how many leading bytes of a body are kept for error messages.
const headSize = 256

// headRecorder keeps the first bytes read through it, so that a decoding
// error on a streamed body can still show what the body started with.
type headRecorder struct {
	r    io.Reader
	head []byte
}

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if room := headSize - len(h.head); room > 0 && n > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// MaxGap bounds how many bytes an orders decoder reads without reaching
// the next element (XML) or token (JSON): whitespace, a comment, a text
// value, or an unknown element being skipped. A body that trickles
// whitespace forever, or one runaway value, ends with a *DecodeError
// instead of spinning and growing the decoder's buffer.
const MaxGap = 1 << 20

// errGap is the read error of a gapReader past its limit.
var errGap = fmt.Errorf("more than %d MiB without an element or a token", MaxGap>>20)

// gapReader counts the bytes read since the decoder last made progress
// (mark) and fails past MaxGap.
type gapReader struct {
	r io.Reader
	n int
}

func (g *gapReader) Read(p []byte) (int, error) {
	if g.n > MaxGap {
		return 0, errGap
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}

func (g *gapReader) mark() { g.n = 0 }

// gapError is the *DecodeError of a decoder stopped by its gapReader.
func gapError(path string) error {
	return &DecodeError{Path: path, Expected: fmt.Sprintf("an element or a value within %d MiB", MaxGap>>20), Err: errGap}
}

// envelope is what every response carries beside its payload.
type envelope struct {
	successSeen bool
	success     bool
	info        string
}

// check turns the envelope into the error a caller should see, if any.
func (e envelope) check(endpoint string, status int, head []byte) error {
	if !e.successSeen {
		return (&DecodeError{Endpoint: endpoint, Status: status, Expected: "a response with a success field"}).bodyGot(head, 120)
	}
	if !e.success {
		return &APIError{Endpoint: endpoint, Info: e.info}
	}
	return nil
}

// fieldError builds the decoding error for one value.
func fieldError(path, expected, got string) error {
	return (&DecodeError{Path: path, Expected: expected}).withGot([]byte(got), 40)
}

// fieldProblem turns the decoding error of one field into a problem of its
// order, named by rel (the field's path within the order): what was
// expected, never the value, which may be anyone's name or address.
func fieldProblem(rel string, err error) (string, bool) {
	var de *DecodeError
	if !errors.As(err, &de) || de.Expected == "" {
		return "", false
	}
	p := rel + ": expected " + de.Expected
	if de.raw == nil && de.Got != "" {
		p += ", got " + de.Got // a shape ("element <b>", "a nested object"), not a value
	}
	return p, true
}

func parseFlag(path, s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "1", "true", "True", "TRUE":
		return true, nil
	case "0", "false", "False", "FALSE", "":
		return false, nil
	}
	return false, fieldError(path, "a flag (0/1 or true/false)", s)
}

func parseDecimal(path, s string) (decimal.Decimal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return decimal.Decimal{}, nil
	}
	// A decimal comma shows up in hand-edited data; accept it rather than
	// lose the record, but only when it is the only separator.
	if strings.IndexByte(s, ',') >= 0 && strings.IndexByte(s, '.') < 0 {
		s = strings.Replace(s, ",", ".", 1)
	}
	d, err := decimal.NewFromString(s)
	if err != nil || strings.ContainsAny(s, "eE") {
		return decimal.Decimal{}, fieldError(path, "a decimal number", s)
	}
	return d, nil
}

// setOrderField stores one scalar field of an order. Unknown fields are
// ignored: the API grows fields over time and an old virtsync must not
// reject orders because of them.
func setOrderField(o *Order, path, name, v string) error {
	var err error
	switch name {
	case "paid":
		o.Paid, err = parseFlag(path, v)
	case "shipped":
		o.Shipped, err = parseFlag(path, v)
	case "cancelled":
		o.Cancelled, err = parseFlag(path, v)
	case "customer_id":
		o.CustomerID = v
	case "shipping_address":
		o.ShippingAddress = v
	case "shipping_cost":
		o.ShippingCost, err = parseDecimal(path, v)
	case "pickup_receipt_id":
		o.PickupReceiptID = v
	case "comment":
		o.Comment = v
	case "guid":
		o.GUID = strings.TrimSpace(v)
	case "created_date":
		o.CreatedDate = strings.TrimSpace(v)
	case "amount":
		o.Amount, err = parseDecimal(path, v)
	case "discount":
		o.Discount, err = parseDecimal(path, v)
	case "pickup_from_warehouse_id":
		o.PickupFromWarehouseID = v
	case "pickup_from_warehouse_name":
		o.PickupFromWarehouseName = v
	case "delivery_type_id":
		o.DeliveryTypeID = v
	case "delivery_type_name":
		o.DeliveryTypeName = v
	case "payment_type_id":
		o.PaymentTypeID = v
	case "payment_type_name":
		o.PaymentTypeName = v
	}
	return err
}

// itemFields are the item fields the decoder knows; their index is the bit
// used to notice a repeated field in the flattened XML shape.
var itemFields = [...]string{"item_id", "item_name", "image", "quantity", "unit_base_price", "discount", "amount"}

func itemFieldBit(name string) uint {
	for i, f := range itemFields {
		if f == name {
			return 1 << uint(i)
		}
	}
	return 0
}

func setItemField(it *Item, path, name, v string) error {
	var err error
	switch name {
	case "item_id":
		it.ItemID = strings.TrimSpace(v)
	case "item_name":
		it.ItemName = v
	case "image":
		it.Image = v
	case "quantity":
		it.Quantity, err = parseDecimal(path, v)
	case "unit_base_price":
		it.UnitBasePrice, err = parseDecimal(path, v)
	case "discount":
		it.Discount, err = parseDecimal(path, v)
	case "amount":
		it.Amount, err = parseDecimal(path, v)
	}
	return err
}

// ---------------------------------------------------------------- XML

// xmlOrders walks an orders response token by token; nothing but the
// current order is held in memory.
type xmlOrders struct {
	d       *xml.Decoder
	unknown int // unknown elements with elements inside, skipped in this order
	text    bytes.Buffer
	orderStream
}

// orderStream is what both formats' walkers keep: the guarded reader, the
// count of orders delivered (for paths in errors), the envelope and fn.
type orderStream struct {
	gap   *gapReader
	guard *textGuard
	n     int
	env   envelope
	fn    func(*Order) error
}

// openStream wraps a body for a walker; h keeps its head for errors.
func openStream(r io.Reader, xmlText bool, fn func(*Order) error) (h *headRecorder, st orderStream) {
	h = &headRecorder{r: r}
	g := &gapReader{r: h}
	return h, orderStream{gap: g, guard: newTextGuard(g, xmlText), fn: fn}
}

// DecodeOrdersXML reads a GET /orders response in XML from r and calls fn for
// each order as soon as it is complete. It accepts the seed's shape (sibling
// <orders> elements, items flattened inside <items>) and the wrapped shapes
// <orders><order> and <items><item>. Unknown fields are ignored, unknown
// elements with elements inside skipped (up to MaxUnknownElements per
// order). A field that is not valid text (bad UTF-8, a control character)
// is charged to its order alone, in Order.Problems. An error from fn stops
// decoding and is returned as is. A response with success=0 yields an
// *APIError.
func DecodeOrdersXML(r io.Reader, fn func(*Order) error) error {
	h, st := openStream(r, true, fn)
	x := &xmlOrders{d: xml.NewDecoder(st.guard), orderStream: st}
	return decodeBody(h, x.root, &x.env)
}

// decodeBody runs a format's root decoder over a body and checks the
// envelope it read; a decode error that does not quote the body yet gets
// the body's head, so that an HTML error page says what it is.
func decodeBody(h *headRecorder, root func() error, env *envelope) error {
	if err := root(); err != nil {
		var de *DecodeError
		if errors.As(err, &de) && de.Got == "" {
			de.bodyGot(h.head, 120)
		}
		return err
	}
	return env.check("", 0, h.head)
}

// syntaxError says what stopped a body at path: a gap in the stream, a
// deadline (not the body's fault), or bad syntax of the format.
func syntaxError(path, expected string, err error) error {
	if errors.Is(err, errGap) {
		return gapError(path)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &DecodeError{Path: path, Expected: expected, Err: err}
}

func (x *xmlOrders) syntax(path string, err error) error {
	return syntaxError(path, "well-formed XML", err)
}

// next returns the next start or end element, skipping text, comments and
// processing instructions between elements.
func (x *xmlOrders) next(path string) (xml.Token, error) {
	for {
		t, err := x.d.Token()
		if err != nil {
			return nil, x.syntax(path, err)
		}
		switch t.(type) {
		case xml.StartElement, xml.EndElement:
			x.gap.mark()
			return t, nil
		}
	}
}

func (x *xmlOrders) root() error {
	for {
		t, err := x.d.Token()
		if err == io.EOF {
			return &DecodeError{Expected: "an XML document with a root element"}
		}
		if err != nil {
			return x.syntax("", err)
		}
		if _, ok := t.(xml.StartElement); ok {
			x.gap.mark()
			break
		}
	}
	for {
		t, err := x.next("")
		if err != nil {
			return err
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			return nil // end of root
		}
		switch se.Name.Local {
		case "success":
			v, problem, err := x.readText("success", false)
			if err != nil {
				return err
			}
			if problem != "" {
				return &DecodeError{Path: "success", Err: errors.New(problem)}
			}
			x.env.successSeen = true
			if x.env.success, err = parseFlag("success", v); err != nil {
				return err
			}
		case "info":
			v, _, err := x.readText("info", false)
			if err != nil {
				return err
			}
			x.env.info = v
		case "orders":
			if err := x.orders(); err != nil {
				return err
			}
		case "order":
			if err := x.order(nil); err != nil {
				return err
			}
		default:
			if err := x.d.Skip(); err != nil {
				return x.syntax(se.Name.Local, err)
			}
		}
	}
}

// MaxUnknownElements bounds the unknown elements with elements inside that
// the XML decoder skips in one order; more make the response a
// *DecodeError (each one is also bounded by MaxGap).
const MaxUnknownElements = 100

// readText reads the text of a leaf element whose start was just read, and
// the problem of that text ("" when it is clean). An element with elements
// inside is skipped whole: an unknown one (unknown=true) reads as "", a
// known one has a problem.
func (x *xmlOrders) readText(path string, unknown bool) (string, string, error) {
	start := x.d.InputOffset()
	x.text.Reset()
	for {
		t, err := x.d.Token()
		if err != nil {
			return "", "", x.syntax(path, err)
		}
		switch t := t.(type) {
		case xml.CharData:
			x.text.Write(t)
		case xml.EndElement:
			x.gap.mark()
			v := x.text.String()
			return v, x.guard.charge(start, x.d.InputOffset(), v), nil
		case xml.StartElement:
			if x.unknown++; x.unknown > MaxUnknownElements {
				return "", "", &DecodeError{Path: path, Expected: fmt.Sprintf("at most %d elements with elements inside in an order", MaxUnknownElements)}
			}
			// The nested element, then the rest of this one.
			if err := x.d.Skip(); err != nil {
				return "", "", x.syntax(path, err)
			}
			if err := x.d.Skip(); err != nil {
				return "", "", x.syntax(path, err)
			}
			x.gap.mark()
			x.guard.charge(start, x.d.InputOffset(), "")
			if unknown {
				return "", "", nil
			}
			return "", "expected a text value, got element <" + t.Name.Local + ">", nil
		}
	}
}

func (x *xmlOrders) path() string { return "orders[" + strconv.Itoa(x.n) + "]" }

// orders handles one <orders> element: either an order itself (the seed's
// shape) or a wrapper of <order> elements; the first child tells which.
func (x *xmlOrders) orders() error {
	t, err := x.next(x.path())
	if err != nil {
		return err
	}
	se, ok := t.(xml.StartElement)
	if !ok {
		return nil // <orders/>: an empty list
	}
	if se.Name.Local != "order" {
		return x.order(&se)
	}
	for {
		if err := x.order(nil); err != nil {
			return err
		}
		t, err := x.next(x.path())
		if err != nil {
			return err
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			return nil
		}
		if se.Name.Local != "order" {
			return &DecodeError{Path: x.path(), Expected: "<order>", Got: "<" + se.Name.Local + ">"}
		}
	}
}

// order reads the fields of one order up to its end element. first is a
// field start element already consumed by the caller, if any.
func (x *xmlOrders) order(first *xml.StartElement) error {
	o := &Order{}
	base := x.path()
	x.unknown = 0
	for {
		var se xml.StartElement
		if first != nil {
			se, first = *first, nil
		} else {
			t, err := x.next(base)
			if err != nil {
				return err
			}
			s, ok := t.(xml.StartElement)
			if !ok {
				break
			}
			se = s
		}
		name := se.Name.Local
		if name == "items" {
			if err := x.items(o, base); err != nil {
				return err
			}
			continue
		}
		v, problem, err := x.readText(base+"."+name, !knownOrderField(name))
		if err != nil {
			return err
		}
		if problem != "" {
			o.Problems = append(o.Problems, name+": "+problem)
			continue
		}
		if err := setOrderField(o, base+"."+name, name, v); err != nil {
			p, ok := fieldProblem(name, err)
			if !ok {
				return err
			}
			o.Problems = append(o.Problems, p)
		}
	}
	x.n++
	return x.fn(o)
}

func (x *xmlOrders) items(o *Order, base string) error {
	var (
		cur     Item
		seen    uint
		any     bool
		wrapped bool
	)
	rel := func() string { return "items[" + strconv.Itoa(len(o.Items)) + "]" }
	itemPath := func() string { return base + "." + rel() }
	for {
		t, err := x.next(base + ".items")
		if err != nil {
			return err
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			break
		}
		name := se.Name.Local
		if name == "item" {
			if any {
				return &DecodeError{Path: itemPath(), Expected: "either flattened item fields or <item> elements", Got: "both"}
			}
			wrapped = true
			it, err := x.wrappedItem(o, base, rel())
			if err != nil {
				return err
			}
			o.Items = append(o.Items, it)
			continue
		}
		if wrapped {
			return &DecodeError{Path: itemPath(), Expected: "<item>", Got: "<" + name + ">"}
		}
		// Flattened shape: a field seen twice starts the next item.
		bit := itemFieldBit(name)
		if bit != 0 && seen&bit != 0 {
			o.Items = append(o.Items, cur)
			cur, seen = Item{}, 0
		}
		seen |= bit
		any = true
		p := itemPath() + "." + name
		v, problem, err := x.readText(p, bit == 0)
		if err != nil {
			return err
		}
		if problem != "" {
			o.Problems = append(o.Problems, rel()+"."+name+": "+problem)
			continue
		}
		if err := setItemField(&cur, p, name, v); err != nil {
			pr, ok := fieldProblem(rel()+"."+name, err)
			if !ok {
				return err
			}
			o.Problems = append(o.Problems, pr)
		}
	}
	if any {
		o.Items = append(o.Items, cur)
	}
	return nil
}

// wrappedItem reads one <item>; rel is its path within the order.
func (x *xmlOrders) wrappedItem(o *Order, base, rel string) (Item, error) {
	var it Item
	path := base + "." + rel
	for {
		t, err := x.next(path)
		if err != nil {
			return it, err
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			return it, nil
		}
		name := se.Name.Local
		p := path + "." + name
		v, problem, err := x.readText(p, itemFieldBit(name) == 0)
		if err != nil {
			return it, err
		}
		if problem != "" {
			o.Problems = append(o.Problems, rel+"."+name+": "+problem)
			continue
		}
		if err := setItemField(&it, p, name, v); err != nil {
			pr, ok := fieldProblem(rel+"."+name, err)
			if !ok {
				return it, err
			}
			o.Problems = append(o.Problems, pr)
		}
	}
}

// ---------------------------------------------------------------- JSON

// jsonOrders walks a JSON orders response with json.Decoder.Token, so that
// numbers-as-strings, flags as booleans and single objects in place of lists
// all pass through one path and only one order is in memory at a time.
type jsonOrders struct {
	d *json.Decoder
	orderStream
}

// DecodeOrdersJSON is DecodeOrdersXML for the JSON format: it accepts
// numbers as strings or numbers, flags as 0/1, "0"/"1" or booleans, empty
// values as "" or null, a single object where a list was expected, and an
// object keyed by id in place of a list (PHP's encoding of an array whose
// keys are not 0, 1, 2 ...).
func DecodeOrdersJSON(r io.Reader, fn func(*Order) error) error {
	h, st := openStream(r, false, fn)
	d := json.NewDecoder(st.guard)
	d.UseNumber()
	j := &jsonOrders{d: d, orderStream: st}
	return decodeBody(h, j.root, &j.env)
}

func (j *jsonOrders) syntax(path string, err error) error {
	return syntaxError(path, "valid JSON", err)
}

func (j *jsonOrders) token(path string) (json.Token, error) {
	t, err := j.d.Token()
	if err != nil {
		return nil, j.syntax(path, err)
	}
	j.gap.mark()
	return t, nil
}

func (j *jsonOrders) root() error {
	t, err := j.d.Token()
	if errors.Is(err, errGap) {
		return gapError("")
	}
	if err != nil {
		return &DecodeError{Expected: "a JSON object", Err: err}
	}
	j.gap.mark()
	if t != json.Delim('{') {
		return &DecodeError{Expected: "a JSON object"}
	}
	for j.d.More() {
		kt, err := j.token("")
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		switch key {
		case "success":
			v, err := j.scalar("success")
			if err != nil {
				return err
			}
			j.env.successSeen = true
			if j.env.success, err = parseFlag("success", v); err != nil {
				return err
			}
		case "info":
			v, err := j.scalar("info")
			if err != nil {
				return err
			}
			j.env.info = v
		case "orders", "order":
			known := func(k string) bool { return k == "items" || knownOrderField(k) }
			if err := j.list("orders", known, j.order); err != nil {
				return err
			}
		default:
			if err := j.skip(key); err != nil {
				return err
			}
		}
	}
	_, err = j.token("")
	return err
}

// scalar reads one scalar value as text: strings as they are, numbers in
// their exact decimal text, booleans as "1"/"0", null as "".
func (j *jsonOrders) scalar(path string) (string, error) {
	t, err := j.token(path)
	if err != nil {
		return "", err
	}
	switch v := t.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(v), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case nil:
		return "", nil
	case json.Delim:
		// An empty object or list stands for "no value" in some PHP
		// serialisers; anything else here is a shape we do not know.
		if v == '{' || v == '[' {
			if !j.d.More() {
				if _, err := j.token(path); err != nil {
					return "", err
				}
				return "", nil
			}
		}
		return "", &DecodeError{Path: path, Expected: "a scalar value", Got: "a nested " + delimName(v)}
	}
	return "", &DecodeError{Path: path, Expected: "a scalar value"}
}

func delimName(d json.Delim) string {
	if d == '[' {
		return "list"
	}
	return "object"
}

// list reads a list of objects, a single object, an object keyed by id,
// or null, calling each for every object after its opening brace was
// consumed (and, when first is not nil, its first key too). known tells
// the field names of one element.
func (j *jsonOrders) list(path string, known func(string) bool, each func(first *string) error) error {
	t, err := j.token(path)
	if err != nil {
		return err
	}
	switch t {
	case nil:
		return nil
	case json.Delim('{'):
		return j.object(path, known, each)
	case json.Delim('['):
		for j.d.More() {
			t, err := j.token(path)
			if err != nil {
				return err
			}
			if t != json.Delim('{') {
				return &DecodeError{Path: path, Expected: "an object in the list"}
			}
			if err := each(nil); err != nil {
				return err
			}
		}
		_, err := j.token(path)
		return err
	}
	if s, ok := t.(string); ok && s == "" {
		return nil // "" for an empty list
	}
	return &DecodeError{Path: path, Expected: "a list or an object"}
}

// object reads an object where a list was expected, its brace consumed:
// {} is an empty list; an object whose first key is a field is one
// element; an object whose first key is not a field and holds an object is
// a list keyed by id ({"17":{...},"18":{...}}), read in its order.
func (j *jsonOrders) object(path string, known func(string) bool, each func(first *string) error) error {
	if !j.d.More() {
		_, err := j.token(path) // {}
		return err
	}
	kt, err := j.token(path)
	if err != nil {
		return err
	}
	key, _ := kt.(string)
	if known(key) {
		return each(&key)
	}
	vt, err := j.token(path + "." + key)
	if err != nil {
		return err
	}
	if vt != json.Delim('{') {
		// One element whose first field is unknown: drop that field.
		if vt == json.Delim('[') {
			if err := j.skipRest(path + "." + key); err != nil {
				return err
			}
		}
		return each(nil)
	}
	for {
		if err := each(nil); err != nil {
			return err
		}
		if !j.d.More() {
			break
		}
		kt, err := j.token(path)
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		if t, err := j.token(path + "." + key); err != nil {
			return err
		} else if t != json.Delim('{') {
			return &DecodeError{Path: path + "." + key, Expected: "an object under every key of a list keyed by id"}
		}
	}
	_, err = j.token(path) // '}'
	return err
}

// skip consumes one value of any shape.
func (j *jsonOrders) skip(path string) error {
	depth := 0
	for {
		t, err := j.token(path)
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// key returns the next key of the object being read: *first when the
// caller already read it (the caller then drops first), else the next
// one; false at the object's end.
func (j *jsonOrders) key(path string, first *string) (string, bool, error) {
	if first != nil {
		return *first, true, nil
	}
	if !j.d.More() {
		return "", false, nil
	}
	kt, err := j.token(path)
	if err != nil {
		return "", false, err
	}
	k, _ := kt.(string)
	return k, true, nil
}

func (j *jsonOrders) order(first *string) error {
	o := &Order{}
	base := "orders[" + strconv.Itoa(j.n) + "]"
	for {
		key, more, err := j.key(base, first)
		first = nil
		if err != nil {
			return err
		}
		if !more {
			break
		}
		p := base + "." + key
		if key == "items" {
			err := j.list(p, func(k string) bool { return itemFieldBit(k) != 0 }, func(first *string) error {
				rel := "items[" + strconv.Itoa(len(o.Items)) + "]"
				it, err := j.item(o, base, rel, first)
				if err != nil {
					return err
				}
				o.Items = append(o.Items, it)
				return nil
			})
			if err != nil {
				return err
			}
			continue
		}
		start := j.d.InputOffset()
		v, nested, err := j.field(p)
		if err != nil {
			return err
		}
		if nested != "" {
			// Unknown nested fields are tolerated; a known one is this
			// order's problem.
			if knownOrderField(key) {
				o.Problems = append(o.Problems, key+": expected a scalar value, got "+nested)
			}
			continue
		}
		if problem := j.guard.charge(start, j.d.InputOffset(), v); problem != "" {
			o.Problems = append(o.Problems, key+": "+problem)
			continue
		}
		if err := setOrderField(o, p, key, v); err != nil {
			pr, ok := fieldProblem(key, err)
			if !ok {
				return err
			}
			o.Problems = append(o.Problems, pr)
		}
	}
	if _, err := j.token(base); err != nil { // '}'
		return err
	}
	j.n++
	return j.fn(o)
}

// field reads one field's value: its text, or, for a nested object or
// list, a description of it ("a nested object"), the value consumed.
func (j *jsonOrders) field(path string) (v, nested string, err error) {
	v, err = j.scalar(path)
	var de *DecodeError
	if err != nil && errors.As(err, &de) && strings.HasPrefix(de.Got, "a nested ") {
		if err := j.skipRest(path); err != nil {
			return "", "", err
		}
		return "", de.Got, nil
	}
	return v, "", err
}

// skipRest consumes the remainder of a nested value whose opening delimiter
// scalar() already read.
func (j *jsonOrders) skipRest(path string) error {
	depth := 1
	for depth > 0 {
		t, err := j.token(path)
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func knownOrderField(name string) bool {
	switch name {
	case "paid", "shipped", "cancelled", "customer_id", "shipping_address", "shipping_cost",
		"pickup_receipt_id", "comment", "guid", "created_date", "amount", "discount",
		"pickup_from_warehouse_id", "pickup_from_warehouse_name", "delivery_type_id",
		"delivery_type_name", "payment_type_id", "payment_type_name":
		return true
	}
	return false
}

// item reads one item of o; rel is its path within the order.
func (j *jsonOrders) item(o *Order, base, rel string, first *string) (Item, error) {
	var it Item
	path := base + "." + rel
	for {
		key, more, err := j.key(path, first)
		first = nil
		if err != nil {
			return it, err
		}
		if !more {
			break
		}
		p := path + "." + key
		if itemFieldBit(key) == 0 {
			if err := j.skip(p); err != nil {
				return it, err
			}
			continue
		}
		start := j.d.InputOffset()
		v, nested, err := j.field(p)
		if err != nil {
			return it, err
		}
		if nested != "" {
			o.Problems = append(o.Problems, rel+"."+key+": expected a scalar value, got "+nested)
			continue
		}
		if problem := j.guard.charge(start, j.d.InputOffset(), v); problem != "" {
			o.Problems = append(o.Problems, rel+"."+key+": "+problem)
			continue
		}
		if err := setItemField(&it, p, key, v); err != nil {
			pr, ok := fieldProblem(rel+"."+key, err)
			if !ok {
				return it, err
			}
			o.Problems = append(o.Problems, pr)
		}
	}
	_, err := j.token(path)
	return it, err
}
