package onec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// sweepRow is what a sweep asks for: decoding into a struct instead of a map
// keeps a 100k-record sweep cheap.
type sweepRow struct {
	Ref          string `json:"Ref_Key"`
	DataVersion  string `json:"DataVersion"`
	DeletionMark bool   `json:"DeletionMark"`
}

var sweepSelect = []string{"Ref_Key", "DataVersion", "DeletionMark"}

// Sweep pages through entity (restricted by filter, may be empty) asking only
// for Ref_Key, DataVersion and DeletionMark, and returns Ref_Key ->
// DataVersion. It returns an error rather than a partial map: only a complete
// sweep may be used to infer deletions.
func (c *Client) Sweep(ctx context.Context, entity, filter string) (map[string]string, error) {
	versions := make(map[string]string)
	err := c.pages(ctx, pageSpec{
		op: "sweep", entity: entity,
		url: func(top, skip int, count bool) string {
			return c.entityURL(entity, "", c.readQuery(sweepSelect, filter, "Ref_Key", top, skip, count))
		},
		count: func(ctx context.Context) (int, error) { return c.Count(ctx, entity, filter) },
	}, func(dec *json.Decoder, pg *pager) error {
		var r sweepRow
		if err := dec.Decode(&r); err != nil {
			return err
		}
		// A key seen twice keeps its first version; the fetch phase reads
		// the current one anyway if it differs from storage.
		if r.Ref != "" && pg.fresh(r.Ref) {
			versions[r.Ref] = r.DataVersion
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return versions, nil
}

// ChangeQuery selects what Changes looks at.
type ChangeQuery struct {
	// Entity is the entity set. Required.
	Entity string
	// Filter restricts the synced set (e.g. "Клиент eq true"). A record
	// that stops matching it is reported in Deleted: it left the set.
	Filter string
	// Select lists the fields fetched for new and changed records; empty
	// means all. Ref_Key, DataVersion and DeletionMark are always added.
	Select []string
}

// ChangeSet is the result of one change detection run.
type ChangeSet struct {
	// Records are new or changed entities (DataVersion differs from seen),
	// in Ref_Key order of the fetch batches. Soft-deleted records
	// (DeletionMark=true) are included: their keys are also in Marked.
	Records []Entity
	// Marked are keys of Records with DeletionMark=true (soft deletes).
	Marked []string
	// Deleted are keys of seen that are gone: absent from a complete sweep
	// and confirmed absent by a look-up by key (physical deletion, or the
	// record no longer matches Filter). Sorted.
	Deleted []string
	// Versions is the complete new Ref_Key -> DataVersion map. Store it
	// (replacing seen) only after Records and Deleted were processed; a
	// record whose processing failed should keep its old version so the
	// next run offers it again.
	Versions map[string]string
}

// Changes runs the two-phase change detection: a Sweep of versions, a diff
// against seen (the caller's stored Ref_Key -> DataVersion; nil for a first
// or full run), then a fetch of new and changed records by key in batches of
// Config.BatchSize.
//
// Races with writers in 1C are handled so nothing is lost:
//   - a record changed between sweep and fetch: the fetched DataVersion goes
//     into Versions (it is what the caller processed);
//   - a record deleted between sweep and fetch: not in Records, and in
//     Deleted if it was in seen;
//   - an insert or delete while paging shifts $skip offsets. An insert before
//     the offset repeats a row (de-duplicated); a delete before it skips one
//     row. A skipped row that is in seen would look deleted, so every
//     apparent deletion is confirmed by a look-up by key first (a survivor is
//     kept and, if changed, fetched). A skipped row that is new is simply not
//     in Versions, so the next run's sweep sees it as new.
func (c *Client) Changes(ctx context.Context, q ChangeQuery, seen map[string]string) (*ChangeSet, error) {
	if q.Entity == "" {
		return nil, errors.New("onec: changes: entity is required")
	}
	versions, err := c.Sweep(ctx, q.Entity, q.Filter)
	if err != nil {
		return nil, err
	}

	// Confirm apparent deletions: a key missing from the sweep may have been
	// skipped by an offset shift.
	var missing []string
	for k := range seen {
		if _, ok := versions[k]; !ok && IsGUID(k) {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	for batch := range slices.Chunk(missing, c.cfg.BatchSize) {
		err := c.fetchKeys(ctx, "confirm", q.Entity, q.Filter, sweepSelect, batch, func(e Entity) {
			versions[e.Key()] = e.DataVersion()
		})
		if err != nil {
			return nil, err
		}
	}

	var changed []string
	for k, v := range versions {
		if old, ok := seen[k]; !ok || old != v {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)

	cs := &ChangeSet{Versions: versions}
	sel := q.Select
	if len(sel) > 0 {
		sel = slices.Clone(sel)
		for _, f := range sweepSelect {
			if !slices.Contains(sel, f) {
				sel = append(sel, f)
			}
		}
	}
	for batch := range slices.Chunk(changed, c.cfg.BatchSize) {
		got := make(map[string]bool, len(batch))
		err := c.fetchKeys(ctx, "fetch", q.Entity, "", sel, batch, func(e Entity) {
			k := e.Key()
			if got[k] {
				return
			}
			got[k] = true
			versions[k] = e.DataVersion()
			cs.Records = append(cs.Records, e)
			if e.DeletionMark() {
				cs.Marked = append(cs.Marked, k)
			}
		})
		if err != nil {
			return nil, err
		}
		for _, k := range batch {
			if !got[k] {
				// Deleted between sweep and fetch.
				delete(versions, k)
			}
		}
	}
	for k := range seen {
		if _, ok := versions[k]; !ok {
			cs.Deleted = append(cs.Deleted, k)
		}
	}
	slices.Sort(cs.Deleted)
	return cs, nil
}

// Fetch reads the entities with the given keys (any number; requested in
// batches of Config.BatchSize). Keys not found are simply absent.
func (c *Client) Fetch(ctx context.Context, entity string, keys []string, sel []string) ([]Entity, error) {
	var out []Entity
	for batch := range slices.Chunk(keys, c.cfg.BatchSize) {
		if err := c.fetchKeys(ctx, "fetch", entity, "", sel, batch, func(e Entity) { out = append(out, e) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fetchKeys reads one batch of keys, optionally AND-ed with filter.
func (c *Client) fetchKeys(ctx context.Context, op, entity, filter string, sel, keys []string, fn func(Entity)) error {
	for _, k := range keys {
		if !IsGUID(k) {
			return fmt.Errorf("onec: %s %s: key %q is not a GUID", op, entity, k)
		}
	}
	f := keysFilter(keys)
	if filter != "" {
		f = "(" + filter + ") and (" + f + ")"
	}
	// $top above the batch size: one page answers the batch, and a 5xx
	// still shrinks and pages it.
	return c.pages(ctx, pageSpec{
		op: op, entity: entity, pageSize: len(keys) + 1, expect: len(keys),
		url: func(top, skip int, _ bool) string {
			return c.entityURL(entity, "", c.readQuery(sel, f, "Ref_Key", top, skip, false))
		},
	}, func(dec *json.Decoder, pg *pager) error {
		var e Entity
		if err := dec.Decode(&e); err != nil {
			return err
		}
		if k := e.Key(); k != "" && !pg.fresh(k) {
			return nil
		}
		fn(e)
		return nil
	})
}
