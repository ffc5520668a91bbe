// Package onec reads customers and cards from 1C for the jobs that push
// them to virtpos. It uses the client's two-phase sweep: a cheap page
// through Ref_Key and DataVersion, a diff against the versions the engine
// committed, and a fetch of only the new and changed records.
package onec

import (
	"context"
	"fmt"

	"github.com/virtsync/virtsync/internal/onec"
	vsync "github.com/virtsync/virtsync/sync"
)

// ChangesClient is what the source needs from the 1C client.
type ChangesClient interface {
	Changes(ctx context.Context, q onec.ChangeQuery, seen map[string]string) (*onec.ChangeSet, error)
}

// Entities is a source over one 1C entity set (Catalog_Партнеры,
// Catalog_КартыЛояльности ...).
type Entities struct {
	Client ChangesClient
	Entity string
	Filter string   // OData $filter, e.g. "Клиент eq true"; empty for all
	Select []string // fields to fetch for changed records; empty for all
}

// Scan implements sync.Source. Records come out as onec.Entity values;
// deletion-marked ones carry Marked, keys gone from a complete sweep come
// out as Deleted.
func (s *Entities) Scan(ctx context.Context, seen map[string]string, emit func(vsync.Record) error) (vsync.ScanStats, error) {
	cs, err := s.Client.Changes(ctx, onec.ChangeQuery{Entity: s.Entity, Filter: s.Filter, Select: s.Select}, seen)
	if err != nil {
		return vsync.ScanStats{}, fmt.Errorf("read %s: %w", s.Entity, err)
	}
	st := vsync.ScanStats{Seen: len(cs.Versions), Unchanged: len(cs.Versions) - len(cs.Records)}
	for _, e := range cs.Records {
		rec := vsync.Record{Key: e.Key(), Version: e.DataVersion(), Marked: e.DeletionMark(), Data: e}
		if err := emit(rec); err != nil {
			return st, err
		}
	}
	for _, k := range cs.Deleted {
		if err := emit(vsync.Record{Key: k, Deleted: true}); err != nil {
			return st, err
		}
	}
	return st, nil
}
