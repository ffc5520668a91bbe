package onecapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// Two runs of change detection against a fake 1C: the first run offers
// everything, the caller stores Versions, the second offers only what
// changed in between.
func ExampleClient_Changes() {
	fake := onectest.New(onectest.Options{User: "sync", Password: "pw"})
	if err := fake.Load(onectest.DemoSeed(10, 0, 1, 1)); err != nil {
		panic(err)
	}
	hs := httptest.NewServer(fake)
	defer hs.Close()

	c, err := onecapi.New(onecapi.Config{BaseURL: hs.URL + onectest.PublicationPath, User: "sync", Password: "pw"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	q := onecapi.ChangeQuery{Entity: onectest.SetPartners, Select: []string{"Description"}}

	first, err := c.Changes(ctx, q, nil) // nothing stored yet
	if err != nil {
		panic(err)
	}
	fmt.Println("first run:", len(first.Records) == len(first.Versions), len(first.Deleted))

	key := first.Records[0].Key()
	if _, err := fake.Update(onectest.SetPartners, key, onectest.Object{"Description": "Петрова Анна"}); err != nil {
		panic(err)
	}
	second, err := c.Changes(ctx, q, first.Versions) // what the caller stored
	if err != nil {
		panic(err)
	}
	fmt.Println("second run:", len(second.Records), second.Records[0].String("Description"))
	// Output:
	// first run: true 0
	// second run: 1 Петрова Анна
}

// A create whose answer is lost must not be repeated: look the marker up.
func ExampleClient_Create() {
	fake := onectest.New(onectest.Options{User: "sync", Password: "pw"})
	hs := httptest.NewServer(fake)
	defer hs.Close()
	c, _ := onecapi.New(onecapi.Config{BaseURL: hs.URL + onectest.PublicationPath, User: "sync", Password: "pw"})
	ctx := context.Background()

	body := map[string]any{"Date": "2026-06-07T10:14:42", "НомерПоДаннымКлиента": "vp-42"}
	fake.ResetAfterNextWrites(1)
	_, err := c.Create(ctx, onectest.SetOrders, body)
	if errors.Is(err, onecapi.ErrOutcomeUnknown) {
		doc, found, err := c.FindByField(ctx, onectest.SetOrders, "НомерПоДаннымКлиента", "vp-42")
		fmt.Println("found after lost answer:", found, err, doc.String("НомерПоДаннымКлиента"))
	}
	// Output:
	// found after lost answer: true <nil> vp-42
}
