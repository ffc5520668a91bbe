package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ListedRow is one record a remote listing returned: the 1C reference it
// carries and its id on the remote side.
type ListedRow struct {
	Ref, RemoteID string
}

// clearBatch is how many listed rows one transaction deletes: a listing
// of a million rows is dropped in steps, so the writer is never held long
// enough to stall the batches of a running job.
const clearBatch = 10000

// ReplaceListing drops kind's listing and stores the one fill produces for
// run runID. fill calls add once per page; each call is one transaction,
// so memory stays at one page whatever the size of the listing. When
// several rows of one listing carry the same ref (the remote side holds
// duplicates) the first is kept, as a look-up by ref would find the first.
//
// If fill fails, the rows it added are dropped and its error is returned
// as it is: a partial listing is of no use, since a ref missing from it
// says nothing.
func (db *DB) ReplaceListing(ctx context.Context, kind, runID string, fill func(add func([]ListedRow) error) error) error {
	if kind == "" || runID == "" {
		return fmt.Errorf("replace listing: kind %q and run id %q must not be empty", kind, runID)
	}
	if err := db.ClearListing(ctx, kind); err != nil {
		return err
	}
	err := fill(func(rows []ListedRow) error { return db.addListed(ctx, kind, runID, rows) })
	if err != nil {
		if cerr := db.ClearListing(context.WithoutCancel(ctx), kind); cerr != nil {
			return errors.Join(err, cerr)
		}
		return err
	}
	return nil
}

func (db *DB) addListed(ctx context.Context, kind, runID string, rows []ListedRow) error {
	if len(rows) == 0 {
		return nil
	}
	return db.Update(ctx, func(tx *Tx) error {
		for i, r := range rows {
			if r.Ref == "" || r.RemoteID == "" {
				return fmt.Errorf("add listed %s: row %d has ref %q and remote id %q; both are required", kind, i, r.Ref, r.RemoteID)
			}
			// A row of an earlier listing is replaced; a second row of
			// this one with the same ref is not.
			_, err := tx.exec(`INSERT INTO listed (kind, ref, remote_id, run_id) VALUES (?, ?, ?, ?)
				ON CONFLICT (kind, ref) DO UPDATE SET remote_id = excluded.remote_id, run_id = excluded.run_id
				WHERE listed.run_id <> excluded.run_id`, kind, r.Ref, r.RemoteID, runID)
			if err != nil {
				return fmt.Errorf("add listed %s/%s: %w", kind, r.Ref, err)
			}
		}
		return nil
	})
}

// Listed returns the remote id that run runID's listing of kind holds for
// ref. ok is false when the listing has no such ref, or when the row was
// left by another run's listing.
func (db *DB) Listed(ctx context.Context, kind, runID, ref string) (remoteID string, ok bool, err error) {
	err = db.listed.GetContext(ctx, &remoteID, kind, ref, runID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read listed %s/%s: %w", kind, ref, err)
	}
	return remoteID, true, nil
}

// ClearListing drops kind's listing, in transactions of at most
// clearBatch rows. It writes nothing when there is none, so calling it at
// the start of every run costs one read.
func (db *DB) ClearListing(ctx context.Context, kind string) error {
	for {
		var exists bool
		err := db.read.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM listed WHERE kind = ?)`, kind)
		if err != nil {
			return fmt.Errorf("clear listing %s: %w", kind, err)
		}
		if !exists {
			return nil
		}
		var n int64
		err = db.Update(ctx, func(tx *Tx) error {
			res, err := tx.exec(`DELETE FROM listed WHERE kind = ? AND ref IN
				(SELECT ref FROM listed WHERE kind = ? LIMIT ?)`, kind, kind, clearBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("clear listing %s: %w", kind, err)
		}
		if n == 0 {
			// The reader saw rows the writer does not: a snapshot older
			// than the last delete. Nothing is left to drop.
			return nil
		}
	}
}
