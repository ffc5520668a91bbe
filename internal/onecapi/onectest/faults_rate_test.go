package onectest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// startWith runs a fake with the demo data and the given standing faults.
func startWith(t *testing.T, f Faults) (*Server, string) {
	t.Helper()
	return StartTest(t, Options{User: testUser, Password: testPass, Faults: f}, DemoSeed(30, 20, 2, 1))
}

// post sends a create and reports whether a reply came back.
func post(t *testing.T, c *http.Client, base, marker string) bool {
	t.Helper()
	req, _ := http.NewRequest("POST", odataURL(base, SetOrders, "$format", "json"),
		strings.NewReader(`{"Date":"2026-07-01T12:00:00","НомерПоДаннымКлиента":"`+marker+`"}`))
	req.SetBasicAuth(testUser, testPass)
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("create %s: HTTP %d", marker, res.StatusCode)
	}
	return true
}

func markers(s *Server) []string {
	var out []string
	for _, o := range s.All(SetOrders) {
		if m, _ := o["НомерПоДаннымКлиента"].(string); strings.HasPrefix(m, "vp-") {
			out = append(out, m)
		}
	}
	return out
}

func page(t *testing.T, base, skip string) []string {
	t.Helper()
	return column(decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$orderby", "Ref_Key",
		"$top", "5", "$skip", skip), "")), "Ref_Key")
}

func TestRatedFaults(t *testing.T) {
	t.Run("every write carried out, its reply lost", func(t *testing.T) {
		s, base := startWith(t, Faults{LostReplyRate: 1})
		if post(t, http.DefaultClient, base, "vp-lost") {
			t.Fatal("a reply came back")
		}
		if got := markers(s); !slices.Equal(got, []string{"vp-lost"}) {
			t.Fatalf("documents %v, want the one whose reply was lost", got)
		}
		if n := s.FaultCounts()["lost_reply"]; n != 1 {
			t.Fatalf("FaultCounts lost_reply = %d, want 1", n)
		}
	})
	t.Run("one seed, one pattern of lost replies", func(t *testing.T) {
		pattern := func(seed uint64) string {
			_, base := startWith(t, Faults{Seed: seed, LostReplyRate: 0.5})
			var b strings.Builder
			for i := range 24 {
				if post(t, http.DefaultClient, base, "vp-"+itoa(i)) {
					b.WriteByte('.')
				} else {
					b.WriteByte('x')
				}
			}
			return b.String()
		}
		a, b, c := pattern(7), pattern(7), pattern(8)
		if a != b || a == c || !strings.Contains(a, "x") || !strings.Contains(a, ".") {
			t.Fatalf("seed 7: %s and %s; seed 8: %s", a, b, c)
		}
	})
	t.Run("5xx on pages after the first only", func(t *testing.T) {
		s, base := startWith(t, Faults{PageErrorRate: 1})
		if got := page(t, base, "0"); len(got) != 5 {
			t.Fatalf("first page: %v", got)
		}
		for range 4 {
			r := call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$top", "5", "$skip", "5"), "")
			if r.status != 500 && r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("later page: HTTP %d %s", r.status, r.body)
			}
		}
		if r := call(t, "GET", odataURL(base, SetItems, "$format", "json", "$filter", "Code eq '1001'"), ""); r.status != 200 {
			t.Fatalf("a look-up without paging failed: %d", r.status)
		}
		if n := s.FaultCounts()["page_5xx"]; n != 4 {
			t.Fatalf("FaultCounts page_5xx = %d, want 4", n)
		}
	})
	t.Run("the set changes between pages", func(t *testing.T) {
		s, base := startWith(t, Faults{ChurnRate: 1})
		versions := func() map[string]any {
			m := map[string]any{}
			for _, o := range s.All(SetPartners) {
				m[o["Ref_Key"].(string)] = o["DataVersion"]
			}
			return m
		}
		before := versions()
		page(t, base, "0")
		if after := versions(); len(after) != len(before) {
			t.Fatal("the first page changed the set")
		}
		changed := 0
		for i := range 12 {
			page(t, base, itoa(5+i%3))
			after := versions()
			for k, v := range after {
				if before[k] != v {
					changed++
				}
			}
			changed += len(before) - min(len(before), len(after))
			before = after
		}
		if changed < 12 {
			t.Fatalf("%d changes over 12 later pages, want one before each", changed)
		}
		for _, o := range s.All(SetPartners) {
			if d, _ := o["Description"].(string); strings.Contains(d, "(копия") && len(o["КонтактнаяИнформация"].([]Object)) != 0 {
				t.Fatalf("an inserted copy kept the contacts of its original: %v", o)
			}
		}
	})
	t.Run("a publication that ignores $skip", func(t *testing.T) {
		_, base := startWith(t, Faults{IgnoreSkip: true})
		if a, b := page(t, base, "0"), page(t, base, "5"); !slices.Equal(a, b) {
			t.Fatalf("$skip=5 gave %v, $skip=0 %v", b, a)
		}
	})
	t.Run("a slow reply to a write: carried out, the client times out", func(t *testing.T) {
		s, base := startWith(t, Faults{SlowReply: time.Minute})
		if post(t, &http.Client{Timeout: 50 * time.Millisecond}, base, "vp-slow") {
			t.Fatal("the reply was not held back")
		}
		if got := markers(s); !slices.Equal(got, []string{"vp-slow"}) {
			t.Fatalf("documents %v, want the slow one saved", got)
		}
	})
	t.Run("invalid knobs are refused", func(t *testing.T) {
		s, _ := startWith(t, Faults{})
		for _, f := range []Faults{{LostReplyRate: 1.5}, {ChurnRate: -0.1}, {Latency: -time.Second}} {
			if err := s.SetFaults(f); err == nil {
				t.Errorf("SetFaults(%+v) accepted", f)
			}
		}
	})
	t.Run("ClearFaults ends them", func(t *testing.T) {
		s, base := startWith(t, Faults{LostReplyRate: 1, IgnoreSkip: true})
		s.ClearFaults()
		if !post(t, http.DefaultClient, base, "vp-ok") || slices.Equal(page(t, base, "0"), page(t, base, "5")) {
			t.Fatal("faults still armed")
		}
	})
}

// TestFaultCountsRestartWithSetFaults: a scenario arms faults, runs, and
// reads what was injected during it alone.
func TestFaultCountsRestartWithSetFaults(t *testing.T) {
	s, base := startWith(t, Faults{LostReplyRate: 1})
	post(t, http.DefaultClient, base, "vp-a")
	if err := s.SetFaults(Faults{LostReplyRate: 1}); err != nil {
		t.Fatal(err)
	}
	post(t, http.DefaultClient, base, "vp-b")
	post(t, http.DefaultClient, base, "vp-c")
	if n := s.FaultCounts()["lost_reply"]; n != 2 {
		t.Fatalf("lost_reply = %d since SetFaults, want 2", n)
	}
}
