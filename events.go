package virtsync

// Payload is the data of one event. Its kind and what make the event's
// type (virtsync.<kind>.<what>) and its subject (<prefix>.<kind>.<what>);
// it is published as JSON in the CloudEvents envelope. The README's event
// table is tested against these types (events_test.go).
type Payload interface {
	Kind() string
	What() string
}

// CustomerUpserted: a 1C buyer was created in or updated into virtpos.
type CustomerUpserted struct {
	ExternalID string `json:"external_id"` // the 1C reference
	VirtposID  string `json:"virtpos_id"`
	Created    bool   `json:"created"`
	// Adopted: virtpos already had it (found by external_id), not created
	// by virtsync.
	Adopted bool `json:"adopted,omitempty"`
}

func (CustomerUpserted) Kind() string { return KindCustomer }
func (CustomerUpserted) What() string { return "upserted" }

// CardUpserted: a 1C card was created in or updated into virtpos.
type CardUpserted struct {
	ExternalID string `json:"external_id"`
	VirtposID  string `json:"virtpos_id"`
	UID        string `json:"uid"`
	Created    bool   `json:"created"`
}

func (CardUpserted) Kind() string { return KindCard }
func (CardUpserted) What() string { return "upserted" }

// Card deletion actions and their reasons.
const (
	CardActionDeleted = "deleted"
	CardActionBlocked = "blocked"
	// ReasonDeleted: gone from 1C; ReasonMarked: marked for deletion.
	ReasonDeleted = "deleted"
	ReasonMarked  = "marked"
)

// CardDeleted: a card deleted (or marked) in 1C was deleted or blocked in
// virtpos.
type CardDeleted struct {
	ExternalID string `json:"external_id"`
	VirtposID  string `json:"virtpos_id"`
	Action     string `json:"action"` // CardActionDeleted or CardActionBlocked
	Reason     string `json:"reason"` // ReasonDeleted or ReasonMarked
}

func (CardDeleted) Kind() string { return KindCard }
func (CardDeleted) What() string { return "deleted" }

// RecordFailed: a record went to the dead letters (customer.failed,
// card.failed, order.failed).
type RecordFailed struct {
	RecordKind string `json:"-"` // KindCustomer, KindCard or KindOrder
	Key        string `json:"key"`
	Reason     string `json:"reason"`
	RunID      string `json:"run_id"`
}

func (e RecordFailed) Kind() string { return e.RecordKind }
func (RecordFailed) What() string   { return "failed" }

// OrderSeen: an order virtpos sent, new to virtsync or changed since
// (order.new, order.changed), as virtpos sent it. Money is a decimal
// string with two places; quantities keep their own.
type OrderSeen struct {
	Changed      bool        `json:"-"` // order.changed, else order.new
	Key          string      `json:"key"`
	GUID         string      `json:"guid"`
	CustomerID   string      `json:"customer_id"`
	CreatedDate  string      `json:"created_date"`
	Paid         bool        `json:"paid"`
	Shipped      bool        `json:"shipped"`
	Cancelled    bool        `json:"cancelled"`
	Amount       string      `json:"amount"`
	Discount     string      `json:"discount"`
	ShippingCost string      `json:"shipping_cost"`
	Items        []OrderItem `json:"items"`
}

// OrderItem is one line of OrderSeen.
type OrderItem struct {
	ItemID        string `json:"item_id"`
	ItemName      string `json:"item_name"`
	Quantity      string `json:"quantity"`
	UnitBasePrice string `json:"unit_base_price"`
	Discount      string `json:"discount"`
	Amount        string `json:"amount"`
}

func (OrderSeen) Kind() string { return KindOrder }
func (e OrderSeen) What() string {
	if e.Changed {
		return "changed"
	}
	return "new"
}

// OrderExported: an order was written to 1C as a document.
type OrderExported struct {
	Key         string `json:"key"`
	DocumentRef string `json:"document_ref"`
	Number      string `json:"number"`
	Entity      string `json:"entity"`
	// Posted is set when posting is configured: whether it worked.
	Posted      *bool    `json:"posted,omitempty"`
	PostError   string   `json:"post_error,omitempty"`
	SumMismatch []string `json:"sum_mismatch,omitempty"`
}

func (OrderExported) Kind() string { return KindOrder }
func (OrderExported) What() string { return "exported" }

// RunStarted: a job's run began.
type RunStarted struct {
	RunID string `json:"run_id"`
	Job   string `json:"job"`
	Mode  string `json:"mode"`
}

func (RunStarted) Kind() string { return KindRun }
func (RunStarted) What() string { return "started" }

// RunFinished: a job's run ended.
type RunFinished struct {
	RunID           string         `json:"run_id"`
	Job             string         `json:"job"`
	Mode            string         `json:"mode"`
	Status          string         `json:"status"` // ok, partial, failed, cancelled
	Counts          map[string]int `json:"counts"` // by Result
	DurationSeconds float64        `json:"duration_seconds"`
	Error           string         `json:"error,omitempty"`
}

func (RunFinished) Kind() string { return KindRun }
func (RunFinished) What() string { return "finished" }

// Payloads lists one value of every payload type, each kind of failure
// and each order event once: what the README's table must document.
func Payloads() []Payload {
	return []Payload{
		CustomerUpserted{}, CardUpserted{}, CardDeleted{},
		RecordFailed{RecordKind: KindCustomer}, RecordFailed{RecordKind: KindCard}, RecordFailed{RecordKind: KindOrder},
		OrderSeen{}, OrderSeen{Changed: true}, OrderExported{},
		RunStarted{}, RunFinished{},
	}
}
