package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Event is one outbox row: an event committed with the state change it
// reports and not yet acknowledged by JetStream.
type Event struct {
	// Seq orders events; set by the store.
	Seq int64
	// ID is unique and becomes the Nats-Msg-Id, so a re-publish after a
	// crash is deduplicated by the server.
	ID      string
	Subject string
	Data    []byte
	// CreatedAt defaults to DB.Now when zero.
	CreatedAt time.Time
}

// AddEvent appends ev to the outbox. Call it in the transaction of the
// state change it reports. An empty ID, or one already in the outbox, is
// an error.
func (tx *Tx) AddEvent(ev Event) error {
	if ev.ID == "" {
		return fmt.Errorf("add event %s: empty id", ev.Subject)
	}
	created := ev.CreatedAt
	if created.IsZero() {
		created = tx.now
	}
	data := ev.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; an empty payload is still a payload
	}
	_, err := tx.exec(`INSERT INTO outbox (id, subject, data, created_at) VALUES (?, ?, ?, ?)`,
		ev.ID, ev.Subject, data, fmtTime(created))
	if err != nil {
		return fmt.Errorf("add event %s: %w", ev.ID, err)
	}
	return nil
}

// PendingEvents returns up to limit events, oldest (lowest Seq) first.
// limit <= 0 means all.
func (db *DB) PendingEvents(ctx context.Context, limit int) ([]Event, error) {
	query, args := `SELECT seq, id, subject, data, created_at FROM outbox ORDER BY seq`, []any{}
	if limit > 0 {
		query, args = query+` LIMIT ?`, append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Subject, &ev.Data, (*stamp)(&ev.CreatedAt)); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// deleteChunk keeps IN lists well under SQLite's bound-parameter limit.
const deleteChunk = 500

// DeleteEvents removes the events with these ids (acknowledged by
// JetStream) in one transaction. Unknown ids are ignored.
func (db *DB) DeleteEvents(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.Update(ctx, func(tx *Tx) error {
		for start := 0; start < len(ids); start += deleteChunk {
			chunk := ids[start:min(start+deleteChunk, len(ids))]
			query, args, err := sqlx.In(`DELETE FROM outbox WHERE id IN (?)`, chunk)
			if err != nil {
				return err
			}
			if _, err := tx.execOnce(query, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %d events: %w", len(ids), err)
	}
	return nil
}

// OutboxBacklog returns how many events wait in the outbox and when the
// oldest was created (zero if none), for status and metrics.
func (db *DB) OutboxBacklog(ctx context.Context) (count int, oldest time.Time, err error) {
	err = db.read.QueryRowxContext(ctx,
		`SELECT COUNT(*), (SELECT created_at FROM outbox ORDER BY seq LIMIT 1) FROM outbox`).
		Scan(&count, (*stamp)(&oldest))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, fmt.Errorf("read outbox backlog: %w", err)
	}
	return count, oldest, nil
}
