package sink1c_test

import (
	"context"
	"testing"
)

// TestOrderFingerprint: the outcome carries a keyed fingerprint of the
// document body: the same order hashes alike on its update, a changed
// order does not, and without a key there is none.
func TestOrderFingerprint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.run.FingerprintKey = []byte("0123456789abcdef0123456789abcdef")
	created, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Fingerprint) != 32 {
		t.Fatalf("fingerprint = %q, want 32 hex digits", created.Fingerprint)
	}
	e.putID(t, "order", orderKey, created.RemoteID)
	same, err := e.h.Apply(ctx, e.run, orderRec(seedOrder()))
	if err != nil {
		t.Fatal(err)
	}
	if same.Fingerprint != created.Fingerprint {
		t.Errorf("the same order hashed %s, then %s", created.Fingerprint, same.Fingerprint)
	}
	o := seedOrder()
	o.Comment = "не звонить"
	changed, err := e.h.Apply(ctx, e.run, orderRec(o))
	if err != nil {
		t.Fatal(err)
	}
	if changed.Fingerprint == created.Fingerprint || changed.Fingerprint == "" {
		t.Errorf("a changed comment hashed %q, as before (%s)", changed.Fingerprint, created.Fingerprint)
	}
	e.run.FingerprintKey = []byte("another key")
	if other, err := e.h.Apply(ctx, e.run, orderRec(o)); err != nil || other.Fingerprint == changed.Fingerprint {
		t.Errorf("another key, the same fingerprint (%v)", err)
	}
	e.run.FingerprintKey = nil
	if none, err := e.h.Apply(ctx, e.run, orderRec(o)); err != nil || none.Fingerprint != "" {
		t.Errorf("no key: fingerprint %q, %v; want none", none.Fingerprint, err)
	}
}
