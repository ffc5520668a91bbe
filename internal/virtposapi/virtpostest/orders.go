package virtpostest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// AddOrder appends an order to the store and returns its index for
// UpdateOrder. CreatedDate must use virtposapi.TimeLayout for the date filters
// to see it.
func (s *Server) AddOrder(o virtposapi.Order) int {
	o.Items = slices.Clone(o.Items)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.orders = append(s.st.orders, o)
	return len(s.st.orders) - 1
}

// UpdateOrder changes a stored order in place (flip paid/shipped/cancelled
// to simulate late changes). fn gets a copy whose Items it may modify.
func (s *Server) UpdateOrder(i int, fn func(*virtposapi.Order)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.st.orders) {
		return fmt.Errorf("virtpostest: update order %d: no such order (have %d)", i, len(s.st.orders))
	}
	o := s.st.orders[i]
	o.Items = slices.Clone(o.Items)
	fn(&o)
	s.st.orders[i] = o
	return nil
}

// SetOrderFlags sets the three late-changing flags of stored order i.
func (s *Server) SetOrderFlags(i int, paid, shipped, cancelled bool) error {
	return s.UpdateOrder(i, func(o *virtposapi.Order) { o.Paid, o.Shipped, o.Cancelled = paid, shipped, cancelled })
}

// Orders returns a copy of the stored (not generated) orders.
func (s *Server) Orders() []virtposapi.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.orders)
}

// generator synthesizes orders on the fly so a benchmark can stream a
// million orders without the fake holding them.
type generator struct {
	n    int
	seed uint64
	base time.Time
	step time.Duration
}

// GenerateOrders makes /orders also answer n synthetic orders after the
// stored ones, created evenly over the 30 days before the fake's clock.
// Order i depends only on (seed, i, clock), so runs repeat; nothing is
// held in memory. n <= 0 switches the generator off.
func (s *Server) GenerateOrders(n int, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.st.gen = nil
		return
	}
	span := 30 * 24 * time.Hour
	step := max(span/time.Duration(n), time.Second)
	now := s.opts.Now().Truncate(time.Second)
	s.st.gen = &generator{n: n, seed: seed, base: now.Add(-step * time.Duration(n)), step: step}
}

// GeneratedOrder returns synthetic order i of the current generator, for
// tests to compare with what a client decoded.
func (s *Server) GeneratedOrder(i int) (virtposapi.Order, bool) {
	s.mu.Lock()
	g := s.st.gen
	s.mu.Unlock()
	if g == nil || i < 0 || i >= g.n {
		return virtposapi.Order{}, false
	}
	return g.order(i), true
}

var genNames = []string{`Коньяк "Анри" 3-летний 40,0% 0,5л`, "Сыр Российский, кг", "Хлеб Бородинский",
	"Молоко 3,2% 1л", "Кофе молотый 250г", "Яблоки Гала, кг", "Шоколад «Алёнка»", "Вода <газ.> & лёд"}

func (g *generator) order(i int) virtposapi.Order {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)))
	o := virtposapi.Order{
		Paid:                    r.IntN(2) == 1,
		Shipped:                 r.IntN(3) == 0,
		Cancelled:               r.IntN(20) == 0,
		CustomerID:              strconv.Itoa(1 + r.IntN(1000)),
		ShippingAddress:         fmt.Sprintf("ул. Ленина, д. %d, кв. %d", 1+r.IntN(200), 1+r.IntN(300)),
		ShippingCost:            decimal.New(int64(r.IntN(50))*10, 0),
		Comment:                 "",
		CreatedDate:             g.base.Add(g.step * time.Duration(i)).Format(virtposapi.TimeLayout),
		PickupFromWarehouseID:   "2",
		PickupFromWarehouseName: "Просвещения проспект",
		DeliveryTypeID:          "1",
		DeliveryTypeName:        "Самовывоз",
		PaymentTypeID:           "1",
		PaymentTypeName:         "Оплата при получении",
	}
	// Every tenth order has no guid so clients exercise the derived key.
	if i%10 != 9 {
		o.GUID = fmt.Sprintf("%08x-%04x-4000-8000-%012x", g.seed&0xffffffff, i>>16&0xffff, i)
	}
	if r.IntN(4) == 0 {
		o.Comment = "После шести"
	}
	n := 1 + r.IntN(3)
	for j := 0; j < n; j++ {
		qty := decimal.New(int64(1+r.IntN(5000)), -3)
		price := decimal.New(int64(100+r.IntN(100000)), -2)
		gross := qty.Mul(price).Round(2)
		disc := decimal.Zero
		if r.IntN(3) == 0 && gross.IsPositive() {
			disc = gross.Mul(decimal.New(int64(r.IntN(20)), -2)).Round(2)
		}
		it := virtposapi.Item{ItemID: strconv.Itoa(100 + r.IntN(900)), ItemName: genNames[r.IntN(len(genNames))],
			Quantity: qty, UnitBasePrice: price, Discount: disc,
			Amount: qty.Mul(price).Sub(disc).Round(2)}
		o.Items = append(o.Items, it)
		o.Amount = o.Amount.Add(it.Amount)
		o.Discount = o.Discount.Add(it.Discount)
	}
	return o
}

// orderFilter is the parsed query of GET /orders.
type orderFilter struct {
	customerID string // "" means all; noCustomer means none
	from, to   string // YYYYMMDD, inclusive
	since      string // created_date >= since (virtposapi.TimeLayout)
}

const noCustomer = "\x00none"

func (f orderFilter) match(o *virtposapi.Order) bool {
	if f.customerID != "" && o.CustomerID != f.customerID {
		return false
	}
	if f.from != "" || f.to != "" {
		day := strings.ReplaceAll(first(o.CreatedDate, 10), "-", "")
		if (f.from != "" && day < f.from) || (f.to != "" && day > f.to) {
			return false
		}
	}
	return f.since == "" || o.CreatedDate >= f.since
}

func first(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

func (s *Server) parseOrderFilter(p url.Values) (orderFilter, error) {
	var f orderFilter
	for _, d := range []struct {
		name string
		dst  *string
	}{{"datefrom", &f.from}, {"dateto", &f.to}} {
		v := p.Get(d.name)
		if v == "" {
			continue
		}
		if _, err := time.Parse("20060102", v); err != nil {
			return f, fmt.Errorf("invalid %s %q: want YYYYMMDD", d.name, v)
		}
		*d.dst = v
	}
	if v := p.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("invalid days %q", v)
		}
		f.since = s.opts.Now().AddDate(0, 0, -n).Format(virtposapi.TimeLayout)
	}
	if id := p.Get("id"); id != "" {
		f.customerID = id
	} else if ext := p.Get("external_id"); ext != "" {
		s.mu.Lock()
		cid, ok := s.st.customers.find("external_id", ext)
		s.mu.Unlock()
		f.customerID = noCustomer
		if ok {
			f.customerID = strconv.Itoa(cid)
		}
	}
	return f, nil
}

// serveOrders streams GET /orders order by order: the stored orders, then
// the generated ones, never building the whole body.
func (s *Server) serveOrders(w http.ResponseWriter, ctx context.Context, p url.Values) {
	rep, ok := s.begin(w, p)
	if !ok {
		return
	}
	f, err := s.parseOrderFilter(p)
	if err != nil {
		s.fail(rep, err.Error())
		return
	}
	s.mu.Lock()
	stored := slices.Clone(s.st.orders)
	gen := s.st.gen
	s.mu.Unlock()

	if rep.json {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	defer bw.Flush()
	if rep.json {
		bw.WriteString(`{"success":1,"orders":[`)
	} else {
		bw.WriteString(xmlHeader)
		xmlElem(bw, 1, "success", "1")
	}
	n := 0
	emit := func(o *virtposapi.Order) error {
		if !f.match(o) {
			return nil
		}
		if rep.json {
			if n > 0 {
				bw.WriteByte(',')
			}
			b, err := json.Marshal(toJSONOrder(o))
			if err != nil {
				return fmt.Errorf("encode order: %w", err)
			}
			bw.Write(b)
		} else {
			writeXMLOrder(bw, o)
		}
		n++
		// A client that went away stops the stream instead of making us
		// generate a million orders for nobody.
		if n%1024 == 0 && done(ctx) {
			return ctx.Err()
		}
		return nil
	}
	for i := range stored {
		if err := emit(&stored[i]); err != nil {
			return
		}
	}
	if gen != nil {
		for i := 0; i < gen.n; i++ {
			o := gen.order(i)
			if err := emit(&o); err != nil {
				if !errors.Is(err, context.Canceled) {
					s.log.Warn("virtpos-fake orders stream", "err", err)
				}
				return
			}
		}
	}
	if rep.json {
		bw.WriteString("]}\n")
	} else {
		bw.WriteString("</root>\n")
	}
}

// writeXMLOrder writes one order in the seed's shape: a sibling <orders>
// element with the items flattened inside one <items>.
func writeXMLOrder(w *bufio.Writer, o *virtposapi.Order) {
	xmlOpen(w, 1, "orders")
	xmlElem(w, 2, "paid", boolDigit(o.Paid))
	xmlElem(w, 2, "customer_id", o.CustomerID)
	xmlElem(w, 2, "shipped", boolDigit(o.Shipped))
	xmlElem(w, 2, "cancelled", boolDigit(o.Cancelled))
	xmlElem(w, 2, "shipping_address", o.ShippingAddress)
	xmlElem(w, 2, "shipping_cost", o.ShippingCost.StringFixed(2))
	xmlElem(w, 2, "pickup_receipt_id", o.PickupReceiptID)
	xmlElem(w, 2, "comment", o.Comment)
	xmlElem(w, 2, "guid", o.GUID)
	xmlElem(w, 2, "created_date", o.CreatedDate)
	xmlElem(w, 2, "amount", o.Amount.StringFixed(2))
	xmlElem(w, 2, "discount", o.Discount.StringFixed(2))
	xmlElem(w, 2, "pickup_from_warehouse_id", o.PickupFromWarehouseID)
	xmlElem(w, 2, "pickup_from_warehouse_name", o.PickupFromWarehouseName)
	xmlElem(w, 2, "delivery_type_id", o.DeliveryTypeID)
	xmlElem(w, 2, "delivery_type_name", o.DeliveryTypeName)
	xmlElem(w, 2, "payment_type_id", o.PaymentTypeID)
	xmlElem(w, 2, "payment_type_name", o.PaymentTypeName)
	if len(o.Items) == 0 {
		xmlElem(w, 2, "items", "")
	} else {
		xmlOpen(w, 2, "items")
		for _, it := range o.Items {
			xmlElem(w, 3, "item_id", it.ItemID)
			xmlElem(w, 3, "item_name", it.ItemName)
			xmlElem(w, 3, "image", it.Image)
			xmlElem(w, 3, "quantity", it.Quantity.StringFixed(3))
			xmlElem(w, 3, "unit_base_price", it.UnitBasePrice.StringFixed(2))
			xmlElem(w, 3, "discount", it.Discount.StringFixed(2))
			xmlElem(w, 3, "amount", it.Amount.StringFixed(2))
		}
		xmlClose(w, 2, "items")
	}
	xmlClose(w, 1, "orders")
}

// jsonOrder is an order as the fake's JSON answers carry it (every value a
// string, as numbers often arrive from PHP back ends) and as seed files
// hold it.
type jsonOrder struct {
	Paid                    string     `json:"paid"`
	CustomerID              string     `json:"customer_id"`
	Shipped                 string     `json:"shipped"`
	Cancelled               string     `json:"cancelled"`
	ShippingAddress         string     `json:"shipping_address"`
	ShippingCost            string     `json:"shipping_cost"`
	PickupReceiptID         string     `json:"pickup_receipt_id"`
	Comment                 string     `json:"comment"`
	GUID                    string     `json:"guid"`
	CreatedDate             string     `json:"created_date"`
	Amount                  string     `json:"amount"`
	Discount                string     `json:"discount"`
	PickupFromWarehouseID   string     `json:"pickup_from_warehouse_id"`
	PickupFromWarehouseName string     `json:"pickup_from_warehouse_name"`
	DeliveryTypeID          string     `json:"delivery_type_id"`
	DeliveryTypeName        string     `json:"delivery_type_name"`
	PaymentTypeID           string     `json:"payment_type_id"`
	PaymentTypeName         string     `json:"payment_type_name"`
	Items                   []jsonItem `json:"items"`
}

type jsonItem struct {
	ItemID        string `json:"item_id"`
	ItemName      string `json:"item_name"`
	Image         string `json:"image"`
	Quantity      string `json:"quantity"`
	UnitBasePrice string `json:"unit_base_price"`
	Discount      string `json:"discount"`
	Amount        string `json:"amount"`
}

func toJSONOrder(o *virtposapi.Order) jsonOrder {
	j := jsonOrder{Paid: boolDigit(o.Paid), CustomerID: o.CustomerID, Shipped: boolDigit(o.Shipped),
		Cancelled: boolDigit(o.Cancelled), ShippingAddress: o.ShippingAddress,
		ShippingCost: o.ShippingCost.StringFixed(2), PickupReceiptID: o.PickupReceiptID, Comment: o.Comment,
		GUID: o.GUID, CreatedDate: o.CreatedDate, Amount: o.Amount.StringFixed(2),
		Discount: o.Discount.StringFixed(2), PickupFromWarehouseID: o.PickupFromWarehouseID,
		PickupFromWarehouseName: o.PickupFromWarehouseName, DeliveryTypeID: o.DeliveryTypeID,
		DeliveryTypeName: o.DeliveryTypeName, PaymentTypeID: o.PaymentTypeID, PaymentTypeName: o.PaymentTypeName,
		Items: make([]jsonItem, len(o.Items))}
	for i, it := range o.Items {
		j.Items[i] = jsonItem{ItemID: it.ItemID, ItemName: it.ItemName, Image: it.Image,
			Quantity: it.Quantity.StringFixed(3), UnitBasePrice: it.UnitBasePrice.StringFixed(2),
			Discount: it.Discount.StringFixed(2), Amount: it.Amount.StringFixed(2)}
	}
	return j
}

func (j jsonOrder) order() (virtposapi.Order, error) {
	o := virtposapi.Order{Paid: j.Paid == "1", Shipped: j.Shipped == "1", Cancelled: j.Cancelled == "1",
		CustomerID: j.CustomerID, ShippingAddress: j.ShippingAddress, PickupReceiptID: j.PickupReceiptID,
		Comment: j.Comment, GUID: j.GUID, CreatedDate: j.CreatedDate,
		PickupFromWarehouseID: j.PickupFromWarehouseID, PickupFromWarehouseName: j.PickupFromWarehouseName,
		DeliveryTypeID: j.DeliveryTypeID, DeliveryTypeName: j.DeliveryTypeName,
		PaymentTypeID: j.PaymentTypeID, PaymentTypeName: j.PaymentTypeName}
	if _, err := time.Parse(virtposapi.TimeLayout, j.CreatedDate); err != nil {
		return o, fmt.Errorf("created_date %q: want %s", j.CreatedDate, virtposapi.TimeLayout)
	}
	var err error
	dec := func(name, s string) decimal.Decimal {
		if s == "" || err != nil {
			return decimal.Zero
		}
		d, e := decimal.NewFromString(s)
		if e != nil {
			err = fmt.Errorf("%s %q: %w", name, s, e)
		}
		return d
	}
	o.ShippingCost = dec("shipping_cost", j.ShippingCost)
	o.Amount = dec("amount", j.Amount)
	o.Discount = dec("discount", j.Discount)
	for _, ji := range j.Items {
		o.Items = append(o.Items, virtposapi.Item{ItemID: ji.ItemID, ItemName: ji.ItemName, Image: ji.Image,
			Quantity: dec("quantity", ji.Quantity), UnitBasePrice: dec("unit_base_price", ji.UnitBasePrice),
			Discount: dec("item discount", ji.Discount), Amount: dec("item amount", ji.Amount)})
	}
	return o, err
}
