package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/state"
)

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t).Round(time.Second)
	return t.Local().Format("2006-01-02 15:04:05") + " (" + d.String() + " ago)"
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
	for _, j := range app.JobNames() {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", j, r.StartedAt.Local().Format("2006-01-02 15:04:05"),
			r.Mode, r.Status, dur, r.Created, r.Updated, r.Unchanged, r.Deleted, r.Failed, r.Held, ago(cp.LastSuccessAt))
	}
	tw.Flush()
	for _, j := range app.JobNames() {
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
	holds, err := db.Holds(ctx, "")
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(w, "Waiting:       %s\n", perJob(len(holds), func(i int) string { return holds[i].Job }))
	dls, err := db.DeadLetters(ctx, "", state.DeadLetterOpen)
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(w, "Dead letters:  %s\n", perJob(len(dls), func(i int) string { return dls[i].Job }))
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

func perJob(n int, job func(int) string) string {
	if n == 0 {
		return "none"
	}
	c := map[string]int{}
	for i := 0; i < n; i++ {
		c[job(i)]++
	}
	var parts []string
	for _, j := range app.JobNames() {
		if c[j] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", j, c[j]))
		}
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

// printFailures lists open dead letters (and queued replays).
func printFailures(ctx context.Context, db *state.DB, job string, w io.Writer) int {
	dls, err := db.DeadLetters(ctx, job, "")
	if err != nil {
		fmt.Fprintf(w, "virtsync: %v\n", err)
		return ExitFailed
	}
	var open []state.DeadLetter
	for _, d := range dls {
		if d.Status != state.DeadLetterResolved {
			open = append(open, d)
		}
	}
	if len(open) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return ExitOK
	}
	sort.SliceStable(open, func(i, j int) bool { return open[i].Job < open[j].Job })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tKEY\tSTATUS\tATTEMPTS\tLAST FAILED\tREASON")
	for _, d := range open {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.Job, d.Key, d.Status, d.Attempts,
			d.LastFailedAt.Local().Format("2006-01-02 15:04:05"), d.Reason)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d dead letter(s). Fix the cause (in 1C, virtpos or the config), then `virtsync failures -replay`.\n", len(open))
	return ExitOK
}

// printSummary is the one screen every one-shot run ends with.
func printSummary(w io.Writer, sums []engine.Summary) {
	if len(sums) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tMODE\tRESULT\tSEEN\tCREATED\tUPDATED\tUNCHANGED\tDELETED\tSKIPPED\tFAILED\tHELD\tTIME")
	for _, s := range sums {
		result := "ok"
		switch {
		case s.Err != nil:
			result = "stopped"
		case s.Counts[virtsync.Failed] > 0:
			result = "partial"
		}
		c := s.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Job, s.Mode, result, s.Seen,
			c[virtsync.Created], c[virtsync.Updated], c[virtsync.Unchanged], c[virtsync.Deleted], c[virtsync.Skipped],
			c[virtsync.Failed], c[virtsync.Held], s.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	const show = 10
	for _, s := range sums {
		if s.Err != nil {
			fmt.Fprintf(w, "\n%s stopped: %v\n  Nothing is lost: the next run picks up where this one stopped.\n", s.Job, s.Err)
		}
		for i, f := range s.Failures {
			if i == 0 {
				fmt.Fprintf(w, "\n%s: %d record(s) failed (see `virtsync failures`):\n", s.Job, len(s.Failures))
			}
			if i == show {
				fmt.Fprintf(w, "  ... and %d more\n", len(s.Failures)-show)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", f.Key, f.Reason)
		}
		for i, warn := range s.Warnings {
			if i == 0 {
				fmt.Fprintf(w, "\n%s warnings:\n", s.Job)
			}
			if i == 5 {
				fmt.Fprintf(w, "  ... and %d more (see the log)\n", len(s.Warnings)-5)
				break
			}
			fmt.Fprintf(w, "  %s\n", warn)
		}
	}
}
