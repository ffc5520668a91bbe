package virtposapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
)

var customerFields = map[string]bool{"id": true, "external_id": true, "fname": true, "lname": true, "mname": true,
	"email": true, "phone": true, "gender": true, "birth_day": true, "birth_month": true, "birth_year": true,
	"group_id": true, "group_name": true, "cards": true}

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
