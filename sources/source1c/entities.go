// Package source1c reads customers and cards from 1C for the jobs that push
// them to virtpos. It streams the client's change detection: on a first
// load one pass over the set with its fields; after that a cheap page
// through Ref_Key and DataVersion, diffed page by page against the
// versions the engine committed, with a fetch of only the new and changed
// records. What it has seen lives in the state store, not in memory.
package source1c

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
)

// ChangesClient is what the source needs from the 1C client.
type ChangesClient interface {
	StreamChanges(ctx context.Context, q onecapi.ChangeQuery, known onecapi.Known, emit func(onecapi.Change) error) (onecapi.ChangeStats, error)
	List(ctx context.Context, q onecapi.Query, fn func(onecapi.Entity) error) error
}

// Entities is a source over one 1C entity set (Catalog_Партнеры,
// Catalog_КартыЛояльности ...).
type Entities struct {
	Client ChangesClient
	Entity string
	Filter string // OData $filter, e.g. "Клиент eq true"; empty for all
	// Groups are folder Ref_Keys: only the items under them, at any
	// depth, are read (and Filter too, when both are set).
	Groups []string
	Select []string // fields to fetch for changed records; empty for all
}

// Scan implements engine.Source. Records come out as onecapi.Entity values as
// soon as their page or fetch batch is read; deletion-marked ones carry
// Marked, keys gone from a complete read come out last, as Deleted.
func (s *Entities) Scan(ctx context.Context, known engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	filter := s.Filter
	if len(s.Groups) > 0 {
		g, err := s.groupFilter(ctx)
		if err != nil {
			return engine.ScanStats{}, err
		}
		filter = and(filter, g)
	}
	cs, err := s.Client.StreamChanges(ctx, onecapi.ChangeQuery{Entity: s.Entity, Filter: filter, Select: s.Select}, known,
		func(ch onecapi.Change) error {
			if ch.Entity == nil {
				return emit(engine.Record{Key: ch.Key, Deleted: true})
			}
			e := ch.Entity
			return emit(engine.Record{Key: ch.Key, Version: e.DataVersion(), Marked: e.DeletionMark(), Data: e})
		})
	st := engine.ScanStats{Seen: cs.Seen, Unchanged: cs.Unchanged}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", s.Entity, err)
	}
	return st, nil
}

// groupFilter selects the items under Groups at any depth. 1C's OData has
// no "in hierarchy" operator, so the folders are read (few, even in large
// catalogs) and every folder under a group is named. Read each run: a
// folder added or moved in 1C counts from the next run on.
func (s *Entities) groupFilter(ctx context.Context) (string, error) {
	children := map[string][]string{}
	folders := map[string]bool{}
	err := s.Client.List(ctx, onecapi.Query{Entity: s.Entity, Filter: "IsFolder eq true", Select: []string{"Ref_Key", "Parent_Key"}},
		func(e onecapi.Entity) error {
			folders[e.Key()] = true
			parent := e.String("Parent_Key")
			children[parent] = append(children[parent], e.Key())
			return nil
		})
	if err != nil {
		return "", fmt.Errorf("read the folders of %s: %w", s.Entity, err)
	}
	var all []string
	seen := map[string]bool{}
	queue := slices.Clone(s.Groups)
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if seen[g] {
			continue
		}
		if !folders[g] {
			return "", fmt.Errorf("customers.groups: %s is not a folder of %s", g, s.Entity)
		}
		seen[g] = true
		all = append(all, onecapi.GUIDEq("Parent_Key", g))
		queue = append(queue, children[g]...)
	}
	return "IsFolder eq false and (" + strings.Join(all, " or ") + ")", nil
}

// and joins two $filter expressions.
func and(a, b string) string {
	if a == "" {
		return b
	}
	return "(" + a + ") and " + b
}
