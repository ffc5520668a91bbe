package onecapi

import (
	"context"
	"encoding/json"
	"io"
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

// Distinctive personal values, as an order document carries them.
var personal = []string{
	"Иванова Мария Петровна",
	"+79161234567",
	"maria.ivanova@example.ru",
	"Екатеринбург, ул. Ленина, 1",
	"позвонить после 18:00",
}

// personalBody is a document body with every personal value in it.
func personalBody() map[string]any {
	return map[string]any{
		"НомерПоДаннымКлиента": "vp-1",
		"Партнер_Key":          testKey(9),
		"Комментарий":          personal[0] + ", " + personal[1],
		"АдресДоставки":        personal[3],
		"КонтактноеЛицо":       personal[2],
		"Товары":               []map[string]any{{"LineNumber": "1", "Описание": personal[4]}},
	}
}

func createPersonal(ctx context.Context, c *Client) error {
	_, err := c.Create(ctx, "Document_ЗаказКлиента", personalBody())
	return err
}

func updatePersonal(ctx context.Context, c *Client) error {
	_, err := c.Update(ctx, "Document_ЗаказКлиента", testKey(1), "", personalBody())
	return err
}

// TestNoSecretOrPersonalDataInErrorsOrLogs drives every failure path of
// the client with the password and personal values in play, against
// servers that echo everything back: neither the password, nor the Basic
// credential, nor a personal value may reach the error or any log line at
// debug level. The errors still name the entity, the field and 1C's code.
func TestNoSecretOrPersonalDataInErrorsOrLogs(t *testing.T) {
	// echo answers status with a body quoting the credentials and the
	// request body in the given shape.
	echo := func(status int, shape string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			u, p, _ := r.BasicAuth()
			text := "user " + u + " pass " + p + " auth " + r.Header.Get("Authorization") + " body " + string(body) +
				" query " + r.URL.RawQuery
			w.WriteHeader(status)
			switch shape {
			case "odata":
				_ = json.NewEncoder(w).Encode(map[string]any{"odata.error": map[string]any{"code": "4",
					"message": map[string]string{"lang": "ru", "value": "Неверное значение свойства: " + text}}})
			case "exception":
				_ = json.NewEncoder(w).Encode(map[string]any{"#exception": map[string]any{"descr": text}})
			default:
				_, _ = io.WriteString(w, "<html><title>Error</title><body>"+text+"</body></html>")
			}
		}
	}
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: the server notices a client hang-up only
		// once the body is consumed.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	// A 2xx whose body is cut: a page of personal data, a document echoed.
	truncated := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(status)
			if len(body) == 0 {
				body, _ = json.Marshal(map[string]any{"value": []map[string]any{{"Ref_Key": testKey(1), "Description": personal[0], "Телефон": personal[1]}}})
			}
			_, _ = w.Write(body[:len(body)-3])
		}
	}
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://u:"+testPassword+"@127.0.0.1:1/x?"+r.URL.RawQuery+"&auth="+r.Header.Get("Authorization"), http.StatusFound)
	})
	// A login page of a proxy, the password where the snippet is cut.
	edge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, p, _ := r.BasicAuth()
		_, _ = io.WriteString(w, "login "+strings.Repeat("x", 105)+" "+p)
	})
	ignoresSkip := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"value": []Entity{
			{"Ref_Key": testKey(1), "Description": personal[0]}, {"Ref_Key": testKey(2), "Description": personal[2]}}})
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	_ = ln.Close()

	findPersonal := func(ctx context.Context, c *Client) error {
		_, _, err := c.FindByField(ctx, "Catalog_Партнеры", "Description", personal[0])
		return err
	}
	tests := []struct {
		name     string
		handler  http.Handler // nil = unreachable
		call     func(context.Context, *Client) error
		mod      func(*Config)
		wantText []string // what the error must still say
	}{
		{name: "unreachable list", call: listCall},
		{name: "unreachable create", call: createPersonal},
		{name: "the breaker opens on an unreachable 1C", call: createPersonal, mod: func(c *Config) { c.Breaker.Failures = 1 }},
		{name: "500 html echo on a list", handler: echo(500, "html"), call: listCall},
		{name: "500 html echo on a create", handler: echo(500, "html"), call: createPersonal},
		{name: "400 odata.error quoting the create body", handler: echo(400, "odata"), call: createPersonal,
			wantText: []string{"code 4", "<Комментарий>", "<АдресДоставки>", "<Товары.Описание>", testKey(9)}},
		{name: "400 odata.error quoting the update body", handler: echo(400, "odata"), call: updatePersonal,
			wantText: []string{"update Document_ЗаказКлиента", "<КонтактноеЛицо>"}},
		{name: "403 #exception echo on an update", handler: echo(403, "exception"), call: updatePersonal, wantText: []string{"rights"}},
		{name: "401 echo on a count", handler: echo(401, "html"), call: countCall, wantText: []string{"onec.password"}},
		{name: "503 echo on a find by a personal value", handler: echo(503, "odata"), call: findPersonal},
		{name: "a page cut short", handler: truncated(200), call: listCall},
		{name: "a 200 text page with the password where the snippet is cut", handler: edge, call: listCall,
			wantText: []string{"login xxx"}},
		{name: "a 200 text page on a count", handler: edge, call: countCall},
		{name: "a sweep cut short", handler: truncated(200), call: func(ctx context.Context, c *Client) error {
			_, err := c.Sweep(ctx, "Catalog_Партнеры", "")
			return err
		}},
		{name: "a create answer cut short", handler: truncated(201), call: createPersonal},
		{name: "an update answer cut short", handler: truncated(200), call: updatePersonal},
		{name: "timeout on a list", handler: hang, call: listCall},
		{name: "timeout on a create", handler: hang, call: createPersonal},
		{name: "a redirect", handler: redirect, call: createPersonal, wantText: []string{"http://127.0.0.1:1/x"}},
		{name: "a page over the size limit", handler: echo(200, "html"), call: listCall},
		{name: "a publication ignoring $skip", handler: ignoresSkip, call: listCall, mod: func(c *Config) { c.PageSize = 2 }},
		{name: "metadata 500", handler: echo(500, "html"), call: func(ctx context.Context, c *Client) error { _, err := c.CheckMetadata(ctx, nil); return err }},
	}
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(testUser, testPassword)
	auth := strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
	forbidden := append([]string{testPassword, url.QueryEscape(testPassword), auth}, personal...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := deadURL
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				base = srv.URL
			}
			var logs syncbuf.Buffer
			c := newTestClient(t, base, func(c *Config) {
				c.Timeout = 100 * time.Millisecond
				c.Retry.MaxAttempts = 2
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				if tt.mod != nil {
					tt.mod(c)
				}
			})
			c.maxBody = 200
			err := tt.call(t.Context(), c)
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.mod != nil && c.cfg.Breaker.Failures == 1 {
				err = tt.call(t.Context(), c) // now the fail-fast error
			}
			for _, s := range forbidden {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("%q leaked in the error: %s", s, err)
				}
				if strings.Contains(logs.String(), s) {
					t.Fatalf("%q leaked in the log:\n%s", s, logs.String())
				}
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error lost %q: %s", s, err)
				}
			}
		})
	}
}

func TestRedactSent(t *testing.T) {
	sent := sentValues([]byte(`{"Комментарий":"Иван","Код":"AB","Партнер_Key":"` + testKey(3) + `","Сумма":12.5,"Т":[{"Адрес":"ул. Ленина"}]}`))
	tests := []struct{ name, in, want string }{
		{"a quoted long value", "Неверное значение 'Иван'", "Неверное значение '<Комментарий>'"},
		{"a bare long value", "значение Иван неверно", "значение <Комментарий> неверно"},
		{"a row value", "адрес ул. Ленина", "адрес <Т.Адрес>"},
		{"a short value only in quotes", "ABC 'AB' «AB»", "ABC '<Код>' «<Код>»"},
		{"a reference stays", "ключ " + testKey(3), "ключ " + testKey(3)},
		{"a number stays", "сумма 12.5", "сумма 12.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactSent(tt.in, sent); got != tt.want {
				t.Fatalf("redactSent(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
