package statuspage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/internal/statuspage"
	"github.com/virtsync/virtsync/state"
)

// clock is the state's clock while a test fills it: every stored time is
// one the test chose.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Secrets a config would hold. The page is never given the config; these
// reach the state only inside error text, as a careless error could quote
// them, and must not reach the page even then.
var secrets = []string{"s3cr3t-apikey-0123", "pa55-w0rd-db", "onec-Pa55", "ivan.petrov@example.ru", "+7 912 345-67-89"}

const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// t0 is when the filled history starts.
var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// filled opens a state file in a temporary directory and fills it the way
// the demo leaves it: three jobs with a few runs each, holds, dead letters
// (one with a hostile reason), an outbox backlog, the daemon's lease and a
// run of orders in flight. It returns the DB, a Source over it and the
// time to render the page at.
func filled(t *testing.T) (*state.DB, statuspage.Source, time.Time) {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: t0}
	db, err := state.Open(filepath.Join(t.TempDir(), "virtsync.db"), state.WithNow(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	durs := map[string][]time.Duration{
		virtsync.JobCustomers: {4200 * time.Millisecond, 1100 * time.Millisecond, 900 * time.Millisecond, 1300 * time.Millisecond},
		virtsync.JobCards:     {2500 * time.Millisecond, 700 * time.Millisecond, 650 * time.Millisecond, 3 * time.Second},
		virtsync.JobOrders:    {6 * time.Second, 2 * time.Second, 1500 * time.Millisecond},
	}
	for round := range 4 {
		for _, job := range virtsync.Jobs() {
			if round >= len(durs[job]) {
				continue
			}
			id, err := db.StartRun(ctx, job, "scheduled", fmt.Sprintf("%s-%d", job, round))
			must(err)
			c.Add(durs[job][round])
			res := state.RunResult{Status: state.RunOK, Unchanged: 10 + round}
			if round == 0 {
				res.Created, res.Unchanged = 12, 0
			}
			if job == virtsync.JobCards && round == 3 {
				res = state.RunResult{Status: state.RunPartial, Updated: 3, Unchanged: 9, Failed: 1, Held: 2}
			}
			must(db.FinishRun(ctx, id, res))
			if res.Status == state.RunOK {
				must(db.Update(ctx, func(tx *state.Tx) error { return tx.MarkSuccess(job, c.Now()) }))
			}
		}
		c.Add(10 * time.Minute)
	}

	must(db.Update(ctx, func(tx *state.Tx) error {
		for _, k := range []string{"0f3c8a10-1111-4a4a-9b9b-000000000001", "0f3c8a10-1111-4a4a-9b9b-000000000002"} {
			if _, _, err := tx.Hold(virtsync.JobCards, k, "owner not synced yet"); err != nil {
				return err
			}
		}
		if err := tx.AddDeadLetter(virtsync.JobCards, "0f3c8a10-2222-4a4a-9b9b-000000000003",
			"virtpos said 400 "+hostile+" at https://demo.virtpos.ru/api/cards?apikey="+secrets[0], []byte(`{"phone":"`+secrets[4]+`"}`)); err != nil {
			return err
		}
		if err := tx.AddDeadLetter(virtsync.JobOrders, "VP-1042",
			"1C refused: postgres://virtsync:"+secrets[1]+"@db/virtsync password="+secrets[2]+" buyer "+secrets[3]+" tel "+secrets[4], nil); err != nil {
			return err
		}
		// Resolved: kept for the record, not counted.
		if err := tx.AddDeadLetter(virtsync.JobCustomers, "0f3c8a10-3333-4a4a-9b9b-000000000004", "fixed since", nil); err != nil {
			return err
		}
		if err := tx.ResolveDeadLetter(virtsync.JobCustomers, "0f3c8a10-3333-4a4a-9b9b-000000000004"); err != nil {
			return err
		}
		if err := tx.AddDeadLetter(virtsync.JobCustomers, "0f3c8a10-3333-4a4a-9b9b-000000000005", "queued again", nil); err != nil {
			return err
		}
		for i := range 3 {
			if err := tx.AddEvent(state.Event{ID: fmt.Sprintf("ev-%d", i), Subject: "virtsync.customer.upserted", Data: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err = db.QueueReplay(ctx, virtsync.JobCustomers)
	must(err)

	db.Host, db.PID = "sync-host-1", 4242
	_, err = db.AcquireLease(ctx, "daemon", "daemon:4242", 24*time.Hour)
	must(err)
	_, err = db.AcquireLease(ctx, virtsync.JobOrders, "sync-host-1:4242", 24*time.Hour)
	must(err)
	_, err = db.StartRun(ctx, virtsync.JobOrders, "scheduled", "orders-live")
	must(err)
	c.Add(5 * time.Second)
	now := c.Now()

	next := func(job string) (time.Time, bool) {
		switch job {
		case virtsync.JobCustomers:
			return now.Add(3 * time.Minute), true
		case virtsync.JobCards:
			return now.Add(8 * time.Minute), true
		}
		return time.Time{}, false
	}
	return db, statuspage.StateSource{DB: db, Next: next}, now
}
