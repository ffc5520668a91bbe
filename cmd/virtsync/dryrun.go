package main

import (
	"context"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/plan"
)

// runDryRun is -once or -resync with -dry-run: every job is planned
// (engine.Runner.Plan) instead of run. It reads 1C, virtpos and the state,
// and writes nothing anywhere: no remote write, no state change (the
// state is open read-only), no event (NATS is not even started), no lease,
// so it is safe beside a running daemon. The plan goes to stdout as text
// or, with -o json, as one JSON list with the summary on stderr.
func (m *Main) runDryRun(ctx context.Context, p *app.Parts, jobs []string, mode engine.Mode) int {
	// The runner of a real run: Plan uses its limits, and neither its
	// events nor its metrics (it publishes and counts nothing).
	r := m.newRunner(p, nil)
	var emit func(engine.Planned) error
	var text *plan.Text
	var list *plan.JSON
	if m.Output == OutputJSON {
		list = plan.NewJSON(m.Stdout)
		emit = list.Add
	} else {
		text = plan.NewText(m.Stdout)
		emit = text.Add
	}
	code := ExitOK
	var sums []engine.PlanSummary
	for _, name := range jobs {
		spec := p.Jobs[name]
		if mode == engine.ModeResync && name == virtsync.JobOrders {
			spec = resyncOrders(spec)
		}
		sum, err := r.Plan(ctx, spec, mode, nil, emit)
		sums = append(sums, sum)
		if err != nil {
			p.Log.Error("dry run stopped", "job", name, "err", err)
			code = ExitFailed
		}
		if ctx.Err() != nil {
			break
		}
	}
	if list != nil {
		if err := list.Close(); err != nil {
			code = ExitFailed
		}
		text = plan.NewText(m.Stderr)
	}
	if err := text.Summary(sums); err != nil {
		code = ExitFailed
	}
	return code
}
