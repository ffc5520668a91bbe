package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// measured is a run whose every goal is met at zero latency.
func measured() result {
	return result{
		n: 100000, customers: 87500, cards: 100000, concurrency: 4,
		first: phase{wall: 10 * time.Second, maxRSS: 80 * mib, calls: callCounts{
			"virtpos GET /customer/update": 87500, "virtpos GET /card/update": 100000, "1C GET Catalog_Партнеры": 90}},
		rerun: phase{wall: 2 * time.Second, maxRSS: 60 * mib, calls: callCounts{"1C GET Catalog_Партнеры": 88}},
		bare:  9 * time.Second, bareCalls: 187500,
		barePaging: 1600 * time.Millisecond,
	}
}

func goalsByName(r result) map[string]goal {
	out := map[string]goal{}
	for _, g := range goals(r) {
		out[g.what] = g
	}
	return out
}

func TestGoals(t *testing.T) {
	const (
		rss     = "peak RSS <= 100 MiB in both phases"
		vsBare  = "first load >= 0.85x the bare client"
		latency = "first load >= 0.9x of calls × latency / concurrency"
		calls   = "no-change rerun makes 0 virtpos calls"
		paging  = "no-change rerun <= 1.3x bare paging"
	)
	for _, tc := range []struct {
		name   string
		change func(*result)
		want   map[string]bool // goal -> met; goals not listed must not be evaluated
	}{
		{"a run at the goals meets every one", func(*result) {},
			map[string]bool{rss: true, vsBare: true, calls: true, paging: true}},
		{"exactly 100 MiB and exactly 0.85x still pass", func(r *result) {
			r.rerun.maxRSS = 100 * mib
			r.bare = 8500 * time.Millisecond
		}, map[string]bool{rss: true, vsBare: true, calls: true, paging: true}},
		{"one phase over 100 MiB misses the memory goal", func(r *result) { r.first.maxRSS = 100*mib + 1 },
			map[string]bool{rss: false, vsBare: true, calls: true, paging: true}},
		{"a first load slower than bare/0.85 misses", func(r *result) { r.first.wall = 11 * time.Second },
			map[string]bool{rss: true, vsBare: false, calls: true, paging: true}},
		{"one virtpos call on the rerun misses", func(r *result) { r.rerun.calls["virtpos GET /customer"] = 1 },
			map[string]bool{rss: true, vsBare: true, calls: false, paging: true}},
		{"a rerun just over 1.3x bare paging misses", func(r *result) { r.rerun.wall = 2081 * time.Millisecond },
			map[string]bool{rss: true, vsBare: true, calls: true, paging: false}},
		// 187,500 calls × 20 ms / 8 = 468.75 s; /0.9 = 520.83 s.
		{"with latency the floor goal replaces the bare one, met", func(r *result) {
			r.latency, r.concurrency, r.first.wall, r.bare = 20*time.Millisecond, 8, 520*time.Second, 470*time.Second
		}, map[string]bool{rss: true, latency: true, calls: true, paging: true}},
		{"with latency, slower than floor/0.9 misses even when close to bare", func(r *result) {
			r.latency, r.concurrency, r.first.wall, r.bare = 20*time.Millisecond, 8, 521*time.Second, 520*time.Second
		}, map[string]bool{rss: true, latency: false, calls: true, paging: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := measured()
			tc.change(&r)
			got := goalsByName(r)
			if len(got) != len(tc.want) {
				t.Errorf("evaluated %d goals, want %d: %v", len(got), len(tc.want), got)
			}
			for what, met := range tc.want {
				g, ok := got[what]
				if !ok {
					t.Errorf("goal %q not evaluated", what)
					continue
				}
				if g.met != met {
					t.Errorf("goal %q met=%v, want %v (%s)", what, g.met, met, g.detail)
				}
			}
		})
	}
}

func TestReportTable(t *testing.T) {
	var buf bytes.Buffer
	writeReport(&buf, measured(), machine{cpus: 2, model: "Test CPU", goVersion: "go1.26 linux/amd64", date: "2026-01-02"})
	out := buf.String()
	lines := strings.Split(out, "\n")
	if len(lines) < 3 {
		t.Fatalf("report too short:\n%s", out)
	}
	header, rule, row := lines[0], lines[1], lines[2]
	cols := strings.Count(header, "|") - 1
	if strings.Count(rule, "|")-1 != cols || strings.Count(row, "|")-1 != cols {
		t.Errorf("header, rule and row have different column counts:\n%s\n%s\n%s", header, rule, row)
	}
	// 187,500 records in 10 s; bare 9 s; rerun 2 s against 1.6 s of paging;
	// 187,500 virtpos calls for 187,500 records.
	for _, cell := range []string{"100,000 + 100,000", "none, 4", "10.00 s", "18,750", "9.00 s", "0.90", "2.00 s",
		"1.60 s", "0.80", "1.00; 0.00", "80 MiB", "60 MiB"} {
		if !strings.Contains(row, "| "+cell+" |") {
			t.Errorf("row lacks cell %q:\n%s", cell, row)
		}
	}
	for _, want := range []string{
		"87,500 are clients", "2 CPUs, Test CPU, go1.26 linux/amd64; 2026-01-02",
		"PASS  peak RSS", "PASS  no-change rerun makes 0 virtpos calls",
		"calls, first load:  virtpos 187,500, 1C 90",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	r := measured()
	r.latency, r.concurrency = 20*time.Millisecond, 8
	buf.Reset()
	writeReport(&buf, r, machine{})
	if row := strings.Split(buf.String(), "\n")[2]; !strings.Contains(row, "| 20ms, 8 |") {
		t.Errorf("row does not name the latency and concurrency:\n%s", row)
	}
	if !strings.Contains(buf.String(), "PASS  first load >= 0.9x of calls × latency / concurrency") {
		t.Errorf("a 10 s load against a 468.75 s floor must pass the latency goal:\n%s", buf.String())
	}
}

func TestSecs(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0.00 s", 1234 * time.Millisecond: "1.23 s",
		1072990 * time.Millisecond: "1,072.99 s"} {
		if got := secs(d); got != want {
			t.Errorf("secs(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1000000: "1,000,000", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCheckCounts(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		want, stored, missing int
		ok                    bool
		mentions              string
	}{
		{"every record once", 10, 10, 0, true, ""},
		{"one more stored than 1C has: a duplicate", 10, 11, 0, false, "1 more than the 1C records it has"},
		{"one lost", 10, 9, 1, false, "1 of 10 customers are not in virtpos"},
		{"one lost and one doubled hide in the total", 10, 10, 1, false, "duplicates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkCounts("customers", tc.want, tc.stored, tc.missing, []string{"k1"})
			if (got == "") != tc.ok {
				t.Fatalf("checkCounts = %q, want ok=%v", got, tc.ok)
			}
			if !strings.Contains(got, tc.mentions) {
				t.Errorf("checkCounts = %q, want it to mention %q", got, tc.mentions)
			}
		})
	}
}

func TestEndpointLabels(t *testing.T) {
	for path, want := range map[string]string{
		"/odata/standard.odata/Catalog_Партнеры":                    "Catalog_Партнеры",
		"/odata/standard.odata/Catalog_Партнеры(guid'0f0e')":        "Catalog_Партнеры(key)",
		"/odata/standard.odata/Catalog_Партнеры/$count":             "Catalog_Партнеры/$count",
		"/odata/standard.odata/$metadata":                           "$metadata",
		"/odata/standard.odata/Document_ЗаказКлиента(guid'1')/Post": "Document_ЗаказКлиента(key)/Post",
	} {
		if got := onecEndpoint(path); got != want {
			t.Errorf("onecEndpoint(%q) = %q, want %q", path, got, want)
		}
	}
	if got := virtposEndpoint("/api/customer/update"); got != "/customer/update" {
		t.Errorf("virtposEndpoint = %q", got)
	}
	c := callCounts{"1C GET Catalog_Партнеры": 5, "1C POST Document_ЗаказКлиента": 2,
		"1C PATCH Catalog_Партнеры(key)": 1, "virtpos GET /customer": 7}
	if c.virtpos() != 7 || writes(c) != 3 {
		t.Errorf("virtpos() = %d (want 7), writes = %d (want 3)", c.virtpos(), writes(c))
	}
}
