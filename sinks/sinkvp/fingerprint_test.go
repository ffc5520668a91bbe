package sinkvp_test

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/virtsync/virtsync/sinks/sinkvp"
)

var fpKey = []byte("0123456789abcdef0123456789abcdef")

// TestCustomerFingerprint: Apply's outcome carries the keyed fingerprint
// of the parameters it sent, the same for a create and the update that
// follows, another for another value or another key; Preview gives the
// same fingerprint without sending anything, and names, not values.
func TestCustomerFingerprint(t *testing.T) {
	e := newEnv(t)
	e.run.FingerprintKey = fpKey
	h := customersHandler(e)
	ctx := context.Background()

	rec := custRec("Петров Иван", "ivan@example.ru")
	created, err := h.Apply(ctx, e.run, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Fingerprint) != 32 {
		t.Fatalf("fingerprint = %q, want 32 hex digits", created.Fingerprint)
	}
	e.putID(t, "customer", custKey, created.RemoteID)
	before := e.totalRequests()
	names, fp, err := h.Preview(ctx, fpKey, rec)
	if err != nil {
		t.Fatal(err)
	}
	if e.totalRequests() != before {
		t.Error("Preview called virtpos")
	}
	if fp != created.Fingerprint {
		t.Errorf("Preview fingerprint %s, Apply's %s", fp, created.Fingerprint)
	}
	if want := []string{"email", "external_id", "fname", "lname"}; !slices.Equal(names, want) {
		t.Errorf("Preview names = %v, want %v", names, want)
	}
	updated, err := h.Apply(ctx, e.run, rec)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Fingerprint != created.Fingerprint {
		t.Errorf("the update of the same values hashed %s, the create %s: id and create_if_not_exist must not count",
			updated.Fingerprint, created.Fingerprint)
	}
	// The parameters were sent as they were hashed, control ones apart.
	sent := e.sentTo("/customer/update")
	last := sent[len(sent)-1]
	if sinkvp.Fingerprint(fpKey, last) != created.Fingerprint {
		t.Error("the fingerprint is not of the parameters sent")
	}

	_, changed, err := h.Preview(ctx, fpKey, custRec("Петров Иван", "ivan.petrov@example.ru"))
	if err != nil {
		t.Fatal(err)
	}
	if changed == fp {
		t.Error("another e-mail, the same fingerprint")
	}
	if _, other, _ := h.Preview(ctx, []byte("another key"), rec); other == fp {
		t.Error("another key, the same fingerprint: it must be keyed")
	}
	if sinkvp.Fingerprint(nil, url.Values{"phone": {"+79001234567"}}) != "" {
		t.Error("without a key there must be no fingerprint")
	}
}

func TestCardFingerprint(t *testing.T) {
	e := newEnv(t)
	e.run.FingerprintKey = fpKey
	h := cardsHandler(e, "")
	ctx := context.Background()
	out, err := h.Apply(ctx, e.run, cardRec("Действует"))
	if err != nil {
		t.Fatal(err)
	}
	names, fp, err := h.Preview(ctx, fpKey, cardRec("Действует"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Fingerprint == "" || fp != out.Fingerprint {
		t.Errorf("Apply fingerprint %q, Preview's %q", out.Fingerprint, fp)
	}
	if want := []string{"external_id", "medium", "status", "type_name", "uid"}; !slices.Equal(names, want) {
		t.Errorf("Preview names = %v, want %v", names, want)
	}
	if _, blocked, _ := h.Preview(ctx, fpKey, cardRec("НеДействует")); blocked == fp {
		t.Error("another status, the same fingerprint")
	}
	e.run.FingerprintKey = nil
	if out, err := h.Apply(ctx, e.run, cardRec("Действует")); err != nil || out.Fingerprint != "" {
		t.Errorf("no key: fingerprint %q, %v; want none", out.Fingerprint, err)
	}
}
