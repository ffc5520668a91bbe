// Package onec reads customers and cards from 1C for the jobs that push
// them to virtpos. It streams the client's change detection: on a first
// load one pass over the set with its fields; after that a cheap page
// through Ref_Key and DataVersion, diffed page by page against the
// versions the engine committed, with a fetch of only the new and changed
// records. What it has seen lives in the state store, not in memory.
package onec

import (
	"context"
	"fmt"

	"github.com/virtsync/virtsync/internal/onec"
	vsync "github.com/virtsync/virtsync/sync"
)

// ChangesClient is what the source needs from the 1C client.
type ChangesClient interface {
	StreamChanges(ctx context.Context, q onec.ChangeQuery, known onec.Known, emit func(onec.Change) error) (onec.ChangeStats, error)
}

// Entities is a source over one 1C entity set (Catalog_Партнеры,
// Catalog_КартыЛояльности ...).
type Entities struct {
	Client ChangesClient
	Entity string
	Filter string   // OData $filter, e.g. "Клиент eq true"; empty for all
	Select []string // fields to fetch for changed records; empty for all
}

// Scan implements sync.Source. Records come out as onec.Entity values as
// soon as their page or fetch batch is read; deletion-marked ones carry
// Marked, keys gone from a complete read come out last, as Deleted.
func (s *Entities) Scan(ctx context.Context, known vsync.Known, emit func(vsync.Record) error) (vsync.ScanStats, error) {
	cs, err := s.Client.StreamChanges(ctx, onec.ChangeQuery{Entity: s.Entity, Filter: s.Filter, Select: s.Select}, known,
		func(ch onec.Change) error {
			if ch.Entity == nil {
				return emit(vsync.Record{Key: ch.Key, Deleted: true})
			}
			e := ch.Entity
			return emit(vsync.Record{Key: ch.Key, Version: e.DataVersion(), Marked: e.DeletionMark(), Data: e})
		})
	st := vsync.ScanStats{Seen: cs.Seen, Unchanged: cs.Unchanged}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", s.Entity, err)
	}
	return st, nil
}
