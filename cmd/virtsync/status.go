package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/state"
)

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return stamp(t) + " (" + time.Since(t).Round(time.Second).String() + " ago)"
}

// printStatus prints checkpoints, last runs, the outbox backlog, holds and
// dead letters as aligned tables. It reads only the state file.
func printStatus(ctx context.Context, db *state.DB, w io.Writer) int {
	runs, err := db.LastRuns(ctx, 1)
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	last := map[string]state.Run{}
	for _, r := range runs {
		last[r.Job] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tLAST RUN\tMODE\tSTATUS\tDURATION\tCREATED\tUPDATED\tUNCHANGED\tDELETED\tFAILED\tHELD\tLAST SUCCESS")
	for _, j := range virtsync.Jobs() {
		cp, err := db.Checkpoint(ctx, j)
		if err != nil {
			fmt.Fprintf(w, "virtsync: %v\n", err)
			return ExitFailed
		}
		r, ok := last[j]
		if !ok {
			fmt.Fprintf(tw, "%s\tnever\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", j, ago(cp.LastSuccessAt))
			continue
		}
		dur := "running"
		if !r.FinishedAt.IsZero() {
			dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", j, stamp(r.StartedAt),
			r.Mode, r.Status, dur, r.Created, r.Updated, r.Unchanged, r.Deleted, r.Failed, r.Held, ago(cp.LastSuccessAt))
	}
	tw.Flush()
	for _, j := range virtsync.Jobs() {
		if r, ok := last[j]; ok && r.Error != "" {
			fmt.Fprintf(w, "  %s last error: %s\n", j, r.Error)
		}
	}

	n, oldest, err := db.OutboxBacklog(ctx)
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintln(w)
	if n == 0 {
		fmt.Fprintln(w, "Outbox:        empty (every event is on NATS)")
	} else {
		fmt.Fprintf(w, "Outbox:        %d event(s) waiting for NATS, oldest from %s\n", n, ago(oldest))
	}
	// Counts, not rows: no dead letter's payload (personal data) is read
	// to count it, and a large backlog costs nothing.
	holds, err := db.HoldTally(ctx)
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(w, "Waiting:       %s\n", perJob(holds))
	dls, err := db.DeadLetterTally(ctx, state.DeadLetterOpen)
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(w, "Dead letters:  %s\n", perJob(dls))
	if len(dls) > 0 {
		fmt.Fprintln(w, "               see them with `virtsync failures`; send them again with `virtsync failures -replay`")
	}
	leases, err := db.Leases(ctx)
	if err == nil {
		for _, l := range leases {
			if l.Live(time.Now()) {
				fmt.Fprintf(w, "Running:       %s by %s (pid %d on %s) since %s\n", l.Job, l.Owner, l.PID, l.Host, ago(l.AcquiredAt))
			}
		}
	}
	return ExitOK
}

// perJob is a tally's total and its count per job, in job order.
func perJob(tally map[string]state.JobTally) string {
	n := 0
	for _, t := range tally {
		n += t.Count
	}
	if n == 0 {
		return "none"
	}
	var parts []string
	for _, j := range virtsync.Jobs() {
		if c := tally[j].Count; c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", j, c))
		}
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}
