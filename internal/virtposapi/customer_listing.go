package virtposapi

import (
	"context"
	"crypto/sha256"
	"fmt"
)

// ListPageSizeDefault is the page_size ListCustomers asks for when given
// none. A page is read whole (MaxSmallResponse), so it stays far below
// that: 500 customers are a few hundred kilobytes.
const ListPageSizeDefault = 500

// PagingError stops a listing whose pages do not add up: a server that
// ignores page, counts something other than the total, or lost customers
// between two pages. A listing that ends with it is incomplete and must
// not be used to decide that a customer is absent.
type PagingError struct {
	Page   int // the page (1-based) that stopped it
	Reason string
}

func (e *PagingError) Error() string { return "virtpos: list customers: " + e.Reason }

// ListCustomers reads every customer with GET /customer, page by page
// (page 1-based, page_size), and calls fn with each page in server order;
// an error from fn stops the listing and is returned as it is. Only one
// page is held at a time.
//
// Paging ends on the first short page, never on the count alone: a server
// whose count is not the total would otherwise end it early, and an
// incomplete listing passes for a customer's absence. The count a page
// reports checks the paging instead; each of these stops it with a
// *PagingError:
//   - a page with more customers than page_size, or the same customers as
//     the page before (page is ignored);
//   - a count lower than an earlier page's: customers were deleted while
//     listing, which shifts later rows onto pages already read, so one may
//     have been skipped;
//   - more customers sent than counted. Customers added while listing may
//     each shift one row onto the next page, where it comes again, so up
//     to one repeat per customer added (the count's growth since page 1)
//     is allowed;
//   - a short page before the count is reached.
//
// A first page shorter than page_size while the count says there are more
// is a server that caps page_size: the listing goes on at the size it
// got. Without a count, the listing ends at the first short page with
// none of the count checks.
func (c *Client) ListCustomers(ctx context.Context, pageSize int, fn func([]Customer) error) error {
	size := pageSize
	if size <= 0 {
		size = ListPageSizeDefault
	}
	var prev [sha256.Size]byte // ids of the page before, to catch a repeat
	sent := 0                  // customers passed to fn, repeats included
	first, counted := -1, -1   // the first and the last count reported
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("virtpos: list customers at page %d: %w", page, err)
		}
		pg, err := c.customers(ctx, CustomerQuery{Page: page, PageSize: size})
		if err != nil && !notFoundReply(err) {
			return fmt.Errorf("virtpos: list customers at page %d (page_size %d): %w", page, size, err)
		}
		if err != nil { // "not found": a page past the end on some installations
			pg = CustomerPage{Count: -1}
		}
		n := len(pg.Customers)
		stop := func(format string, args ...any) error {
			return &PagingError{Page: page, Reason: fmt.Sprintf(format, args...)}
		}
		if n > size {
			return stop("page %d has %d customers for page_size %d: virtpos does not honour page_size", page, n, size)
		}
		if n > 0 {
			digest := pageDigest(pg.Customers)
			if page > 1 && digest == prev {
				return stop("page %d has the same %d customers as page %d: virtpos seems to ignore page", page, n, page-1)
			}
			prev = digest
		}
		if pg.Count >= 0 {
			if counted >= 0 && pg.Count < counted {
				return stop("virtpos counted %d customers up to page %d and %d at page %d: customers were deleted "+
					"while listing, so one may have been skipped", counted, page-1, pg.Count, page)
			}
			if first < 0 {
				first = pg.Count
			}
			if sent+n > 2*pg.Count-first {
				return stop("virtpos has sent %d customers by page %d but counts %d (%d at the first count): "+
					"its count is not the total", sent+n, page, pg.Count, first)
			}
			counted = pg.Count
		}
		if page == 1 && n > 0 && n < size && pg.Count > n {
			// A server that caps page_size: page 2 at the size it gives
			// starts where page 1 ended.
			c.log.InfoContext(ctx, "virtpos: list customers: the server caps page_size; going on at its size",
				"asked", size, "got", n, "counted", pg.Count)
			size = n
		}
		if n > 0 {
			if err := fn(pg.Customers); err != nil {
				return err
			}
			sent += n
		}
		if n < size {
			if counted >= 0 && sent < counted {
				return stop("page %d has %d customers for page_size %d, yet virtpos counts %d and sent %d: "+
					"paging stopped short", page, n, size, counted, sent)
			}
			return nil
		}
	}
}

// pageDigest identifies a page by its customer ids in order.
func pageDigest(cs []Customer) [sha256.Size]byte {
	h := sha256.New()
	for _, cu := range cs {
		h.Write([]byte(cu.ID))
		h.Write([]byte{0})
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// CustomerCount returns how many customers virtpos holds, as the count of
// a one-row page of GET /customer: one cheap call. It is -1 when the server
// reports no count, or one that cannot be the total (0 beside a customer);
// 0 when it answers an unfiltered query with "not found".
func (c *Client) CustomerCount(ctx context.Context) (int, error) {
	pg, err := c.customers(ctx, CustomerQuery{Page: 1, PageSize: 1})
	if err != nil {
		if notFoundReply(err) {
			return 0, nil
		}
		return -1, fmt.Errorf("virtpos: count customers: %w", err)
	}
	if pg.Count >= 0 && pg.Count < len(pg.Customers) {
		return -1, nil
	}
	return pg.Count, nil
}
