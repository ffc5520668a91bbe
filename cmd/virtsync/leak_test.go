package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// The probe: one partner whose personal data appears nowhere else, and a
// password for the embedded broker's listener. virtpos and 1C hold these
// legitimately; virtsync's own outputs must not.
const (
	probeName     = "Уникальнова Зоя Прохоровна"
	probePhone    = "+7 999 000-11-22"
	probeEmail    = "zoya.probe@example.test"
	probeBirth    = "1977-03-14T00:00:00"
	probeAddress  = "г. Пробск, ул. Пробная, д. 7"
	probeKey      = "5a0c7e11-9b1f-4d3e-8a55-0d0c0a7e5e01"
	probeTwinKey  = "5a0c7e11-9b1f-4d3e-8a55-0d0c0a7e5e04" // the same person entered twice in 1C
	probeCard     = "5a0c7e11-9b1f-4d3e-8a55-0d0c0a7e5e02"
	probeCounter  = "5a0c7e11-9b1f-4d3e-8a55-0d0c0a7e5e03"
	natsProbeUser = "probe"
	natsProbePass = "nats-probe-Пароль-42"
)

// probeSeed is a small demo base plus the probe partner, her counterparty
// and her card.
func probeSeed() onectest.Seed {
	s := onectest.DemoSeed(10, 6, 2, 91)
	s[onectest.SetPartners] = append(s[onectest.SetPartners], probePartner(probeKey, "00-99999999"))
	s[onectest.SetCounterpty] = append(s[onectest.SetCounterpty], onectest.Object{
		"Ref_Key": probeCounter, "Description": probeName, "НаименованиеПолное": probeName, "ИНН": "660000000077",
		"Партнер_Key": probeKey, "ЮрФизЛицо": "ФизЛицо", "ЮридическоеФизическоеЛицо": "ФизЛицо",
	})
	s[onectest.SetCards] = append(s[onectest.SetCards], onectest.Object{
		"Ref_Key": probeCard, "Description": "2999000000077", "Owner_Key": s[onectest.SetCardKinds][0]["Ref_Key"],
		"Штрихкод": "2999000000077", "Статус": "Действует", "Партнер_Key": probeKey, "Контрагент_Key": probeCounter,
	})
	return s
}

// probePartner is the probe as a 1C partner under key.
func probePartner(key, code string) onectest.Object {
	return onectest.Object{
		"Ref_Key": key, "Code": code, "Description": probeName, "НаименованиеПолное": probeName,
		"Клиент": true, "Поставщик": false, "ЮрФизЛицо": "ФизЛицо", "Пол": "Женский", "ДатаРождения": probeBirth,
		"КонтактнаяИнформация": []any{
			map[string]any{"Тип": "Телефон", "Представление": probePhone, "НомерТелефона": probePhone, "НомерТелефонаБезКодов": "0001122"},
			map[string]any{"Тип": "АдресЭлектроннойПочты", "Представление": probeEmail, "АдресЭП": probeEmail},
			map[string]any{"Тип": "Адрес", "Представление": probeAddress},
		},
	}
}

// leakNeedle is one value that must not leak, in every form it could take.
type leakNeedle struct {
	what  string // what it is, for the report (never the value)
	forms [][]byte
}

func needle(what string, values ...string) leakNeedle {
	n := leakNeedle{what: what}
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			n.forms = append(n.forms, []byte(s))
		}
	}
	for _, v := range values {
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		add(strings.ReplaceAll(url.QueryEscape(v), "%", "%25")) // escaped twice
		js, _ := json.Marshal(v)
		add(strings.Trim(string(js), `"`))
		add(strings.Trim(strconv.QuoteToASCII(v), `"`)) // \u0423...
		add(html.EscapeString(v))
	}
	return n
}

// leakNeedles are the secrets of the world and the probe's personal data,
// with the phone in the shapes people and programs write it.
func leakNeedles() []leakNeedle {
	return []leakNeedle{
		needle("the virtpos apikey", apikey, "it-secret-apikey"),
		needle("the 1C password", "pw-Секрет", strings.TrimPrefix(basicAuth("sync", "pw-Секрет"), "Basic ")),
		needle("the embedded NATS password", natsProbePass),
		needle("the probe's name", "Уникальнова", "Прохоровна", "Зоя"),
		needle("the probe's phone", probePhone, "79990001122", "9990001122", "999 000-11-22", "999) 000-11-22", "999-000-11-22", "000-11-22"),
		needle("the probe's e-mail", probeEmail, "zoya.probe"),
		needle("the probe's birth date", "1977-03-14", "14.03.1977", "birth_year=1977", `"birth_year":"1977"`),
		needle("the probe's address", "Пробная", "Пробск"),
	}
}

// partnerNeedles are the personal data of every other client partner of
// the seed: a failure that stops a run before it reaches the probe still
// shows another person's data.
func partnerNeedles(partners []onectest.Object) []leakNeedle {
	var out []leakNeedle
	for _, p := range partners {
		if p["Клиент"] != true || p["ЮрФизЛицо"] != "ФизЛицо" || p["Ref_Key"] == probeKey {
			continue
		}
		var values []string
		name := str(p["Description"])
		values = append(values, name)
		if f := strings.Fields(name); len(f) > 0 && len([]rune(f[0])) >= 5 {
			values = append(values, f[0])
		}
		if d := str(p["ДатаРождения"]); !strings.HasPrefix(d, "0001") && len(d) >= 10 {
			values = append(values, d[:10])
		}
		rows, _ := p["КонтактнаяИнформация"].([]onectest.Object)
		for _, c := range rows {
			switch c["Тип"] {
			case "Телефон":
				digits := strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, str(c["Представление"]))
				if len(digits) >= 10 {
					values = append(values, digits[len(digits)-10:])
				}
			case "АдресЭлектроннойПочты":
				e := strings.TrimSpace(str(c["АдресЭП"]))
				values = append(values, e, strings.ToLower(e))
			}
		}
		out = append(out, needle("partner "+str(p["Ref_Key"])+"'s personal data", values...))
	}
	return out
}

// base64Run finds what could be base64 text (a payload stored as JSON
// bytes, a Basic header) to scan decoded too.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)

// leakScan collects where each needle was found.
type leakScan struct {
	t       *testing.T
	needles []leakNeedle
	scanned []string
}

func (s *leakScan) check(where string, data []byte) {
	s.t.Helper()
	s.scanned = append(s.scanned, where)
	s.find(where, data)
	for _, m := range base64Run.FindAll(data, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if dec, err := enc.DecodeString(string(m)); err == nil {
				s.find(where+" (base64-decoded)", dec)
				break
			}
		}
	}
}

// find reports, once per place, every needle found there and the
// neighbourhood of the first, the needle itself masked.
func (s *leakScan) find(where string, data []byte) {
	s.t.Helper()
	var found []string
	var first []byte
	for _, n := range s.needles {
		for _, f := range n.forms {
			if i := bytes.Index(data, f); i >= 0 {
				found = append(found, n.what)
				if first == nil {
					lo, hi := max(0, i-120), min(len(data), i+len(f)+120)
					first = bytes.ReplaceAll(data[lo:hi], f, []byte("[LEAK]"))
				}
				break
			}
		}
	}
	if len(found) > 0 {
		s.t.Errorf("in %s: %s; first: ...%s...", where, strings.Join(found, ", "), bytes.ToValidUTF8(first, []byte("?")))
	}
}

// files scans every file under dir (the state file, its -wal and -shm, the
// NATS store) but the config, which holds secrets by design.
func (s *leakScan) files(dir, skip string) {
	s.t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // a file the running process just removed
		}
		if d.IsDir() || path == skip {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		s.check("file "+rel, b)
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// echoParams renders every parameter of a virtpos request as the careless
// server does in its errors: name=value, the apikey included.
func echoParams(r *http.Request) string {
	_ = r.ParseForm()
	keys := make([]string, 0, len(r.Form))
	for k := range r.Form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s; ", k, r.Form.Get(k))
	}
	return b.String()
}

func isProbe(r *http.Request) bool {
	_ = r.ParseForm()
	return r.Form.Get("external_id") == probeKey
}

// TestLeakScan runs every failure path the stand-ins can produce with the
// probe partner in the data and the world's secrets in the config, at
// log.level debug, then greps every output virtsync makes: stdout and
// stderr of each run, the state file with its -wal and -shm, the embedded
// NATS store, /metrics, /readyz and /livez of the daemon, and every event
// on the stream. Neither the secrets nor the probe's personal data may
// appear anywhere.
func TestLeakScan(t *testing.T) {
	t.Parallel()
	natsPort := freePort(t)
	w, addr := daemonWorld(t, probeSeed(), fmt.Sprintf(`nats: {url: "", embedded_listen: "127.0.0.1:%d", embedded_user: %s, embedded_password: %q}`,
		natsPort, natsProbeUser, natsProbePass))
	b := behindStandIns(t, w)
	b.setConfig("  concurrency: 4\n", "  concurrency: 4\n  timeout: 2s\n")
	b.secrets = []string{natsProbePass}

	scan := &leakScan{t: t, needles: append(leakNeedles(), partnerNeedles(w.onec.All(onectest.SetPartners))...)}
	if len(scan.needles) < len(leakNeedles())+5 {
		t.Fatalf("only %d needles: the seed's partners gave too few", len(scan.needles))
	}
	var runs int
	run := func(what string, want int, args ...string) result {
		t.Helper()
		r := b.run(args...)
		runs++
		noPanic(t, r)
		if want >= 0 && r.code != want {
			t.Errorf("%s: virtsync %v exited %d, want %d\n%s\n%s", what, args, r.code, want, tail(r.stdout, 2000), tail(r.stderr, 2000))
		}
		scan.check(what+": stdout", []byte(r.stdout))
		scan.check(what+": stderr", []byte(r.stderr))
		return r
	}
	// served counts the answers of the faults that apply to the probe only:
	// a run that never met its fault scanned nothing.
	var served atomic.Int32
	met := func(what string) {
		t.Helper()
		if served.Swap(0) == 0 {
			t.Errorf("%s: the fault never answered; the path was not taken", what)
		}
	}
	touchProbe := func(i int) {
		t.Helper()
		if _, err := w.onec.Update(onectest.SetPartners, probeKey, onectest.Object{"НаименованиеПолное": fmt.Sprintf("%s (%d)", probeName, i)}); err != nil {
			t.Fatal(err)
		}
	}

	// A rejected record whose reason echoes its values, and its card held
	// while it waits for its owner.
	w.vp.SetFaults(virtpostest.Faults{Reject: func(path string, p url.Values) (bool, string) {
		if path == virtpostest.PathCustomerUpdate && p.Get("external_id") == probeKey {
			return true, fmt.Sprintf("Неверный телефон %s у клиента %s %s (%s), др %s-%s-%s",
				p.Get("phone"), p.Get("lname"), p.Get("fname"), p.Get("email"), p.Get("birth_year"), p.Get("birth_month"), p.Get("birth_day"))
		}
		return false, ""
	}})
	run("a rejected record", 1, "-once")
	st := run("status with a dead letter and a hold", 0, "status")
	if !strings.Contains(st.stdout, "(customers 1)") || !strings.Contains(st.stdout, "(cards 1)") {
		t.Errorf("status shows no dead customer and no waiting card: the paths were not taken\n%s", st.stdout)
	}
	if f := run("failures", 0, "failures"); !strings.Contains(f.stdout, probeKey) {
		t.Errorf("failures does not list the probe: the rejected-record path was not taken\n%s", f.stdout)
	}
	w.vp.SetFaults(virtpostest.Faults{})
	run("failures -replay", -1, "failures", "-replay")
	run("the held card", 0, "-once")
	if _, ok := w.vp.Customer(probeKey); !ok {
		t.Fatal("the probe is not in virtpos after the replay: the paths below would not carry her data")
	}

	// Orders by her, the address and a comment with her data.
	vpc, _ := w.vp.Customer(probeKey)
	dec := decimal.RequireFromString
	order := func(guid string) {
		w.vp.AddOrder(virtposapi.Order{GUID: guid, CustomerID: vpc.ID, ShippingAddress: probeAddress + ", " + probeName,
			Comment:     "Позвонить " + probePhone + ", " + probeEmail,
			CreatedDate: time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-time.Hour).Format(virtposapi.TimeLayout),
			Amount:      dec("100.00"), Discount: dec("0"), ShippingCost: dec("0"),
			Items: []virtposapi.Item{{ItemID: onectest.DemoItemCode(0), ItemName: "Товар", Quantity: dec("1.000"),
				UnitBasePrice: dec("100.00"), Discount: dec("0"), Amount: dec("100.00")}}})
	}
	order("probe-1")
	run("an order by the probe", 0, "-once", "-job", "orders")

	// virtpos failure paths, each re-pushing every customer.
	vpFaults := []struct {
		name  string
		fault fault
	}{
		{"a dropped connection", onPath("/customer/update", func(http.ResponseWriter, *http.Request, http.Handler) { panic(http.ErrAbortHandler) })},
		{"a 502 HTML page echoing the request URL with its query", onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			q, _ := url.QueryUnescape(r.URL.RawQuery)
			fmt.Fprintf(w, "<html><body><h1>502 Bad Gateway</h1><p>%s</p><pre>%s\n%s</pre></body></html>", html.EscapeString(r.URL.String()), r.URL.String(), q)
		})},
		{"success=0 echoing every parameter value", onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"success":0,"info":%s}`, jsonString("Ошибка валидации: "+echoParams(r)))
		})},
		{"a body that is not JSON echoing the parameters", onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "<b>Notice</b>: Undefined index: %s in /var/www/api.php on line 12\n{\"success\":1", echoParams(r))
		})},
		{"success=0 echoing the values of one record", onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if !isProbe(r) {
				next.ServeHTTP(w, r)
				return
			}
			served.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"success":0,"info":%s}`, jsonString("Клиент с телефоном "+r.Form.Get("phone")+" и почтой "+r.Form.Get("email")+" уже есть: "+r.Form.Get("lname")))
		})},
		{"a reply cut in the middle of the echoed values", onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
			w.Header().Set("Content-Type", "application/json")
			body := `{"success":1,"id":"` + echoParams(r)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+40))
			_, _ = w.Write([]byte(body))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})},
	}
	for _, f := range vpFaults {
		b.vpIn.set(f.fault)
		run(f.name, -1, "-resync", "customers")
		b.vpIn.set(nil)
	}
	met("success=0 echoing the values of one record")
	// A create whose reply is lost, then a lookup that fails too: the
	// paths of an unknown outcome.
	if _, err := w.onec.Put(onectest.SetPartners, probePartner(probeTwinKey, "00-99999998")); err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int32
	b.vpIn.set(onPath("/customer", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case r.URL.Query().Get("external_id") != probeTwinKey:
		case strings.HasSuffix(r.URL.Path, "/customer/update"):
			served.Add(1)
			next.ServeHTTP(httptest.NewRecorder(), r) // carried out, the reply lost
		case lookups.Add(1) == 1:
			next.ServeHTTP(w, r) // the lookup before the create finds nothing
			return
		}
		panic(http.ErrAbortHandler)
	}))
	run("a create whose reply is lost and whose lookup fails", -1, "-once", "-job", "customers")
	met("a create whose reply is lost")
	b.vpIn.set(onPath("/customer/update", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	}))
	touchProbe(0)
	run("an update whose reply is lost", -1, "-once", "-job", "customers")
	b.vpIn.set(nil)
	run("the lost create resolved", 0, "-once", "-job", "customers")

	w.vp.SetFaults(virtpostest.Faults{Hang: true, Paths: []string{virtpostest.PathCustomerUpdate}})
	run("a virtpos that does not answer (timeouts)", -1, "-resync", "customers")
	w.vp.SetFaults(virtpostest.Faults{})

	// The same in text logs: the other escaping.
	b.setConfig("log: {level: debug, format: json}", "log: {level: debug, format: text}")
	b.vpIn.set(vpFaults[0].fault)
	run("a dropped connection, text logs", -1, "-resync", "customers")
	b.vpIn.set(vpFaults[1].fault)
	run("a 502 HTML page echoing the URL, text logs", -1, "-resync", "customers")
	b.vpIn.set(nil)
	b.setConfig("log: {level: debug, format: text}", "log: {level: debug, format: json}")

	// virtpos down: the transport error carries the whole request URL.
	b.setConfig("  base_url: "+b.vpIn.url+"\n", fmt.Sprintf("  base_url: http://127.0.0.1:%d/api\n", freePort(t)))
	run("virtpos refusing connections", -1, "-resync", "customers")
	b.restoreVirtposURL(t)

	// An /orders reply that does not decode, its values echoed.
	order("probe-2")
	b.vpIn.set(onPath("/orders", func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"success":1,"orders":[{"guid":"probe-2","customer_id":%s,"comment":%s,"amount":%s,"shipping_address":%s`,
			jsonString(vpc.ID), jsonString("Позвонить "+probePhone), jsonString(probeName+" "+probePhone), jsonString(probeAddress))
	}))
	run("an /orders reply that does not decode", -1, "-once", "-job", "orders")
	b.vpIn.set(nil)

	// 1C failure paths: errors that echo her values.
	touchProbe(1)
	b.ocIn.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path+r.URL.RawQuery, onectest.SetPartners) &&
			strings.Contains(r.URL.Path+"?"+unescape(r.URL.RawQuery), probeKey) {
			served.Add(1)
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"odata.error":{"code":"-1","message":{"lang":"ru","value":%s}}}`,
				jsonString("Ошибка при чтении объекта "+probeName+" ("+probePhone+", "+probeEmail+", "+probeBirth+")"))
			return
		}
		next.ServeHTTP(w, r)
	})
	run("a 1C read error echoing her values", -1, "-once", "-job", "customers")
	met("a 1C read error echoing her values")
	b.ocIn.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodGet && strings.Contains(unescape(r.URL.Path+"?"+r.URL.RawQuery), probeKey) {
			served.Add(1)
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			fmt.Fprintf(w, `{"odata.metadata":"x","value":[{"Ref_Key":"%s","Description":%s,"Телефон":%s,`, probeKey, jsonString(probeName), jsonString(probePhone))
			return
		}
		next.ServeHTTP(w, r)
	})
	run("a 1C page that does not decode after her name", -1, "-once", "-job", "customers")
	met("a 1C page that does not decode after her name")
	b.ocIn.set(nil)
	touchProbe(2)
	b.ocIn.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, onectest.SetOrders) {
			served.Add(1)
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"odata.error":{"code":"19","message":{"lang":"ru","value":%s}}}`,
				jsonString("Не удалось записать заказ: контрагент "+probeName+", тел. "+probePhone+", адрес "+probeAddress))
			return
		}
		next.ServeHTTP(w, r)
	})
	order("probe-3")
	run("a 1C rejection of her order echoing her values", -1, "-once")
	met("a 1C rejection of her order")
	b.ocIn.set(func(http.ResponseWriter, *http.Request, http.Handler) { panic(http.ErrAbortHandler) })
	touchProbe(3)
	run("1C dropping every connection", -1, "-once")
	b.ocIn.set(nil)
	run("status after the faults", -1, "status")
	run("failures after the faults", -1, "failures")

	// The daemon with /metrics, /readyz and /livez while a fault echoes
	// her values on every run; the state file is scanned while it runs,
	// with its -wal and -shm.
	b.vpIn.set(vpFaults[1].fault)
	touchProbe(4)
	d := startDaemon(t, w)
	waitFor(t, d, 60*time.Second, "two customers runs of the daemon", func() bool {
		n, _ := metricTotal(scrape(addr), "virtsync_run_duration_seconds_count", `job="customers"`)
		return n >= 2
	})
	for _, p := range []string{"/metrics", "/readyz", "/livez"} {
		code, body := get(addr, p)
		if code == 0 {
			t.Errorf("GET %s: %s", p, body)
		}
		scan.check("the daemon's "+p, []byte(body))
	}
	scan.files(w.dir, w.config)
	if _, err := os.Stat(filepath.Join(w.dir, "state.db-wal")); err != nil {
		t.Errorf("no state.db-wal while the daemon runs (%v): the WAL was not scanned", err)
	}
	b.vpIn.set(nil)
	if code, _ := d.stop(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d after SIGTERM", code)
	}
	scan.check("the daemon's stderr", []byte(d.stderr.String()))

	// Everything at rest, then every event on the stream.
	scan.files(w.dir, w.config)
	emb := startListeningNATS(t, filepath.Join(w.dir, "nats"), "127.0.0.1:0")
	evs := readStream(t, natsLoginURL(emb.Port()), "VIRTSYNC")
	if len(evs) == 0 {
		t.Error("no event on the stream: the events were not scanned")
	}
	for _, e := range evs {
		var all bytes.Buffer
		all.WriteString(e.subject + " " + e.msgID + " ")
		for k, v := range e.fields {
			all.WriteString(k + "=")
			all.Write(v)
			all.WriteByte(' ')
		}
		scan.check("event "+e.env.Type+" "+e.env.ID, all.Bytes())
	}
	t.Logf("%d runs, %d outputs and files scanned, %d events", runs, len(scan.scanned), len(evs))
}

// restoreVirtposURL points the config back at the virtpos stand-in.
func (b *bad) restoreVirtposURL(t *testing.T) {
	t.Helper()
	cfg, err := os.ReadFile(b.config)
	if err != nil {
		t.Fatal(err)
	}
	cur := baseURLs.FindStringSubmatch(string(cfg))
	if cur == nil {
		t.Fatal("no base_url in the config")
	}
	b.setConfig("  base_url: "+cur[1]+"\n", "  base_url: "+b.vpIn.url+"\n")
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
