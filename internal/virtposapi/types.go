// Package virtposapi is a client for the virtpos HTTP API (orders, customers,
// discount cards) in both of its formats (xml, json) and both transports
// (GET query, POST form). See DESIGN.md section 2.
package virtposapi

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// TimeLayout is the layout of created_date: the shop's local time, no zone.
const TimeLayout = "2006-01-02 15:04:05"

// Order is one order as GET /orders returns it. Money and quantities are
// decimals; CreatedDate is kept as the text the API sent (the shop's local
// time without a zone) and parsed by callers that know the shop's zone.
type Order struct {
	Paid                    bool
	Shipped                 bool
	Cancelled               bool
	CustomerID              string
	ShippingAddress         string
	ShippingCost            decimal.Decimal
	PickupReceiptID         string
	Comment                 string
	GUID                    string
	CreatedDate             string
	Amount                  decimal.Decimal
	Discount                decimal.Decimal
	PickupFromWarehouseID   string
	PickupFromWarehouseName string
	DeliveryTypeID          string
	DeliveryTypeName        string
	PaymentTypeID           string
	PaymentTypeName         string
	Items                   []Item
	// Problems are this order's own faults found while decoding, each as
	// "field: what is wrong" with the field's path inside the order and no
	// value (e.g. "comment: not valid UTF-8 at byte 12",
	// "items[1].item_name: control character U+0001 at byte 3"). A field
	// with a problem is left empty; the rest of the response is decoded
	// as usual. An order with problems must not be used as it is: the
	// caller rejects it alone (a dead letter), not the whole response.
	Problems []string
}

// Item is one line of an order.
type Item struct {
	ItemID        string
	ItemName      string
	Image         string
	Quantity      decimal.Decimal // 3 decimals: pieces or kilograms
	UnitBasePrice decimal.Decimal
	Discount      decimal.Decimal
	Amount        decimal.Decimal
}

// Customer is a virtpos customer record as GET /customer returns it. Fields
// not modelled here are kept in Extra under their API names.
type Customer struct {
	ID         string
	ExternalID string
	FName      string
	LName      string
	MName      string
	Email      string
	Phone      string
	Gender     string
	BirthDay   string
	BirthMonth string
	BirthYear  string
	GroupID    string
	GroupName  string
	Cards      []Card // only when asked for with CustomerQuery.Cards
	Extra      map[string]string
}

// UpdateResult is the answer of customer/update and of the card calls:
// the id of the record and whether it was created. A card call may answer
// success=1 alone: ID is then empty and IsNew false.
type UpdateResult struct {
	ID    string
	IsNew bool
}

// Card is a discount card as virtpos returns it inside a customer record.
type Card struct {
	ID         string
	UID        string
	ExternalID string
	Barcode    string
	UIDEAN13   string
	Medium     string
	Status     string
	TypeID     string
	TypeName   string
	CustomerID string
}

// String renders the order's scalar fields for logs and test failures.
func (o Order) String() string {
	return fmt.Sprintf("order{guid=%q customer=%q created=%q paid=%v shipped=%v cancelled=%v amount=%s discount=%s shipping=%s items=%d address=%q comment=%q receipt=%q warehouse=%q/%q delivery=%q/%q payment=%q/%q}",
		o.GUID, o.CustomerID, o.CreatedDate, o.Paid, o.Shipped, o.Cancelled, o.Amount, o.Discount, o.ShippingCost,
		len(o.Items), o.ShippingAddress, o.Comment, o.PickupReceiptID, o.PickupFromWarehouseID, o.PickupFromWarehouseName,
		o.DeliveryTypeID, o.DeliveryTypeName, o.PaymentTypeID, o.PaymentTypeName)
}
