package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
)

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
