package onec

import (
	"github.com/virtsync/virtsync/internal/retry"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Query selects what List reads.
type Query struct {
	// Entity is the entity set, e.g. "Catalog_Партнеры". Required.
	Entity string
	// Select lists the fields ($select); empty means all fields.
	Select []string
	// Filter is an OData $filter expression; empty means none.
	Filter string
	// OrderBy is the fixed $orderby that makes $skip paging stable. Default
	// "Ref_Key" (1C sorts it by presentation, which is still a total order
	// as long as it ends in a unique key).
	OrderBy string
	// PageSize overrides Config.PageSize for this query.
	PageSize int
}

// List reads every entity matching q, page by page, and calls fn for each,
// in server order. A key seen twice (an insert before the current offset
// shifts later rows by one) is passed to fn only once. Paging stops on the
// first short page; odata.nextLink is ignored. A 5xx on a page halves the
// page size (down to Config.MinPageSize) and asks for the same offset again.
// An error from fn stops the listing and is returned as is.
//
// Entities without Ref_Key (registers) are not de-duplicated.
func (c *Client) List(ctx context.Context, q Query, fn func(Entity) error) error {
	if q.Entity == "" {
		return errors.New("onec: list: entity is required")
	}
	order := q.OrderBy
	if order == "" {
		order = "Ref_Key"
	}
	seen := make(map[string]struct{})
	urlFor := func(top, skip int) string {
		return c.entityURL(q.Entity, "", c.readQuery(q.Select, q.Filter, order, top, skip))
	}
	return c.pages(ctx, "list", q.Entity, q.PageSize, urlFor, func(dec *json.Decoder) error {
		var e Entity
		if err := dec.Decode(&e); err != nil {
			return err
		}
		if k, ok := e["Ref_Key"].(string); ok {
			if _, dup := seen[k]; dup {
				return nil
			}
			seen[k] = struct{}{}
		}
		return fn(e)
	})
}

// readQuery builds the options of a collection read, in a fixed order.
func (c *Client) readQuery(sel []string, filter, order string, top, skip int) query {
	q := query{"$format=json"}
	if len(sel) > 0 {
		q.add("$select", strings.Join(sel, ","))
	}
	if filter != "" {
		q.add("$filter", filter)
	}
	if order != "" {
		q.add("$orderby", order)
	}
	if top > 0 {
		q.add("$top", itoa(top))
	}
	if skip > 0 {
		q.add("$skip", itoa(skip))
	}
	q = append(q, "allowedOnly=true")
	return q
}

// pages drives $top/$skip paging. each is called with the decoder positioned
// at one element of "value" and must consume exactly that element.
func (c *Client) pages(ctx context.Context, op, entity string, pageSize int, urlFor func(top, skip int) string, each func(*json.Decoder) error) error {
	size := pageSize
	if size <= 0 {
		size = c.cfg.PageSize
	}
	floor := min(c.cfg.MinPageSize, size)
	skip, fails := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("onec: %s %s: %w", op, entity, err)
		}
		resp, err := c.do(ctx, request{op: op, entity: entity, method: http.MethodGet,
			url: urlFor(size, skip), want: []int{http.StatusOK}, mode: retryPage})
		var n int
		if err == nil {
			n, err = decodeValues(resp.Body, each)
			drainClose(resp.Body)
			if err != nil {
				err = c.decodeErr(op, entity, resp.StatusCode, err)
			}
		}
		if err != nil {
			if !c.pageRetryable(err) || fails+1 >= c.cfg.Retry.MaxAttempts {
				return err
			}
			fails++
			next := max(size/2, floor)
			c.log.WarnContext(ctx, "onec: page failed, retrying smaller", "op", op, "entity", entity,
				"skip", skip, "page_size", size, "next_page_size", next, "err", err)
			if err := retry.Sleep(ctx, c.backoff(fails, 0)); err != nil {
				return fmt.Errorf("onec: %s %s: %w", op, entity, err)
			}
			size = next
			continue
		}
		fails = 0
		skip += n
		if n < size {
			return nil
		}
	}
}

// pageRetryable: any 5xx (1C workers crash on large pages) and a body cut
// short. Syntax errors and errors from the callback are final.
func (c *Client) pageRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return errors.Is(de.Err, io.ErrUnexpectedEOF)
	}
	return false
}

func (c *Client) decodeErr(op, entity string, status int, err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		de.Op, de.Entity, de.Status = op, entity, status
		de.Snippet = c.scrub(de.Snippet)
		return de
	}
	var ce callbackError
	if errors.As(err, &ce) {
		return ce.err
	}
	return &DecodeError{Op: op, Entity: entity, Status: status, Err: err}
}

// callbackError carries an error of the caller's fn through decodeValues
// untouched.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// headReader remembers the first bytes read, for error messages.
type headReader struct {
	r    io.Reader
	head []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if room := 200 - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// decodeValues streams {"...":..., "value":[...], ...}: it calls each once
// per element of "value" with the decoder positioned at it, and skips other
// members. It returns how many elements it saw.
func decodeValues(r io.Reader, each func(*json.Decoder) error) (int, error) {
	hr := &headReader{r: r}
	dec := json.NewDecoder(hr)
	dec.UseNumber()
	n, err := decodeValuesDec(dec, each)
	if err != nil {
		var ce callbackError
		if errors.As(err, &ce) {
			return n, err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return n, &DecodeError{Err: err, Snippet: snippet(bytes.TrimPrefix(hr.head, utf8BOM), 120)}
	}
	return n, nil
}

func decodeValuesDec(dec *json.Decoder, each func(*json.Decoder) error) (int, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return 0, err
	}
	n, found := 0, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n, err
		}
		key, _ := tok.(string)
		if key != "value" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return n, err
			}
			continue
		}
		found = true
		if err := expectDelim(dec, '['); err != nil {
			return n, err
		}
		for dec.More() {
			if err := each(dec); err != nil {
				var se *json.SyntaxError
				var ute *json.UnmarshalTypeError
				if errors.As(err, &se) || errors.As(err, &ute) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					return n, err
				}
				return n, callbackError{err}
			}
			n++
		}
		if err := expectDelim(dec, ']'); err != nil {
			return n, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return n, err
	}
	if !found {
		return n, errors.New(`no "value" array`)
	}
	return n, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, got %v", want, tok)
	}
	return nil
}

// Count returns the number of entities matching filter, via /$count.
func (c *Client) Count(ctx context.Context, entity, filter string) (int, error) {
	var q query
	if filter != "" {
		q.add("$filter", filter)
	}
	q = append(q, "allowedOnly=true")
	resp, err := c.do(ctx, request{op: "count", entity: entity, method: http.MethodGet,
		url: c.entityURL(entity, "/$count", q), want: []int{http.StatusOK}, mode: retryIdempotent})
	if err != nil {
		return 0, err
	}
	defer drainClose(resp.Body)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("onec: count %s: read body: %w", entity, err)
	}
	s := string(bytes.TrimSpace(bytes.TrimPrefix(raw, utf8BOM)))
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &DecodeError{Op: "count", Entity: entity, Status: resp.StatusCode, Snippet: c.scrub(snippet(raw, 60)),
			Err: errors.New("not a number")}
	}
	return n, nil
}
