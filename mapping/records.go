package mapping

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/state"
)

// Lister reads a 1C entity set: the objects a map looks up.
type Lister interface {
	List(ctx context.Context, q onecapi.Query, fn func(onecapi.Entity) error) error
}

// IDs is what resolving a 1C reference reads from the state: the id map,
// and whether the customers job has seen (or finished a run over) a key.
type IDs interface {
	LookupID(ctx context.Context, kind, ref string) (string, bool, error)
	Checkpoint(ctx context.Context, job string) (state.Checkpoint, error)
	Version(ctx context.Context, job, key string) (string, bool, error)
}

// EntityMapper applies a compiled field map to 1C records for one job:
// it serves the map's look-ups (card kinds) from a per-run prefetch and
// resolves references through the id map.
type EntityMapper struct {
	Kind   string // customer, card: for messages
	Fields *Map
	OneC   Lister
	IDs    IDs

	mu      sync.RWMutex
	lookups map[string]map[string]onecapi.Entity // entity -> Ref_Key -> record
}

// Prepare fetches the referenced objects the map reads (for cards: every
// card kind). They are few, and fetching them whole once per run is
// cheaper than one request per card.
func (x *EntityMapper) Prepare(ctx context.Context) error {
	fields := map[string][]string{}
	for _, lf := range x.Fields.Lookups() {
		fields[lf.Entity] = append(fields[lf.Entity], lf.Field)
	}
	lookups := map[string]map[string]onecapi.Entity{}
	for entity, fs := range fields {
		rows := map[string]onecapi.Entity{}
		err := x.OneC.List(ctx, onecapi.Query{Entity: entity, Select: append([]string{"Ref_Key"}, fs...)}, func(e onecapi.Entity) error {
			rows[e.Key()] = e
			return nil
		})
		if err != nil {
			return fmt.Errorf("load %s for the %s map: %w", entity, x.Kind, err)
		}
		lookups[entity] = rows
	}
	x.mu.Lock()
	x.lookups = lookups
	x.mu.Unlock()
	return nil
}

// Map implements the sinks' Mapper.
func (x *EntityMapper) Map(ctx context.Context, rec engine.Record) (url.Values, error) {
	e, ok := rec.Data.(onecapi.Entity)
	if !ok {
		return nil, fmt.Errorf("%s %s: unexpected record type %T", x.Kind, rec.Key, rec.Data)
	}
	params, err := x.Fields.ApplyLookup(e, &resolver{ctx: ctx, ids: x.IDs}, x)
	if err != nil {
		var fe *FieldError
		var ue *UnresolvedError
		var he *engine.HeldError
		switch {
		case errors.As(err, &he):
			return nil, he
		case errors.As(err, &fe):
			return nil, engine.Reject(err, "%s %s: mapping", x.Kind, rec.Key)
		case errors.As(err, &ue):
			return nil, engine.Hold("%s", ue.Error())
		}
		return nil, err
	}
	v := make(url.Values, len(params))
	for k, s := range params {
		v.Set(k, s)
	}
	return v, nil
}

// Lookup implements Lookup from the per-run prefetch.
func (x *EntityMapper) Lookup(entity, ref, field string) (any, bool, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	rows, ok := x.lookups[entity]
	if !ok {
		return nil, false, fmt.Errorf("%s was not prefetched", entity)
	}
	r, ok := rows[ref]
	if !ok {
		return nil, false, nil
	}
	v, ok := r[field]
	return v, ok, nil
}

// resolver resolves 1C references to virtpos ids through the id map.
type resolver struct {
	ctx context.Context
	ids IDs
}

// Resolve implements Resolver. A customer the customers job knows
// but has not pushed yet (new, held, failed) makes the record wait: the
// card must not be created with an owner virtpos does not know. A partner
// the customers job never saw (outside its filter) is not known at all;
// then ok=false lets the map fall back to customer_external_id, which
// virtpos resolves if it knows that customer by other means.
func (r *resolver) Resolve(kind, ref string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	id, ok, err := r.ids.LookupID(ctx, kind, ref)
	if err != nil || ok {
		return id, ok, err
	}
	if kind != virtsync.KindCustomer {
		return "", false, nil
	}
	cp, err := r.ids.Checkpoint(ctx, virtsync.JobCustomers)
	if err != nil {
		return "", false, err
	}
	if cp.LastSuccessAt.IsZero() {
		return "", false, engine.HoldFor(virtsync.JobCustomers, "owner %s: the customers job has not completed a run yet", ref)
	}
	if _, seen, err := r.ids.Version(ctx, virtsync.JobCustomers, ref); err != nil {
		return "", false, err
	} else if seen {
		return "", false, engine.HoldFor(virtsync.JobCustomers, "owner %s is not synced to virtpos yet", ref)
	}
	return "", false, nil
}
