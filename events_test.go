package virtsync

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEEventTable holds README's event table to the payload types:
// every event has a row, every row names the event's JSON fields (nested
// ones in parentheses), and no row names a field the type does not have.
func TestREADMEEventTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "| subject | data |")
	if start < 0 {
		t.Fatal("README has no event table")
	}
	rows := map[string]string{} // subject -> data cell
	for _, line := range strings.Split(text[start:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		for _, subj := range ticked(cells[1]) {
			rows[subj] = cells[2]
		}
	}
	parens := regexp.MustCompile(`\([^)]*\)`)
	seen := map[string]bool{}
	for _, p := range Payloads() {
		subject := p.Kind() + "." + p.What()
		seen[subject] = true
		cell, ok := rows[subject]
		if !ok {
			t.Errorf("README's event table has no row for %s", subject)
			continue
		}
		top, nested := jsonFields(reflect.TypeOf(p))
		outside := ticked(parens.ReplaceAllString(cell, ""))
		for _, f := range top {
			if !slices.Contains(outside, f) {
				t.Errorf("%s: README does not name field %s", subject, f)
			}
		}
		for _, f := range outside {
			if !slices.Contains(top, f) {
				t.Errorf("%s: README names %s, which %T does not have", subject, f, p)
			}
		}
		all := ticked(cell)
		for _, f := range nested {
			if !slices.Contains(all, f) {
				t.Errorf("%s: README does not name nested field %s", subject, f)
			}
		}
	}
	for subj := range rows {
		if !seen[subj] {
			t.Errorf("README documents %s, which no payload type publishes", subj)
		}
	}
}

func ticked(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// jsonFields returns a struct's JSON names, and those of the structs in
// its slices.
func jsonFields(t reflect.Type) (top, nested []string) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" {
			continue
		}
		top = append(top, name)
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			n, _ := jsonFields(f.Type.Elem())
			nested = append(nested, n...)
		}
	}
	return top, nested
}

func TestKindOfEveryJob(t *testing.T) {
	for _, j := range Jobs() {
		if KindOf(j) == "" || KindOf(j)+"s" != j {
			t.Errorf("KindOf(%q) = %q", j, KindOf(j))
		}
	}
	if KindOf("nope") != "" {
		t.Error("an unknown job has a kind")
	}
}
