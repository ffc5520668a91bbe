package sinkvp

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// Dry runs (engine.Planner). A plan reads virtpos with GET /customer only
// and never calls customer/update or the card calls. It compares what the
// map would send with what virtpos holds, parameter by parameter after
// normalising both sides, and names the parameters that differ, never
// their values.

// CustomerReader reads virtpos customers: by id, by external_id, with
// their cards. *virtposapi.Client has it. A Client without it plans
// customers by their external_id alone and cards without reading them.
type CustomerReader interface {
	Customers(ctx context.Context, q virtposapi.CustomerQuery) (virtposapi.CustomerPage, error)
}

// Parameters that steer a call rather than hold a value virtpos keeps.
var control = map[string]bool{"id": true, "card_id": true, "create_if_not_exist": true, "apikey": true, "format": true}

// PreparePlan implements engine.Planner: the mapper's prefetch, and no
// bulk adoption (its listing is kept in the state store).
func (h *Customers) PreparePlan(ctx context.Context, _ *engine.RunInfo) error {
	return h.Mapper.Prepare(ctx)
}

// Plan implements engine.Planner.
func (h *Customers) Plan(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Planned, error) {
	if rec.Deleted || rec.Marked {
		return engine.Planned{Action: engine.ActionSkip,
			Reason: "deleted or marked for deletion in 1C; virtpos has no call to delete a customer, so it stays"}, nil
	}
	p, err := params(ctx, h.Mapper, virtsync.KindCustomer, rec)
	if err != nil {
		return engine.Planned{}, err
	}
	id, known, err := run.IDs.LookupID(ctx, virtsync.KindCustomer, rec.Key)
	if err != nil {
		return engine.Planned{}, err
	}
	var cu virtposapi.Customer
	found := false
	if r, ok := h.Client.(CustomerReader); ok && known {
		// Apply updates by this id; one gone from virtpos is looked up
		// again by external_id, as below.
		if cu, found, err = readCustomer(ctx, r, virtposapi.CustomerQuery{ID: id}); err != nil {
			return engine.Planned{}, fmt.Errorf("customer %s: %w", rec.Key, err)
		}
	}
	if !found {
		if cu, found, err = h.Client.FindCustomerByExternalID(ctx, rec.Key); err != nil {
			return engine.Planned{}, fmt.Errorf("customer %s: %w", rec.Key, err)
		}
	}
	if !found {
		return engine.Planned{Action: engine.ActionCreate}, nil
	}
	differ, unread := diff(p, func(param string) (string, bool) { return customerValue(cu, param) })
	return changes(differ, unread, cu.ID), nil
}

// customerValue is what virtpos holds for a customer/update parameter;
// false when GET /customer does not return that parameter.
func customerValue(c virtposapi.Customer, param string) (string, bool) {
	switch param {
	case "external_id":
		return c.ExternalID, true
	case "fname":
		return c.FName, true
	case "lname":
		return c.LName, true
	case "mname":
		return c.MName, true
	case "email":
		return c.Email, true
	case "phone":
		return c.Phone, true
	case "gender":
		return c.Gender, true
	case "birth_day":
		return c.BirthDay, true
	case "birth_month":
		return c.BirthMonth, true
	case "birth_year":
		return c.BirthYear, true
	case "group_id":
		return c.GroupID, true
	case "group_name":
		return c.GroupName, true
	}
	v, ok := c.Extra[param]
	return v, ok
}

// PreparePlan implements engine.Planner.
func (h *Cards) PreparePlan(ctx context.Context, _ *engine.RunInfo) error {
	return h.Mapper.Prepare(ctx)
}

// Plan implements engine.Planner. virtpos returns cards only inside their
// owner's record, so a card is read through its owner; one without an
// owner, or not among its owner's cards, cannot be read, and its update
// lists every parameter the map sends.
func (h *Cards) Plan(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Planned, error) {
	id, known, err := run.IDs.LookupID(ctx, virtsync.KindCard, rec.Key)
	if err != nil {
		return engine.Planned{}, err
	}
	if !known {
		id = ""
	}
	if rec.Deleted || rec.Marked {
		if h.OnDelete == "block" {
			return engine.Planned{Action: engine.ActionBlock, RemoteID: id, Fields: []string{"status"}}, nil
		}
		return engine.Planned{Action: engine.ActionDelete, RemoteID: id}, nil
	}
	p, err := params(ctx, h.Mapper, virtsync.KindCard, rec)
	if err != nil {
		return engine.Planned{}, err
	}
	q := virtposapi.CustomerQuery{ID: p.Get("customer_id"), Cards: true}
	if q.ID == "" {
		q.ExternalID = p.Get("customer_external_id")
	}
	r, readable := h.Client.(CustomerReader)
	if !readable || q.ID == "" && q.ExternalID == "" {
		if known {
			return engine.Planned{Action: engine.ActionUpdate, RemoteID: id, Fields: sent(p),
				Reason: "fields not readable in virtpos: it returns cards only inside their owner's record, and this card has no owner"}, nil
		}
		return engine.Planned{Action: engine.ActionCreate,
			Reason: "virtpos cannot be asked about a card without an owner: if it has one with this uid or external_id, that one is updated"}, nil
	}
	owner, found, err := readCustomer(ctx, r, q)
	if err != nil {
		return engine.Planned{}, fmt.Errorf("card %s: read its owner: %w", rec.Key, err)
	}
	if !found {
		return engine.Planned{}, engine.HoldFor(virtsync.JobCustomers, "card %s: its owner is not in virtpos yet", rec.Key)
	}
	for _, c := range owner.Cards {
		// updateCard's own search: card_id, uid, external_id.
		if (known && c.ID == id) || (p.Get("uid") != "" && c.UID == p.Get("uid")) || c.ExternalID == rec.Key {
			differ, unread := diff(p, func(param string) (string, bool) { return cardValue(c, param) })
			return changes(differ, unread, c.ID), nil
		}
	}
	if known {
		return engine.Planned{Action: engine.ActionUpdate, RemoteID: id, Fields: sent(p),
			Reason: "fields not readable in virtpos: the card is not among its owner's cards there, so it would move to this owner"}, nil
	}
	return engine.Planned{Action: engine.ActionCreate}, nil
}

// readCustomer reads the customer q names (by id, else by external_id).
func readCustomer(ctx context.Context, r CustomerReader, q virtposapi.CustomerQuery) (virtposapi.Customer, bool, error) {
	page, err := r.Customers(ctx, q)
	if virtposapi.IsNotFound(err) {
		return virtposapi.Customer{}, false, nil
	}
	if err != nil {
		return virtposapi.Customer{}, false, err
	}
	for _, c := range page.Customers {
		// Guard against a server that ignores the filter.
		if (q.ID != "" && c.ID == q.ID) || (q.ID == "" && c.ExternalID == q.ExternalID) {
			return c, true, nil
		}
	}
	return virtposapi.Customer{}, false, nil
}

// cardValue is what virtpos holds for an updateCard parameter; false when
// a card's record does not return it.
func cardValue(c virtposapi.Card, param string) (string, bool) {
	switch param {
	case "uid":
		return c.UID, true
	case "external_id":
		return c.ExternalID, true
	case "card_barcode", "barcode":
		return c.Barcode, true
	case "uid_ean13":
		return c.UIDEAN13, true
	case "medium":
		return c.Medium, true
	case "status":
		return c.Status, true
	case "type_id":
		return c.TypeID, true
	case "type_name":
		return c.TypeName, true
	case "customer_id":
		return c.CustomerID, true
	case "customer_external_id":
		// The card was found among this owner's cards.
		return "", false
	}
	return "", false
}

// diff compares the parameters a call would send with what virtpos holds
// (have): the names whose values differ, and those virtpos does not
// return, so they could not be compared. customer_external_id names the
// owner the card was read through and is never a difference.
func diff(p url.Values, have func(param string) (string, bool)) (differ, unread []string) {
	for _, k := range sent(p) {
		v, ok := have(k)
		if !ok {
			if k != "customer_external_id" {
				unread = append(unread, k)
			}
			continue
		}
		if normalise(k, p.Get(k)) != normalise(k, v) {
			differ = append(differ, k)
		}
	}
	return differ, unread
}

// changes is the plan of a record virtpos has: an update of the
// parameters that differ, or unchanged.
func changes(differ, unread []string, remoteID string) engine.Planned {
	out := engine.Planned{Action: engine.ActionUnchanged, RemoteID: remoteID}
	if len(differ) > 0 {
		out.Action, out.Fields = engine.ActionUpdate, differ
	}
	if len(unread) > 0 {
		out.Reason = "not readable in virtpos, so not compared: " + strings.Join(unread, ", ")
	}
	return out
}

// sent lists the parameters of p that hold a value virtpos keeps, sorted.
func sent(p url.Values) []string {
	var out []string
	for k := range p {
		if !control[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// normalise puts a value as virtpos may store it and as the map sends it
// into one form: a phone's digits (8... and +7... alike), an email in
// lower case, a number without leading zeros, a code in upper case, and
// any text with its spaces collapsed.
func normalise(param, v string) string {
	v = strings.Join(strings.Fields(v), " ")
	switch param {
	case "phone":
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, v)
		if len(d) == 11 && d[0] == '8' {
			d = "7" + d[1:]
		}
		return d
	case "email":
		return strings.ToLower(v)
	case "birth_day", "birth_month", "birth_year", "group_id", "type_id", "customer_id":
		if t := strings.TrimLeft(v, "0"); t != "" || v == "" {
			return t
		}
		return "0"
	case "gender", "status", "medium":
		return strings.ToUpper(v)
	}
	return v
}
