package plan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/plan"
)

var plans = []engine.Planned{
	{Job: "customers", Key: "0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33", Action: engine.ActionUpdate, Fields: []string{"email", "fname"}, RemoteID: "5"},
	{Job: "customers", Key: "0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc34", Action: engine.ActionCreate},
	{Job: "customers", Key: "0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc35", Action: engine.ActionUnchanged, RemoteID: "7"},
	{Job: "customers", Key: "0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc36", Action: engine.ActionReject,
		Reason: "customer 0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc36: mapping: field phone (from КонтактнаяИнформация): expected a phone number (+7XXXXXXXXXX), got 5 digits"},
	{Job: "cards", Key: "5a6b7c8d-0000-4000-8000-00000000c0de", Action: engine.ActionHold,
		Reason: "waiting: card 5a6b7c8d-0000-4000-8000-00000000c0de: its owner is not in virtpos yet"},
	{Job: "cards", Key: "5a6b7c8d-0000-4000-8000-00000000c0df", Action: engine.ActionBlock, Fields: []string{"status"}, RemoteID: "6"},
	{Job: "orders", Key: "vp-8d1e4f2a-0001", Action: engine.ActionUpdate, Fields: []string{"Комментарий", "Товары"},
		RemoteID: "3f0e2b1c-0000-4000-8000-000000000001", Reason: "line\nbreak"},
}

func sums() []engine.PlanSummary {
	return []engine.PlanSummary{
		{Job: "customers", Mode: engine.ModeOnce, Seen: 120, Duration: 1234 * time.Millisecond,
			Counts: map[engine.Action]int{engine.ActionCreate: 1, engine.ActionUpdate: 1, engine.ActionReject: 1, engine.ActionUnchanged: 117}},
		{Job: "cards", Mode: engine.ModeOnce, Seen: 2, Duration: 80 * time.Millisecond,
			Counts: map[engine.Action]int{engine.ActionHold: 1, engine.ActionBlock: 1}},
		{Job: "orders", Mode: engine.ModeOnce, Seen: 1, Counts: map[engine.Action]int{engine.ActionUpdate: 1},
			Err: errors.New("orders: record vp-2: onec: 401\nunauthorized")},
	}
}

func TestJSONIsAListOfTheDocumentedShape(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, plans); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if len(got) != len(plans) {
		t.Fatalf("%d entries, want %d", len(got), len(plans))
	}
	keys := []string{"action", "fields", "job", "key", "reason", "remote_id"}
	for i, e := range got {
		var have []string
		for k := range e {
			have = append(have, k)
		}
		slices.Sort(have)
		if !slices.Equal(have, keys) {
			t.Fatalf("entry %d keys = %v, want %v", i, have, keys)
		}
		if _, ok := e["fields"].([]any); !ok {
			t.Fatalf("entry %d fields = %#v, want a list (also when empty)", i, e["fields"])
		}
	}
	var typed []plan.Entry
	if err := json.Unmarshal(b.Bytes(), &typed); err != nil {
		t.Fatal(err)
	}
	for i, p := range plans {
		if !reflect.DeepEqual(typed[i], plan.EntryOf(p)) || typed[i].Action != string(p.Action) || typed[i].Key != p.Key {
			t.Errorf("entry %d = %+v, want %+v", i, typed[i], plan.EntryOf(p))
		}
	}

	b.Reset()
	if err := writeJSON(&b, nil); err != nil || b.String() != "[]\n" {
		t.Fatalf("empty plan = %q, %v; want []", b.String(), err)
	}
}

func TestTextHasALinePerRecordAndATable(t *testing.T) {
	var b bytes.Buffer
	if err := printPlans(&b, plans, sums()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, want := range []string{
		"customers  update     0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33  id 5      email, fname",
		"customers  create     0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc34  -",
		"cards      hold       5a6b7c8d-0000-4000-8000-00000000c0de  -         waiting: card 5a6b7c8d-0000-4000-8000-00000000c0de: its owner is not in virtpos yet",
		"cards      block      5a6b7c8d-0000-4000-8000-00000000c0df  id 6      status",
		"orders     update     vp-8d1e4f2a-0001                      id 3f0e2b1c-0000-4000-8000-000000000001  Комментарий, Товары (line break)",
		"JOB        MODE  SEEN  CREATE  UPDATE  DELETE  BLOCK  SKIP  HOLD  REJECT  UNCHANGED  DURATION",
		"customers  once  120   1       1       0       0      0     0     1       117        1.234s",
		"orders: the dry run stopped early, the plan above is partial: orders: record vp-2: onec: 401 unauthorized",
		"dry run: nothing was written to virtpos, 1C or the state file",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "unchanged  0f3c9a2e") {
		t.Errorf("an unchanged record has a line:\n%s", out)
	}

	b.Reset()
	tx := plan.NewText(&b)
	tx.Unchanged = true
	for _, p := range plans {
		if err := tx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(b.String(), "customers  unchanged  0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc35  id 7\n") {
		t.Errorf("Unchanged set, yet no line for the unchanged record:\n%s", b.String())
	}
}

func ExampleText() {
	t := plan.NewText(os.Stdout)
	_ = t.Add(engine.Planned{Job: "customers", Key: "0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33", Action: engine.ActionUpdate,
		Fields: []string{"email", "fname"}, RemoteID: "5"})
	_ = t.Add(engine.Planned{Job: "cards", Key: "5a6b7c8d-0000-4000-8000-00000000c0de", Action: engine.ActionHold,
		Reason: "waiting: its owner is not in virtpos yet"})
	_ = t.Summary([]engine.PlanSummary{
		{Job: "customers", Mode: engine.ModeResync, Seen: 3, Duration: 1500 * time.Millisecond,
			Counts: map[engine.Action]int{engine.ActionUpdate: 1, engine.ActionUnchanged: 2}},
		{Job: "cards", Mode: engine.ModeResync, Seen: 1, Duration: 200 * time.Millisecond,
			Counts: map[engine.Action]int{engine.ActionHold: 1}},
	})
	// Output:
	// customers  update     0f3c9a2e-1b7d-4c5e-9f00-aa11bb22cc33  id 5      email, fname
	// cards      hold       5a6b7c8d-0000-4000-8000-00000000c0de  -         waiting: its owner is not in virtpos yet
	// JOB        MODE    SEEN  CREATE  UPDATE  DELETE  BLOCK  SKIP  HOLD  REJECT  UNCHANGED  DURATION
	// customers  resync  3     0       1       0       0      0     0     0       2          1.5s
	// cards      resync  1     0       0       0       0      0     1     0       0          200ms
	// dry run: nothing was written to virtpos, 1C or the state file
}

func ExampleJSON() {
	j := plan.NewJSON(os.Stdout)
	_ = j.Add(engine.Planned{Job: "orders", Key: "vp-8d1e4f2a-0001", Action: engine.ActionCreate})
	_ = j.Add(engine.Planned{Job: "cards", Key: "5a6b7c8d-0000-4000-8000-00000000c0de", Action: engine.ActionDelete, RemoteID: "6"})
	_ = j.Close()
	// Output:
	// [
	// {"job":"orders","key":"vp-8d1e4f2a-0001","action":"create","fields":[],"remote_id":"","reason":""},
	// {"job":"cards","key":"5a6b7c8d-0000-4000-8000-00000000c0de","action":"delete","fields":[],"remote_id":"6","reason":""}
	// ]
}

// writeJSON writes plans as the JSON list, as a dry run's emit does.
func writeJSON(w io.Writer, plans []engine.Planned) error {
	j := plan.NewJSON(w)
	for _, p := range plans {
		if err := j.Add(p); err != nil {
			return err
		}
	}
	return j.Close()
}

// printPlans writes plans and the summary table, as a dry run's emit does.
func printPlans(w io.Writer, plans []engine.Planned, sums []engine.PlanSummary) error {
	t := plan.NewText(w)
	for _, p := range plans {
		if err := t.Add(p); err != nil {
			return err
		}
	}
	return t.Summary(sums)
}
