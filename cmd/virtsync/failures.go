package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/state"
)

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

// replay queues the dead letters again and runs their jobs now with only
// those records.
func (m *Main) replay(ctx context.Context, p *app.Parts, job string) int {
	only := map[string][]string{}
	var jobs []string
	for _, name := range virtsync.Jobs() {
		if job != "" && name != job {
			continue
		}
		n, err := p.DB.QueueReplay(ctx, name)
		if err != nil {
			fmt.Fprintf(m.Stderr, "virtsync: queue replay of %s: %v\n", name, err)
			return ExitFailed
		}
		if n == 0 {
			continue
		}
		keys, err := p.DB.ReplayKeys(ctx, name)
		if err != nil {
			fmt.Fprintf(m.Stderr, "virtsync: %v\n", err)
			return ExitFailed
		}
		fmt.Fprintf(m.Stdout, "%s: replaying %d record(s)\n", name, n)
		only[name] = keys
		jobs = append(jobs, name)
	}
	if len(jobs) == 0 {
		fmt.Fprintln(m.Stdout, "no dead letters to replay")
		return ExitOK
	}
	return m.runOnce(ctx, p, jobs, engine.ModeReplay, only)
}
