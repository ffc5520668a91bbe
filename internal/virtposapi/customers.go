package virtposapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

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
