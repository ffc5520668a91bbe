package onecapi

import (
	"github.com/virtsync/virtsync/internal/retry"

	"bytes"
	"context"
	"crypto/sha256"
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
// Paging is bounded (see PagingError): a page that repeats an earlier one
// or adds no new key, or more rows than the collection counted, stops the
// listing with an error instead of looping.
//
// Entities without Ref_Key (registers) are not de-duplicated. List keeps
// the keys it passed on in memory; ListPages takes a KeySet for reads of
// millions of rows.
func (c *Client) List(ctx context.Context, q Query, fn func(Entity) error) error {
	return c.ListPages(ctx, q, newMemKeys(), func(page []Entity) error {
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListPages is List a page at a time, with keys remembering what was
// passed on: fn gets each page's entities whose key keys had not seen.
// Nothing of a page is passed on before the whole page has arrived, so a
// page that fails and is asked for again passes nothing twice.
func (c *Client) ListPages(ctx context.Context, q Query, keys KeySet, fn func([]Entity) error) error {
	if q.Entity == "" {
		return errors.New("onec: list: entity is required")
	}
	order := q.OrderBy
	if order == "" {
		order = "Ref_Key"
	}
	return pages(ctx, c, pageSpec{
		op: "list", entity: q.Entity, pageSize: q.PageSize,
		url: func(top, skip int, count bool) string {
			return c.entityURL(q.Entity, "", c.readQuery(q.Select, q.Filter, order, top, skip, count))
		},
		count: func(ctx context.Context) (int, error) { return c.Count(ctx, q.Entity, q.Filter) },
	}, keys, decodeEntity, fn)
}

// decodeEntity reads one entity; its key is Ref_Key, "" for registers.
func decodeEntity(dec *json.Decoder) (string, Entity, error) {
	var e Entity
	if err := dec.Decode(&e); err != nil {
		return "", nil, err
	}
	k, _ := e["Ref_Key"].(string)
	return k, e, nil
}

// KeySet remembers the keys a paged read has passed on. Mark adds keys and
// reports for each whether it is new; a key twice in one call is new only
// the first time. engine.Known's Mark, backed by the state store, is one: a
// sweep of millions of keys then costs no memory.
type KeySet interface {
	Mark(ctx context.Context, keys []string) ([]bool, error)
}

// memKeys is a KeySet in memory, for reads small enough to hold.
type memKeys map[string]struct{}

func newMemKeys() memKeys { return memKeys{} }

func (m memKeys) Mark(_ context.Context, keys []string) ([]bool, error) {
	fresh := make([]bool, len(keys))
	for i, k := range keys {
		if _, ok := m[k]; !ok {
			m[k] = struct{}{}
			fresh[i] = true
		}
	}
	return fresh, nil
}

// readQuery builds the options of a collection read, in a fixed order.
// count asks 1C to add the collection's size (odata.count) to the page.
func (c *Client) readQuery(sel []string, filter, order string, top, skip int, count bool) query {
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
	if count {
		q.add("$inlinecount", "allpages")
	}
	q = append(q, "allowedOnly=true")
	return q
}

// MaxResponseBytes bounds one 1C answer body (a page, a written object, a
// look-up). A larger page is asked for again at half the size, down to
// Config.MinPageSize; past that the read fails with ErrTooLarge. It keeps a
// misbehaving server (or proxy) from growing memory without end.
const MaxResponseBytes = 64 << 20

// MaxMetadataBytes bounds the $metadata document, which is streamed.
const MaxMetadataBytes = 256 << 20

// ErrTooLarge marks an answer body over MaxResponseBytes (or
// MaxMetadataBytes); the error names the entity and the $skip.
var ErrTooLarge = errors.New("answer body too large")

// pagingLogEvery is how many pages pass between two debug lines of a long
// sweep, so that it is visible without a line per page.
const pagingLogEvery = 10

// PagingError stops a listing whose pages do not add up: a publication
// that ignores $skip, a page of keys already seen, or more rows than the
// collection counted. Paging further would loop or grow memory without
// end.
type PagingError struct {
	Op, Entity string
	Skip       int // the $skip of the page that stopped it
	Reason     string
}

func (e *PagingError) Error() string {
	return fmt.Sprintf("onec: %s %s: %s", e.Op, e.Entity, e.Reason)
}

// pageSpec describes one paged read.
type pageSpec struct {
	op, entity string
	// pageSize is the first $top; 0 means Config.PageSize.
	pageSize int
	// url builds a page's URL; count asks for $inlinecount=allpages.
	url func(top, skip int, count bool) string
	// expect, when positive, is the most rows the read can match (a fetch
	// by keys); no count is asked for then.
	expect int
	// count asks /$count when a page came without odata.count.
	count func(ctx context.Context) (int, error)
}

// pageDigest identifies a page by its keys in order; "" when some row had
// no key (registers), so nothing can be compared.
func pageDigest(keys []string, rows int) string {
	if rows == 0 || len(keys) != rows {
		return ""
	}
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// pages drives $top/$skip paging. decode reads one element of "value"
// (the decoder is positioned at it) and returns its key ("" for rows
// without one) and the row. A page is delivered whole, after it arrived:
// the rows whose key keys had not seen, plus every row without a key.
func pages[T any](ctx context.Context, c *Client, sp pageSpec, keys KeySet,
	decode func(*json.Decoder) (string, T, error), deliver func([]T) error) error {
	op, entity := sp.op, sp.entity
	size := sp.pageSize
	if size <= 0 {
		size = c.cfg.PageSize
	}
	first := size
	floor := min(c.cfg.MinPageSize, size)
	digests := map[string]int{} // page digest -> $skip it was first seen at
	total := -1                 // rows 1C counted; -1 until known
	if sp.expect > 0 {
		total = sp.expect
	}
	// The page just read is remembered and delivered on a goroutine of
	// its own while the next one is fetched and decoded: the key set and
	// the caller (a state store, a diff) work while 1C answers, instead of
	// after. One page waits at most; an error there stops the paging.
	type page struct {
		rows       []T
		keys       []string
		skip, size int
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	work := make(chan page, 1)
	var workErr error
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		for pg := range work {
			if workErr != nil {
				continue // drain
			}
			if workErr = deliverPage(pctx, op, entity, keys, pg.rows, pg.keys, pg.skip, pg.size, deliver); workErr != nil {
				stop()
			}
		}
	}()
	finish := func(err error) error {
		close(work)
		<-worked
		if workErr != nil {
			return workErr
		}
		return err
	}
	var rows []T
	var rowKeys []string
	skip, fails, pageNo := 0, 0, 0
	for {
		if err := pctx.Err(); err != nil {
			return finish(fmt.Errorf("onec: %s %s: %w", op, entity, err))
		}
		rows, rowKeys = nil, nil
		resp, err := c.do(pctx, request{op: op, entity: entity, method: http.MethodGet,
			url: sp.url(size, skip, total < 0), want: []int{http.StatusOK}, mode: retryPage})
		var pi pageInfo
		if err == nil {
			body := &capped{r: resp.Body, max: c.maxBody}
			pi, err = decodeValues(body, func(dec *json.Decoder) error {
				k, row, err := decode(dec)
				if err != nil {
					return err
				}
				rows, rowKeys = append(rows, row), append(rowKeys, k)
				return nil
			})
			drainClose(resp.Body)
			if err != nil {
				err = c.decodeErr(op, entity, resp.StatusCode, err)
				if errors.Is(err, ErrTooLarge) {
					err = fmt.Errorf("onec: %s %s: the answer at $skip=%d (page size %d) is over %s: %w",
						op, entity, skip, size, byteSize(c.maxBody), ErrTooLarge)
				}
			}
		}
		if err != nil {
			if !c.pageRetryable(err) || fails+1 >= c.cfg.Retry.MaxAttempts {
				return finish(err)
			}
			fails++
			next := max(size/2, floor)
			c.log.WarnContext(ctx, "onec: page failed, retrying smaller", "op", op, "entity", entity,
				"skip", skip, "page_size", size, "next_page_size", next, "err", err)
			if err := retry.Sleep(pctx, c.backoff(fails, 0)); err != nil {
				return finish(fmt.Errorf("onec: %s %s: %w", op, entity, err))
			}
			size = next
			continue
		}
		fails = 0
		pageNo++
		n := pi.rows
		if total < 0 && pi.count >= 0 {
			total = pi.count
		}
		if d := pageDigest(rowKeys, n); d != "" {
			if at, ok := digests[d]; ok {
				return finish(&PagingError{Op: op, Entity: entity, Skip: skip, Reason: fmt.Sprintf(
					"1C returned the same %d keys at $skip=%d as at $skip=%d: the publication seems to ignore $skip", n, skip, at)})
			}
			digests[d] = skip
		}
		select {
		case work <- page{rows: rows, keys: rowKeys, skip: skip, size: size}:
		case <-pctx.Done():
			return finish(fmt.Errorf("onec: %s %s: %w", op, entity, pctx.Err()))
		}
		skip += n
		if pageNo%pagingLogEvery == 0 {
			c.log.DebugContext(ctx, "onec: paging", "op", op, "entity", entity, "pages", pageNo,
				"rows", skip, "counted", total)
		}
		if n < size {
			return finish(nil)
		}
		if total < 0 && sp.count != nil {
			// No odata.count on the page (an older platform, a proxy):
			// ask once, the listing goes on.
			if total, err = sp.count(pctx); err != nil {
				return finish(fmt.Errorf("onec: %s %s: count the collection to bound paging: %w", op, entity, err))
			}
		}
		// Rows inserted during the read legitimately push it past the
		// count; twice the count plus two pages does not happen without a
		// broken publication, and bounds requests.
		if limit := 2*max(total, 0) + 2*first; total >= 0 && skip > limit {
			return finish(&PagingError{Op: op, Entity: entity, Skip: skip, Reason: fmt.Sprintf(
				"1C sent %d rows by $skip=%d, but counted %d: over twice the count plus two pages; "+
					"the publication's paging seems broken", skip, skip, total)})
		}
	}
}

// deliverPage remembers a page's keys in keys and delivers the rows not
// passed on before (and every row without a key). A full page of keys
// all passed on before means paging does not progress.
func deliverPage[T any](ctx context.Context, op, entity string, keys KeySet, rows []T, rowKeys []string,
	skip, size int, deliver func([]T) error) error {
	marked := make([]string, 0, len(rowKeys))
	for _, k := range rowKeys {
		if k != "" {
			marked = append(marked, k)
		}
	}
	fresh, err := keys.Mark(ctx, marked)
	if err != nil {
		return fmt.Errorf("onec: %s %s: remember keys: %w", op, entity, err)
	}
	newKeys := 0
	for _, f := range fresh {
		if f {
			newKeys++
		}
	}
	n := len(rows)
	if n >= size && len(marked) == n && newKeys == 0 {
		return &PagingError{Op: op, Entity: entity, Skip: skip, Reason: fmt.Sprintf(
			"the page at $skip=%d has %d keys and every one was on an earlier page: paging does not progress", skip, n)}
	}
	if newKeys < len(marked) {
		// Drop rows already passed on, keeping rows without a key.
		kept, f := rows[:0], 0
		for i, row := range rows {
			if rowKeys[i] != "" {
				ok := fresh[f]
				f++
				if !ok {
					continue
				}
			}
			kept = append(kept, row)
		}
		rows = kept
	}
	if len(rows) == 0 {
		return nil
	}
	return deliver(rows)
}

func byteSize(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// capped fails a read past max bytes with ErrTooLarge.
type capped struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, ErrTooLarge
	}
	if room := c.max - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, ErrTooLarge
	}
	return n, err
}

// pageRetryable: any 5xx (1C workers crash on large pages), a body cut
// short and one over MaxResponseBytes. Syntax errors and errors from the callback are final.
func (c *Client) pageRetryable(err error) bool {
	if errors.Is(err, ErrTooLarge) {
		// Big records (pictures, long texts): a smaller page may fit.
		return true
	}
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
		de.Snippet = c.bodySnippet(de.head)
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

// headSize is how much of a body is kept for an error: well past the
// snippet shown, so a secret that starts inside the snippet is whole in
// the head and scrubbed before the cut.
const headSize = 512

// headReader remembers the first bytes read, for error messages.
type headReader struct {
	r    io.Reader
	head []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if room := headSize - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// pageInfo is what decodeValues saw.
type pageInfo struct {
	rows  int // elements of "value"
	count int // odata.count; -1 when absent
}

// decodeValues streams {"...":..., "value":[...], ...}: it calls each once
// per element of "value" with the decoder positioned at it, reads
// odata.count, and skips other members.
func decodeValues(r io.Reader, each func(*json.Decoder) error) (pageInfo, error) {
	hr := &headReader{r: r}
	dec := json.NewDecoder(hr)
	dec.UseNumber()
	pi, err := decodeValuesDec(dec, each)
	if err != nil {
		var ce callbackError
		if errors.As(err, &ce) {
			return pi, err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return pi, &DecodeError{Err: err, head: hr.head}
	}
	return pi, nil
}

// bodySnippet is the start of a body that failed to decode, for the
// error, secrets scrubbed. A JSON body is left out: it is a page of
// records, and its first bytes may be someone's name; the decoder's error
// says what was wrong.
func (c *Client) bodySnippet(head []byte) string {
	head = bytes.TrimSpace(bytes.TrimPrefix(head, utf8BOM))
	if len(head) > 0 && (head[0] == '{' || head[0] == '[') {
		return ""
	}
	return snippet([]byte(c.scrub(string(head))), 120)
}

func decodeValuesDec(dec *json.Decoder, each func(*json.Decoder) error) (pageInfo, error) {
	pi := pageInfo{count: -1}
	if err := expectDelim(dec, '{'); err != nil {
		return pi, err
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return pi, err
		}
		key, _ := tok.(string)
		if key == "odata.count" {
			// Edm.Int64 arrives as a string; a number is taken too.
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return pi, err
			}
			n, err := strconv.Atoi(strings.Trim(string(raw), `"`))
			if err != nil || n < 0 {
				return pi, errors.New("odata.count is not a count")
			}
			pi.count = n
			continue
		}
		if key != "value" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return pi, err
			}
			continue
		}
		found = true
		if err := expectDelim(dec, '['); err != nil {
			return pi, err
		}
		for dec.More() {
			if err := each(dec); err != nil {
				var se *json.SyntaxError
				var ute *json.UnmarshalTypeError
				if errors.As(err, &se) || errors.As(err, &ute) || errors.Is(err, io.ErrUnexpectedEOF) ||
					errors.Is(err, io.EOF) || errors.Is(err, ErrTooLarge) {
					return pi, err
				}
				return pi, callbackError{err}
			}
			pi.rows++
		}
		if err := expectDelim(dec, ']'); err != nil {
			return pi, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return pi, err
	}
	// Anything after the page (a second document, a proxy's appendix)
	// means the body is not what 1C sent: refuse it rather than guess.
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("data after the end of the page (%v)", tok)
		}
		return pi, err
	}
	if !found {
		return pi, errors.New(`no "value" array`)
	}
	return pi, nil
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
		return 0, &DecodeError{Op: "count", Entity: entity, Status: resp.StatusCode, Snippet: c.bodySnippet(raw),
			Err: errors.New("not a number")}
	}
	return n, nil
}
