package onecapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

var sweepSelect = []string{"Ref_Key", "DataVersion", "DeletionMark"}

// Sweep pages through entity (restricted by filter, may be empty) asking only
// for Ref_Key, DataVersion and DeletionMark, and returns Ref_Key ->
// DataVersion. It returns an error rather than a partial map: only a complete
// sweep may be used to infer deletions. It holds every key in memory;
// SweepPages and StreamChanges do not.
func (c *Client) Sweep(ctx context.Context, entity, filter string) (map[string]string, error) {
	versions := make(map[string]string)
	err := c.SweepPages(ctx, entity, filter, newMemKeys(), func(page []Version) error {
		for _, v := range page {
			versions[v.Key] = v.DataVersion
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return versions, nil
}

// Version is one row of a sweep: decoding into a struct instead of a map
// keeps a sweep of millions cheap.
type Version struct {
	Key          string `json:"Ref_Key"`
	DataVersion  string `json:"DataVersion"`
	DeletionMark bool   `json:"DeletionMark"`
}

// SweepPages pages through entity asking only for Ref_Key, DataVersion
// and DeletionMark, and gives fn each page's rows whose key keys had not
// seen (a key seen twice keeps its first version; the fetch phase reads the
// current one anyway if it differs from storage).
func (c *Client) SweepPages(ctx context.Context, entity, filter string, keys KeySet, fn func([]Version) error) error {
	return pages(ctx, c, pageSpec{
		op: "sweep", entity: entity,
		url: func(top, skip int, count bool) string {
			return c.entityURL(entity, "", c.readQuery(sweepSelect, filter, "Ref_Key", top, skip, count))
		},
		count: func(ctx context.Context) (int, error) { return c.Count(ctx, entity, filter) },
	}, keys, func(dec *json.Decoder) (string, Version, error) {
		var v Version
		err := dec.Decode(&v)
		return v.Key, v, err
	}, fn)
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

// ChangeSet is the result of one change detection run held in memory.
type ChangeSet struct {
	// Records are new or changed entities (DataVersion differs from seen),
	// in the order StreamChanges emitted them. Soft-deleted records
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

// Known is what StreamChanges needs to know of the caller's stored
// versions and of the keys this detection has seen. engine.Known is one.
type Known interface {
	KeySet
	// Count is how many keys have a stored version.
	Count(ctx context.Context) (int, error)
	// Forced reports that every stored version is to be ignored.
	Forced() bool
	// Versions returns the stored versions of keys ("" forces a key
	// through; absent: never stored).
	Versions(ctx context.Context, keys []string) (map[string]string, error)
	// Changed returns those of keys whose stored version is not the one
	// given beside it, with whether one was stored.
	Changed(ctx context.Context, keys, versions []string) (changed []string, stored []bool, err error)
	// Unmarked calls fn with the stored keys not marked yet, in chunks of
	// at most n.
	Unmarked(ctx context.Context, n int, fn func(keys []string) error) error
}

// Change is one record StreamChanges found new, changed or gone.
type Change struct {
	Key    string
	Entity Entity // nil when the record is gone
}

// ChangeStats is what StreamChanges saw beside the changes.
type ChangeStats struct {
	Seen      int // distinct keys in the set
	Unchanged int // keys whose stored version matched
}

// Changes runs StreamChanges against seen (Ref_Key -> DataVersion; nil for
// a first run) and collects the result in memory. For small sets and
// tests; the sync engine streams.
func (c *Client) Changes(ctx context.Context, q ChangeQuery, seen map[string]string) (*ChangeSet, error) {
	known := &memKnown{versions: seen, marked: newMemKeys()}
	cs := &ChangeSet{Versions: maps.Clone(seen)}
	if cs.Versions == nil {
		cs.Versions = map[string]string{}
	}
	_, err := c.StreamChanges(ctx, q, known, func(ch Change) error {
		if ch.Entity == nil {
			cs.Deleted = append(cs.Deleted, ch.Key)
			delete(cs.Versions, ch.Key)
			return nil
		}
		cs.Records = append(cs.Records, ch.Entity)
		cs.Versions[ch.Key] = ch.Entity.DataVersion()
		if ch.Entity.DeletionMark() {
			cs.Marked = append(cs.Marked, ch.Key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(cs.Deleted)
	return cs, nil
}

// memKnown is Known over a map, for Changes.
type memKnown struct {
	versions map[string]string
	marked   memKeys
}

func (m *memKnown) Mark(ctx context.Context, keys []string) ([]bool, error) {
	return m.marked.Mark(ctx, keys)
}
func (m *memKnown) Count(context.Context) (int, error) { return len(m.versions), nil }
func (m *memKnown) Forced() bool                       { return false }
func (m *memKnown) Versions(_ context.Context, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := m.versions[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}
func (m *memKnown) Changed(_ context.Context, keys, versions []string) ([]string, []bool, error) {
	var changed []string
	var stored []bool
	for i, k := range keys {
		v, ok := m.versions[k]
		if ok && v != "" && v == versions[i] {
			continue
		}
		changed, stored = append(changed, k), append(stored, ok)
	}
	return changed, stored, nil
}
func (m *memKnown) Unmarked(_ context.Context, n int, fn func([]string) error) error {
	var left []string
	for k := range m.versions {
		if _, ok := m.marked[k]; !ok {
			left = append(left, k)
		}
	}
	slices.Sort(left)
	for chunk := range slices.Chunk(left, max(n, 1)) {
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// StreamChanges finds what changed in q's set since the versions known
// holds, and emits each new or changed record as soon as it is read, then
// each record that is gone. It holds at most a page and a fetch batch in
// memory: the keys seen go to known.Mark.
//
// With nothing stored (a first load) or every version forced (a resync),
// the set is read once with its fields, page by page. Otherwise it runs the
// two-phase detection: a sweep of Ref_Key and DataVersion, and per page a
// fetch by key, in batches of Config.BatchSize, of the keys whose version
// differs. After a complete read, the stored keys it did not see are
// looked up by key (AND-ed with the filter) before being reported gone.
//
// Races with writers in 1C are handled so nothing is lost:
//   - a record changed between sweep and fetch: the fetched DataVersion is
//     emitted (it is what the caller processes);
//   - a record deleted between sweep and fetch: emitted as gone if it was
//     stored, else nothing;
//   - an insert or delete while paging shifts $skip offsets. An insert before
//     the offset repeats a row (marked already, not emitted twice); a delete
//     before it skips one row. A skipped row that is stored would look
//     deleted, so every apparent deletion is confirmed by a look-up by key
//     first (a survivor is kept and, if changed, fetched). A skipped row that
//     is new is simply not stored, so the next run sees it as new.
func (c *Client) StreamChanges(ctx context.Context, q ChangeQuery, known Known, emit func(Change) error) (ChangeStats, error) {
	var st ChangeStats
	if q.Entity == "" {
		return st, errors.New("onec: changes: entity is required")
	}
	stored, err := known.Count(ctx)
	if err != nil {
		return st, fmt.Errorf("onec: changes %s: %w", q.Entity, err)
	}
	sel := q.Select
	if len(sel) > 0 {
		sel = slices.Clone(sel)
		for _, f := range sweepSelect {
			if !slices.Contains(sel, f) {
				sel = append(sel, f)
			}
		}
	}
	d := &detector{ctx: ctx, c: c, q: q, sel: sel, known: known, emit: emit, st: &st}
	if stored == 0 || known.Forced() {
		err = c.ListPages(ctx, Query{Entity: q.Entity, Select: sel, Filter: q.Filter}, known, func(page []Entity) error {
			for _, e := range page {
				st.Seen++
				if err := emit(Change{Key: e.Key(), Entity: e}); err != nil {
					return err
				}
			}
			return nil
		})
	} else {
		err = c.SweepPages(ctx, q.Entity, q.Filter, known, d.page)
		if err == nil {
			err = d.fetch(ctx)
		}
	}
	if err != nil {
		return st, err
	}
	if stored == 0 {
		return st, nil
	}
	err = known.Unmarked(ctx, c.cfg.BatchSize, func(keys []string) error { return d.confirm(ctx, keys) })
	if err != nil {
		return st, err
	}
	return st, d.fetch(ctx)
}

// detector is the state of one StreamChanges between pages.
type detector struct {
	ctx   context.Context
	c     *Client
	q     ChangeQuery
	sel   []string
	known Known
	emit  func(Change) error
	st    *ChangeStats
	// pending are changed keys waiting for a fetch, with their stored
	// versions (absent: new).
	pending []string
	stored  map[string]bool
}

// page diffs one sweep page against the stored versions.
func (d *detector) page(rows []Version) error {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.Key
	}
	return d.diff(d.ctx, rows, keys)
}

func (d *detector) diff(ctx context.Context, rows []Version, keys []string) error {
	versions := make([]string, len(rows))
	for i, r := range rows {
		versions[i] = r.DataVersion
	}
	changed, stored, err := d.known.Changed(ctx, keys, versions)
	if err != nil {
		return fmt.Errorf("onec: changes %s: %w", d.q.Entity, err)
	}
	d.st.Seen += len(rows)
	d.st.Unchanged += len(rows) - len(changed)
	if d.stored == nil {
		d.stored = map[string]bool{}
	}
	for i, k := range changed {
		d.pending = append(d.pending, k)
		d.stored[k] = stored[i]
		if len(d.pending) >= d.c.cfg.BatchSize {
			if err := d.fetch(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetch reads the pending keys with their fields and emits them; a key
// that is gone by now is emitted as gone if it was stored.
func (d *detector) fetch(ctx context.Context) error {
	if len(d.pending) == 0 {
		return nil
	}
	batch := d.pending
	got := make(map[string]bool, len(batch))
	err := d.c.fetchKeys(ctx, "fetch", d.q.Entity, "", d.sel, batch, func(e Entity) error {
		k := e.Key()
		if got[k] {
			return nil
		}
		got[k] = true
		return d.emit(Change{Key: k, Entity: e})
	})
	if err != nil {
		return err
	}
	for _, k := range batch {
		if !got[k] && d.stored[k] {
			if err := d.emit(Change{Key: k}); err != nil {
				return err
			}
		}
	}
	d.pending = d.pending[:0]
	clear(d.stored)
	return nil
}

// confirm looks up stored keys the read did not see: an offset shift may
// have skipped them. A survivor is marked and diffed like a swept row; the
// rest are gone.
func (d *detector) confirm(ctx context.Context, keys []string) error {
	var guids []string
	for _, k := range keys {
		if IsGUID(k) {
			guids = append(guids, k)
			continue
		}
		// Not a 1C reference (a key from an older store): it cannot be
		// looked up, and a sweep never lists it.
		if err := d.emit(Change{Key: k}); err != nil {
			return err
		}
	}
	if len(guids) == 0 {
		return nil
	}
	var alive []Version
	err := d.c.fetchKeys(ctx, "confirm", d.q.Entity, d.q.Filter, sweepSelect, guids, func(e Entity) error {
		alive = append(alive, Version{Key: e.Key(), DataVersion: e.DataVersion(), DeletionMark: e.DeletionMark()})
		return nil
	})
	if err != nil {
		return err
	}
	live := make([]string, 0, len(alive))
	for _, v := range alive {
		live = append(live, v.Key)
	}
	fresh, err := d.known.Mark(ctx, live)
	if err != nil {
		return fmt.Errorf("onec: changes %s: %w", d.q.Entity, err)
	}
	survivors, skeys := alive[:0], live[:0]
	for i, v := range alive {
		if fresh[i] {
			survivors, skeys = append(survivors, v), append(skeys, v.Key)
		}
	}
	found := make(map[string]bool, len(skeys))
	for _, k := range skeys {
		found[k] = true
	}
	for _, k := range guids {
		if !found[k] {
			if err := d.emit(Change{Key: k}); err != nil {
				return err
			}
		}
	}
	return d.diff(ctx, survivors, skeys)
}

// Fetch reads the entities with the given keys (any number; requested in
// batches of Config.BatchSize). Keys not found are simply absent.
func (c *Client) Fetch(ctx context.Context, entity string, keys []string, sel []string) ([]Entity, error) {
	var out []Entity
	for batch := range slices.Chunk(keys, c.cfg.BatchSize) {
		if err := c.fetchKeys(ctx, "fetch", entity, "", sel, batch, func(e Entity) error { out = append(out, e); return nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fetchKeys reads one batch of keys, optionally AND-ed with filter, and
// calls fn for each entity found, once per key.
func (c *Client) fetchKeys(ctx context.Context, op, entity, filter string, sel, keys []string, fn func(Entity) error) error {
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
	return pages(ctx, c, pageSpec{
		op: op, entity: entity, pageSize: len(keys) + 1, expect: len(keys),
		url: func(top, skip int, _ bool) string {
			return c.entityURL(entity, "", c.readQuery(sel, f, "Ref_Key", top, skip, false))
		},
	}, newMemKeys(), decodeEntity, func(page []Entity) error {
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}
