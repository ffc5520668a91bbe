package main

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/syncbuf"
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
		"-seed", "../../internal/virtpos/virtpostest/testdata/seed.json"}, func(string) string { return "" }); err != nil {
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
