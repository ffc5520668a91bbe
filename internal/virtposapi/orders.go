package virtposapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
