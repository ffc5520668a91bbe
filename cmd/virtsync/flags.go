package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/internal/config"
)

// Options are the parsed command line (DESIGN section 6, a public contract).
type Options struct {
	Config  string // -config; default $VIRTSYNC_CONFIG, else ./virtsync.yaml
	Once    bool   // -once: run enabled jobs (or -job) once and exit
	Job     string // -job NAME with -once
	Resync  string // -resync JOBS: "all" or a comma list
	Command string // "", "status", "failures", "check" or "explain"
	Replay  bool   // failures -replay
	Version bool   // -version
	DryRun  bool   // -dry-run with -once or -resync: plan, write nothing
	Output  string // -o text|json: how a dry run prints its plan
	Key     string // explain KEY: a 1C reference, a virtpos id or an order key
}

// Output formats of -o.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// errUsage marks a command line that cannot be run; main exits 2.
var errUsage = errors.New("usage")

const usageText = `virtsync keeps 1C:Enterprise and virtpos in step.

Usage:
  virtsync [-config FILE]                 daemon: run jobs on their cron schedules until SIGTERM/SIGINT
  virtsync -once [-job NAME]              run enabled jobs (or one) once and exit
  virtsync -resync JOBS                   full resync of JOBS ("all" or a comma list), then exit
  virtsync -once|-resync JOBS -dry-run [-o json]
                                          read everything, write nothing: what a run would do
  virtsync status                         checkpoints, last runs, outbox backlog, dead letters
  virtsync failures [-replay] [-job NAME] list dead letters; -replay sends them again now
  virtsync check                          try the config against 1C, virtpos, NATS and the state; writes nothing
  virtsync explain KEY                    one record's story: ids, what it would push now, runs, holds, events

Global flags come first (one dash or two). -config defaults to $VIRTSYNC_CONFIG, else ./virtsync.yaml.
Exit codes: 0 ok, 1 some records failed or a run could not finish, 2 usage or config error.

Flags:
`

// parseArgs parses args (without the program name).
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("virtsync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Config, "config", "", "config file (default $VIRTSYNC_CONFIG, else ./virtsync.yaml)")
	fs.BoolVar(&o.Once, "once", false, "run enabled jobs once and exit")
	fs.StringVar(&o.Job, "job", "", "with -once (or failures): only this job (customers, cards, orders)")
	fs.StringVar(&o.Resync, "resync", "", `re-push every record of JOBS ("all" or e.g. customers,cards) and exit`)
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	fs.BoolVar(&o.DryRun, "dry-run", false, "with -once or -resync: read everything, write nothing, print what a run would do")
	fs.StringVar(&o.Output, "o", OutputText, "with -dry-run: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	// An empty value given on purpose (-resync "" from an unset shell
	// variable) must not fall back to the flag's default: -resync "" used
	// to start the daemon instead of resyncing.
	if err := explicitlyEmpty(fs, ""); err != nil {
		return o, err
	}
	if o.Config == "" {
		o.Config = getenv(config.EnvPath)
	}
	if o.Config == "" {
		o.Config = config.DefaultPath
	}
	rest := fs.Args()
	if len(rest) > 0 {
		o.Command = rest[0]
		switch o.Command {
		case "status":
			if len(rest) > 1 {
				return o, fmt.Errorf("%w: status takes no arguments, got %q", errUsage, strings.Join(rest[1:], " "))
			}
		case "check":
			if len(rest) > 1 {
				return o, fmt.Errorf("%w: check takes no arguments, got %q", errUsage, strings.Join(rest[1:], " "))
			}
		case "explain":
			if len(rest) != 2 || strings.TrimSpace(rest[1]) == "" {
				return o, fmt.Errorf("%w: explain takes one key: a 1C reference, a virtpos id or an order key", errUsage)
			}
			o.Key = strings.TrimSpace(rest[1])
		case "failures":
			sub := flag.NewFlagSet("failures", flag.ContinueOnError)
			sub.SetOutput(stderr)
			sub.BoolVar(&o.Replay, "replay", false, "queue the dead letters again and run their jobs now")
			job := sub.String("job", "", "only this job's dead letters")
			if err := sub.Parse(rest[1:]); err != nil {
				return o, fmt.Errorf("%w: failures: %v", errUsage, err)
			}
			if err := explicitlyEmpty(sub, "failures: "); err != nil {
				return o, err
			}
			if *job != "" {
				o.Job = *job
			}
			if sub.NArg() > 0 {
				return o, fmt.Errorf("%w: failures: unexpected %q", errUsage, strings.Join(sub.Args(), " "))
			}
		default:
			return o, fmt.Errorf("%w: unknown command %q (expected status, failures, check or explain)", errUsage, o.Command)
		}
	}
	if o.Command != "" && (o.Once || o.Resync != "") {
		return o, fmt.Errorf("%w: %s cannot be combined with -once or -resync", errUsage, o.Command)
	}
	if o.Once && o.Resync != "" {
		return o, fmt.Errorf("%w: -once and -resync exclude each other (a resync runs once)", errUsage)
	}
	if o.DryRun && !o.Once && o.Resync == "" {
		return o, fmt.Errorf("%w: -dry-run goes with -once or -resync", errUsage)
	}
	if o.Output != OutputText && o.Output != OutputJSON {
		return o, fmt.Errorf("%w: -o %q: want text or json", errUsage, o.Output)
	}
	if o.Output == OutputJSON && !o.DryRun {
		return o, fmt.Errorf("%w: -o json goes with -dry-run", errUsage)
	}
	if o.Job != "" && !o.Once && o.Command != "failures" {
		return o, fmt.Errorf("%w: -job goes with -once or failures", errUsage)
	}
	if o.Job != "" && !knownJob(o.Job) {
		return o, fmt.Errorf("%w: -job %q: expected one of %s", errUsage, o.Job, strings.Join(virtsync.Jobs(), ", "))
	}
	if _, err := o.ResyncJobs(); err != nil {
		return o, err
	}
	return o, nil
}

// explicitlyEmpty returns a usage error naming the first string flag of fs
// that was given with an empty (or blank) value.
func explicitlyEmpty(fs *flag.FlagSet, context string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			return
		}
		if strings.TrimSpace(f.Value.String()) == "" {
			err = fmt.Errorf("%w: %s-%s was given an empty value: %s", errUsage, context, f.Name, emptyHint(f.Name))
		}
	})
	return err
}

func emptyHint(flagName string) string {
	switch flagName {
	case "resync":
		return "want all or a comma list of " + strings.Join(virtsync.Jobs(), ", ")
	case "job":
		return "want one of " + strings.Join(virtsync.Jobs(), ", ")
	case "config":
		return "want a config file path (leave the flag out for $VIRTSYNC_CONFIG, else virtsync.yaml)"
	default:
		return "want a value"
	}
}

func knownJob(name string) bool {
	for _, j := range virtsync.Jobs() {
		if j == name {
			return true
		}
	}
	return false
}

// ResyncJobs expands -resync into job names in run order.
func (o Options) ResyncJobs() ([]string, error) {
	if o.Resync == "" {
		return nil, nil
	}
	want := map[string]bool{}
	for _, p := range strings.Split(o.Resync, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "all":
			for _, j := range virtsync.Jobs() {
				want[j] = true
			}
		case knownJob(p):
			want[p] = true
		default:
			return nil, fmt.Errorf("%w: -resync: unknown job %q (expected all or a list of %s)", errUsage, p, strings.Join(virtsync.Jobs(), ", "))
		}
	}
	var out []string
	for _, j := range virtsync.Jobs() {
		if want[j] {
			out = append(out, j)
		}
	}
	return out, nil
}
