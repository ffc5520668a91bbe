package onecapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRedirectIsRefused: a 302 from the publication to another port of
// the same host must not carry the Basic credentials there (Go's client
// keeps Authorization when only the port changes); the error says where
// it was sent and what to change.
func TestRedirectIsRefused(t *testing.T) {
	var reached atomic.Int32
	var leaked atomic.Value
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if a := r.Header.Get("Authorization"); a != "" {
			leaked.Store(a)
		}
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	defer target.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// user:pass@ and a query in Location must not reach the error.
				loc := strings.Replace(target.URL, "http://", "http://intruder:"+testPassword+"@", 1) +
					"/moved" + r.URL.Path + "?" + r.URL.RawQuery
				http.Redirect(w, r, loc, status)
			}))
			defer src.Close()
			c := newTestClient(t, src.URL, nil)
			for name, call := range map[string]func() error{
				"list":   func() error { return listCall(t.Context(), c) },
				"create": func() error { return createCall(t.Context(), c) },
			} {
				err := call()
				if !errors.Is(err, ErrRedirect) {
					t.Fatalf("%s: err = %v, want ErrRedirect", name, err)
				}
				want := target.URL + "/moved" + pubPath + "/"
				if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "onec.base_url") {
					t.Fatalf("%s: %q does not name %s and onec.base_url", name, err, want)
				}
				if strings.Contains(err.Error(), "?") || strings.Contains(err.Error(), "intruder") || strings.Contains(err.Error(), testPassword) {
					t.Fatalf("%s: query or credentials in %q", name, err)
				}
			}
			if a, _ := leaked.Load().(string); a != "" || reached.Load() != 0 {
				t.Fatalf("the redirect target was reached %d times, Authorization %q", reached.Load(), a)
			}
		})
	}
}
