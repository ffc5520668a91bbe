package sinkvp

import (
	"context"
	"errors"
	"strings"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// Cards is the handler of the cards job. Cards need no look-up before a
// create: updateCard with create_if_not_exist=1 finds the card by uid or
// external_id itself, so a repeated call updates instead of duplicating.
type Cards struct {
	Client Client
	Mapper Mapper
	// OnDelete is "delete" (default: deleteCard) or "block" (status
	// BLOCKED, the card stays in virtpos's history).
	OnDelete string
}

// Prepare implements engine.Handler.
func (h *Cards) Prepare(ctx context.Context, _ *engine.RunInfo) error { return h.Mapper.Prepare(ctx) }

// Apply implements engine.Handler.
// An id virtpos hands to two cards is caught by the engine before it
// commits (engine.IDConflictError).
func (h *Cards) Apply(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Outcome, error) {
	out, err := h.apply(ctx, run, rec)
	if err != nil {
		return engine.Outcome{}, err
	}
	return out, nil
}

func (h *Cards) apply(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Outcome, error) {
	id, known, err := run.IDs.LookupID(ctx, virtsync.KindCard, rec.Key)
	if err != nil {
		return engine.Outcome{}, err
	}
	if rec.Deleted || rec.Marked {
		return h.remove(ctx, rec, id, known)
	}
	p, err := params(ctx, h.Mapper, virtsync.KindCard, rec)
	if err != nil {
		return engine.Outcome{}, err
	}
	p.Set("create_if_not_exist", "1")
	p.Del("card_id")
	if known {
		p.Set("card_id", id)
	}
	res, err := h.Client.UpdateCard(ctx, p)
	if err != nil {
		// The owner is not in virtpos yet (the customers job has not pushed
		// it): the card waits for it instead of becoming a dead letter.
		if (p.Get("customer_id") != "" || p.Get("customer_external_id") != "") && ownerMissing(err) {
			return engine.Outcome{}, engine.HoldFor(virtsync.JobCustomers, "card %s: its owner is not in virtpos yet (%v)", rec.Key, err)
		}
		return engine.Outcome{}, rejectOrStop(virtsync.KindCard, rec.Key, err)
	}
	r := virtsync.Updated
	if res.IsNew {
		r = virtsync.Created
	}
	// A reply without an id (the seed documents none for card calls)
	// leaves the id map as it is: the card is found by uid or external_id
	// next time.
	remote := res.ID
	if remote == "" && known {
		remote = id
	}
	return engine.Outcome{Result: r, RemoteID: remote, Fingerprint: Fingerprint(run.FingerprintKey, p),
		Events: []virtsync.Payload{virtsync.CardUpserted{
			ExternalID: rec.Key, VirtposID: remote, UID: p.Get("uid"), Created: res.IsNew}}}, nil
}

func (h *Cards) remove(ctx context.Context, rec engine.Record, id string, known bool) (engine.Outcome, error) {
	why := virtsync.ReasonDeleted
	if rec.Marked {
		why = virtsync.ReasonMarked
	}
	if h.OnDelete == "block" {
		p := map[string][]string{"external_id": {rec.Key}, "status": {"BLOCKED"}}
		if known {
			p["card_id"] = []string{id}
		}
		res, err := h.Client.UpdateCard(ctx, p)
		if err != nil {
			if virtposapi.IsNotFound(err) {
				return engine.Outcome{Result: virtsync.Skipped, ForgetID: true}, nil
			}
			return engine.Outcome{}, rejectOrStop(virtsync.KindCard, rec.Key, err)
		}
		remote := res.ID
		if remote == "" && known {
			remote = id
		}
		return engine.Outcome{Result: virtsync.Deleted, RemoteID: remote, Events: []virtsync.Payload{virtsync.CardDeleted{
			ExternalID: rec.Key, VirtposID: remote, Action: virtsync.CardActionBlocked, Reason: why}}}, nil
	}
	k := virtposapi.CardKey{Field: "external_id", Value: rec.Key}
	if known {
		k = virtposapi.CardKey{Field: "card_id", Value: id}
	}
	if err := h.Client.DeleteCard(ctx, k); err != nil {
		// Already gone in virtpos (deleted by hand, or a crash after the
		// call): the wanted state is reached.
		if !virtposapi.IsNotFound(err) {
			return engine.Outcome{}, rejectOrStop(virtsync.KindCard, rec.Key, err)
		}
	}
	return engine.Outcome{Result: virtsync.Deleted, ForgetID: true, Events: []virtsync.Payload{virtsync.CardDeleted{
		ExternalID: rec.Key, VirtposID: id, Action: virtsync.CardActionDeleted, Reason: why}}}, nil
}

// ownerMissing reports a rejection because the card's customer is unknown.
func ownerMissing(err error) bool {
	var ae *virtposapi.APIError
	if !virtposapi.IsNotFound(err) || !errors.As(err, &ae) {
		return false
	}
	s := strings.ToLower(ae.Info)
	return strings.Contains(s, "customer") || strings.Contains(s, "клиент") || strings.Contains(s, "покупател")
}
