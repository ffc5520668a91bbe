package virtpos

import (
	"context"
	"fmt"
	"sync"

	vsync "github.com/virtsync/virtsync/sync"
)

// idGuard catches virtpos handing one id to two records: an id returned
// for one record that the id map, or an earlier record of this run, holds
// for another is a fault of virtpos (it is not honouring ids), and
// committing it would map two 1C records to one virtpos record. The run
// stops instead.
//
// Earlier batches of the run are committed, so the id map answers for
// them; only the current batch's ids are held, and memory stays flat over
// a run of millions.
type idGuard struct {
	mu    sync.Mutex
	run   string            // the run the map below belongs to
	batch int               // and its batch
	ids   map[string]string // remote id -> ref, handed out in this batch
}

func (g *idGuard) check(ctx context.Context, run *vsync.RunInfo, kind, ref, id string) error {
	if id == "" {
		return nil
	}
	other, ok, err := run.IDs.LookupRef(ctx, kind, id)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ids == nil || g.run != run.ID || g.batch != run.Batch {
		g.run, g.batch, g.ids = run.ID, run.Batch, map[string]string{}
	}
	if !ok || other == ref {
		other, ok = g.ids[id]
	}
	if ok && other != ref {
		return fmt.Errorf("virtpos returned %s id %s for %s, already mapped to %s: virtpos is not honouring ids", kind, id, ref, other)
	}
	g.ids[id] = ref
	return nil
}
