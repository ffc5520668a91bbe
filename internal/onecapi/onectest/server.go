package onectest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// User and Password are the infobase user for HTTP Basic auth. Empty
	// User means the fake still requires Basic auth with an empty name.
	User, Password string
	// Logger receives one line per request (never the password). nil
	// discards.
	Logger *slog.Logger
	// Faults are armed from the start (see Faults; New panics on an
	// invalid one: check it with Faults.Validate).
	Faults Faults
	// Profile is the 1C configuration whose published objects the fake
	// serves: ProfileUT11 (also ""), ProfileUNF or ProfileRoznica. New
	// panics on any other name: check it with ValidateProfile.
	Profile string
}

// Server is a fake 1C OData publication. Safe for concurrent use; the zero
// value is not usable, call New.
type Server struct {
	user, password string
	log            *slog.Logger
	profile        *profile

	mu      sync.Mutex
	types   []*entityType
	sets    map[string]*entitySet
	version uint64
	// gen changes with every write to any set (see entitySet.gen).
	gen   uint64
	views map[string]*view // by entity set, $filter and $orderby
	// encodeBuf, demoCells and demoBuf are scratch space of the writes
	// and of LoadDemo.
	encodeBuf []byte
	demoCells []demoCell
	demoBuf   []byte

	numberSeq map[string]int
	faults    faultState
	lastPage  []byte // last collection body, for the repeat-page fault
	requests  map[string]int
	writes    map[string]int
}

// New returns an empty fake with the schema of opts.Profile. Load a Seed
// with Load or the demo base with LoadDemo.
func New(opts Options) *Server {
	p, err := lookupProfile(opts.Profile)
	if err != nil {
		panic(err)
	}
	s := &Server{
		user: opts.User, password: opts.Password, log: opts.Logger, profile: p,
		sets:      map[string]*entitySet{},
		views:     map[string]*view{},
		numberSeq: map[string]int{},
		requests:  map[string]int{},
		writes:    map[string]int{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := opts.Faults.Validate(); err != nil {
		panic(err)
	}
	s.faults = newFaultState(opts.Faults)
	s.types = p.schema()
	for _, t := range s.types {
		s.sets[t.Name] = &entitySet{typ: t, byKey: map[guid]uint32{}}
	}
	return s
}

// Sets returns the entity sets of the fake's profile by role.
func (s *Server) Sets() ProfileSets { return s.profile.sets }

// Handler returns the HTTP handler; it serves PublicationPath and answers
// 404 elsewhere.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.ServeHTTP) }

func (s *Server) set(name string) (*entitySet, error) {
	es, ok := s.sets[name]
	if !ok {
		return nil, fmt.Errorf("unknown entity set %q", name)
	}
	return es, nil
}

// Put inserts or replaces an object in an entity set (keyed by Ref_Key,
// generated when absent) and returns the stored copy with its new
// DataVersion.
func (s *Server) Put(set string, o Object) (Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.set(set)
	if err != nil {
		return nil, err
	}
	built, err := buildObject(es.typ, nil, o)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", set, err)
	}
	return es.object(s.put(es, built)), nil
}

// Update merges props into an existing object (tabular sections are
// replaced whole) and bumps its DataVersion.
func (s *Server) Update(set, key string, props Object) (Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.set(set)
	if err != nil {
		return nil, err
	}
	cur, ok := es.find(key)
	if !ok {
		return nil, fmt.Errorf("update %s: key %s not found", set, key)
	}
	built, err := buildObject(es.typ, es.object(cur), props)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", set, err)
	}
	return es.object(s.put(es, built)), nil
}

// SoftDelete sets DeletionMark=true (1C's "mark for deletion").
func (s *Server) SoftDelete(set, key string) error {
	_, err := s.Update(set, key, Object{"DeletionMark": true})
	return err
}

// Delete removes an object physically, as 1C's "delete marked objects" does.
func (s *Server) Delete(set, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.set(set)
	if err != nil {
		return err
	}
	r, ok := es.find(key)
	if !ok {
		return fmt.Errorf("delete %s: key %s not found", set, key)
	}
	s.remove(es, r)
	return nil
}

// Get returns a copy of one object in stored form: Edm.Double values are
// decimal.Decimal, Edm.Int64 (LineNumber) int64, tabular sections []Object.
func (s *Server) Get(set, key string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, ok := s.sets[set]
	if !ok {
		return nil, false
	}
	r, ok := es.find(key)
	if !ok {
		return nil, false
	}
	return es.object(r), true
}

// All returns copies of every object of a set in insertion order.
func (s *Server) All(set string) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, ok := s.sets[set]
	if !ok {
		return nil
	}
	live := es.live()
	out := make([]Object, 0, len(live))
	for _, seq := range live {
		out = append(out, es.object(es.rec(seq)))
	}
	return out
}

// Requests counts HTTP requests by method and entity set (e.g. "GET",
// "Catalog_Партнеры"); $metadata counts as entity "$metadata".
func (s *Server) Requests(method, entity string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method+" "+entity]
}

// Writes counts committed writes (POST, PATCH, DELETE, Post) per entity set.
func (s *Server) Writes(entity string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[entity]
}

// ResetCounters zeroes the request and write counters.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = map[string]int{}
	s.writes = map[string]int{}
}

// request is one parsed OData URL.
type request struct {
	entity string // entity set name
	key    string // lower-case GUID, "" for a collection
	count  bool   // /$count
	action string // "Post" / "Unpost"
}

var keySegRE = regexp.MustCompile(`^(.+)\(guid'([^']*)'\)$`)

func parsePath(p string) (request, error) {
	var r request
	segs := strings.Split(strings.TrimSuffix(p, "/"), "/")
	head := segs[0]
	if m := keySegRE.FindStringSubmatch(head); m != nil {
		if !isGUID(m[2]) {
			return r, odataErr(400, "6", "Неверный ключ в URL: %s", head)
		}
		r.entity, r.key = m[1], strings.ToLower(m[2])
	} else if strings.Contains(head, "(") {
		return r, odataErr(400, "6", "Неверный формат ключа в URL: %s", head)
	} else {
		r.entity = head
	}
	switch {
	case len(segs) == 1:
	case len(segs) == 2 && segs[1] == "$count" && r.key == "":
		r.count = true
	case len(segs) == 2 && r.key != "" && (segs[1] == "Post" || segs[1] == "Unpost"):
		r.action = segs[1]
	default:
		return r, odataErr(400, "6", "Неверный URL: %s", p)
	}
	return r, nil
}

// ServeHTTP implements the publication.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	s.serve(rec, r)
	s.log.Info("1c fake request", "method", r.Method, "path", r.URL.Path,
		"query", r.URL.RawQuery, "status", rec.status, "duration", time.Since(start))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach Hijack.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, PublicationPath) {
		http.NotFound(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, PublicationPath)
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.user)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="1C:Enterprise"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	entityLabel := rest
	if rest == "$metadata" {
		entityLabel = "$metadata"
	}
	preq, perr := parsePath(rest)
	if perr == nil && rest != "$metadata" {
		entityLabel = preq.entity
	}
	s.mu.Lock()
	s.requests[r.Method+" "+entityLabel]++
	f := s.faults.take(r.Method, q)
	if f.churn && perr == nil {
		s.churn(preq.entity)
	}
	s.mu.Unlock()
	if f.slow > 0 {
		w = &slowWriter{ResponseWriter: w, delay: f.slow, done: r.Context().Done()}
	}
	if f.latency > 0 {
		select {
		case <-time.After(f.latency):
		case <-r.Context().Done():
			return
		}
	}
	if f.shape != "" {
		writeFaultShape(w, f.shape)
		return
	}
	if f.bigPage {
		writeError(w, odataErr(500, "-1", "Недостаточно памяти для выполнения запроса (страница больше %d)", f.maxTop))
		return
	}
	if rest == "$metadata" {
		if r.Method != http.MethodGet {
			writeError(w, odataErr(405, "19", "Метод %s запрещен", r.Method))
			return
		}
		w.Header().Set("Content-Type", "application/xml;charset=utf-8")
		_, _ = w.Write(s.metadataXML())
		return
	}
	if perr != nil {
		writeError(w, perr)
		return
	}
	if q.Get("$format") != "json" && !preq.count {
		w.Header().Set("Content-Type", "application/xml;charset=utf-8")
		w.WriteHeader(http.StatusNotAcceptable)
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><m:code>14</m:code><m:message xml:lang="ru">Фальшивый 1С отвечает только при $format=json</m:message></m:error>`)
		return
	}
	base := "http://" + r.Host + strings.TrimSuffix(PublicationPath, "/")
	var err error
	switch r.Method {
	case http.MethodGet:
		err = s.handleGet(w, q, preq, base, f)
	case http.MethodPost:
		err = s.handlePost(w, r, preq, base)
	case http.MethodPatch, http.MethodPut:
		err = s.handlePatch(w, r, preq, base)
	case http.MethodDelete:
		err = s.handleDelete(w, preq)
	default:
		err = odataErr(405, "19", "Метод %s запрещен", r.Method)
	}
	if err != nil {
		writeError(w, err)
	}
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*errOData)
	if !ok {
		e = odataErr(500, "-1", "%v", err)
	}
	body, _ := json.Marshal(map[string]any{"odata.error": map[string]any{
		"code": e.code, "message": map[string]string{"lang": "ru", "value": e.msg}}})
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// lookupType resolves an entity set name, including tabular-section sets
// (Document_ЗаказКлиента_Товары), which 1C publishes read-only.
func (s *Server) lookupType(name string) (*entitySet, *tabular, error) {
	if es, ok := s.sets[name]; ok {
		return es, nil, nil
	}
	for _, es := range s.sets {
		for i := range es.typ.Tabs {
			if es.typ.Name+"_"+es.typ.Tabs[i].Name == name {
				return es, &es.typ.Tabs[i], nil
			}
		}
	}
	return nil, nil, odataErr(404, "8", "Не найден тип сущности '%s'", name)
}

func (s *Server) handleGet(w http.ResponseWriter, q url.Values, preq request, base string, f takenFaults) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if preq.action != "" {
		return odataErr(405, "19", "Метод GET запрещен для %s", preq.action)
	}
	es, tab, err := s.lookupType(preq.entity)
	if err != nil {
		return err
	}
	if q.Get("$expand") != "" {
		return odataErr(400, "14", "Параметр $expand не поддерживается фальшивым сервером")
	}
	fields := es.typ.Fields
	var tabs []tabular
	if tab != nil {
		fields = rowFields(tab)
	} else {
		tabs = es.typ.Tabs
	}
	lookup := func(name string) (field, bool) {
		for i, f := range fields {
			if f.Name == name {
				f.pos = i
				return f, true
			}
		}
		return field{}, false
	}
	sel, err := parseSelect(q.Get("$select"), fields, tabs)
	if err != nil {
		return err
	}
	if preq.key != "" {
		if tab != nil {
			return odataErr(400, "6", "Для табличной части укажите ключ Ref_Key и LineNumber")
		}
		r, ok := es.find(preq.key)
		if !ok {
			return odataErr(404, "9", "Не найден экземпляр сущности '%s' с ключом %s", preq.entity, preq.key)
		}
		var buf bytes.Buffer
		buf.WriteString(`{"odata.metadata":`)
		writeString(&buf, base+"/$metadata#"+preq.entity+"/@Element")
		writeRecord(&buf, es.typ, r, sel, true)
		buf.WriteString("}")
		writeJSON(w, 200, buf.Bytes())
		return nil
	}
	v, err := s.query(es, tab, preq.entity, q, lookup)
	if err != nil {
		return err
	}
	total := v.len()
	if preq.count {
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		_, _ = io.WriteString(w, strconv.Itoa(total))
		return nil
	}
	skip, err := intOption(q, "$skip")
	if err != nil {
		return err
	}
	top, err := intOption(q, "$top")
	if err != nil {
		return err
	}
	if f.ignoreSkip {
		skip = 0
	}
	lo := min(skip, total)
	hi := total
	if q.Has("$top") {
		hi = min(lo+top, total)
	}
	if f.repeatPage && s.lastPage != nil {
		writeJSON(w, 200, s.lastPage)
		return nil
	}
	var buf bytes.Buffer
	buf.WriteString(`{"odata.metadata":`)
	writeString(&buf, base+"/$metadata#"+preq.entity)
	if q.Get("$inlinecount") == "allpages" {
		buf.WriteString(`,"odata.count":"` + strconv.Itoa(total) + `"`)
	}
	buf.WriteString(`,"value":[`)
	for i := lo; i < hi; i++ {
		if i > lo {
			buf.WriteByte(',')
		}
		buf.WriteByte('{')
		if tab != nil {
			writeRow(&buf, tab, &v.rows[i], sel.fields, false)
		} else {
			writeRecord(&buf, es.typ, es.rec(v.recs[i]), sel, false)
		}
		buf.WriteByte('}')
	}
	buf.WriteString("]}")
	// The buffer is not written to again: the last page keeps it.
	s.lastPage = buf.Bytes()
	writeJSON(w, 200, s.lastPage)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func intOption(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, odataErr(400, "14", "Неверное значение параметра %s: %s", name, v)
	}
	return n, nil
}

// selection is the output property list, in metadata order: positions
// in the set's fields (an entity type's Fields, or rowFields of a tabular
// section published as a set) and in its tabular sections.
type selection struct {
	fields []int
	tabs   []int
}

func selectAll(nFields, nTabs int) selection {
	sel := selection{fields: make([]int, nFields), tabs: make([]int, nTabs)}
	for i := range sel.fields {
		sel.fields[i] = i
	}
	for i := range sel.tabs {
		sel.tabs[i] = i
	}
	return sel
}

func parseSelect(s string, fields []field, tabs []tabular) (selection, error) {
	if strings.TrimSpace(s) == "" {
		return selectAll(len(fields), len(tabs)), nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		found := n == "*"
		for _, f := range fields {
			found = found || f.Name == n
		}
		for _, t := range tabs {
			found = found || t.Name == n
		}
		if !found {
			return selection{}, odataErr(400, "14", "Ошибка в параметре $select: свойство '%s' не найдено", n)
		}
		want[n] = true
	}
	if want["*"] {
		return selectAll(len(fields), len(tabs)), nil
	}
	var sel selection
	for i, f := range fields {
		if want[f.Name] {
			sel.fields = append(sel.fields, i)
		}
	}
	for i, t := range tabs {
		if want[t.Name] {
			sel.tabs = append(sel.tabs, i)
		}
	}
	return sel, nil
}

// writeRecord writes a record's selected "name":value pairs; leadingComma
// when something (odata.metadata) was written before.
func writeRecord(buf *bytes.Buffer, t *entityType, r *record, sel selection, leadingComma bool) {
	first := !leadingComma
	sep := func() {
		if !first {
			buf.WriteByte(',')
		}
		first = false
	}
	c := cells(r.data)
	pos, text, ok := c.next()
	for _, i := range sel.fields {
		f := &t.Fields[i]
		sep()
		writeString(buf, f.Name)
		buf.WriteByte(':')
		switch i {
		case t.refPos:
			writeGUID(buf, r.key)
			continue
		case t.verPos:
			buf.WriteByte('"')
			buf.Write(appendDataVersion(buf.AvailableBuffer(), r.ver))
			buf.WriteByte('"')
			continue
		}
		for ok && pos < i {
			pos, text, ok = c.next()
		}
		writeCell(buf, f.Type, text, ok && pos == i)
	}
	for _, ti := range sel.tabs {
		tab := &t.Tabs[ti]
		sep()
		writeString(buf, tab.Name)
		buf.WriteString(":[")
		rs := r.tab(t, ti)
		var all []int
		for line := 1; ; line++ {
			rc, ok := rs.next()
			if !ok {
				break
			}
			if line > 1 {
				buf.WriteByte(',')
			} else {
				all = selectAll(len(tab.Fields)+2, 0).fields
			}
			buf.WriteByte('{')
			writeRow(buf, tab, &rowItem{owner: r, line: line, cells: rc}, all, false)
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	}
}

// writeRow writes a tabular row's "name":value pairs; fields are positions
// in rowFields (Ref_Key, LineNumber, then the section's fields).
func writeRow(buf *bytes.Buffer, t *tabular, it *rowItem, fields []int, leadingComma bool) {
	c := it.cells
	pos, text, ok := c.next()
	for n, i := range fields {
		if n > 0 || leadingComma {
			buf.WriteByte(',')
		}
		switch i {
		case 0:
			buf.WriteString(`"Ref_Key":`)
			writeGUID(buf, it.owner.key)
			continue
		case 1:
			buf.WriteString(`"LineNumber":"`)
			buf.WriteString(strconv.Itoa(it.line))
			buf.WriteByte('"')
			continue
		}
		f := &t.Fields[i-2]
		writeString(buf, f.Name)
		buf.WriteByte(':')
		for ok && pos < i-2 {
			pos, text, ok = c.next()
		}
		writeCell(buf, f.Type, text, ok && pos == i-2)
	}
}

func writeGUID(buf *bytes.Buffer, g guid) {
	buf.WriteByte('"')
	buf.Write(g.appendTo(buf.AvailableBuffer()))
	buf.WriteByte('"')
}

// readBody decodes a JSON object body keeping numbers exact.
func readBody(r *http.Request) (map[string]any, error) {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, odataErr(400, "1", "Ошибка разбора тела запроса: %v", err)
	}
	return m, nil
}

// entityBody renders a written object as 1C answers a write. Caller holds
// s.mu.
func entityBody(base, entity string, typ *entityType, r *record) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"odata.metadata":`)
	writeString(&buf, base+"/$metadata#"+entity+"/@Element")
	writeRecord(&buf, typ, r, selectAll(len(typ.Fields), len(typ.Tabs)), true)
	buf.WriteString("}")
	return buf.Bytes()
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request, preq request, base string) error {
	if preq.action != "" {
		return s.handleAction(w, preq)
	}
	s.mu.Lock()
	es, tab, err := s.lookupType(preq.entity)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	if tab != nil {
		return odataErr(400, "13", "Строки табличной части '%s' не могут быть созданы или изменены отдельно от объекта", tab.Name)
	}
	if preq.key != "" {
		return odataErr(405, "19", "Метод POST запрещен для экземпляра сущности")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if es.typ.Document {
		if _, ok := body["Date"]; !ok {
			return odataErr(400, "5", "Не задано обязательное свойство 'Date'")
		}
	}
	s.mu.Lock()
	o, err := buildObject(es.typ, nil, body)
	if err == nil {
		if _, exists := es.find(o["Ref_Key"].(string)); exists {
			err = odataErr(400, "15", "Экземпляр сущности с ключом %s уже существует", o["Ref_Key"])
		}
	}
	if err != nil {
		s.mu.Unlock()
		return err
	}
	return s.commitWrite(w, es, o, http.StatusCreated, base, preq.entity)
}

func (s *Server) handleAction(w http.ResponseWriter, preq request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, ok := s.sets[preq.entity]
	if !ok {
		return odataErr(404, "8", "Не найден тип сущности '%s'", preq.entity)
	}
	if !es.typ.Document {
		return odataErr(400, "6", "Метод %s не определен для '%s'", preq.action, preq.entity)
	}
	r, ok := es.find(preq.key)
	if !ok {
		return odataErr(404, "9", "Не найден экземпляр сущности '%s' с ключом %s", preq.entity, preq.key)
	}
	reset, failPost := s.consumeWriteFaults(preq.action == "Post")
	if failPost {
		num, _ := r.field(es.typ.pos("Number"))
		return odataErr(500, "-1", "Не удалось провести \"%s %s\": недостаточно товаров на складе", es.typ.Title, num)
	}
	o := es.object(r)
	o["Posted"] = preq.action == "Post"
	s.put(es, o)
	s.writes[es.typ.Name]++
	if reset {
		return hijackClose(w)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, preq request, base string) error {
	s.mu.Lock()
	es, tab, err := s.lookupType(preq.entity)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if tab != nil {
		return odataErr(400, "13", "Строки табличной части '%s' не могут быть созданы или изменены отдельно от объекта", tab.Name)
	}
	if preq.key == "" || preq.action != "" || preq.count {
		return odataErr(405, "19", "Метод %s запрещен для коллекции", r.Method)
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	cur, ok := es.find(preq.key)
	if !ok {
		s.mu.Unlock()
		return odataErr(404, "9", "Не найден экземпляр сущности '%s' с ключом %s", preq.entity, preq.key)
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && strings.Trim(im, `"`) != dataVersion(cur.ver) {
		s.mu.Unlock()
		return odataErr(412, "-1", "Версия объекта изменилась: объект был изменен или удален другим пользователем")
	}
	o, err := buildObject(es.typ, es.object(cur), body)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	return s.commitWrite(w, es, o, http.StatusOK, base, preq.entity)
}

// commitWrite stores o, answers with it, and applies a pending "reset
// after the write" fault: the write is committed before the connection
// drops, as when 1C saves and the network fails. Caller holds s.mu; it is
// released here.
func (s *Server) commitWrite(w http.ResponseWriter, es *entitySet, o Object, status int, base, entity string) error {
	rec := s.put(es, o)
	s.writes[es.typ.Name]++
	body := entityBody(base, entity, es.typ, rec)
	reset, _ := s.consumeWriteFaults(false)
	s.mu.Unlock()
	if reset {
		return hijackClose(w)
	}
	writeJSON(w, status, body)
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, preq request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, tab, err := s.lookupType(preq.entity)
	if err != nil {
		return err
	}
	if tab != nil {
		return odataErr(400, "13", "Строки табличной части '%s' не могут быть удалены отдельно от объекта", tab.Name)
	}
	if preq.key == "" || preq.action != "" {
		return odataErr(405, "19", "Метод DELETE запрещен для коллекции")
	}
	r, ok := es.find(preq.key)
	if !ok {
		return odataErr(404, "9", "Не найден экземпляр сущности '%s' с ключом %s", preq.entity, preq.key)
	}
	s.remove(es, r)
	s.writes[es.typ.Name]++
	if reset, _ := s.consumeWriteFaults(false); reset {
		return hijackClose(w)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// hijackClose drops the connection after a committed write: the client
// sees a reset and cannot know the write happened.
func hijackClose(w http.ResponseWriter) error {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return odataErr(500, "-1", "hijack: %v", err)
	}
	_ = closeConn(conn) // nothing useful to do: the peer is meant to see a reset
	return nil
}

// Serve serves the fake on ln until ctx is done, then shuts down
// gracefully (waiting up to 5 s for in-flight requests).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve 1c fake: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown 1c fake: %w", err)
	}
	return nil
}
