package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/redact"
	"github.com/virtsync/virtsync/sources/source1c"
	"github.com/virtsync/virtsync/state"
)

// previewer is a handler that can say what it would push for a record
// without pushing it (sinkvp.Customers and sinkvp.Cards).
type previewer interface {
	PreparePlan(ctx context.Context, run *engine.RunInfo) error
	Preview(ctx context.Context, key []byte, rec engine.Record) (names []string, fingerprint string, err error)
}

// runExplain is `explain KEY`: the story of the record KEY names (a 1C
// reference, a virtpos id, an order key or a 1C document reference), from
// the state, with what it would push now read live from 1C. It prints
// keys, ids, parameter names, results and fingerprints, never a value of
// the record. A key the state does not know is an error (exit 1); so is a
// 1C that cannot be read, after the rest of the story.
func (m *Main) runExplain(ctx context.Context, p *app.Parts) int {
	var jobs []state.RecordJob
	for _, j := range virtsync.Jobs() {
		jobs = append(jobs, state.RecordJob{Job: j, Kind: virtsync.KindOf(j)})
	}
	key := m.Key
	matches, err := p.DB.FindKey(ctx, key, jobs)
	if errors.Is(err, state.ErrNotFound) && onecapi.IsGUID(key) && strings.ToLower(key) != key {
		// 1C writes its references in lower case; one pasted from
		// elsewhere may not be.
		key = strings.ToLower(key)
		matches, err = p.DB.FindKey(ctx, key, jobs)
	}
	if errors.Is(err, state.ErrNotFound) {
		fmt.Fprintf(m.Stderr, "virtsync: explain: %s is not a 1C reference, virtpos id, order key or 1C document "+
			"of any record in the state (%s): no run has seen it\n", m.Key, p.DB.Path())
		return ExitFailed
	}
	if err != nil {
		fmt.Fprintf(m.Stderr, "virtsync: explain: %v\n", err)
		return ExitFailed
	}
	code := ExitOK
	for i, match := range matches {
		if i > 0 {
			fmt.Fprintln(m.Stdout)
		}
		if len(matches) > 1 && i == 0 {
			fmt.Fprintf(m.Stdout, "%s names %d records:\n\n", key, len(matches))
		}
		if c := explain(ctx, p, match, m.Stdout, m.Stderr); c != ExitOK {
			code = c
		}
	}
	return code
}

// explain prints one record's story on w; a failure to read the state
// goes to stderr.
func explain(ctx context.Context, p *app.Parts, match state.KeyMatch, w, stderr io.Writer) int {
	st, err := p.DB.RecordStatus(ctx, match.Job, match.Kind, match.Key)
	if err != nil {
		fmt.Fprintf(stderr, "virtsync: explain: %v\n", err)
		return ExitFailed
	}
	log, err := p.DB.RecordLog(ctx, match.Job, match.Key)
	if err != nil {
		fmt.Fprintf(stderr, "virtsync: explain: %v\n", err)
		return ExitFailed
	}
	code := ExitOK
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t%s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(tw, "%s %s (job %s)\n", match.Kind, match.Key, match.Job)
	if match.Kind == virtsync.KindOrder {
		line("order key", "%s", match.Key)
		if st.HasID {
			doc := st.ID.RemoteID
			if st.ID.Extra != "" {
				doc += ", number " + st.ID.Extra
			}
			line("1C document", "%s", doc)
		} else {
			line("1C document", "none yet")
		}
	} else {
		line("1C reference", "%s", match.Key)
		if st.HasID {
			line("virtpos id", "%s", st.ID.RemoteID)
		} else {
			line("virtpos id", "none (not in virtpos through virtsync)")
		}
	}
	if st.HasVersion {
		line("version", "%s, committed %s", st.Version, stamp(st.VersionAt))
	} else {
		line("version", "none committed")
	}

	pushed := lastPush(log)
	if match.Kind == virtsync.KindOrder {
		if c := explainOrderNow(ctx, p, st, line); c != ExitOK {
			code = c
		}
	} else if c := explainNow(ctx, p, match, st, pushed, line); c != ExitOK {
		code = c
	}

	switch {
	case st.Hold != nil:
		h := st.Hold
		line("hold", "%s; %d run(s) since %s", shown(h.Reason), h.Attempts, stamp(h.FirstAt))
	default:
		line("hold", "none")
	}
	switch d := st.DeadLetter; {
	case d != nil:
		line("dead letter", "%s, %d attempt(s), last %s: %s", d.Status, d.Attempts, stamp(d.LastFailedAt), shown(d.Reason))
	default:
		line("dead letter", "none")
	}
	switch in := st.Intent; {
	case in != nil:
		line("pending intent", "%s since %s: the next run looks the record up before it writes", in.Op, stamp(in.CreatedAt))
	default:
		line("pending intent", "none")
	}
	tw.Flush()

	fmt.Fprintf(w, "  runs that touched it (oldest first, the last %d kept):\n", state.RecordLogKeep)
	if len(log) == 0 {
		fmt.Fprintln(w, "    none logged")
		return code
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    RUN\tAT\tRESULT\tFINGERPRINT\tEVENTS")
	for _, e := range log {
		var evs []string
		for _, ev := range e.Events {
			evs = append(evs, ev.Type+" "+ev.ID)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", e.RunID, stamp(e.At), e.Result,
			orDash(short(e.Fingerprint)), orDash(strings.Join(evs, ", ")))
	}
	tw.Flush()
	return code
}

// explainNow reads a customer or card live from 1C, maps it as the next
// push would, and says what that would send and whether it is what was
// pushed last.
func explainNow(ctx context.Context, p *app.Parts, match state.KeyMatch, st state.RecordStatus, pushed state.LogEntry,
	line func(label, format string, args ...any)) int {
	spec := p.Jobs[match.Job]
	src, ok1 := spec.Source.(*source1c.Entities)
	h, ok2 := spec.Handler.(previewer)
	if !ok1 || !ok2 {
		line("in 1C now", "not read: this build's %s job cannot preview a record", match.Job)
		return ExitOK
	}
	e, found, inFilter, err := readOne(ctx, p, src, match.Key)
	if err != nil {
		line("in 1C now", "could not be read: %v", err)
		return ExitFailed
	}
	switch {
	case !found:
		line("in 1C now", "deleted (%s has no such reference)%s", src.Entity, deletionNext(match.Job))
		return ExitOK
	case !inFilter:
		line("in 1C now", "present, but outside the job's filter (%s)%s", src.Filter, deletionNext(match.Job))
		return ExitOK
	case e.DeletionMark():
		line("in 1C now", "marked for deletion%s", deletionNext(match.Job))
		return ExitOK
	}
	changed := "unchanged since the last commit"
	if !st.HasVersion || e.DataVersion() != st.Version {
		changed = "changed since the last commit: the next run pushes it"
	}
	line("in 1C now", "present, DataVersion %s, %s", e.DataVersion(), changed)

	key, err := p.DB.FingerprintKey(ctx)
	if err != nil {
		line("would push", "not computed: %v", err)
		return ExitFailed
	}
	run := &engine.RunInfo{ID: "explain", Job: match.Job, Mode: engine.ModeOnce, IDs: p.DB, Log: p.Log, FingerprintKey: key}
	if err := h.PreparePlan(ctx, run); err != nil {
		line("would push", "not computed: %v", err)
		return ExitFailed
	}
	names, fp, err := h.Preview(ctx, key, engine.Record{Key: match.Key, Version: e.DataVersion(), Data: e})
	var held *engine.HeldError
	var rejected *engine.RejectedError
	switch {
	case errors.As(err, &held):
		line("would push", "nothing yet: it would wait (%s)", shown(held.Reason))
		return ExitOK
	case errors.As(err, &rejected):
		line("would push", "nothing: the map rejects it (%s)", rejected.Error())
		return ExitOK
	case err != nil:
		line("would push", "not computed: %v", err)
		return ExitFailed
	}
	line("would push", "%s (names only: the values are personal data)", strings.Join(names, ", "))
	switch {
	case pushed.Fingerprint == "":
		line("fingerprint", "%s; no push of it is logged to compare with", short(fp))
	case pushed.Fingerprint == fp:
		line("fingerprint", "%s, the same as the last push (run %s)", short(fp), pushed.RunID)
	case st.HasVersion && e.DataVersion() == st.Version:
		line("fingerprint", "%s, differs from the last push's %s (run %s), though 1C's version did not change "+
			"(the map or a linked record did): only -resync %s sends it", short(fp), short(pushed.Fingerprint), pushed.RunID, match.Job)
	default:
		line("fingerprint", "%s, differs from the last push's %s (run %s)", short(fp), short(pushed.Fingerprint), pushed.RunID)
	}
	return ExitOK
}

// deletionNext says what the next run does with a record gone from the
// job's reading of 1C.
func deletionNext(job string) string {
	if job == virtsync.JobCustomers {
		return ": virtpos has no call to delete a customer, so it stays there"
	}
	return ": the next run deletes or blocks it in virtpos (onec.cards.on_delete)"
}

// readOne reads the record ref of the source's entity set as the job
// reads it (its Select); inFilter says the job's filter selects it too.
// A job that reads by groups is not checked against them.
func readOne(ctx context.Context, p *app.Parts, src *source1c.Entities, ref string) (e onecapi.Entity, found, inFilter bool, err error) {
	if !onecapi.IsGUID(ref) {
		return nil, false, false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.Config.OneC.Timeout.D())
	defer cancel()
	read := func(filter string) (onecapi.Entity, bool, error) {
		var got onecapi.Entity
		err := p.OneC.List(cctx, onecapi.Query{Entity: src.Entity, Select: src.Select, Filter: filter}, func(x onecapi.Entity) error {
			got = x
			return nil
		})
		return got, got != nil, err
	}
	byRef := onecapi.GUIDEq("Ref_Key", ref)
	if src.Filter != "" {
		if e, found, err = read("(" + src.Filter + ") and " + byRef); err != nil || found {
			return e, found, found, err
		}
	}
	e, found, err = read(byRef)
	return e, found, found && src.Filter == "", err
}

// explainOrderNow tells an order's side: virtpos is not read (finding one
// order there means listing them all), the 1C document is.
func explainOrderNow(ctx context.Context, p *app.Parts, st state.RecordStatus, line func(label, format string, args ...any)) int {
	line("in virtpos now", "not read: the next run of the orders job reads the order if virtpos lists it as new or changed")
	if !st.HasID || p.Profile == nil || p.Profile.Order == nil {
		return ExitOK
	}
	cctx, cancel := context.WithTimeout(ctx, p.Config.OneC.Timeout.D())
	defer cancel()
	doc, found, err := p.OneC.FindByField(cctx, p.Profile.Order.Entity, "Ref_Key", st.ID.RemoteID)
	switch {
	case err != nil:
		line("document in 1C", "could not be read: %v", err)
		return ExitFailed
	case !found:
		line("document in 1C", "gone (deleted in 1C): the next push of the order finds it again by its marker or creates it")
	case doc.DeletionMark():
		line("document in 1C", "marked for deletion")
	case doc.Bool("Posted"):
		line("document in 1C", "present, posted")
	default:
		line("document in 1C", "present, not posted")
	}
	return ExitOK
}

// lastPush is the newest entry of log that pushed something (one with a
// fingerprint); zero if none.
func lastPush(log []state.LogEntry) state.LogEntry {
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Fingerprint != "" {
			return log[i]
		}
	}
	return state.LogEntry{}
}

// short is a fingerprint's first 12 hex digits: enough to compare by eye.
func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// shown is a reason as explain prints it: a reason can quote another
// system's text, so what looks like personal data is replaced (as the
// status page does) and control characters, which could drive the
// terminal, are dropped.
func shown(reason string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, redact.Text(reason))
}
