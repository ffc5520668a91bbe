package main

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/virtsync/virtsync"
)

func TestParseArgs(t *testing.T) {
	env := func(k string) string {
		if k == "VIRTSYNC_CONFIG" {
			return "/etc/from-env.yaml"
		}
		return ""
	}
	noEnv := func(string) string { return "" }
	cases := []struct {
		name  string
		args  []string
		env   func(string) string
		want  Options
		usage bool
		msg   string // part of the usage error, naming the flag
	}{
		{name: "daemon default config", args: nil, env: noEnv, want: Options{Config: "virtsync.yaml", Output: "text"}},
		{name: "config from env", args: nil, env: env, want: Options{Config: "/etc/from-env.yaml", Output: "text"}},
		{name: "flag beats env", args: []string{"-config", "x.yaml"}, env: env, want: Options{Config: "x.yaml", Output: "text"}},
		{name: "double dash with equals", args: []string{"--config=x.yaml", "-once"}, env: noEnv, want: Options{Config: "x.yaml", Once: true, Output: "text"}},
		{name: "once one job", args: []string{"-once", "-job", "cards"}, env: noEnv, want: Options{Config: "virtsync.yaml", Once: true, Job: "cards", Output: "text"}},
		{name: "status after globals", args: []string{"-config", "/etc/virtsync.yaml", "status"}, env: noEnv, want: Options{Config: "/etc/virtsync.yaml", Command: "status", Output: "text"}},
		{name: "failures replay", args: []string{"failures", "-replay"}, env: noEnv, want: Options{Config: "virtsync.yaml", Command: "failures", Replay: true, Output: "text"}},
		{name: "failures one job", args: []string{"failures", "--job=orders"}, env: noEnv, want: Options{Config: "virtsync.yaml", Command: "failures", Job: "orders", Output: "text"}},
		{name: "resync list", args: []string{"-resync", "cards,customers"}, env: noEnv, want: Options{Config: "virtsync.yaml", Resync: "cards,customers", Output: "text"}},
		{name: "unknown command", args: []string{"stats"}, env: noEnv, usage: true},
		{name: "unknown flag", args: []string{"-onse"}, env: noEnv, usage: true},
		{name: "unknown job", args: []string{"-once", "-job", "products"}, env: noEnv, usage: true},
		{name: "bad resync", args: []string{"-resync", "all,bogus"}, env: noEnv, usage: true},
		{name: "once and resync", args: []string{"-once", "-resync", "all"}, env: noEnv, usage: true},
		{name: "job without once", args: []string{"-job", "cards"}, env: noEnv, usage: true},
		{name: "status with once", args: []string{"-once", "status"}, env: noEnv, usage: true},
		{name: "an explicitly empty resync does not start the daemon", args: []string{"-resync", ""}, env: noEnv, usage: true,
			msg: "-resync was given an empty value: want all or a comma list of customers, cards, orders"},
		{name: "an empty resync after an equals sign", args: []string{"--resync="}, env: noEnv, usage: true, msg: "-resync was given an empty value"},
		{name: "a blank resync", args: []string{"-resync", "  "}, env: noEnv, usage: true, msg: "-resync was given an empty value"},
		{name: "a resync list with an empty entry", args: []string{"-resync", "customers,"}, env: noEnv, usage: true, msg: `-resync: unknown job ""`},
		{name: "an explicitly empty job with once", args: []string{"-once", "-job", ""}, env: noEnv, usage: true,
			msg: "-job was given an empty value: want one of customers, cards, orders"},
		{name: "an explicitly empty job for failures", args: []string{"failures", "-job", ""}, env: noEnv, usage: true,
			msg: "failures: -job was given an empty value"},
		{name: "an explicitly empty config does not fall back", args: []string{"-config", ""}, env: env, usage: true,
			msg: "-config was given an empty value"},
		{name: "dry run of once as json", args: []string{"-once", "-dry-run", "-o", "json"}, env: noEnv,
			want: Options{Config: "virtsync.yaml", Once: true, DryRun: true, Output: "json"}},
		{name: "dry run of a resync", args: []string{"-resync", "cards", "-dry-run"}, env: noEnv,
			want: Options{Config: "virtsync.yaml", Resync: "cards", DryRun: true, Output: "text"}},
		{name: "dry run alone", args: []string{"-dry-run"}, env: noEnv, usage: true, msg: "-dry-run goes with -once or -resync"},
		{name: "json without a dry run", args: []string{"-once", "-o", "json"}, env: noEnv, usage: true, msg: "-o json goes with -dry-run"},
		{name: "an unknown output", args: []string{"-once", "-dry-run", "-o", "yaml"}, env: noEnv, usage: true, msg: `-o "yaml": want text or json`},
		{name: "check", args: []string{"check"}, env: noEnv, want: Options{Config: "virtsync.yaml", Command: "check", Output: "text"}},
		{name: "check takes nothing", args: []string{"check", "now"}, env: noEnv, usage: true, msg: "check takes no arguments"},
		{name: "explain a key", args: []string{"explain", "guid:0b1e"}, env: noEnv,
			want: Options{Config: "virtsync.yaml", Command: "explain", Key: "guid:0b1e", Output: "text"}},
		{name: "explain needs a key", args: []string{"explain"}, env: noEnv, usage: true, msg: "explain takes one key"},
		{name: "a boolean flag is never empty", args: []string{"-once=false"}, env: noEnv, want: Options{Config: "virtsync.yaml", Output: "text"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, tc.env, io.Discard)
			if tc.usage {
				if !errors.Is(err, errUsage) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %q, want it to contain %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResyncJobsOrder(t *testing.T) {
	o := Options{Resync: "orders,customers"}
	got, err := o.ResyncJobs()
	if err != nil || !reflect.DeepEqual(got, []string{"customers", "orders"}) {
		t.Fatalf("got %v, %v; want customers before orders", got, err)
	}
	o.Resync = "all"
	got, _ = o.ResyncJobs()
	if !reflect.DeepEqual(got, virtsync.Jobs()) {
		t.Fatalf("all = %v", got)
	}
}

// TestEmptyFlagExitsTwo runs the whole program: an explicitly empty flag
// stops before any config is read, with exit 2 and the flag's name.
func TestEmptyFlagExitsTwo(t *testing.T) {
	for _, args := range [][]string{{"-resync", ""}, {"-once", "-job="}, {"failures", "-job", ""}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr strings.Builder
			m := &Main{Stdout: io.Discard, Stderr: &stderr, LookupEnv: func(string) (string, bool) { return "", false }}
			if code := runMain(t, m, append([]string{"-config", "/nonexistent/virtsync.yaml"}, args...)...); code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), "was given an empty value") {
				t.Errorf("stderr does not name the empty flag:\n%s", stderr.String())
			}
		})
	}
}
