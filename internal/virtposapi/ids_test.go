package virtposapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"1": true, "17": true, "9223372036854775807": true, "1234567890123456789": true,
		"": false, "0": false, "007": false, "-1": false, "+1": false, "12.5e3": false, "1e3": false,
		"12.0": false, "12345678901234567890": false, " 17": false, "17a": false, "<script>": false, "١٧": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// An id in a reply that is not a virtpos id is refused with the endpoint,
// the field and what was expected, quoting at most 20 bytes of it.
func TestIDsInRepliesAreChecked(t *testing.T) {
	garbage := "<script>" + strings.Repeat("A", 500) + "</script>"
	bad := []string{"12.5e3", "-1", "0", "", "12345678901234567890", garbage}
	// A card call may answer without an id (TestCardRepliesWithoutID); an
	// empty one is checked for the others.
	emptyOK := map[string]bool{EPCardInsert: true}
	calls := []struct {
		ep    string
		path  string // DecodeError.Path
		reply func(id string) map[string]any
		call  func(c *Client) error
	}{
		{EPCustomerUpdate, "id", func(id string) map[string]any { return map[string]any{"success": 1, "id": id, "isnew": 1} },
			func(c *Client) error {
				_, err := c.UpdateCustomer(context.Background(), url.Values{"create_if_not_exist": {"1"}, "external_id": {"e"}})
				return err
			}},
		{EPCardInsert, "id", func(id string) map[string]any { return map[string]any{"success": 1, "id": id, "isnew": 1} },
			func(c *Client) error {
				_, err := c.InsertCard(context.Background(), url.Values{"uid": {"1"}})
				return err
			}},
		{EPCustomer, "customers[0].id", func(id string) map[string]any {
			return map[string]any{"success": 1, "customers": []any{map[string]any{"id": id, "external_id": "e"}}}
		}, func(c *Client) error { _, _, err := c.FindCustomerByExternalID(context.Background(), "e"); return err }},
		{EPCustomer, "customers[0].cards[0].id", func(id string) map[string]any {
			if id == "" {
				id = "x" // an absent card id is no id at all; check a present one
			}
			return map[string]any{"success": 1, "customers": []any{map[string]any{"id": "4", "external_id": "e",
				"cards": []any{map[string]any{"id": id, "uid": "1"}}}}}
		}, func(c *Client) error {
			_, err := c.Customers(context.Background(), CustomerQuery{ExternalID: "e", Cards: true})
			return err
		}},
	}
	for _, cl := range calls {
		for _, id := range bad {
			if id == "" && emptyOK[cl.ep] {
				continue
			}
			name := id
			if len(name) > 20 {
				name = name[:20]
			}
			t.Run(cl.path+"/"+cl.ep+"/"+name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_ = json.NewEncoder(w).Encode(cl.reply(id))
				}))
				defer srv.Close()
				c, _ := testClient(t, srv.URL, func(c *Config) { c.Retry.MaxAttempts = 1 })
				err := cl.call(c)
				var de *DecodeError
				if !errors.As(err, &de) || de.Path != cl.path || de.Endpoint != cl.ep {
					t.Fatalf("err = %v, want a DecodeError at %s of %s", err, cl.path, cl.ep)
				}
				msg := err.Error()
				if !strings.Contains(msg, "virtpos "+cl.ep) || !strings.Contains(msg, "at "+cl.path+": expected a virtpos id") {
					t.Errorf("message %q does not name the endpoint, the field and what was expected", msg)
				}
				if strings.Contains(msg, strings.Repeat("A", 21)) {
					t.Errorf("message echoes more than 20 bytes of the garbage: %q", msg)
				}
				if IsRejected(err) {
					t.Errorf("a garbled id is not the record's rejection: %v", err)
				}
			})
		}
	}
	t.Run("valid ids pass", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"success":1,"id":" 9223372036854775807 ","isnew":"0"}`)
		}))
		defer srv.Close()
		c, _ := testClient(t, srv.URL, nil)
		res, err := c.UpdateCustomer(context.Background(), url.Values{"id": {"9223372036854775807"}})
		if err != nil || res.ID != "9223372036854775807" {
			t.Fatalf("got %+v, %v", res, err)
		}
	})
}
