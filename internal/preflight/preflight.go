// Package preflight is `virtsync check`: it tries the config against the
// real systems before a first run and says, line by line, what works and
// what to change. It writes nothing anywhere, with one exception it names:
// a test event published to the NATS stream (and deleted again) to prove the
// stream takes virtsync's events.
//
// What it checks, in order: the config loads; the state path is writable
// (a temporary file in its directory, never the state file itself); 1C is
// reachable, takes the credentials, publishes what the profile needs, and a
// few records of each set read with allowedOnly=true and map without error;
// virtpos is reachable, takes the apikey (a one-customer read), and every
// configured path answers like the API; NATS is reachable and its stream
// takes a message (or, for the embedded server, its store is writable).
//
// A system that cannot be reached, or refuses the credentials, fails once:
// the checks that depend on it are skipped with a line that says why.
package preflight

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/virtposapi"
	"github.com/virtsync/virtsync/mapping"
)

// OneC is what the check reads from 1C; *onecapi.Client has it.
type OneC interface {
	FetchMetadata(ctx context.Context) (*onecapi.Metadata, error)
	List(ctx context.Context, q onecapi.Query, fn func(onecapi.Entity) error) error
}

// Virtpos is what the check reads from virtpos with the apikey;
// *virtposapi.Client has it. The write endpoints are never called through
// it: they are probed without the key (see checkPaths).
type Virtpos interface {
	Customers(ctx context.Context, q virtposapi.CustomerQuery) (virtposapi.CustomerPage, error)
	Orders(ctx context.Context, q virtposapi.OrdersQuery, fn func(*virtposapi.Order) error) error
}

// Inputs is what the command has built when it runs the check. A part
// that could not be built comes with its error instead; the check reports
// it and skips what depends on it.
type Inputs struct {
	// ConfigPath is the config file, for the first line.
	ConfigPath string
	// Config is the loaded config; ConfigErr is config.Load's error, in
	// which case nothing else is checked.
	Config    config.Config
	ConfigErr error
	// Profile is the 1C profile of onec.profile with the config's onec.*
	// overrides, compiled; ProfileErr says why it is not.
	Profile    *mapping.Compiled
	ProfileErr error
	// OneC is the 1C client of the onec.* keys; OneCErr says why it could
	// not be built (then OneC is not used, so a typed nil may stay in it).
	// Give it one attempt per call (Retry.MaxAttempts 1) so that a check
	// of an unreachable 1C answers in seconds.
	OneC    OneC
	OneCErr error
	// Virtpos is the virtpos client of the virtpos.* keys, likewise with
	// one attempt per call; VirtposErr says why it could not be built.
	Virtpos    Virtpos
	VirtposErr error
	// HTTPClient sends the keyless probes of the virtpos paths. Nil: a
	// client with virtpos.timeout that never follows a redirect.
	HTTPClient *http.Client
	// Now is the clock (the empty orders window, the test event). Nil:
	// time.Now.
	Now func() time.Time
}

// Line is one check.
type Line struct {
	// Name says what was checked, by system and config key:
	// "1C credentials", "virtpos.paths.card_insert".
	Name string
	// OK is true when the check passed. A skipped line is not OK but is
	// not a failure either.
	OK bool
	// Skipped says the check did not run, and Detail why (an earlier
	// failure, a job that is off).
	Skipped bool
	// Detail says what was found; it may span lines.
	Detail string
	// Fix says what to change, for a failed line.
	Fix string
}

// Failed reports a line that ran and did not pass.
func (l Line) Failed() bool { return !l.OK && !l.Skipped }

// Report is the checks in the order they ran.
type Report struct {
	Lines []Line
}

// OK reports that no check failed.
func (r Report) OK() bool {
	for _, l := range r.Lines {
		if l.Failed() {
			return false
		}
	}
	return true
}

// Failures counts the failed lines.
func (r Report) Failures() int {
	n := 0
	for _, l := range r.Lines {
		if l.Failed() {
			n++
		}
	}
	return n
}

// Print writes the report as a table: a status, the check's name and what
// was found, each failed line followed by its fix, and a closing count.
func (r Report) Print(w io.Writer) error {
	width := 0
	for _, l := range r.Lines {
		width = max(width, utf8.RuneCountInString(l.Name))
	}
	var b strings.Builder
	indent := strings.Repeat(" ", 6+width+2)
	for _, l := range r.Lines {
		status := "OK"
		switch {
		case l.Skipped:
			status = "SKIP"
		case !l.OK:
			status = "FAIL"
		}
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(l.Name))
		detail := strings.Split(strings.TrimRight(l.Detail, "\n"), "\n")
		fmt.Fprintf(&b, "%-4s  %s%s  %s\n", status, l.Name, pad, detail[0])
		for _, d := range detail[1:] {
			b.WriteString(indent + d + "\n")
		}
		if l.Failed() && l.Fix != "" {
			for i, f := range strings.Split(l.Fix, "\n") {
				if i == 0 {
					b.WriteString(indent + "fix: " + f + "\n")
				} else {
					b.WriteString(indent + "     " + f + "\n")
				}
			}
		}
	}
	checks := 0
	for _, l := range r.Lines {
		if !l.Skipped {
			checks++
		}
	}
	switch n := r.Failures(); n {
	case 0:
		fmt.Fprintf(&b, "\nAll %d checks passed.\n", checks)
	default:
		fmt.Fprintf(&b, "\n%d of %d checks failed.\n", n, checks)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// lines collects one group's lines.
type lines []Line

func (ls *lines) ok(name, detail string) {
	*ls = append(*ls, Line{Name: name, OK: true, Detail: detail})
}
func (ls *lines) fail(name, detail, fix string) {
	*ls = append(*ls, Line{Name: name, Detail: detail, Fix: fix})
}
func (ls *lines) skip(name, why string) {
	*ls = append(*ls, Line{Name: name, Skipped: true, Detail: "not checked: " + why})
}

// Run checks everything Inputs names and returns the report. It does not
// stop at the first failure: 1C, virtpos and NATS are checked side by side,
// each as far as it goes.
func Run(ctx context.Context, in Inputs) Report {
	if in.Now == nil {
		in.Now = time.Now
	}
	var head lines
	name := "config"
	if in.ConfigPath != "" {
		name = "config " + in.ConfigPath
	}
	if in.ConfigErr != nil {
		head.fail(name, in.ConfigErr.Error(),
			"correct the keys named above (file:line: key: reason) and run `virtsync check` again")
		head.skip("state, 1C, virtpos, NATS", "the config does not load")
		return Report{Lines: head}
	}
	head.ok(name, "loads and is valid")
	checkState(in.Config, &head)

	groups := make([]lines, 3)
	var wg sync.WaitGroup
	for i, check := range []func(context.Context, Inputs, *lines){checkOneC, checkVirtpos, checkNATS} {
		wg.Go(func() { check(ctx, in, &groups[i]) })
	}
	wg.Wait()
	all := head
	for _, g := range groups {
		all = append(all, g...)
	}
	return Report{Lines: scrub(all, in.Config)}
}

// scrub replaces every secret of the config in every line: the clients
// keep them out of their errors already; this is the net under that.
func scrub(ls []Line, cfg config.Config) []Line {
	var secrets []string
	for _, s := range cfg.Secrets() {
		if len(s) >= 3 { // a one- or two-character secret would blank ordinary text
			secrets = append(secrets, s)
		}
	}
	if cfg.OneC.Password != "" {
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(cfg.OneC.User+":"+cfg.OneC.Password)))
	}
	// nats.url may carry a password or a token, also percent-encoded.
	for _, u := range strings.Split(cfg.NATS.URL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.User == nil {
			continue
		}
		cred, ok := p.User.Password()
		if !ok {
			cred = p.User.Username() // a token
		}
		if len(cred) >= 3 {
			secrets = append(secrets, cred, url.QueryEscape(cred), url.PathEscape(cred), p.User.String())
		}
	}
	if len(secrets) == 0 {
		return ls
	}
	// Longer first, so that an encoded form is not cut by a shorter one.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "***")
	}
	rep := strings.NewReplacer(pairs...)
	for i := range ls {
		ls[i].Name, ls[i].Detail, ls[i].Fix = rep.Replace(ls[i].Name), rep.Replace(ls[i].Detail), rep.Replace(ls[i].Fix)
	}
	return ls
}
