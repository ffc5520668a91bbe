package sinkvp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
	"github.com/virtsync/virtsync/sinks/sinkvp"
)

const (
	cardKey = "5a6b7c8d-0000-4000-8000-00000000c0de"
	cardUID = "2000100000001"
)

// cardMap maps a loyalty card the ut11 way, simplified.
func cardMap(_ context.Context, rec engine.Record) (url.Values, error) {
	e := rec.Data.(onecapi.Entity)
	p := url.Values{"uid": {e.String("Штрихкод")}, "medium": {"PLASTIC"}, "type_name": {"Дисконтная 5%"}}
	switch e.String("Статус") {
	case "Действует":
		p.Set("status", "ACTIVE")
	case "НеДействует":
		p.Set("status", "BLOCKED")
	default:
		p.Set("status", e.String("Статус")) // passed through: lets a test send a bad value
	}
	if o := e.String("Партнер_Key"); o != "" {
		p.Set("customer_external_id", o)
	}
	p.Set("card_id", "777") // stray: the handler decides card_id itself
	return p, nil
}

func cardRec(status string) engine.Record {
	return engine.Record{Key: cardKey, Version: "v", Data: onecapi.Entity{"Ref_Key": cardKey, "Штрихкод": cardUID, "Статус": status}}
}

func cardsHandler(e *env, onDelete string) *sinkvp.Cards {
	return &sinkvp.Cards{Client: e.client, Mapper: &mapper{fn: cardMap}, OnDelete: onDelete}
}

// seedCard gives virtpos one card for cardKey (id 4).
func seedCard(t *testing.T, e *env) {
	t.Helper()
	e.seed(t, `{"cards":[{"id":"4","uid":"`+cardUID+`","external_id":"`+cardKey+`","status":"ACTIVE","medium":"PLASTIC"}]}`)
}

func TestCardsUpsertCreatesThenUpdates(t *testing.T) {
	e := newEnv(t)
	h := cardsHandler(e, "")
	ctx := context.Background()

	out, err := h.Apply(ctx, e.run, cardRec("Действует"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	card, ok := e.srv.Card(cardUID)
	if !ok || out.Result != virtsync.Created || out.RemoteID != card.ID {
		t.Fatalf("create outcome = %+v, card = %+v %v", out, card, ok)
	}
	if card.ExternalID != cardKey || card.Status != "ACTIVE" || card.TypeName != "Дисконтная 5%" || card.Medium != "PLASTIC" {
		t.Fatalf("card = %+v", card)
	}
	d := onlyEvent(t, out, "card", "upserted")
	if d["external_id"] != cardKey || d["virtpos_id"] != card.ID || d["uid"] != cardUID || d["created"] != true {
		t.Fatalf("event = %v", d)
	}

	// The engine commits the id; the next push sends it.
	e.putID(t, "card", cardKey, out.RemoteID)
	out2, err := h.Apply(ctx, e.run, cardRec("НеДействует"))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if out2.Result != virtsync.Updated || out2.RemoteID != card.ID {
		t.Fatalf("update outcome = %+v", out2)
	}
	if c, _ := e.srv.Card(cardUID); c.Status != "BLOCKED" {
		t.Fatalf("card after update = %+v", c)
	}
	c := e.srv.Counts()
	if c.CardsCreated != 1 || c.CardsUpdated != 1 || len(e.srv.Cards()) != 1 || c.CardTypesCreated != 1 {
		t.Fatalf("counts = %+v cards = %v", c, e.srv.Cards())
	}
	sent := e.sentTo(virtpostest.PathCardUpdate)
	if len(sent) != 2 {
		t.Fatalf("sent = %v", sent)
	}
	for i, p := range sent {
		if p.Get("create_if_not_exist") != "1" || p.Get("external_id") != cardKey {
			t.Fatalf("call %d params = %v", i, p)
		}
	}
	if sent[0].Has("card_id") {
		t.Fatalf("card_id sent before it was known (mapper's stray value leaked?): %v", sent[0])
	}
	if sent[1]["card_id"] == nil || len(sent[1]["card_id"]) != 1 || sent[1].Get("card_id") != card.ID {
		t.Fatalf("card_id not sent once known: %v", sent[1])
	}
}

func TestCardsOwnerAndRejection(t *testing.T) {
	const partner = "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		name     string
		seed     string
		status   string
		owner    string
		wantRej  bool
		wantHeld bool
		wantCID  string
		extra    url.Values
	}{
		{name: "owner by external id", seed: `{"customers":[{"id":"9","external_id":"` + partner + `"}]}`,
			status: "Действует", owner: partner, wantCID: "9"},
		// The customers job has not pushed the owner yet: the card waits.
		{name: "owner unknown in virtpos", status: "Действует", owner: partner, wantHeld: true},
		{name: "owner id unknown in virtpos", status: "Действует", extra: url.Values{"customer_id": {"99"}}, wantHeld: true},
		{name: "bad status", status: "SOMETIMES", wantRej: true},
		// "not found" about something else than the owner stays a rejection.
		{name: "unknown card type", status: "Действует", owner: partner, extra: url.Values{"type_id": {"3"}},
			seed: `{"customers":[{"id":"9","external_id":"` + partner + `"}]}`, wantRej: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.seed != "" {
				e.seed(t, tc.seed)
			}
			rec := cardRec(tc.status)
			if tc.owner != "" {
				rec.Data.(onecapi.Entity)["Партнер_Key"] = tc.owner
			}
			h := cardsHandler(e, "")
			h.Mapper = &mapper{fn: func(ctx context.Context, rec engine.Record) (url.Values, error) {
				p, err := cardMap(ctx, rec)
				for k, v := range tc.extra {
					p[k] = v
				}
				return p, err
			}}
			out, err := h.Apply(context.Background(), e.run, rec)
			var re *engine.RejectedError
			var he *engine.HeldError
			if tc.wantRej || tc.wantHeld {
				if errors.As(err, &re) != tc.wantRej || errors.As(err, &he) != tc.wantHeld {
					t.Fatalf("Apply = %+v, %v; want rejected=%v held=%v", out, err, tc.wantRej, tc.wantHeld)
				}
				if len(e.srv.Cards()) != 0 {
					t.Fatalf("card stored despite the rejection: %v", e.srv.Cards())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := e.srv.Card(cardUID); c.CustomerID != tc.wantCID {
				t.Fatalf("card owner = %q, want %q", c.CustomerID, tc.wantCID)
			}
		})
	}
}

func TestCardsMapperErrorsPassThrough(t *testing.T) {
	for _, want := range []error{engine.Hold("owner %s not synced", "p1"), engine.Reject(nil, "uid: empty")} {
		e := newEnv(t)
		h := &sinkvp.Cards{Client: e.client, Mapper: &mapper{fn: func(context.Context, engine.Record) (url.Values, error) { return nil, want }}}
		_, err := h.Apply(context.Background(), e.run, cardRec("Действует"))
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v wrapped", err, want)
		}
		if e.totalRequests() != 0 {
			t.Fatalf("requests = %v", e.srv.Counts().Requests)
		}
	}
}

func TestCardsDelete(t *testing.T) {
	tests := []struct {
		name      string
		inVirtpos bool   // the card still exists in virtpos
		mapID     string // id map entry ("" = none)
		marked    bool   // soft deletion instead of a physical one
		wantField string // key sent to deleteCard
		wantValue string
	}{
		{name: "known id", inVirtpos: true, mapID: "4", wantField: "card_id", wantValue: "4"},
		{name: "unknown id", inVirtpos: true, wantField: "external_id", wantValue: cardKey},
		{name: "marked", inVirtpos: true, mapID: "4", marked: true, wantField: "card_id", wantValue: "4"},
		{name: "already gone, known id", mapID: "4", wantField: "card_id", wantValue: "4"},
		{name: "already gone, unknown id", wantField: "external_id", wantValue: cardKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.inVirtpos {
				seedCard(t, e)
			}
			if tc.mapID != "" {
				e.putID(t, "card", cardKey, tc.mapID)
			}
			mapped := false
			h := &sinkvp.Cards{Client: e.client, OnDelete: "delete", Mapper: &mapper{fn: func(context.Context, engine.Record) (url.Values, error) {
				mapped = true
				return url.Values{}, nil
			}}}
			rec := engine.Record{Key: cardKey, Deleted: !tc.marked, Marked: tc.marked}
			out, err := h.Apply(context.Background(), e.run, rec)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if out.Result != virtsync.Deleted || !out.ForgetID {
				t.Fatalf("outcome = %+v, want deleted + ForgetID", out)
			}
			d := onlyEvent(t, out, "card", "deleted")
			if d["action"] != "deleted" || d["external_id"] != cardKey {
				t.Fatalf("event = %v", d)
			}
			if mapped {
				t.Fatal("a deletion must not need the mapper")
			}
			sent := e.sentTo(virtpostest.PathCardDelete)
			if len(sent) != 1 || sent[0].Get(tc.wantField) != tc.wantValue {
				t.Fatalf("deleteCard params = %v, want %s=%s", sent, tc.wantField, tc.wantValue)
			}
			wantDeleted := 0
			if tc.inVirtpos {
				wantDeleted = 1
			}
			if c := e.srv.Counts(); c.CardsDeleted != wantDeleted || len(e.srv.Cards()) != 0 {
				t.Fatalf("counts = %+v cards = %v", c, e.srv.Cards())
			}
		})
	}
}

func TestCardsDeleteRejectedIsNotSwallowed(t *testing.T) {
	e := newEnv(t)
	seedCard(t, e)
	e.setReject(func(path string, _ url.Values) (bool, string) {
		return path == virtpostest.PathCardDelete, "card has open transactions"
	})
	out, err := cardsHandler(e, "delete").Apply(context.Background(), e.run, engine.Record{Key: cardKey, Deleted: true})
	var re *engine.RejectedError
	if !errors.As(err, &re) || out.ForgetID {
		t.Fatalf("Apply = %+v, %v; want *RejectedError and the id kept", out, err)
	}
	if len(e.srv.Cards()) != 1 {
		t.Fatal("card gone despite the rejection")
	}
}

func TestCardsBlockOnDelete(t *testing.T) {
	tests := []struct {
		name       string
		inVirtpos  bool
		mapID      string
		wantRes    virtsync.Result
		wantForget bool
	}{
		{name: "known id", inVirtpos: true, mapID: "4", wantRes: virtsync.Deleted},
		{name: "unknown id", inVirtpos: true, wantRes: virtsync.Deleted},
		// Nothing left to block: never create a card just to block it.
		{name: "gone", mapID: "4", wantRes: virtsync.Skipped, wantForget: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.inVirtpos {
				seedCard(t, e)
			}
			if tc.mapID != "" {
				e.putID(t, "card", cardKey, tc.mapID)
			}
			out, err := cardsHandler(e, "block").Apply(context.Background(), e.run, engine.Record{Key: cardKey, Marked: true})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if out.Result != tc.wantRes || out.ForgetID != tc.wantForget {
				t.Fatalf("outcome = %+v", out)
			}
			c := e.srv.Counts()
			if c.CardsDeleted != 0 || c.CardsCreated != 0 || c.Requests[virtpostest.PathCardDelete] != 0 {
				t.Fatalf("counts = %+v", c)
			}
			sent := e.sentTo(virtpostest.PathCardUpdate)
			if len(sent) != 1 || sent[0].Get("status") != "BLOCKED" || sent[0].Has("create_if_not_exist") ||
				sent[0].Get("external_id") != cardKey || sent[0].Get("card_id") != tc.mapID {
				t.Fatalf("updateCard params = %v", sent)
			}
			if !tc.inVirtpos {
				if len(e.srv.Cards()) != 0 {
					t.Fatalf("cards = %v", e.srv.Cards())
				}
				return
			}
			card, ok := e.srv.Card(cardUID)
			if !ok || card.Status != "BLOCKED" || card.ID != "4" {
				t.Fatalf("card = %+v %v, want it kept and BLOCKED", card, ok)
			}
			if out.RemoteID != "4" {
				t.Fatalf("RemoteID = %q", out.RemoteID)
			}
			d := onlyEvent(t, out, "card", "deleted")
			if d["action"] != "blocked" || d["reason"] != "marked" {
				t.Fatalf("event = %v", d)
			}
		})
	}
}

// A card deleted by hand in virtpos while the id map still has its id is
// created again by the upsert, never left missing.
func TestCardsStaleIDRecreated(t *testing.T) {
	e := newEnv(t)
	e.putID(t, "card", cardKey, "404")
	out, err := cardsHandler(e, "").Apply(context.Background(), e.run, cardRec("Действует"))
	if err != nil {
		t.Fatal(err)
	}
	card, ok := e.srv.Card(cardUID)
	if !ok || out.Result != virtsync.Created || out.RemoteID != card.ID || card.ID == "404" {
		t.Fatalf("outcome = %+v card = %+v", out, card)
	}
	if sent := e.sentTo(virtpostest.PathCardUpdate); len(sent) != 1 || sent[0].Get("card_id") != "404" {
		t.Fatalf("sent = %v", sent)
	}
}

// A mapper may have nothing to say beyond the key (nil values): the
// handlers still push the record instead of panicking in a worker.
func TestNilMappedValues(t *testing.T) {
	e := newEnv(t)
	nilMap := &mapper{fn: func(context.Context, engine.Record) (url.Values, error) { return nil, nil }}
	cust := &sinkvp.Customers{Client: e.client, Mapper: nilMap}
	out, err := cust.Apply(context.Background(), e.run, custRec("", ""))
	if err != nil || out.Result != virtsync.Created {
		t.Fatalf("customer: %+v, %v", out, err)
	}
	if _, ok := e.srv.Customer(custKey); !ok {
		t.Fatal("customer not created")
	}
	cards := &sinkvp.Cards{Client: e.client, Mapper: nilMap}
	_, err = cards.Apply(context.Background(), e.run, cardRec("Действует"))
	// No uid: virtpos refuses the card; a rejection, not a panic.
	var re *engine.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("card: %v", err)
	}
}

// A card call answered with success=1 alone (the seed documents no reply
// for card calls) is done, and leaves the id map as it was.
func TestCardsReplyWithoutID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"success":1}`)
	}))
	defer srv.Close()
	c, err := virtposapi.New(virtposapi.Config{BaseURL: srv.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		known  string // id in the id map
		wantID string
	}{
		{"a new card: no id to map", "", ""},
		{"a known card keeps its id", "4", "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.known != "" {
				e.putID(t, "card", cardKey, tc.known)
			}
			h := &sinkvp.Cards{Client: c, Mapper: &mapper{fn: cardMap}}
			out, err := h.Apply(context.Background(), e.run, cardRec("Действует"))
			if err != nil {
				t.Fatal(err)
			}
			if out.Result != virtsync.Updated || out.RemoteID != tc.wantID || out.ForgetID {
				t.Fatalf("outcome %+v, want updated with remote id %q", out, tc.wantID)
			}
			if d := onlyEvent(t, out, "card", "upserted"); d["virtpos_id"] != tc.wantID || d["created"] != false {
				t.Fatalf("event %v", d)
			}
		})
	}
}
