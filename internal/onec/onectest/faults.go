package onectest

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// faultState is the armed fault injection. Guarded by Server.mu.
type faultState struct {
	latency         time.Duration
	maxTop          int // 0 = no limit
	repeatPage      bool
	resetAfterWrite int
	failPost        int
	exceptionNext   int
	htmlNext        int
}

// takenFaults are the faults applying to one request.
type takenFaults struct {
	latency    time.Duration
	shape      string // "exception" or "html"
	bigPage    bool
	maxTop     int
	repeatPage bool
}

// take consumes the one-shot faults for a request. Write faults are taken
// by every request but only act on writes, so they are consumed only when
// a write happens: that keeps a test's "next write" meaning "next write".
func (f *faultState) take(q url.Values) takenFaults {
	t := takenFaults{latency: f.latency, maxTop: f.maxTop}
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

// SetLatency delays every request by d (0 turns it off).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
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

// ClearFaults turns every fault off.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faultState{}
}

// consumeWriteFaults is called under s.mu by a committing write.
func (s *Server) consumeWriteFaults(isPost bool) (reset, failPost bool) {
	if isPost && s.faults.failPost > 0 {
		s.faults.failPost--
		return false, true
	}
	if s.faults.resetAfterWrite > 0 {
		s.faults.resetAfterWrite--
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

func writeFaultShape(w http.ResponseWriter, shape string) {
	switch shape {
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

func closeConn(c net.Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST rather than FIN: a real reset
	}
	return c.Close()
}
