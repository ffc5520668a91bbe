package virtposapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// filler yields n bytes of b, or endlessly when n < 0.
func filler(b byte, n int) io.Reader {
	r := io.Reader(repeatByte(b))
	if n >= 0 {
		r = io.LimitReader(r, int64(n))
	}
	return r
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

const orderXML = `<orders><guid>g1</guid><amount>1.00</amount><items><item_id>1</item_id><quantity>1</quantity></items></orders>`
const orderJSON = `{"guid":"g1","amount":"1.00","items":[{"item_id":"1","quantity":"1"}]}`

func TestDecodersBoundTheGapBetweenTokens(t *testing.T) {
	const xmlHead = `<?xml version="1.0"?><root><success>1</success>`
	const jsonHead = `{"success":1,"orders":[`
	tests := []struct {
		name    string
		format  string
		body    io.Reader
		wantErr string // "" wants one order decoded
	}{
		{"XML: endless whitespace after success", "xml",
			io.MultiReader(strings.NewReader(xmlHead), filler(' ', -1)), "more than 1 MiB without an element or a token"},
		{"JSON: endless whitespace inside the list", "json",
			io.MultiReader(strings.NewReader(jsonHead), filler('\n', -1)), "more than 1 MiB without an element or a token"},
		{"XML: 900 KiB of whitespace between elements is fine", "xml",
			io.MultiReader(strings.NewReader(xmlHead), filler(' ', 900<<10), strings.NewReader(orderXML+"</root>")), ""},
		{"JSON: 900 KiB of whitespace between tokens is fine", "json",
			io.MultiReader(strings.NewReader(jsonHead), filler('\t', 900<<10), strings.NewReader(orderJSON+"]}")), ""},
		{"XML: a comment value of 2 MiB", "xml",
			io.MultiReader(strings.NewReader(xmlHead+"<orders><comment>"), filler('x', 2<<20)), "orders[0].comment"},
		{"JSON: a comment string of 2 MiB", "json",
			io.MultiReader(strings.NewReader(jsonHead+`{"comment":"`), filler('x', 2<<20)), "more than 1 MiB"},
		{"XML: an endless comment", "xml",
			io.MultiReader(strings.NewReader(xmlHead+"<!--"), filler('x', -1)), "more than 1 MiB"},
		{"XML: an unknown element of 2 MiB is not skipped forever", "xml",
			io.MultiReader(strings.NewReader(xmlHead+"<debug>"), filler('x', 2<<20), strings.NewReader("</debug>"+orderXML+"</root>")), "more than 1 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			decode := DecodeOrdersJSON
			if tc.format == "xml" {
				decode = DecodeOrdersXML
			}
			err := decode(tc.body, func(*Order) error { n++; return nil })
			if tc.wantErr == "" {
				if err != nil || n != 1 {
					t.Fatalf("%d orders, %v; want 1", n, err)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want a *DecodeError with %q", err, tc.wantErr)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error of %d bytes: the filler is echoed", len(err.Error()))
			}
		})
	}
}

func TestSmallResponsesAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"success":1,"id":"5","padding":"`)
		_, _ = io.Copy(w, filler('x', MaxSmallResponse))
		fmt.Fprint(w, `"}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv.URL, func(c *Config) { c.Timeout = time.Minute })
	_, err := c.UpdateCustomer(context.Background(), url.Values{"create_if_not_exist": {"1"}, "external_id": {"e"}})
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "response larger than 32 MiB") || !strings.Contains(err.Error(), "customer_update") {
		t.Fatalf("err = %v, want a DecodeError naming the endpoint and the limit", err)
	}
}

func TestOrdersStreamsAreBounded(t *testing.T) {
	tests := []struct {
		name    string
		serve   func(w http.ResponseWriter, r *http.Request)
		total   time.Duration // Config.OrdersTimeout
		wantErr string
	}{
		// One byte every 10ms never trips the 1s idle timer; the
		// configured total deadline ends it.
		{"a body trickling a byte at a time ends at orders_timeout", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"success":1,"orders":[`)
			for {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}, 300 * time.Millisecond, "the /orders response took longer than virtpos.orders_timeout (300ms)"},
		{"a body of endless whitespace ends at the gap limit", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"success":1,"orders":[`)
			_, _ = io.Copy(w, filler(' ', -1))
		}, time.Hour, "more than 1 MiB without an element or a token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tc.serve))
			defer srv.Close()
			c, _ := testClient(t, srv.URL, func(c *Config) {
				c.Timeout, c.OrdersTimeout = time.Second, tc.total
				c.Retry.MaxAttempts = 1
			})
			err := c.Orders(context.Background(), OrdersQuery{}, func(*Order) error { return nil })
			if !IsTransient(err) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "virtpos orders") {
				t.Fatalf("err = %v, want a transient error naming the endpoint and %q", err, tc.wantErr)
			}
		})
	}
}
