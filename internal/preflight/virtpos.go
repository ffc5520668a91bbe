package preflight

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/redact"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

const (
	fixVirtposNet = "check the host of virtpos.base_url (https://<company>.myvirtualpos.ru/api) and that this host " +
		"may reach it (firewall, proxy)"
	fixVirtposKey = "set virtpos.apikey (VIRTPOS_APIKEY) to the API key of this company's virtpos account"
)

// controlPath is a path no API has: how it answers a keyless request tells
// whether such a request can tell a real endpoint from a wrong path.
const controlPath = "/virtsync-check-no-such-endpoint"

func checkVirtpos(ctx context.Context, in Inputs, ls *lines) {
	cfg := in.Config.Virtpos
	base := displayURL(cfg.BaseURL)
	if in.VirtposErr != nil || in.Virtpos == nil {
		ls.fail("virtpos client", errText(in.VirtposErr), "correct the virtpos.* keys named above")
		ls.skip("virtpos reachable, apikey, paths", "the virtpos client could not be built")
		return
	}
	keyOK, reachable := checkKey(ctx, in.Virtpos, base, ls)
	if !reachable {
		ls.skip("virtpos.paths", "virtpos is not reachable at virtpos.base_url")
		return
	}
	checkPaths(ctx, in, keyOK, ls)
}

// checkKey reads one customer with the apikey: the harmless read that says
// whether virtpos is reachable and takes the key.
func checkKey(ctx context.Context, vp Virtpos, base string, ls *lines) (keyOK, reachable bool) {
	const reach, key = "virtpos reachable", "virtpos apikey"
	page, err := vp.Customers(ctx, virtposapi.CustomerQuery{PageSize: 1})
	var te *virtposapi.TransientError
	var he *virtposapi.HTTPError
	var ae *virtposapi.APIError
	switch {
	case err == nil:
		ls.ok(reach, "virtpos.base_url "+base+" answers")
		d := "accepted: GET customer (page_size=1) answered"
		if page.Count >= 0 {
			d += fmt.Sprintf("; virtpos holds %d customer(s)", page.Count)
		}
		ls.ok(key, d)
		return true, true
	case virtposapi.IsAuth(err):
		ls.ok(reach, "virtpos.base_url "+base+" answers")
		ls.fail(key, "refused: GET customer answered "+authWords(err), fixVirtposKey)
		return false, true
	case errors.Is(err, virtposapi.ErrRedirect):
		ls.fail(reach, err.Error(), "set virtpos.base_url to the address the redirect points to "+
			"(virtsync never follows a redirect: it would carry the apikey elsewhere)")
		return false, false
	case errors.As(err, &te) && te.Status == 0:
		ls.fail(reach, "no answer from "+base+": "+err.Error(), fixVirtposNet)
		return false, false
	case errors.As(err, &te) && (te.Status >= 500 || te.Status == http.StatusTooManyRequests):
		ls.fail(reach, base+" answers with an error: "+err.Error(),
			"virtpos, or a proxy in front of it, fails: try again later; if it lasts, check virtpos.base_url")
		return false, false
	case errors.As(err, &te), errors.As(err, &he):
		// An answer, but not the API's: the path line below says which.
		ls.ok(reach, "virtpos.base_url "+base+" answers")
		ls.skip(key, "GET customer does not answer like the API (see virtpos.paths.customer below)")
		return false, true
	case errors.As(err, &ae):
		ls.ok(reach, "virtpos.base_url "+base+" answers")
		ls.ok(key, "accepted: GET customer (page_size=1) answered success=0 for another reason: "+ae.Info)
		return true, true
	default:
		ls.fail(reach, err.Error(), fixVirtposNet)
		return false, false
	}
}

// authWords says how virtpos refused the key.
func authWords(err error) string {
	var ae *virtposapi.AuthError
	switch {
	case !errors.As(err, &ae):
		return err.Error()
	case ae.Info != "":
		return fmt.Sprintf("success=0, %q", shortText(redact.Text(ae.Info), 80))
	}
	return fmt.Sprintf("HTTP %d", ae.Status)
}

// checkPaths probes every configured path without the apikey and without
// parameters: a request the API cannot authorise cannot write, whatever the
// endpoint would do with missing parameters (card/insert always creates,
// and virtpos generates a card's barcode when none is given). An endpoint
// answers with its envelope (success=0, "invalid apikey"); a wrong path
// with a 404 or an HTML page.
func checkPaths(ctx context.Context, in Inputs, keyOK bool, ls *lines) {
	cfg := in.Config.Virtpos
	hc := in.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cmpDuration(cfg.Timeout.D(), 30*time.Second)}
	} else {
		c := *hc
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := probe{hc: hc, cfg: cfg}

	// When a keyless request to a path that exists nowhere gets the
	// envelope too, the probes cannot tell a wrong path from a right one.
	control := p.do(ctx, controlPath)
	blind := control.envelope

	for _, pt := range []struct{ key, path, def string }{
		{"orders", cfg.Paths.Orders, virtposapi.OrdersPathDefault},
		{"customer", cfg.Paths.Customer, virtposapi.CustomerPathDefault},
		{"customer_update", cfg.Paths.CustomerUpdate, virtposapi.CustomerUpdatePathDefault},
		{"card_update", cfg.Paths.CardUpdate, virtposapi.CardUpdatePathDefault},
		{"card_insert", cfg.Paths.CardInsert, virtposapi.CardInsertPathDefault},
		{"card_delete", cfg.Paths.CardDelete, virtposapi.CardDeletePathDefault},
	} {
		name := "virtpos.paths." + pt.key
		path := "/" + strings.TrimLeft(cmp.Or(pt.path, pt.def), "/")
		fix := fmt.Sprintf("set virtpos.paths.%s to the endpoint's path below virtpos.base_url (default %s)", pt.key, pt.def)
		res := p.do(ctx, path)
		switch {
		case !res.ok:
			ls.fail(name, path+": "+res.detail, fix)
			continue
		case blind && (pt.key != "orders" && pt.key != "customer"):
			ls.skip(name, path+": this virtpos answers a request without the apikey alike on every path, "+
				"even one that does not exist, and a check never calls a write endpoint with the key")
			continue
		case blind && !keyOK:
			ls.skip(name, path+": this virtpos answers a request without the apikey alike on every path, "+
				"and the apikey was not accepted for a read")
			continue
		case blind:
			res.detail = "answers with the apikey (without it every path answers alike)"
		}
		switch pt.key {
		case "orders":
			if !keyOK {
				ls.ok(name, path+": "+res.detail+"; orders not read: the apikey was not accepted")
				continue
			}
			if d, err := readEmptyWindow(ctx, in.Virtpos, in.Now()); err != nil {
				ls.fail(name, path+": "+d+": "+err.Error(), "check virtpos.format (json or xml) and "+fix)
			} else {
				ls.ok(name, path+": "+res.detail+"; "+d)
			}
		default:
			ls.ok(name, path+": "+res.detail)
		}
	}
}

// readEmptyWindow reads orders for a day that has none yet, with the key:
// it proves the orders stream decodes in virtpos.format. A server that
// ignores the dates is stopped at the first order.
func readEmptyWindow(ctx context.Context, vp Virtpos, now time.Time) (string, error) {
	day := now.AddDate(0, 0, 2)
	n := 0
	err := vp.Orders(ctx, virtposapi.OrdersQuery{DateFrom: day, DateTo: day}, func(*virtposapi.Order) error {
		n++
		return errEnough
	})
	what := "GET orders for " + day.Format(time.DateOnly)
	switch {
	case err != nil && !errors.Is(err, errEnough):
		return what, err
	case n > 0:
		return what + " returned an order dated later than today: virtpos seems to ignore datefrom/dateto", nil
	}
	return what + " (no orders yet) decoded", nil
}

// probe sends keyless requests to virtpos paths.
type probe struct {
	hc  *http.Client
	cfg config.VirtposConfig
}

type probeResult struct {
	ok       bool
	envelope bool
	detail   string
}

// do sends the configured method to path with format and nothing else,
// and judges the answer.
func (p probe) do(ctx context.Context, path string) probeResult {
	u := strings.TrimRight(p.cfg.BaseURL, "/") + path + "?format=" + strings.ToLower(cmp.Or(p.cfg.Format, virtposapi.FormatDefault))
	method := strings.ToUpper(cmp.Or(p.cfg.Method, virtposapi.MethodDefault))
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return probeResult{detail: "cannot build the request: " + errText(errno(err))}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	req.Header.Set("User-Agent", "virtsync-check")
	resp, err := p.hc.Do(req)
	if err != nil {
		return probeResult{detail: "no answer: " + transportText(err)}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return judge(resp, head)
}

// judge says whether an answer is the API's.
func judge(resp *http.Response, head []byte) probeResult {
	status := resp.StatusCode
	ctype := resp.Header.Get("Content-Type")
	if env, info := envelope(head); env {
		d := "answers like the API"
		if info != "" {
			d += fmt.Sprintf(" (without the apikey: success=0, %q)", shortText(redact.Text(info), 80))
		}
		return probeResult{ok: true, envelope: true, detail: d}
	}
	html := isHTML(ctype, head)
	switch {
	case status >= 300 && status < 400:
		loc := displayURL(resp.Header.Get("Location"))
		return probeResult{detail: fmt.Sprintf("HTTP %d, a redirect to %s, not an API reply", status, loc)}
	case status == http.StatusNotFound:
		d := "HTTP 404: no endpoint at this path"
		if html {
			d += pageTitle(head)
		}
		return probeResult{detail: d}
	case (status == http.StatusUnauthorized || status == http.StatusForbidden) && !html:
		return probeResult{ok: true, detail: fmt.Sprintf("answers HTTP %d to a request without the apikey, as an API endpoint does", status)}
	case html:
		return probeResult{detail: fmt.Sprintf("HTTP %d: an HTML page%s instead of an API reply", status, pageTitle(head))}
	}
	what := ctype
	if what == "" {
		what = "no content type"
	}
	return probeResult{detail: fmt.Sprintf("HTTP %d (%s, %d bytes): not a virtpos reply (no success field)", status, what, len(head))}
}

// envelope recognises a virtpos reply in either format: a JSON object or
// an XML document with a success field at its top. The info text of an
// error reply comes along.
func envelope(body []byte) (bool, string) {
	b := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	switch {
	case len(b) == 0:
		return false, ""
	case b[0] == '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return false, ""
		}
		if _, ok := m["success"]; !ok {
			return false, ""
		}
		var info string
		_ = json.Unmarshal(m["info"], &info)
		return true, info
	case b[0] == '<':
		dec := xml.NewDecoder(bytes.NewReader(b))
		dec.Strict = false
		depth := 0
		found, info := false, ""
		for {
			tok, err := dec.Token()
			if err != nil {
				return found, info
			}
			switch t := tok.(type) {
			case xml.StartElement:
				depth++
				if depth == 1 && strings.EqualFold(t.Name.Local, "html") {
					return false, ""
				}
				if depth == 2 {
					var text string
					switch t.Name.Local {
					case "success":
						found = true
						continue
					case "info":
						if dec.DecodeElement(&text, &t) == nil {
							info = text
						}
						depth--
					}
				}
			case xml.EndElement:
				depth--
			}
		}
	}
	return false, ""
}

func isHTML(ctype string, head []byte) bool {
	if strings.Contains(strings.ToLower(ctype), "html") {
		return true
	}
	s := strings.ToLower(string(bytes.TrimSpace(head[:min(len(head), 512)])))
	return strings.HasPrefix(s, "<!doctype html") || strings.HasPrefix(s, "<html")
}

var titleRe = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// pageTitle is ` titled "..."` for an HTML page that has a title.
func pageTitle(head []byte) string {
	m := titleRe.FindSubmatch(head)
	if m == nil {
		return ""
	}
	t := strings.Join(strings.Fields(string(m[1])), " ")
	if t == "" {
		return ""
	}
	return fmt.Sprintf(" titled %q", shortText(redact.Text(t), 60))
}

func shortText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// transportText is a transport error without the URL Go's *url.Error
// prints: the probes send no key, but the base URL may carry a user.
func transportText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
