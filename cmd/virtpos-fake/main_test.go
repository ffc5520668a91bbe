package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string
		wantKey string
		wantErr string
	}{
		{"flag", []string{"-apikey", "k1"}, "", "k1", ""},
		{"flag beats env", []string{"-apikey", "k1"}, "k2", "k1", ""},
		{"env", nil, "k2", "k2", ""},
		{"no key", nil, "", "", "no apikey"},
		{"unknown flag", []string{"-nope"}, "k", "", "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard)
			err := m.ParseFlags(tt.args, func(k string) string {
				if k == "VIRTPOS_APIKEY" {
					return tt.env
				}
				return ""
			})
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if err == nil && (m.APIKey != tt.wantKey || m.Listen != "127.0.0.1:8081" || m.Prefix != "/api") {
				t.Errorf("got %+v", m)
			}
		})
	}
}

func TestRun(t *testing.T) {
	var logs syncbuf.Buffer
	m := NewMain(&logs)
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-apikey", "Секрет-42",
		"-seed", "../../internal/virtposapi/virtpostest/testdata/seed.json"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	addr, err := m.Addr(actx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String() + "/api"

	resp, err := http.PostForm(base+"/customer", url.Values{"apikey": {"Секрет-42"}, "phone": {"79001234567"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Success string `xml:"success"`
		FName   string `xml:"customers>customer>fname"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Success != "1" || got.FName != "Иван" {
		t.Errorf("seeded customer: %+v, %v", got, err)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	out := logs.String()
	if strings.Contains(out, "Секрет-42") || strings.Contains(out, url.QueryEscape("Секрет-42")) {
		t.Errorf("apikey leaked into logs:\n%s", out)
	}
	if !strings.Contains(out, "apikey=***") || !strings.Contains(out, "phone=79001234567") || !strings.Contains(out, "virtpos-fake stopped") {
		t.Errorf("logs lack the request line or shutdown:\n%s", out)
	}
}

func TestRunBadSeed(t *testing.T) {
	m := NewMain(io.Discard)
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-apikey", "k", "-seed", "testdata/missing.json"},
		func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("err = %v, want the seed file named", err)
	}
}

func TestFaultFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    virtpostest.Faults
		lenient bool
		wantErr string
	}{
		{name: "no fault flags inject nothing but keep a seed",
			want: virtpostest.Faults{Seed: 1, RetryAfter: time.Second}},
		{name: "every rate, the seed and the paths",
			args: []string{"-fault-seed", "42", "-fault-paths", "customer/update, /card/insert/",
				"-fault-lost-reply-rate", "0.1", "-fault-slow-reply", "45s", "-fault-slow-reply-rate", "0.05",
				"-fault-429-rate", "0.02", "-fault-retry-after", "3s", "-fault-500-rate", "0.1",
				"-fault-html-rate", "0.03", "-fault-truncate-rate", "0.04", "-fault-truncate-after", "7",
				"-fault-latency", "5ms", "-fault-invalid-apikey", "-lenient-update"},
			want: virtpostest.Faults{Seed: 42, Paths: []string{"/customer/update", "/card/insert"},
				LostReplyRate: 0.1, SlowReply: 45 * time.Second, SlowReplyRate: 0.05, ThrottleRate: 0.02,
				RetryAfter: 3 * time.Second, ErrorRate: 0.1, HTMLRate: 0.03, TruncateRate: 0.04, TruncateAfter: 7,
				Latency: 5 * time.Millisecond, InvalidKey: true},
			lenient: true},
		{name: "a rate above 1 is refused", args: []string{"-fault-lost-reply-rate", "1.5"}, wantErr: "-fault-lost-reply-rate 1.5: want a share between 0 and 1"},
		{name: "a negative rate is refused", args: []string{"-fault-429-rate", "-0.1"}, wantErr: "-fault-429-rate"},
		{name: "a slow-reply rate without a delay is refused", args: []string{"-fault-slow-reply-rate", "0.5"}, wantErr: "needs -fault-slow-reply"},
		{name: "a negative truncation is refused", args: []string{"-fault-truncate-after", "-1"}, wantErr: "-fault-truncate-after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard)
			err := m.ParseFlags(append([]string{"-apikey", "k"}, tt.args...), func(string) string { return "" })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", m.Faults) != fmt.Sprintf("%+v", tt.want) || m.Lenient != tt.lenient {
				t.Errorf("faults = %+v lenient=%v\nwant %+v lenient=%v", m.Faults, m.Lenient, tt.want, tt.lenient)
			}
		})
	}
}

// The fault flags reach the running server: a lost reply on
// customer/update only, the write done; the lookup unharmed.
func TestRunWithLostReplies(t *testing.T) {
	m := NewMain(io.Discard)
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-apikey", "k", "-fault-lost-reply-rate", "1",
		"-fault-paths", "/customer/update"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	addr, err := m.Addr(actx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String() + "/api"
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := c.PostForm(base+"/customer/update", url.Values{"apikey": {"k"}, "create_if_not_exist": {"1"},
		"external_id": {"e1"}}); err == nil {
		t.Fatal("customer/update got a reply, want the connection closed")
	}
	resp, err := c.PostForm(base+"/customer", url.Values{"apikey": {"k"}, "external_id": {"e1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Count string `xml:"count"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Count != "1" {
		t.Errorf("lookup after the lost reply: count %q, %v; want the customer created", got.Count, err)
	}
}
