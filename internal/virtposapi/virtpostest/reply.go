package virtpostest

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
)

// xmlHeader opens every XML answer, as in the seed.
const xmlHeader = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root>\n"

// reply collects a flat answer (success, info, id, isnew) and writes it in
// the request's format.
type reply struct {
	w       http.ResponseWriter
	json    bool
	success bool
	fields  [][2]string
}

func (r *reply) add(k, v string) { r.fields = append(r.fields, [2]string{k, v}) }

func (r *reply) flush() {
	bw := bufio.NewWriter(r.w)
	if r.json {
		r.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		bw.WriteString(`{"success":`)
		if r.success {
			bw.WriteString("1")
		} else {
			bw.WriteString("0")
		}
		for _, f := range r.fields {
			bw.WriteByte(',')
			writeJSONString(bw, f[0])
			bw.WriteByte(':')
			writeJSONString(bw, f[1])
		}
		bw.WriteString("}\n")
	} else {
		r.w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		bw.WriteString(xmlHeader)
		if r.success {
			xmlElem(bw, 1, "success", "1")
		} else {
			xmlElem(bw, 1, "success", "0")
		}
		for _, f := range r.fields {
			xmlElem(bw, 1, f[0], f[1])
		}
		bw.WriteString("</root>\n")
	}
	_ = bw.Flush()
}

// textEscaper escapes element text the way the real API does: only what
// XML requires, quotes stay literal (the seed shows "Анри" unescaped).
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// indent writes the seed's three-space indentation.
func indent(w *bufio.Writer, depth int) {
	for i := 0; i < depth; i++ {
		w.WriteString("   ")
	}
}

// xmlElem writes one leaf, self-closed when empty like the seed's <guid />.
func xmlElem(w *bufio.Writer, depth int, name, value string) {
	indent(w, depth)
	if value == "" {
		w.WriteString("<" + name + " />\n")
		return
	}
	w.WriteString("<" + name + ">")
	_, _ = textEscaper.WriteString(w, value)
	w.WriteString("</" + name + ">\n")
}

func xmlOpen(w *bufio.Writer, depth int, name string) {
	indent(w, depth)
	w.WriteString("<" + name + ">\n")
}

func xmlClose(w *bufio.Writer, depth int, name string) {
	indent(w, depth)
	w.WriteString("</" + name + ">\n")
}

func writeJSONString(w io.Writer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	_, _ = w.Write(b)
}

// xmlRecord writes a stored record's fields, id first, then sorted by name.
func xmlRecord(w *bufio.Writer, depth int, f map[string]string) {
	xmlElem(w, depth, "id", f["id"])
	for _, k := range sortedKeys(f) {
		if k != "id" {
			xmlElem(w, depth, k, f[k])
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
