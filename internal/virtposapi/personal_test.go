package virtposapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/syncbuf"
)

// Distinctive personal values and a distinctive key: none of them, in any
// spelling a server may echo, may appear in an error or a log line.
const (
	piiKey   = "Ключ-Секрет-42/+&="
	piiFName = "Зоя-Уникальная"
	piiLName = "Пробная-Фамилия"
	piiPhone = "+79990001122"
	piiEmail = "probe@example.test"
	piiYear  = "1987"
)

var piiParams = url.Values{"create_if_not_exist": {"1"}, "external_id": {"0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33"},
	"fname": {piiFName}, "lname": {piiLName}, "phone": {piiPhone}, "email": {piiEmail},
	"birth_day": {"17"}, "birth_month": {"3"}, "birth_year": {piiYear}}

// piiForms are the spellings of every secret a test looks for.
func piiForms() []string {
	var out []string
	for _, v := range []string{piiKey, piiFName, piiLName, piiPhone, piiEmail, piiYear} {
		out = append(out, spellings(v)...)
	}
	// Halves too: a value cut by a length limit must not leave a part.
	out = append(out, "Зоя-Уник", "Пробная", "9990001122", "probe@")
	return out
}

func assertNoPII(t *testing.T, what, s string) {
	t.Helper()
	for _, f := range piiForms() {
		if strings.Contains(s, f) {
			t.Errorf("%s carries %q:\n%s", what, f, s)
		}
	}
}

// echo is everything a careless server might repeat: the decoded query
// and form (personal values first, so that they fall within any cut),
// then the URL with its query, as they came.
func echo(r *http.Request) string {
	_ = r.ParseForm()
	var b strings.Builder
	for _, k := range []string{"fname", "lname", "phone", "email", "birth_year", "apikey"} {
		if v := r.Form.Get(k); v != "" {
			fmt.Fprintf(&b, "%s=%s ", k, v)
		}
	}
	fmt.Fprintf(&b, "%s %s", r.Method, r.URL.String())
	return b.String()
}

// phpJSON escapes s as PHP's json_encode does by default.
func phpJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func TestPersonalDataNeverLeaves(t *testing.T) {
	pad := strings.Repeat(".", 90) // puts the first name across a 120-byte cut
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request) // nil: nothing listens
	}{
		{"a refused connection", nil},
		{"a timeout", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm() // a server notices a client gone only once the body is read
			<-r.Context().Done()
		}},
		{"an HTML 502 echoing the URL and form", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			fmt.Fprintf(w, "<html><body>Bad gateway for %s</body></html>", echo(r))
		}},
		{"an HTML 500 with a value across the cut", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprintf(w, "<html>%s%s", pad, echo(r))
		}},
		{"a 404 echoing the request", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			fmt.Fprint(w, echo(r))
		}},
		{"a redirect carrying the query", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			http.Redirect(w, r, "http://elsewhere.example/"+url.PathEscape(r.Form.Get("fname"))+"?"+r.URL.RawQuery, http.StatusFound)
		}},
		// A server names what the request carried.
		{"success=0 naming the values", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			f := r.Form.Get
			fmt.Fprintf(w, `{"success":0,"info":"Неверный формат телефона %s для %s %s, e-mail %s, год %s"}`,
				f("phone"), f("fname"), f("lname"), f("email"), f("birth_year"))
		}},
		{"success=0 naming the values PHP-escaped", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			f := r.Form.Get
			fmt.Fprintf(w, `{"success":0,"info":"%s"}`, phpJSON("Клиент "+f("fname")+" "+f("lname")+" "+f("email")+" уже есть"))
		}},
		{"success=0 about the key, echoing it", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"success":0,"info":"invalid apikey %s"}`, r.URL.Query().Get("apikey"))
		}},
		{"a 200 that is not JSON, echoing the request", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "<html>%s%s</html>", pad, echo(r))
		}},
		{"a garbled 200 echoing PHP-escaped values", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			fmt.Fprintf(w, `{"success":1,"id":"5","note":"%s",`, phpJSON(echo(r)))
		}},
		{"a body cut short after the values", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "4000")
			fmt.Fprintf(w, `{"success":0,"info":"%s`, echo(r))
			w.(http.Flusher).Flush()
			hangUp(t, w, false)
		}},
	}
	for _, tc := range tests {
		for _, method := range []string{"GET", "POST"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				base := ""
				if tc.serve == nil {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					base = "http://" + ln.Addr().String()
					ln.Close()
				} else {
					srv := httptest.NewServer(http.HandlerFunc(tc.serve))
					defer srv.Close()
					base = srv.URL
				}
				var logs syncbuf.Buffer
				c, err := New(Config{BaseURL: base, APIKey: piiKey, Method: method, Timeout: 200 * time.Millisecond,
					Retry:  RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond, Max: time.Millisecond},
					Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				byID := url.Values{"id": {"5"}}
				for k, v := range piiParams {
					byID[k] = v
				}
				errs := map[string]error{
					"create": func() error { _, err := c.UpdateCustomer(ctx, piiParams); return err }(),
					"update": func() error { _, err := c.UpdateCustomer(ctx, byID); return err }(),
					"look-up by phone and e-mail": func() error {
						_, err := c.Customers(ctx, CustomerQuery{Phone: piiPhone, Email: piiEmail})
						return err
					}(),
				}
				for what, err := range errs {
					if err == nil {
						t.Fatalf("%s: no error", what)
					}
					assertNoPII(t, what+" error", err.Error())
					assertNoPII(t, what+" error (%+v)", fmt.Sprintf("%+v", err))
				}
				if te := errs["create"]; tc.serve == nil || strings.Contains(tc.name, "timeout") {
					if want := "(params: birth_day,birth_month,birth_year,create_if_not_exist,email,external_id,fname,lname,phone)"; !strings.Contains(te.Error(), want) {
						t.Errorf("create error %q does not name the parameters %s", te, want)
					}
				}
				assertNoPII(t, "log", logs.String())
				if !bytes.Contains([]byte(logs.String()), []byte("virtpos: ")) {
					t.Errorf("nothing logged at debug level: the check proves nothing")
				}
			})
		}
	}
}
