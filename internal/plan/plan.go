// Package plan prints what a dry run (engine.Runner.Plan) would do: for
// people, one line per record and a table of counts per job and action;
// for machines (-o json), one JSON list of records.
//
// Both writers stream: a record is written when the dry run plans it, so
// a resync's plan of a large base is never held in memory. What they
// print is what the handlers put in engine.Planned: keys (1C references,
// virtpos ids, order keys), field names and reasons that name fields and
// shapes, never values.
package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/virtsync/virtsync/engine"
)

// Entry is one record in the JSON list. Every key is always present:
// fields is [] and remote_id and reason are "" when there is nothing to
// say.
type Entry struct {
	Job    string `json:"job"`
	Key    string `json:"key"`
	Action string `json:"action"` // create, update, delete, block, skip, hold, reject, unchanged
	// Fields are the names of what an update changes (virtpos parameters
	// or 1C document fields), never their values.
	Fields   []string `json:"fields"`
	RemoteID string   `json:"remote_id"` // the record's id on the other side, when known
	Reason   string   `json:"reason"`    // why a hold, reject or skip; what could not be read
}

// EntryOf is p as the JSON list shows it.
func EntryOf(p engine.Planned) Entry {
	fields := p.Fields
	if fields == nil {
		fields = []string{}
	}
	return Entry{Job: p.Job, Key: p.Key, Action: string(p.Action), Fields: fields, RemoteID: p.RemoteID, Reason: p.Reason}
}

// JSON writes planned records as one JSON array, an element per line.
// Close ends the array; an empty plan is [].
type JSON struct {
	w   io.Writer
	n   int
	err error
}

// NewJSON returns a JSON list writer on w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

// Add writes p. It is meant as the emit function of engine.Runner.Plan.
func (j *JSON) Add(p engine.Planned) error {
	if j.err != nil {
		return j.err
	}
	b, err := json.Marshal(EntryOf(p))
	if err != nil {
		j.err = fmt.Errorf("plan: encode %s %s: %w", p.Job, p.Key, err)
		return j.err
	}
	sep := ",\n"
	if j.n == 0 {
		sep = "[\n"
	}
	j.n++
	if _, err := io.WriteString(j.w, sep+string(b)); err != nil {
		j.err = fmt.Errorf("plan: write: %w", err)
	}
	return j.err
}

// Close ends the list.
func (j *JSON) Close() error {
	if j.err != nil {
		return j.err
	}
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	if _, err := io.WriteString(j.w, end); err != nil {
		j.err = fmt.Errorf("plan: write: %w", err)
	}
	return j.err
}

// Text writes a plan for people: a line per planned record as it comes,
// then Summary's table. Records planned unchanged are counted in the
// table only, unless Unchanged is set.
type Text struct {
	// Unchanged prints a line for each record planned unchanged too.
	Unchanged bool

	w   io.Writer
	err error
}

// NewText returns a text writer on w.
func NewText(w io.Writer) *Text { return &Text{w: w} }

// Add writes p's line: job, action, key, the remote id, then the fields
// an update changes and the reason, e.g.
//
//	customers  update     0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33  id 5      fname, email
//	cards      hold       5a6b7c8d-0000-4000-8000-00000000c0de  -         waiting: card …: its owner is not in virtpos yet
//
// It is meant as the emit function of engine.Runner.Plan.
func (t *Text) Add(p engine.Planned) error {
	if t.err != nil {
		return t.err
	}
	if p.Action == engine.ActionUnchanged && !t.Unchanged {
		return nil
	}
	id := "-"
	if p.RemoteID != "" {
		id = "id " + p.RemoteID
	}
	detail := strings.Join(p.Fields, ", ")
	if r := oneLine(p.Reason); r != "" {
		if detail != "" {
			detail += " (" + r + ")"
		} else {
			detail = r
		}
	}
	line := fmt.Sprintf("%-9s  %-9s  %-36s  %-8s  %s", p.Job, p.Action, p.Key, id, detail)
	if _, err := io.WriteString(t.w, strings.TrimRight(line, " ")+"\n"); err != nil {
		t.err = fmt.Errorf("plan: write: %w", err)
	}
	return t.err
}

// Summary writes the table of counts per job and action, a line per job
// that stopped early, and what a dry run wrote: nothing.
func (t *Text) Summary(sums []engine.PlanSummary) error {
	if t.err != nil {
		return t.err
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	head := []string{"JOB", "MODE", "SEEN"}
	for _, a := range engine.Actions {
		head = append(head, strings.ToUpper(string(a)))
	}
	head = append(head, "DURATION")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, s := range sums {
		row := []string{s.Job, string(s.Mode), strconv.Itoa(s.Seen)}
		for _, a := range engine.Actions {
			row = append(row, strconv.Itoa(s.Counts[a]))
		}
		row = append(row, s.Duration.Round(time.Millisecond).String())
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		t.err = fmt.Errorf("plan: write: %w", err)
		return t.err
	}
	var b strings.Builder
	for _, s := range sums {
		if s.Err != nil {
			fmt.Fprintf(&b, "%s: the dry run stopped early, the plan above is partial: %s\n", s.Job, oneLine(s.Err.Error()))
		}
	}
	b.WriteString("dry run: nothing was written to virtpos, 1C or the state file\n")
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		t.err = fmt.Errorf("plan: write: %w", err)
	}
	return t.err
}

// oneLine keeps a reason on its line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
