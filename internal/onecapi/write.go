package onecapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Create POSTs a new object to entity (e.g. "Document_ЗаказКлиента") and
// returns it as 1C stored it (Ref_Key, Number, DataVersion, ...).
//
// A create is not idempotent in 1C, so it is never retried once the request
// may have reached the server: a timeout, a reset connection or a 502/504
// returns an error matching ErrOutcomeUnknown (errors.Is). The caller must
// then look the record up by its marker field (FindByField) before creating
// again. Only a failure to connect at all is retried.
func (c *Client) Create(ctx context.Context, entity string, body map[string]any) (Entity, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("onec: create %s: encode body: %w", entity, err)
	}
	resp, err := c.do(ctx, request{op: "create", entity: entity, method: http.MethodPost,
		url: c.entityURL(entity, "", query{"$format=json"}), body: raw,
		want: []int{http.StatusCreated, http.StatusOK}, mode: retryCreate})
	if err != nil {
		return nil, err
	}
	e, err := c.decodeOne("create", entity, resp)
	if err != nil {
		// 1C answered 201: the document exists, but we cannot read its key.
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	if !IsGUID(e.Key()) {
		return nil, fmt.Errorf("onec: create %s: %w: answer has no Ref_Key", entity, ErrOutcomeUnknown)
	}
	return e, nil
}

// Update PATCHes the object key of entity with body and returns the object
// as stored. Tabular sections present in body replace the stored ones whole
// (1C semantics); absent fields keep their values. When dataVersion is not
// empty it is sent as If-Match, and a concurrent change in 1C yields a 412
// (IsConflict). Update is retried on transient failures; note that a retry
// after a lost answer to an If-Match update reports 412, since the first
// attempt changed DataVersion: re-read before deciding.
func (c *Client) Update(ctx context.Context, entity, key, dataVersion string, body map[string]any) (Entity, error) {
	if !IsGUID(key) {
		return nil, fmt.Errorf("onec: update %s: key %q is not a GUID", entity, key)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("onec: update %s: encode body: %w", entity, err)
	}
	resp, err := c.do(ctx, request{op: "update", entity: entity, method: http.MethodPatch,
		url: c.entityURL(entity, keyPath(key), query{"$format=json"}), body: raw, ifMatch: dataVersion,
		want: []int{http.StatusOK, http.StatusNoContent}, mode: retryIdempotent})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		drainClose(resp.Body)
		return Entity{"Ref_Key": key}, nil
	}
	return c.decodeOne("update", entity, resp)
}

// Post posts the document key in non-operational mode
// (POST <entity>(guid'key')/Post?PostingModeOperational=false). A posting
// failure (HTTP 500, code -1; IsPostingFailed) leaves the document saved but
// unposted and is not retried here: report it and post again later. Posting
// an already posted document again is harmless, so transient failures are
// retried.
func (c *Client) Post(ctx context.Context, entity, key string) error {
	if !IsGUID(key) {
		return fmt.Errorf("onec: post %s: key %q is not a GUID", entity, key)
	}
	resp, err := c.do(ctx, request{op: "post", entity: entity, method: http.MethodPost,
		url:  c.entityURL(entity, keyPath(key)+"/Post", query{"PostingModeOperational=false", "$format=json"}),
		mode: retryIdempotent})
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// FindByField returns the first object of entity whose field equals value
// (a string field, e.g. the order key in НомерПоДаннымКлиента, or a
// reference field ending in _Key given a GUID), and whether
// one exists. Call it before every create. When several match (someone
// created twice by hand), the one first by Ref_Key order is returned and a
// warning logged.
func (c *Client) FindByField(ctx context.Context, entity, field, value string) (Entity, bool, error) {
	var found []Entity
	u := c.entityURL(entity, "", c.readQuery(nil, FieldEq(field, value), "Ref_Key", 2, 0, false))
	resp, err := c.do(ctx, request{op: "find", entity: entity, method: http.MethodGet, url: u,
		want: []int{http.StatusOK}, mode: retryIdempotent})
	if err != nil {
		return nil, false, err
	}
	_, err = decodeValues(&capped{r: resp.Body, max: c.maxBody}, func(dec *json.Decoder) error {
		var e Entity
		if err := dec.Decode(&e); err != nil {
			return err
		}
		found = append(found, e)
		return nil
	})
	drainClose(resp.Body)
	if err != nil {
		return nil, false, c.decodeErr("find", entity, resp.StatusCode, err)
	}
	if len(found) == 0 {
		return nil, false, nil
	}
	if len(found) > 1 {
		c.log.WarnContext(ctx, "onec: several objects share a marker value", "entity", entity, "field", field,
			"first", found[0].Key(), "second", found[1].Key())
	}
	return found[0], true, nil
}

// decodeOne reads one entity body (1C answers a write with the object).
func (c *Client) decodeOne(op, entity string, resp *http.Response) (Entity, error) {
	defer drainClose(resp.Body)
	hr := &headReader{r: &capped{r: resp.Body, max: c.maxBody}}
	dec := json.NewDecoder(hr)
	dec.UseNumber()
	var e Entity
	if err := dec.Decode(&e); err != nil {
		return nil, &DecodeError{Op: op, Entity: entity, Status: resp.StatusCode, Snippet: c.bodySnippet(hr.head), Err: err}
	}
	return e, nil
}
