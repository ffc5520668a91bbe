package onectest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Faults are the fake's standing fault knobs, drawn at a rate from a
// seeded source: the same seed and the same requests give the same
// faults. Set them with Options.Faults or SetFaults (cmd/onec-fake has a
// -fault-* flag for each). The one-shot knobs (ResetAfterNextWrites,
// RepeatNextPage, ...) work beside them.
type Faults struct {
	// Seed seeds every rate drawn. 0 means 1.
	Seed uint64
	// LostReplyRate is the share of writes (POST, PATCH, Post) carried
	// out and then answered by closing the connection: 1C saved, the
	// client cannot know.
	LostReplyRate float64
	// PageErrorRate is the share of collection pages after the first
	// ($skip > 0) answered with a 5xx (1C's HTML application-error 500 or
	// a proxy's 502), as a worker crashing mid-sweep.
	PageErrorRate float64
	// ChurnRate is the share of pages after the first before which the
	// paged set changes, as users keep working during a sweep: a record's
	// DataVersion bumped, a record inserted (a copy under a new key), or
	// one deleted.
	ChurnRate float64
	// IgnoreSkip answers every page as if $skip were 0, as a publication
	// behind a broken proxy does.
	IgnoreSkip bool
	// Latency delays every request before it is carried out.
	Latency time.Duration
	// SlowReplyRate is the share of requests whose reply SlowReply
	// delays after the request was carried out (a write is saved, then
	// the reply comes late: past the client's timeout, its outcome is
	// unknown to it). 0 with SlowReply set means every request.
	SlowReplyRate float64
	SlowReply     time.Duration
}

// Validate reports a rate outside 0..1 or a negative duration.
func (f Faults) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"LostReplyRate", f.LostReplyRate}, {"PageErrorRate", f.PageErrorRate}, {"ChurnRate", f.ChurnRate},
		{"SlowReplyRate", f.SlowReplyRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("onectest: faults: %s %v: want a share between 0 and 1", r.name, r.v)
		}
	}
	if f.Latency < 0 || f.SlowReply < 0 {
		return fmt.Errorf("onectest: faults: Latency %v, SlowReply %v: want durations of 0 or more", f.Latency, f.SlowReply)
	}
	return nil
}

// faultState is the armed fault injection. Guarded by Server.mu.
type faultState struct {
	cfg             Faults
	rng             *rand.Rand
	churned         int // records inserted by churn, for unique values
	maxTop          int // 0 = no limit
	repeatPage      bool
	resetAfterWrite int
	failPost        int
	exceptionNext   int
	htmlNext        int
	counts          map[string]int // injected faults by kind, see FaultCounts
}

func newFaultState(cfg Faults) faultState {
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	return faultState{cfg: cfg, rng: rand.New(rand.NewPCG(seed, 0x1c0de)), counts: map[string]int{}}
}

// FaultCounts returns how many faults the fake injected since it started
// or since the last SetFaults or ClearFaults, by kind: "lost_reply", "page_5xx", "churn",
// "slow_reply", "ignored_skip". One-shot knobs count too ("lost_reply"
// for ResetAfterNextWrites).
func (s *Server) FaultCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.faults.counts)
}

// hit draws one event of the given rate.
func (f *faultState) hit(rate float64) bool { return rate > 0 && f.rng.Float64() < rate }

// takenFaults are the faults applying to one request.
type takenFaults struct {
	latency    time.Duration
	slow       time.Duration // delay of the reply, after the work
	shape      string        // "exception", "html" or "502"
	bigPage    bool
	maxTop     int
	repeatPage bool
	ignoreSkip bool
	churn      bool // change the paged set before answering
}

// take consumes the one-shot faults for a request and draws the rated
// ones. Write faults are taken by every request but only act on writes,
// so they are consumed only when a write happens: that keeps a test's
// "next write" meaning "next write".
func (f *faultState) take(method string, q url.Values) takenFaults {
	t := takenFaults{latency: f.cfg.Latency, maxTop: f.maxTop}
	if f.cfg.SlowReply > 0 && (f.cfg.SlowReplyRate == 0 || f.hit(f.cfg.SlowReplyRate)) {
		t.slow = f.cfg.SlowReply
		f.counts["slow_reply"]++
	}
	switch {
	case f.exceptionNext > 0:
		f.exceptionNext--
		t.shape = "exception"
		return t
	case f.htmlNext > 0:
		f.htmlNext--
		t.shape = "html"
		return t
	}
	laterPage := method == http.MethodGet && q.Get("$top") != "" && q.Get("$skip") != "" && q.Get("$skip") != "0"
	if laterPage && f.hit(f.cfg.PageErrorRate) {
		f.counts["page_5xx"]++
		t.shape = "html"
		if f.rng.IntN(2) == 0 {
			t.shape = "502"
		}
		return t
	}
	t.churn = laterPage && f.hit(f.cfg.ChurnRate)
	if t.churn {
		f.counts["churn"]++
	}
	t.ignoreSkip = f.cfg.IgnoreSkip
	if laterPage && t.ignoreSkip {
		f.counts["ignored_skip"]++
	}
	if f.maxTop > 0 {
		if n, err := strconv.Atoi(q.Get("$top")); err == nil && n > f.maxTop {
			t.bigPage = true
		}
	}
	if f.repeatPage && q.Get("$top") != "" {
		f.repeatPage = false
		t.repeatPage = true
	}
	return t
}

// SetFaults arms the standing faults (replacing earlier ones; the
// one-shot knobs stay), restarts their random source from f.Seed and the
// FaultCounts from zero.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newFaultState(f)
	n.maxTop, n.repeatPage, n.resetAfterWrite = s.faults.maxTop, s.faults.repeatPage, s.faults.resetAfterWrite
	n.failPost, n.exceptionNext, n.htmlNext = s.faults.failPost, s.faults.exceptionNext, s.faults.htmlNext
	s.faults = n
	return nil
}

// churn changes the set being paged, as a user working in 1C during a
// sweep: bumps a record's DataVersion, inserts a copy of one under a new
// key, or deletes one. Caller holds s.mu.
func (s *Server) churn(set string) {
	es, ok := s.sets[set]
	if !ok {
		return
	}
	live := es.live()
	if len(live) == 0 {
		return
	}
	f := &s.faults
	r := es.rec(live[f.rng.IntN(len(live))])
	switch f.rng.IntN(3) {
	case 0:
		s.put(es, es.object(r))
	case 1:
		s.put(es, s.churnCopy(es, es.object(r)))
	default:
		s.remove(es, r)
	}
}

// churnCopy is a new record like o (the caller's copy, changed here): a new
// key, a new Code or Number, no tabular rows (no contacts to clash), and
// new card codes (a magnetic one where the old one was, ";…?").
func (s *Server) churnCopy(es *entitySet, o Object) Object {
	f := &s.faults
	f.churned++
	desc, _ := o["Description"].(string)
	codes := make([]string, len(es.typ.cardCodes))
	for i, name := range es.typ.cardCodes {
		codes[i], _ = o[name].(string)
	}
	o["Ref_Key"] = demoGUID(f.rng).String()
	delete(o, "Code")
	delete(o, "Number")
	for _, t := range es.typ.Tabs {
		o[t.Name] = []Object{}
	}
	newDesc := fmt.Sprintf("%s (копия %d)", desc, f.churned)
	for i, name := range es.typ.cardCodes {
		old := codes[i]
		if old == "" {
			continue
		}
		code := fmt.Sprintf("29%011d", f.churned)
		if strings.HasPrefix(old, ";") {
			code = fmt.Sprintf(";88%08d?", f.churned)
		}
		o[name] = code
		if desc == old {
			newDesc = code
		}
	}
	if _, ok := o["Description"]; ok {
		o["Description"] = newDesc
	}
	return o
}

// SetLatency delays every request by d (0 turns it off).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.cfg.Latency = d
}

// SetMaxPage makes any request with $top greater than n fail with HTTP 500
// (code -1), as a 1C server running out of memory does. 0 turns it off.
func (s *Server) SetMaxPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.maxTop = n
}

// RepeatNextPage makes the next paged collection request (one with $top)
// return the previous collection response's content again.
func (s *Server) RepeatNextPage() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.repeatPage = true
}

// ResetAfterNextWrites makes the next n committed writes (POST, PATCH,
// DELETE, Post) close the connection instead of answering: the write is
// saved, the client sees a reset.
func (s *Server) ResetAfterNextWrites(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.resetAfterWrite = n
}

// FailNextPosts makes the next n Post actions fail with HTTP 500, code -1;
// the document stays saved and unposted.
func (s *Server) FailNextPosts(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failPost = n
}

// ExceptionOnNext answers the next n requests with the 403 "#exception"
// JSON (with a UTF-8 BOM) that 1C's HTTP layer sends.
func (s *Server) ExceptionOnNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.exceptionNext = n
}

// HTMLErrorOnNext answers the next n requests with the HTML page titled
// "1C:Enterprise 8 application error" and HTTP 500.
func (s *Server) HTMLErrorOnNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.htmlNext = n
}

// ClearFaults turns every fault off, standing and one-shot.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = newFaultState(Faults{})
}

// consumeWriteFaults is called under s.mu by a committing write.
func (s *Server) consumeWriteFaults(isPost bool) (reset, failPost bool) {
	if isPost && s.faults.failPost > 0 {
		s.faults.failPost--
		return false, true
	}
	if s.faults.resetAfterWrite > 0 || s.faults.hit(s.faults.cfg.LostReplyRate) {
		s.faults.resetAfterWrite = max(0, s.faults.resetAfterWrite-1)
		s.faults.counts["lost_reply"]++
		return true, false
	}
	return false, false
}

// exceptionBody is what 1C's web extension answers when the infobase
// refuses a session; note the UTF-8 BOM.
const exceptionBody = "\ufeff" + `{"#exception":{"descr":"Недостаточно прав для работы с базой данных. Пользователь: фальшивый","clsid":"580392e6-ba49-4280-ac67-fcd6f2180121"}}`

const htmlErrorBody = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN">
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>1C:Enterprise 8 application error</title></head>
<body><h1>Ошибка приложения 1С:Предприятия 8</h1><p>Ошибка при выполнении запроса POST к ресурсу /e1cib/odata: Сеанс работы завершен администратором.</p></body></html>`

const proxy502Body = `<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>`

func writeFaultShape(w http.ResponseWriter, shape string) {
	switch shape {
	case "502":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(proxy502Body))
	case "exception":
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(exceptionBody))
	default:
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(htmlErrorBody))
	}
}

// slowWriter holds the reply back: the work is done, the answer is late.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
	done  <-chan struct{} // the request's context
	slept bool
}

func (w *slowWriter) wait() {
	if w.slept {
		return
	}
	w.slept = true
	t := time.NewTimer(w.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.done:
	}
}

func (w *slowWriter) WriteHeader(code int) { w.wait(); w.ResponseWriter.WriteHeader(code) }

func (w *slowWriter) Write(b []byte) (int, error) { w.wait(); return w.ResponseWriter.Write(b) }

// Unwrap lets http.ResponseController reach Hijack (a lost reply).
func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func closeConn(c net.Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST rather than FIN: a real reset
	}
	return c.Close()
}
