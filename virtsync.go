// Package virtsync holds the words every part of virtsync shares: the
// jobs, the kinds of record they move, what became of a record, and the
// events published about it, one Go type per event. Nothing here does
// anything; the engine, the sources, the sinks and the wiring all speak
// these names, so a newcomer finds them in one place.
package virtsync

// Jobs: what a run does. The names are the config's jobs.* keys, the CLI's
// -job values and the state's job column.
const (
	JobCustomers = "customers" // 1C buyers -> virtpos customers
	JobCards     = "cards"     // 1C discount cards -> virtpos cards
	JobOrders    = "orders"    // virtpos orders -> 1C order documents
)

// Jobs lists the jobs in the order a run of all of them takes: customers
// before the cards they own, both before the orders that name them.
func Jobs() []string { return []string{JobCustomers, JobCards, JobOrders} }

// DaemonLease is the lease the daemon holds for its whole life, beside a
// lease per job for each run: a second daemon on the same state waits.
const DaemonLease = "daemon"

// Record kinds: what a job moves, the id map's kind column and the first
// word of an event's type.
const (
	KindCustomer = "customer"
	KindCard     = "card"
	KindOrder    = "order"
	KindRun      = "run" // not a record: a run's own events
)

// KindOf returns the kind of record a job moves ("" for an unknown job).
func KindOf(job string) string {
	switch job {
	case JobCustomers:
		return KindCustomer
	case JobCards:
		return KindCard
	case JobOrders:
		return KindOrder
	}
	return ""
}

// Result is what became of one record in a run.
type Result string

// Results, as counted in a run's summary, the status table and metrics.
const (
	Created   Result = "created"
	Updated   Result = "updated"
	Deleted   Result = "deleted"
	Skipped   Result = "skipped" // seen, nothing to do (e.g. a deletion the config ignores)
	Unchanged Result = "unchanged"
	Failed    Result = "failed"
	Held      Result = "held"
)

// Results lists every result in the order reports show them.
func Results() []Result {
	return []Result{Created, Updated, Deleted, Skipped, Unchanged, Failed, Held}
}
