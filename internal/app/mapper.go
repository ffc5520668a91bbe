package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/mapping"
	"github.com/virtsync/virtsync/state"
)

// entityMapper applies a compiled field map to 1C records for one job:
// it serves the map's look-ups (card kinds) from a per-run prefetch and
// resolves references through the id map.
type entityMapper struct {
	kind string // customer, card: for messages
	m    *mapping.Map
	onec *onecapi.Client
	db   *state.DB

	mu      sync.RWMutex
	lookups map[string]map[string]onecapi.Entity // entity -> Ref_Key -> record
}

// Prepare fetches the referenced objects the map reads (for cards: every
// card kind). They are few, and fetching them whole once per run is
// cheaper than one request per card.
func (x *entityMapper) Prepare(ctx context.Context) error {
	fields := map[string][]string{}
	for _, lf := range x.m.Lookups() {
		fields[lf.Entity] = append(fields[lf.Entity], lf.Field)
	}
	lookups := map[string]map[string]onecapi.Entity{}
	for entity, fs := range fields {
		rows := map[string]onecapi.Entity{}
		err := x.onec.List(ctx, onecapi.Query{Entity: entity, Select: append([]string{"Ref_Key"}, fs...)}, func(e onecapi.Entity) error {
			rows[e.Key()] = e
			return nil
		})
		if err != nil {
			return fmt.Errorf("load %s for the %s map: %w", entity, x.kind, err)
		}
		lookups[entity] = rows
	}
	x.mu.Lock()
	x.lookups = lookups
	x.mu.Unlock()
	return nil
}

// Map implements the sinks' Mapper.
func (x *entityMapper) Map(ctx context.Context, rec engine.Record) (url.Values, error) {
	e, ok := rec.Data.(onecapi.Entity)
	if !ok {
		return nil, fmt.Errorf("%s %s: unexpected record type %T", x.kind, rec.Key, rec.Data)
	}
	params, err := x.m.ApplyLookup(e, &resolver{ctx: ctx, db: x.db}, x)
	if err != nil {
		var fe *mapping.FieldError
		var ue *mapping.UnresolvedError
		var he *engine.HeldError
		switch {
		case errors.As(err, &he):
			return nil, he
		case errors.As(err, &fe):
			return nil, engine.Reject(err, "%s %s: mapping", x.kind, rec.Key)
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

// Lookup implements mapping.Lookup from the per-run prefetch.
func (x *entityMapper) Lookup(entity, ref, field string) (any, bool, error) {
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
	db  *state.DB
}

// Resolve implements mapping.Resolver. A customer the customers job knows
// but has not pushed yet (new, held, failed) makes the record wait: the
// card must not be created with an owner virtpos does not know. A partner
// the customers job never saw (outside its filter) is not known at all;
// then ok=false lets the map fall back to customer_external_id, which
// virtpos resolves if it knows that customer by other means.
func (r *resolver) Resolve(kind, ref string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	id, ok, err := r.db.LookupID(ctx, kind, ref)
	if err != nil || ok {
		return id, ok, err
	}
	if kind != mapping.KindCustomer {
		return "", false, nil
	}
	cp, err := r.db.Checkpoint(ctx, "customers")
	if err != nil {
		return "", false, err
	}
	if cp.LastSuccessAt.IsZero() {
		return "", false, engine.HoldFor("customers", "owner %s: the customers job has not completed a run yet", ref)
	}
	if _, seen, err := r.db.Version(ctx, "customers", ref); err != nil {
		return "", false, err
	} else if seen {
		return "", false, engine.HoldFor("customers", "owner %s is not synced to virtpos yet", ref)
	}
	return "", false, nil
}
