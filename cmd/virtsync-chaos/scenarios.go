package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// scenario is one way the world goes wrong.
type scenario struct {
	name         string
	what         string
	externalNATS bool
	play         func(w *world, t *tally) error
}

func scenarios(long bool) []scenario {
	rounds := 2
	if long {
		rounds = 8
	}
	return []scenario{
		{name: "kill9", what: "kill -9 at random moments of a first load (by writes done, and by time)",
			externalNATS: true, play: playKills},
		{name: "nats-down", what: "NATS down for a whole run, then back", externalNATS: true, play: playNATSDown},
		{name: "two-embedded", what: "two processes on one state file with the embedded NATS (two -once, then -once beside the daemon)",
			play: playTwo},
		{name: "two-external", what: "two processes on one state file with an external NATS", externalNATS: true, play: playTwo},
		{name: "virtpos-faults", what: "virtpos answers 10% 5xx, 5% lost replies, 5% too slow, 2% 429",
			externalNATS: true, play: func(w *world, t *tally) error { return playFaults(w, t, rounds, virtposFaults) }},
		{name: "onec-faults", what: "1C loses 10% of write replies, fails 5% of pages, records change during sweeps",
			externalNATS: true, play: func(w *world, t *tally) error { return playFaults(w, t, rounds, onecFaults) }},
	}
}

// writes is the work done on both sides so far: the kill points are
// placed along it.
func (w *world) writes() int {
	c := w.vp.Counts()
	return c.CustomersCreated + c.CardsCreated + w.onec.Writes(onectest.SetOrders)
}

// playKills starts -once again and again, each time killing it with
// SIGKILL at the next kill point: most points are a number of writes
// done (spread over the whole first load), one in four a random moment
// after the start (start-up, the metadata check, NATS, the first sweep).
func playKills(w *world, t *tally) error {
	clients := 0
	for _, p := range w.onec.All(onectest.SetPartners) {
		if p["Клиент"] == true {
			clients++
		}
	}
	span := (clients + w.opts.cards + w.opts.orders) * 9 / 10
	points := make([]int, w.opts.kills)
	for i := range points {
		points[i] = 1 + w.rng.IntN(span)
	}
	sort.Ints(points)
	for i, tries := 0, 0; i < len(points) && tries < 3*len(points); tries++ {
		w.topUpOrders()
		p, err := w.start("-once")
		if err != nil {
			return err
		}
		byTime := w.rng.IntN(4) == 0
		at := time.Now().Add(time.Duration(w.rng.IntN(500)) * time.Millisecond)
		limit := time.After(w.opts.runLimit)
		tick := time.NewTicker(time.Millisecond)
	wait:
		for {
			select {
			case <-p.done:
				t.Runs++
				if code := p.code(); code != 0 {
					t.problem("an unkilled -once exited %d (see %s)", code, w.log.Name())
				}
				break wait
			case <-limit:
				p.kill()
				tick.Stop()
				return fmt.Errorf("a -once ran longer than %s", w.opts.runLimit)
			case <-tick.C:
				if (byTime && time.Now().After(at)) || (!byTime && w.writes() >= points[i]) {
					p.kill()
					t.Kills++
					t.Runs++
					i++
					break wait
				}
			}
		}
		tick.Stop()
	}
	if t.Kills < len(points) {
		t.problem("only %d of %d kill points were reached", t.Kills, len(points))
	}
	return nil
}

// playNATSDown stops the external NATS for a whole first load: syncing
// must go on, the events wait in the outbox and reach the stream once
// NATS is back (the settling runs publish them).
func playNATSDown(w *world, t *tally) error {
	w.nats.shutdown()
	t.Faults++
	for i := 0; i < 2; i++ { // the load, then the orders that arrived meanwhile
		w.topUpOrders()
		code, err := w.run("-once")
		t.Runs++
		if err != nil {
			return err
		}
		if code != 0 {
			t.problem("-once with NATS down exited %d: syncing must not depend on NATS", code)
		}
	}
	return w.nats.restart()
}

// playTwo runs two processes on one state file at once: two -once, then a
// -once beside the daemon, which is stopped with SIGTERM afterwards.
func playTwo(w *world, t *tally) error {
	a, err := w.start("-once")
	if err != nil {
		return err
	}
	b, err := w.start("-once")
	if err != nil {
		a.kill()
		return err
	}
	for _, p := range []*proc{a, b} {
		t.Runs++
		if code := p.code(); code != 0 {
			t.problem("one of two concurrent -once runs exited %d", code)
		}
	}
	w.topUpOrders()
	d, err := w.start()
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(200+w.rng.IntN(800)) * time.Millisecond)
	c, err := w.start("-once")
	if err != nil {
		d.kill()
		return err
	}
	t.Runs++
	if code := c.code(); code != 0 {
		t.problem("-once beside the daemon exited %d", code)
	}
	time.Sleep(time.Duration(w.rng.IntN(2000)) * time.Millisecond)
	d.term()
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		d.kill()
		t.problem("the daemon did not stop within 60s of SIGTERM")
	}
	if code := d.code(); code != 0 && code != -1 {
		t.problem("the daemon exited %d after SIGTERM", code)
	}
	return nil
}

// faultSet arms (on=true) or clears the faults of a scenario and says how
// many it injected so far.
type faultSet func(w *world, on bool) int

// playFaults runs -once rounds times with the faults armed (failed runs
// are expected: a system that misbehaves stops a run), then clears them;
// the settling runs must finish the job without a duplicate.
func playFaults(w *world, t *tally, rounds int, faults faultSet) error {
	faults(w, true)
	for i := 0; i < rounds; i++ {
		w.topUpOrders()
		code, err := w.run("-once")
		t.Runs++
		if err != nil {
			faults(w, false)
			return err
		}
		if code != 0 && code != 1 {
			t.problem("-once under faults exited %d, want 0 or 1", code)
		}
	}
	t.Faults = faults(w, false)
	return nil
}
