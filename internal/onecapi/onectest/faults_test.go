package onectest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func itoa(n int) string                     { return strconv.Itoa(n) }
func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func TestFaults(t *testing.T) {
	t.Run("latency", func(t *testing.T) {
		s, base := startSmall(t)
		s.SetLatency(80 * time.Millisecond)
		start := time.Now()
		call(t, "GET", odataURL(base, SetPartners, "$format", "json"), "")
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Errorf("request took %v, want >= 80ms", d)
		}
	})
	t.Run("big page is 500", func(t *testing.T) {
		s, base := startSmall(t)
		s.SetMaxPage(2)
		wantError(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$top", "3"), ""), 500, "-1")
		decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$top", "2"), ""))
	})
	t.Run("repeat page", func(t *testing.T) {
		s, base := startSmall(t)
		page := func(skip string) []string {
			return column(decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json", "$orderby", "Code", "$top", "1", "$skip", skip), "")), "Code")
		}
		first := page("0")
		s.RepeatNextPage()
		if got := page("1"); got[0] != first[0] {
			t.Errorf("repeated page = %v, want %v", got, first)
		}
		if got := page("1"); got[0] != "00-00000002" {
			t.Errorf("page after repeat = %v", got)
		}
	})
	t.Run("reset after committed write", func(t *testing.T) {
		s, base := startSmall(t)
		s.ResetAfterNextWrites(1)
		req, _ := http.NewRequest("POST", odataURL(base, SetOrders, "$format", "json"),
			strings.NewReader(`{"Date":"2026-07-01T12:00:00","НомерПоДаннымКлиента":"vp-reset"}`))
		req.SetBasicAuth(testUser, testPass)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			t.Fatalf("want a transport error, got %d", res.StatusCode)
		}
		var found bool
		for _, o := range s.All(SetOrders) {
			found = found || o["НомерПоДаннымКлиента"] == "vp-reset"
		}
		if !found {
			t.Error("write not committed before the reset")
		}
		// The fault is one-shot.
		if r := call(t, "POST", odataURL(base, SetOrders, "$format", "json"), `{"Date":"2026-07-01T12:00:00"}`); r.status != 201 {
			t.Errorf("second write = %d", r.status)
		}
	})
	t.Run("failing post keeps document unposted", func(t *testing.T) {
		s, base := startSmall(t)
		s.FailNextPosts(1)
		u := odataURL(base, SetOrders+"(guid'"+keyOrder+"')/Post", "$format", "json", "PostingModeOperational", "false")
		wantError(t, call(t, "POST", u, ""), 500, "-1")
		got, ok := s.Get(SetOrders, keyOrder)
		if !ok || got["Posted"] != false {
			t.Fatalf("after failed Post: %v", got)
		}
		if r := call(t, "POST", u, ""); r.status != 200 {
			t.Fatalf("retry Post = %d", r.status)
		}
	})
	t.Run("exception JSON with BOM", func(t *testing.T) {
		s, base := startSmall(t)
		s.ExceptionOnNext(2)
		for i := 0; i < 2; i++ {
			r := call(t, "GET", odataURL(base, SetPartners, "$format", "json"), "")
			if r.status != 403 || !bytes.HasPrefix(r.body, []byte("\xef\xbb\xbf{\"#exception\"")) {
				t.Fatalf("got %d %q", r.status, r.body)
			}
		}
		decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json"), ""))
	})
	t.Run("HTML application error", func(t *testing.T) {
		s, base := startSmall(t)
		s.HTMLErrorOnNext(1)
		r := call(t, "GET", odataURL(base, SetPartners, "$format", "json"), "")
		if r.status != 500 || !strings.Contains(string(r.body), "<title>1C:Enterprise 8 application error</title>") ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		s.HTMLErrorOnNext(1)
		s.ClearFaults()
		decodeCollection(t, call(t, "GET", odataURL(base, SetPartners, "$format", "json"), ""))
	})
}

func TestGoAPIAndConcurrency(t *testing.T) {
	s, base := startSmall(t)
	before, _ := s.Get(SetPartners, keyBoris)
	upd, err := s.Update(SetPartners, keyBoris, Object{"Description": "Борисов Б. Б."})
	if err != nil || upd["DataVersion"] == before["DataVersion"] {
		t.Fatalf("Update: %v %v", upd, err)
	}
	if err := s.SoftDelete(SetPartners, keyBoris); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Get(SetPartners, keyBoris)
	if after["DeletionMark"] != true || after["DataVersion"] == upd["DataVersion"] {
		t.Errorf("after SoftDelete: %v", after)
	}
	if _, err := s.Update(SetPartners, keyBoris, Object{"ДатаРождения": 3.5}); err == nil {
		t.Error("Update accepted a float for a date")
	}
	if err := s.Delete(SetPartners, keyBoris); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(SetPartners, keyBoris); err == nil {
		t.Error("second Delete did not fail")
	}
	if _, err := s.Put("Catalog_Нет", Object{}); err == nil {
		t.Error("Put to an unknown set did not fail")
	}
	var wg sync.WaitGroup
	errc := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := s.Put(SetItems, Object{"Code": "x", "Description": "Товар"}); err != nil {
				errc <- err
			}
		}()
		go func() {
			defer wg.Done()
			// call would t.Fatal off the test goroutine: build the request here.
			req, err := http.NewRequest("GET", odataURL(base, SetItems, "$format", "json"), nil)
			if err != nil {
				errc <- err
				return
			}
			req.SetBasicAuth(testUser, testPass)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				errc <- err
				return
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				errc <- errors.New(res.Status)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := len(s.All(SetItems)); n != 21 {
		t.Errorf("items = %d, want 21", n)
	}
}
