package statuspage

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/virtsync/virtsync/internal/redact"
)

// view is what the template renders: every value already a string or a
// number, so the template holds no logic beyond loops.
type view struct {
	Refresh int
	Now     stamped
	Daemon  string
	Outbox  string
	Backlog int
	Jobs    []jobView
	Runs    int
}

type unavailable struct {
	Refresh int
	Now     stamped
}

// stamped is a time for a <time> element: ISO for machines, UTC with the
// zone and an age for people.
type stamped struct {
	ISO, Text, Age string
}

type jobView struct {
	Name                 string
	Last                 *runView
	LastError            string
	Next, LastSuccess    stamped
	HasNext, HasSuccess  bool
	Running              string
	Holds, Dead, Replays int
	OldestHold           string
	Failures             []failureView
	HiddenFailures       int // open dead letters beyond those listed
	Chart                chart
	History              []runView // oldest first, as the chart
}

type runView struct {
	Started                                            stamped
	Mode, Status, Class, Duration                      string
	Created, Updated, Unchanged, Deleted, Failed, Held int
}

type failureView struct {
	Key, Reason string
	Attempts    int
	At          stamped
}

// Chart geometry, in SVG user units.
const (
	barW     = 18
	barGap   = 6
	chartH   = 90
	chartTop = 14 // room for the max-duration label
	chartPad = 4
)

type chart struct {
	Width, Height int
	Base          int // y of the baseline
	Max           string
	Label         string
	Bars          []bar
}

type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

func build(st Status, now time.Time, opts Options) view {
	v := view{Refresh: max(int(opts.Refresh.Seconds()), 1), Now: stamp(now), Runs: opts.Runs}
	if st.Daemon != nil {
		v.Daemon = fmt.Sprintf("running on %s (pid %d) since %s", st.Daemon.Host, st.Daemon.PID, stampAgo(st.Daemon.Since, now).Text)
	} else {
		v.Daemon = "not running (no live daemon lease)"
	}
	v.Backlog = st.Outbox.Count
	if st.Outbox.Count == 0 {
		v.Outbox = "empty: every event is on NATS"
	} else {
		v.Outbox = fmt.Sprintf("%d event(s) waiting for NATS", st.Outbox.Count)
		if !st.Outbox.Oldest.IsZero() {
			v.Outbox += ", the oldest from " + stampAgo(st.Outbox.Oldest, now).Text
		}
	}
	for _, j := range st.Jobs {
		v.Jobs = append(v.Jobs, buildJob(j, now, opts))
	}
	return v
}

func buildJob(j Job, now time.Time, opts Options) jobView {
	jv := jobView{Name: j.Name, Holds: j.Holds, Dead: j.DeadLetters, Replays: j.Replays}
	if !j.Next.IsZero() {
		jv.HasNext, jv.Next = true, stampIn(j.Next, now)
	}
	if !j.LastSuccess.IsZero() {
		jv.HasSuccess, jv.LastSuccess = true, stampAgo(j.LastSuccess, now)
	}
	if j.Running != nil {
		jv.Running = fmt.Sprintf("on %s (pid %d) since %s", j.Running.Host, j.Running.PID, stampAgo(j.Running.Since, now).Text)
	}
	if !j.OldestHold.IsZero() {
		jv.OldestHold = stampAgo(j.OldestHold, now).Text
	}
	for _, f := range j.Failures {
		jv.Failures = append(jv.Failures, failureView{Key: clean(f.Key, 80), Reason: clean(f.Reason, 300),
			Attempts: f.Attempts, At: stampAgo(f.At, now)})
	}
	jv.HiddenFailures = j.DeadLetters - len(jv.Failures)
	if len(j.Runs) > 0 {
		last := runOf(j.Runs[0], now)
		jv.Last = &last
		jv.LastError = clean(j.Runs[0].Error, 300)
	}
	// Oldest first, so time runs left to right in the chart and the table.
	for i := len(j.Runs) - 1; i >= 0; i-- {
		jv.History = append(jv.History, runOf(j.Runs[i], now))
	}
	jv.Chart = buildChart(j.Name, j.Runs, now, opts.Runs)
	return jv
}

func runOf(r Run, now time.Time) runView {
	dur := fmtDur(runDur(r, now))
	if r.FinishedAt.IsZero() {
		dur += " so far"
	}
	return runView{Started: stampAgo(r.StartedAt, now), Mode: r.Mode, Status: r.Status, Class: statusClass(r.Status),
		Duration: dur, Created: r.Created, Updated: r.Updated, Unchanged: r.Unchanged, Deleted: r.Deleted, Failed: r.Failed, Held: r.Held}
}

// runDur is a finished run's duration, or a running one's so far.
func runDur(r Run, now time.Time) time.Duration {
	end := r.FinishedAt
	if end.IsZero() {
		end = now
	}
	return max(end.Sub(r.StartedAt), 0)
}

// buildChart draws runs (newest first) as bars oldest to newest, left to
// right, each as tall as its duration relative to the longest; slots for
// runs not yet made stay empty so every job's chart has the same scale of
// time along x.
func buildChart(job string, runs []Run, now time.Time, slots int) chart {
	c := chart{Width: 2*chartPad + slots*(barW+barGap) - barGap, Height: chartTop + chartH + chartPad}
	c.Base = chartTop + chartH
	var longest time.Duration
	for _, r := range runs {
		longest = max(longest, runDur(r, now))
	}
	c.Max = fmtDur(longest)
	c.Label = fmt.Sprintf("Durations of the last %d runs of %s, oldest on the left; the longest took %s", len(runs), job, c.Max)
	first := slots - len(runs)
	for i := range runs {
		r := runs[len(runs)-1-i]
		d := runDur(r, now)
		h := chartH
		if longest > 0 {
			h = int(float64(chartH) * float64(d) / float64(longest))
		}
		h = max(h, 2) // a run that took no time is still a run
		c.Bars = append(c.Bars, bar{
			X: chartPad + (first+i)*(barW+barGap), Y: c.Base - h, W: barW, H: h,
			Class: statusClass(r.Status),
			Title: fmt.Sprintf("%s %s, %s, %s: created %d, updated %d, unchanged %d, deleted %d, failed %d, held %d",
				stamp(r.StartedAt).Text, r.Mode, r.Status, fmtDur(d), r.Created, r.Updated, r.Unchanged, r.Deleted, r.Failed, r.Held),
		})
	}
	return c
}

func statusClass(s string) string {
	switch s {
	case "ok", "partial", "failed", "crashed", "cancelled", "running":
		return s
	}
	return "other"
}

const timeLayout = "2006-01-02 15:04:05 MST"

func stamp(t time.Time) stamped {
	if t.IsZero() {
		return stamped{Text: "never"}
	}
	t = t.UTC()
	return stamped{ISO: t.Format(time.RFC3339), Text: t.Format(timeLayout)}
}

func stampAgo(t time.Time, now time.Time) stamped {
	s := stamp(t)
	if !t.IsZero() {
		s.Age = fmtAge(now.Sub(t)) + " ago"
		s.Text += " (" + s.Age + ")"
	}
	return s
}

func stampIn(t time.Time, now time.Time) stamped {
	s := stamp(t)
	if d := t.Sub(now); d >= 0 {
		s.Age = "in " + fmtAge(d)
	} else {
		s.Age = "due " + fmtAge(-d) + " ago"
	}
	s.Text += " (" + s.Age + ")"
	return s
}

// fmtAge is a coarse age: people read "3m" faster than "3m12.4s".
func fmtAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// secrets catches what must never reach a page even if an error quoted it:
// a query parameter or key=value carrying a credential, and the password
// of a URL's user info.
var (
	secretParam = regexp.MustCompile(`(?i)\b(api_?key|password|passwd|pwd|token|secret|access_token|auth)(\s*[=:]\s*)[^&\s;,"']+`)
	userinfo    = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@\s/]*@`)
)

// clean scrubs another system's text for the page: credentials, then
// personal data (the clients did this already; this is the net under it),
// then a bounded head.
func clean(s string, n int) string {
	if s == "" {
		return ""
	}
	s = secretParam.ReplaceAllString(s, "$1$2<redacted>")
	s = userinfo.ReplaceAllString(s, "$1:<redacted>@")
	s = redact.Text(s)
	if head, cut := redact.Cut(s, n); cut {
		s = head + "…"
	}
	return s
}
