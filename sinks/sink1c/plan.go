package sink1c

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// PreparePlan implements engine.Planner: the per-run caches start empty,
// as for a run.
func (h *Orders) PreparePlan(ctx context.Context, run *engine.RunInfo) error {
	return h.Prepare(ctx, run)
}

// Plan implements engine.Planner. It resolves the buyer, counterparty and
// items as Apply does, with reads only (a missing one holds the order as
// it would), builds the body Apply would write, and compares it with the
// document 1C has (by the id map's reference, else by the marker): the
// document's fields that differ are named, the rows as one section.
func (h *Orders) Plan(ctx context.Context, run *engine.RunInfo, rec engine.Record) (engine.Planned, error) {
	o, ok := rec.Data.(*virtposapi.Order)
	if !ok {
		return engine.Planned{}, fmt.Errorf("order %s: unexpected record type %T", rec.Key, rec.Data)
	}
	if len(o.Problems) > 0 {
		return engine.Planned{}, engine.Reject(nil, "order %s cannot be used as virtpos sent it: %s",
			rec.Key, strings.Join(o.Problems, "; "))
	}
	s := h.Settings
	docRef, known, err := run.IDs.LookupID(ctx, virtsync.KindOrder, rec.Key)
	if err != nil {
		return engine.Planned{}, err
	}
	body, err := h.document(ctx, rec.Key, o)
	if err != nil {
		return engine.Planned{}, err
	}
	var doc onecapi.Entity
	found := false
	if known {
		// Apply updates this document; one deleted in 1C by hand is
		// looked up again by its marker, as below.
		if doc, found, err = h.OneC.FindByField(ctx, s.Doc.Entity, "Ref_Key", docRef); err != nil {
			return engine.Planned{}, orderFailure(rec.Key, err)
		}
	}
	if !found {
		if doc, found, err = h.OneC.FindByField(ctx, s.Doc.Entity, s.Doc.MarkerField, s.Doc.Marker(rec.Key)); err != nil {
			return engine.Planned{}, orderFailure(rec.Key, err)
		}
	}
	if !found {
		return engine.Planned{Action: engine.ActionCreate}, nil
	}
	fields := documentDiff(body, doc, s.Doc.Section)
	if s.Post && !o.Cancelled && !doc.Bool("Posted") {
		fields = append(fields, "Posted")
	}
	out := engine.Planned{Action: engine.ActionUnchanged, RemoteID: doc.Key()}
	if len(fields) > 0 {
		out.Action, out.Fields = engine.ActionUpdate, fields
	}
	return out, nil
}

// documentDiff names the fields of body whose values differ from doc's,
// sorted; the rows section is compared as a whole (a row more or less,
// or any field of any row, makes it differ). A field 1C does not return
// counts as empty there. Fields doc has and body does not write are left
// alone by the update, so they are not compared.
func documentDiff(body map[string]any, doc onecapi.Entity, section string) []string {
	var out []string
	for k, want := range body {
		if k == section {
			if !sameRows(want, doc.Rows(section)) {
				out = append(out, k)
			}
			continue
		}
		if !sameValue(want, doc[k]) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func sameRows(want any, have []onecapi.Entity) bool {
	rows, _ := want.([]any)
	if len(rows) != len(have) {
		return false
	}
	for i, r := range rows {
		row, _ := r.(map[string]any)
		for k, v := range row {
			if !sameValue(v, have[i][k]) {
				return false
			}
		}
	}
	return true
}

// sameValue compares a value of the body with 1C's after normalising
// both: numbers as decimals (1C sends Edm.Int64 as text and may write
// 3.450 as 3.45), references in lower case, text without surrounding
// spaces, nothing and "" alike.
func sameValue(want, have any) bool {
	a, aNum := plain(want)
	b, bNum := plain(have)
	if aNum || bNum {
		da, errA := decimal.NewFromString(a)
		db, errB := decimal.NewFromString(b)
		if errA == nil && errB == nil {
			return da.Equal(db)
		}
	}
	return a == b
}

// plain is v as text, and whether it was a number.
func plain(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s := strings.TrimSpace(x)
		if onecapi.IsGUID(s) {
			s = strings.ToLower(s)
		}
		return s, false
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), false
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case decimal.Decimal:
		return x.String(), true
	}
	return fmt.Sprint(v), false
}
