package virtposapi

import (
	"context"
	"fmt"
	"io"
	"net/url"
)

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
