package preflight

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/mapping"
)

func TestJudge(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
		ok     bool
		want   string
	}{
		{"json envelope", 200, "application/json", `{"success":0,"info":"invalid apikey"}`, true, `success=0, "invalid apikey"`},
		{"json envelope with a BOM", 200, "application/json", "\xef\xbb\xbf" + `{"success":"0","info":"нет ключа"}`, true, "нет ключа"},
		{"xml envelope", 200, "text/xml", "<?xml version=\"1.0\"?>\n<root>\n <success>0</success>\n <info>invalid apikey</info>\n</root>", true, "invalid apikey"},
		{"xml envelope without info", 200, "text/xml", "<root><success>1</success><id>7</id></root>", true, "answers like the API"},
		{"envelope with an error status", 400, "application/json", `{"success":0,"info":"missing parameter"}`, true, "missing parameter"},
		{"html 404", 404, "text/html", "<html><head><title>404 Not Found</title></head></html>", false, `HTTP 404: no endpoint at this path titled "404 Not Found"`},
		{"plain 404", 404, "text/plain", "404 page not found", false, "HTTP 404: no endpoint at this path"},
		{"html page at 200", 200, "text/html", "<!DOCTYPE html><html><head><title>Вход</title></head></html>", false, `HTTP 200: an HTML page titled "Вход"`},
		{"html without a content type", 200, "", "<!doctype html><html></html>", false, "an HTML page"},
		{"json without success", 200, "application/json", `{"error":"not found"}`, false, "no success field"},
		{"xml without success", 200, "text/xml", "<root><error>x</error></root>", false, "no success field"},
		{"401 from the API", 401, "application/json", `{"error":"unauthorized"}`, true, "HTTP 401"},
		{"401 from a proxy", 401, "text/html", "<html><title>401 Authorization Required</title></html>", false, "HTML page"},
		{"redirect", 302, "", "", false, "a redirect to https://example.org/login"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.ctype != "" {
				resp.Header.Set("Content-Type", tc.ctype)
			}
			if tc.status == 302 {
				resp.Header.Set("Location", "https://user:pw@example.org/login?apikey=secret")
			}
			got := judge(resp, []byte(tc.body))
			if got.ok != tc.ok || !strings.Contains(got.detail, tc.want) {
				t.Errorf("judge = %+v, want ok=%v and %q", got, tc.ok, tc.want)
			}
			if strings.Contains(got.detail, "secret") || strings.Contains(got.detail, "pw@") {
				t.Errorf("judge leaks the redirect's credentials: %q", got.detail)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	r := Report{Lines: []Line{
		{Name: "config virtsync.yaml", OK: true, Detail: "loads and is valid"},
		{Name: "1C credentials", Detail: "HTTP 401: 1C refused the user name or password", Fix: "set onec.user and onec.password"},
		{Name: "1C $metadata", Skipped: true, Detail: "not checked: 1C refused the credentials"},
		{Name: "1C map", Detail: "every record fails:\nCatalog_X a: field email\nCatalog_X b: field email", Fix: "first\nsecond"},
	}}
	var b strings.Builder
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	want := `OK    config virtsync.yaml  loads and is valid
FAIL  1C credentials        HTTP 401: 1C refused the user name or password
                            fix: set onec.user and onec.password
SKIP  1C $metadata          not checked: 1C refused the credentials
FAIL  1C map                every record fails:
                            Catalog_X a: field email
                            Catalog_X b: field email
                            fix: first
                                 second

2 of 3 checks failed.
`
	if b.String() != want {
		t.Errorf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
	if r.OK() || r.Failures() != 2 {
		t.Errorf("OK() = %v, Failures() = %d", r.OK(), r.Failures())
	}
}

// TestScrub: a secret that reaches a line through an error nobody
// cleaned is replaced all the same.
func TestScrub(t *testing.T) {
	cfg := config.Default()
	cfg.OneC.User, cfg.OneC.Password = "u", "pa55-Секрет"
	cfg.Virtpos.APIKey = "key-Ключ-1"
	cfg.OneC.BaseURL = "http://127.0.0.1:1/odata/standard.odata"
	cfg.Virtpos.BaseURL = "http://127.0.0.1:1/api"
	cfg.State.Path = t.TempDir() + "/virtsync.db"
	cfg.NATS.URL = "nats://virtsync:" + url.QueryEscape("n4ts-Пароль") + "@127.0.0.1:1"
	rep := Run(t.Context(), Inputs{Config: cfg,
		OneCErr:    errors.New("onec: a proxy said pa55-Секрет and dTpwYTU1LdCh0LXQutGA0LXRgg== and n4ts-Пароль"),
		VirtposErr: errors.New("virtpos: bad key key-Ключ-1 and " + url.QueryEscape("n4ts-Пароль"))})
	var b strings.Builder
	_ = rep.Print(&b)
	for _, s := range []string{"pa55-Секрет", "key-Ключ-1", "dTpwYTU1LdCh0LXQutGA0LXRgg==", "n4ts-Пароль", url.QueryEscape("n4ts-Пароль")} {
		if strings.Contains(b.String(), s) {
			t.Errorf("the report holds %q:\n%s", s, b.String())
		}
	}
	if !strings.Contains(b.String(), "***") {
		t.Errorf("nothing replaced:\n%s", b.String())
	}
}

// listOf serves List from a fixed set of records.
type listOf []onecapi.Entity

func (l listOf) FetchMetadata(context.Context) (*onecapi.Metadata, error) {
	return nil, errors.New("not here")
}
func (l listOf) List(_ context.Context, _ onecapi.Query, fn func(onecapi.Entity) error) error {
	for _, e := range l {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// TestSampleSomeFail: a map that fails on some records only is a data
// problem of those records (they would be dead-lettered), not a setup
// error; on every record it is the map's.
func TestSampleSomeFail(t *testing.T) {
	m, err := mapping.Compile(map[string]any{
		"mname": map[string]any{"from": "Description", "as": "name_part", "part": 3, "required": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	full := onecapi.Entity{"Ref_Key": "6f1c7a52-0000-4000-8000-000000000001", "Description": "Пробный Пётр Петрович"}
	short := onecapi.Entity{"Ref_Key": "6f1c7a52-0000-4000-8000-000000000002", "Description": "Пробнов"}
	for _, tc := range []struct {
		name string
		recs listOf
		ok   bool
		want string
	}{
		{"some", listOf{full, short}, true, "1 of 2 record(s) mapped (mname); these would go to the dead letters"},
		{"all", listOf{short, short}, false, "every record read fails its map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ls lines
			sampleAndMap(t.Context(), tc.recs, &ls, nil, sample{role: "customers.entity", entity: "Catalog_X", kind: "customers", fields: m})
			if len(ls) != 2 || !ls[0].OK {
				t.Fatalf("lines %+v", ls)
			}
			got := ls[1]
			if got.OK != tc.ok || !strings.Contains(got.Detail, tc.want) || !strings.Contains(got.Detail, short.Key()) {
				t.Errorf("map line %+v, want ok=%v and %q naming %s", got, tc.ok, tc.want, short.Key())
			}
			for _, v := range []string{"Пробный", "Пётр", "Пробнов"} {
				if strings.Contains(got.Detail, v) {
					t.Errorf("the line names the person: %q", got.Detail)
				}
			}
		})
	}
}
