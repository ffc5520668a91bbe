package virtposapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OrdersQuery filters GET /orders. Zero fields are not sent.
type OrdersQuery struct {
	CustomerID string    // virtpos customer id: only that customer's orders
	ExternalID string    // the customer's id in the external system
	DateFrom   time.Time // sent as YYYYMMDD (the date in its own zone)
	DateTo     time.Time // sent as YYYYMMDD, inclusive
	Days       int       // how many days back
}

func (q OrdersQuery) values() url.Values {
	v := url.Values{}
	if q.CustomerID != "" {
		v.Set("id", q.CustomerID)
	}
	if q.ExternalID != "" {
		v.Set("external_id", q.ExternalID)
	}
	if !q.DateFrom.IsZero() {
		v.Set("datefrom", q.DateFrom.Format("20060102"))
	}
	if !q.DateTo.IsZero() {
		v.Set("dateto", q.DateTo.Format("20060102"))
	}
	if q.Days > 0 {
		v.Set("days", strconv.Itoa(q.Days))
	}
	return v
}

// Orders streams the orders matching q, calling fn for each as soon as it
// is decoded; the body is never held whole. The API has no paging, so a
// failure after the first order was delivered is not retried here (a
// repeat would deliver the same orders again, and order keys that rely on
// position would shift): it is returned as a *TransientError and the next
// run reads the window again. An error returned by fn stops the stream and
// is returned unchanged.
func (c *Client) Orders(ctx context.Context, q OrdersQuery, fn func(*Order) error) error {
	return c.call(ctx, EPOrders, q.values(), true, true, func(body io.Reader) error {
		delivered := 0
		wrapped := func(o *Order) error {
			delivered++
			if err := fn(o); err != nil {
				return callErr{err}
			}
			return nil
		}
		var err error
		if c.format == "xml" {
			err = DecodeOrdersXML(body, wrapped)
		} else {
			err = DecodeOrdersJSON(body, wrapped)
		}
		var ce callErr
		if err != nil && delivered > 0 && !errors.As(err, &ce) {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Endpoint = EPOrders
			}
			return callErr{c.scrub(&TransientError{Endpoint: EPOrders, Params: paramNames(q.values()), Status: http.StatusOK, Attempts: 1,
				Err: fmt.Errorf("stream broke after %d orders: %w", delivered, err)})}
		}
		return err
	})
}

// CustomerQuery filters GET /customer. Zero fields are not sent.
type CustomerQuery struct {
	ID, ExternalID, Phone, Email string
	Page, PageSize               int
	Cards                        bool // include each customer's cards
}

// CustomerPage is one page of GET /customer.
type CustomerPage struct {
	Customers []Customer
	Count     int // total matching records as the server reports it; -1 if absent
}

// Customers looks customers up.
func (c *Client) Customers(ctx context.Context, q CustomerQuery) (CustomerPage, error) {
	page, err := c.customers(ctx, q)
	if err != nil {
		return CustomerPage{}, fmt.Errorf("virtpos: find customers: %w", err)
	}
	return page, nil
}

// customers is Customers without the wrapping, for callers that name
// their own operation in errors (a listing, a count).
func (c *Client) customers(ctx context.Context, q CustomerQuery) (CustomerPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"id": q.ID, "external_id": q.ExternalID, "phone": q.Phone, "email": q.Email} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.PageSize > 0 {
		v.Set("page_size", strconv.Itoa(q.PageSize))
	}
	if q.Cards {
		v.Set("cards", "true")
	}
	var page CustomerPage
	err := c.call(ctx, EPCustomer, v, true, false, func(body io.Reader) error {
		var err error
		page, err = decodeCustomers(c.format, body)
		return err
	})
	if err != nil {
		return CustomerPage{}, err
	}
	return page, nil
}

// FindCustomerByExternalID returns the customer whose external_id is ext.
// It is how virtsync makes creates idempotent: ask before creating.
func (c *Client) FindCustomerByExternalID(ctx context.Context, ext string) (Customer, bool, error) {
	if ext == "" {
		return Customer{}, false, &notSentError{errors.New("virtpos: find customer: empty external_id")}
	}
	page, err := c.Customers(ctx, CustomerQuery{ExternalID: ext})
	if err != nil {
		if notFoundReply(err) {
			return Customer{}, false, nil
		}
		return Customer{}, false, err
	}
	for _, cu := range page.Customers {
		// Guard against a server that ignores the filter.
		if cu.ExternalID == ext {
			return cu, true, nil
		}
	}
	return Customer{}, false, nil
}

// notFoundReply reports a GET /customer that matched nothing: "not found"
// arrives as success=0 on some installations instead of an empty list.
func notFoundReply(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && notFoundInfo(ae.Info)
}

func notFoundInfo(info string) bool {
	s := strings.ToLower(info)
	return strings.Contains(s, "not found") || strings.Contains(s, "не найден")
}

var customerFields = map[string]bool{"id": true, "external_id": true, "fname": true, "lname": true, "mname": true,
	"email": true, "phone": true, "gender": true, "birth_day": true, "birth_month": true, "birth_year": true,
	"group_id": true, "group_name": true, "cards": true}

func customerFrom(n *node) Customer {
	cu := Customer{
		ID: n.str("id"), ExternalID: n.str("external_id"),
		FName: n.str("fname"), LName: n.str("lname"), MName: n.str("mname"),
		Email: n.str("email"), Phone: n.str("phone"), Gender: n.str("gender"),
		BirthDay: n.str("birth_day"), BirthMonth: n.str("birth_month"), BirthYear: n.str("birth_year"),
		GroupID: n.str("group_id"), GroupName: n.str("group_name"),
	}
	for _, k := range n.keys {
		if customerFields[k] {
			continue
		}
		if ch := n.child(k); ch != nil && ch.kids == nil {
			if cu.Extra == nil {
				cu.Extra = map[string]string{}
			}
			cu.Extra[k] = ch.text
		}
	}
	for _, cn := range n.list("cards", "card") {
		cu.Cards = append(cu.Cards, Card{
			ID: cn.str("id"), UID: cn.str("uid"), ExternalID: cn.str("external_id"),
			Barcode: cn.str("barcode"), UIDEAN13: cn.str("uid_ean13"), Medium: cn.str("medium"),
			Status: cn.str("status"), TypeID: cn.str("type_id"), TypeName: cn.str("type_name"),
			CustomerID: cn.str("customer_id"),
		})
	}
	return cu
}

// idExpected describes a virtpos id for errors.
const idExpected = "a virtpos id (1 to 19 decimal digits, not 0)"

// ValidID reports whether s looks like a virtpos id: decimal digits only,
// no sign, no exponent, no leading zero, not 0, at most 19 digits (an
// int64). Anything else in a reply is garbage that must not reach the id
// map, where one bad value could map every record to one customer.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 19 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsBadID reports whether err is a reply whose id is not a virtpos id: the
// server answered, so the outcome is not merely unknown, but the answer
// cannot be used.
func IsBadID(err error) bool {
	var de *DecodeError
	return errors.As(err, &de) && de.Expected == idExpected
}

// checkID is the *DecodeError of an id field that is not a virtpos id; it
// quotes at most 20 bytes of what came.
func checkID(path, id string) error {
	if ValidID(id) {
		return nil
	}
	if id == "" {
		return &DecodeError{Path: path, Expected: idExpected, Got: "nothing"}
	}
	return (&DecodeError{Path: path, Expected: idExpected}).withGot([]byte(id), 20)
}

// forbidden parameters: age is computed by the server and rejected; the
// key is the client's to send.
func checkParams(ep string, p url.Values) error {
	for _, k := range []string{"age", "apikey", "format"} {
		if p.Has(k) {
			return &notSentError{fmt.Errorf("virtpos %s: parameter %q must not be sent", ep, k)}
		}
	}
	return nil
}

// UpdateCustomer calls customer/update with p (customer fields, id,
// external_id, create_if_not_exist, group_name ...). virtpos finds the
// customer by id only: with an id a repeat updates the same record, so
// transient failures are retried; without one the call creates, and it is
// repeated only when it surely did not arrive. After an error whose
// outcome is unknown (IsOutcomeUnknown) the caller must look the customer
// up by external_id before it sends the create again.
func (c *Client) UpdateCustomer(ctx context.Context, p url.Values) (UpdateResult, error) {
	return c.update(ctx, EPCustomerUpdate, p, p.Get("id") != "")
}

// UpdateCard calls updateCard (create_if_not_exist=1 makes it an upsert;
// the server searches card_id, uid, external_id, card_barcode in turn, so a
// repeat finds the card it created and transient failures are retried). A
// create with none of those keys could not be found again: it is repeated
// only when it surely did not arrive.
func (c *Client) UpdateCard(ctx context.Context, p url.Values) (UpdateResult, error) {
	findable := p.Get("create_if_not_exist") != "1"
	for _, k := range []string{"card_id", "uid", "external_id", "card_barcode"} {
		findable = findable || p.Get(k) != ""
	}
	return c.update(ctx, EPCardUpdate, p, findable)
}

// InsertCard calls insertCard, which always creates. It is repeated only
// when the request surely did not arrive; after an error whose outcome is
// unknown the caller must look the card up (by uid) before inserting again.
func (c *Client) InsertCard(ctx context.Context, p url.Values) (UpdateResult, error) {
	return c.update(ctx, EPCardInsert, p, false)
}

// CardKey names a card for deleteCard by one of its four keys.
type CardKey struct {
	Field string // card_id, external_id, uid or card_barcode
	Value string
}

// DeleteCard calls deleteCard.
func (c *Client) DeleteCard(ctx context.Context, k CardKey) error {
	switch k.Field {
	case "card_id", "external_id", "uid", "card_barcode":
	default:
		return &notSentError{fmt.Errorf("virtpos %s: key field %q: expected card_id, external_id, uid or card_barcode", EPCardDelete, k.Field)}
	}
	if k.Value == "" {
		return &notSentError{fmt.Errorf("virtpos %s: empty %s", EPCardDelete, k.Field)}
	}
	err := c.call(ctx, EPCardDelete, url.Values{k.Field: {k.Value}}, true, false, func(body io.Reader) error {
		_, _, err := decodeSmall(c.format, body)
		return err
	})
	if err != nil {
		return fmt.Errorf("virtpos: delete card %s=%s: %w", k.Field, k.Value, err)
	}
	return nil
}

func (c *Client) update(ctx context.Context, ep string, p url.Values, idempotent bool) (UpdateResult, error) {
	if err := checkParams(ep, p); err != nil {
		return UpdateResult{}, err
	}
	var res UpdateResult
	err := c.call(ctx, ep, p, idempotent, false, func(body io.Reader) error {
		var err error
		res, err = decodeUpdate(c.format, ep, body)
		return err
	})
	if err != nil {
		return UpdateResult{}, err
	}
	return res, nil
}

// decodeCustomers reads a GET /customer reply.
func decodeCustomers(format string, body io.Reader) (CustomerPage, error) {
	root, _, err := decodeSmall(format, body)
	if err != nil {
		return CustomerPage{}, err
	}
	page := CustomerPage{Count: -1}
	for i, n := range root.list("customers", "customer") {
		cu := customerFrom(n)
		path := fmt.Sprintf("customers[%d]", i)
		if err := checkID(path+".id", cu.ID); err != nil {
			return CustomerPage{}, err
		}
		for j, cd := range cu.Cards {
			if cd.ID != "" {
				if err := checkID(fmt.Sprintf("%s.cards[%d].id", path, j), cd.ID); err != nil {
					return CustomerPage{}, err
				}
			}
		}
		page.Customers = append(page.Customers, cu)
	}
	if s := root.str("count"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			page.Count = n
		}
	}
	return page, nil
}

// decodeUpdate reads the reply of customer/update or a card call.
func decodeUpdate(format, ep string, body io.Reader) (UpdateResult, error) {
	root, _, err := decodeSmall(format, body)
	if err != nil {
		return UpdateResult{}, err
	}
	res := UpdateResult{ID: root.str("id")}
	// The seed documents no reply for the card calls: success=1 alone is
	// taken as done, and the card is found by uid or external_id next
	// time. An id that is there must be an id.
	if res.ID != "" || ep == EPCustomerUpdate {
		if err := checkID("id", res.ID); err != nil {
			return UpdateResult{}, err
		}
	}
	if res.IsNew, err = parseFlag("isnew", root.str("isnew")); err != nil {
		return UpdateResult{}, err
	}
	return res, nil
}
