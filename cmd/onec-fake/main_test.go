package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/syncbuf"
)

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(*Main) bool
	}{
		{"defaults", []string{"-user", "U"}, false, func(m *Main) bool {
			return m.Listen == "127.0.0.1:8082" && m.Customers == 50 && m.Kinds == 3
		}},
		{"all", []string{"-listen", ":9", "-user", "U", "-password", "P", "-seed", "f.json", "-demo-customers", "7", "-demo-cards", "2"}, false,
			func(m *Main) bool {
				return m.Listen == ":9" && m.SeedFile == "f.json" && m.Customers == 7 && m.Cards == 2
			}},
		{"no user", nil, true, nil},
		{"bad flag", []string{"-nope"}, true, nil},
		{"every fault knob", []string{"-user", "U", "-fault-seed", "42", "-fault-lost-reply-rate", "0.05", "-fault-page-5xx-rate", "0.1",
			"-fault-churn-rate", "0.2", "-fault-ignore-skip", "-fault-latency", "5ms", "-fault-slow-reply-rate", "0.3", "-fault-slow-reply", "2s"}, false,
			func(m *Main) bool {
				f := m.Faults
				return f.Seed == 42 && f.LostReplyRate == 0.05 && f.PageErrorRate == 0.1 && f.ChurnRate == 0.2 && f.IgnoreSkip &&
					f.Latency == 5*time.Millisecond && f.SlowReplyRate == 0.3 && f.SlowReply == 2*time.Second
			}},
		{"no faults by default", []string{"-user", "U"}, false, func(m *Main) bool {
			f := m.Faults
			return f.Seed == 1 && f.LostReplyRate == 0 && f.PageErrorRate == 0 && f.ChurnRate == 0 && !f.IgnoreSkip && f.Latency == 0 && f.SlowReply == 0
		}},
		{"a rate above 1 is refused", []string{"-user", "U", "-fault-lost-reply-rate", "1.5"}, true, nil},
		{"a negative latency is refused", []string{"-user", "U", "-fault-latency", "-1s"}, true, nil},
		{"ut11 by default", []string{"-user", "U"}, false, func(m *Main) bool { return m.Profile == "ut11" }},
		{"a profile", []string{"-user", "U", "-profile", "roznica"}, false, func(m *Main) bool { return m.Profile == "roznica" }},
		{"an unknown profile is refused", []string{"-user", "U", "-profile", "nope"}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m Main
			err := m.ParseFlags(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(&m) {
				t.Errorf("parsed %+v", m)
			}
		})
	}
}

func TestRunServesDemoAndShutsDown(t *testing.T) {
	var logs syncbuf.Buffer
	ready := make(chan string, 1)
	m := &Main{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Ready: ready}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-user", "Админ", "-password", "topsecret-pw", "-demo-customers", "6", "-demo-cards", "4"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	u := "http://" + addr + "/odata/standard.odata/" + url.PathEscape("Catalog_КартыЛояльности") + "?$format=json&$inlinecount=allpages"
	req, _ := http.NewRequest("GET", u, nil)
	req.SetBasicAuth("Админ", "topsecret-pw")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Count string `json:"odata.count"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || body.Count != "4" {
		t.Fatalf("GET cards: %d %v %+v", res.StatusCode, err, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	out := logs.String()
	if strings.Contains(out, "topsecret-pw") {
		t.Errorf("password leaked into logs:\n%s", out)
	}
	if !strings.Contains(out, "Catalog_КартыЛояльности") {
		t.Errorf("request not logged:\n%s", out)
	}
}

// TestUnknownProfileMessage: the refusal names the flag and lists the
// profiles there are.
func TestUnknownProfileMessage(t *testing.T) {
	var m Main
	err := m.ParseFlags([]string{"-user", "U", "-profile", "nope"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-profile") || !strings.Contains(err.Error(), `"nope"`) ||
		!strings.Contains(err.Error(), "ut11, unf, roznica") {
		t.Fatalf("err = %v", err)
	}
	m = Main{User: "U", Profile: "nope"}
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("Run served an unknown profile")
	}
}

// TestRunServesProfile: -profile unf serves УНФ's sets with its demo
// (cards in Catalog_ДисконтныеКарты, buyers and one folder in
// Catalog_Контрагенты) and no УТ 11 set.
func TestRunServesProfile(t *testing.T) {
	ready := make(chan string, 1)
	m := &Main{Ready: ready}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-user", "U", "-password", "P", "-profile", "unf",
		"-demo-customers", "9", "-demo-cards", "5"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	count := func(set, filter string) (int, string) {
		u := "http://" + addr + "/odata/standard.odata/" + url.PathEscape(set) + "?$format=json&$inlinecount=allpages&$top=1"
		if filter != "" {
			u += "&$filter=" + url.QueryEscape(filter)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.SetBasicAuth("U", "P")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Count string `json:"odata.count"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Count
	}
	cases := []struct {
		set, filter string
		status      int
		count       string
	}{
		{"Catalog_ДисконтныеКарты", "", 200, "5"},
		{"Catalog_Контрагенты", "", 200, "10"},
		{"Catalog_Контрагенты", "IsFolder eq true", 200, "1"},
		{"Catalog_Контрагенты", "Покупатель eq true and IsFolder eq false", 200, "8"},
		{"Document_ЗаказПокупателя", "", 200, "0"},
		{"Catalog_Партнеры", "", 404, ""},
	}
	for _, tc := range cases {
		if status, n := count(tc.set, tc.filter); status != tc.status || n != tc.count {
			t.Errorf("%s %s: %d, count %q; want %d, %q", tc.set, tc.filter, status, n, tc.status, tc.count)
		}
	}
}

// TestRunArmsFaults: the flags reach the server: with -fault-ignore-skip a
// second page repeats the first.
func TestRunArmsFaults(t *testing.T) {
	ready := make(chan string, 1)
	m := &Main{Ready: ready}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-user", "U", "-password", "P", "-fault-ignore-skip"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	page := func(skip string) string {
		u := "http://" + addr + "/odata/standard.odata/" + url.PathEscape("Catalog_Партнеры") + "?$format=json&$select=Ref_Key&$orderby=Ref_Key&$top=3&$skip=" + skip
		req, _ := http.NewRequest("GET", u, nil)
		req.SetBasicAuth("U", "P")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if a, b := page("0"), page("3"); a != b || !strings.Contains(a, "Ref_Key") {
		t.Fatalf("$skip=3 gave\n%s\n$skip=0\n%s", b, a)
	}
}
