package main

import (
	"context"

	"github.com/virtsync/virtsync/internal/app"
	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/preflight"
	"github.com/virtsync/virtsync/internal/virtposapi"
)

// runCheck is `virtsync check`: the config tried against the real 1C,
// virtpos, NATS and state path, writing nothing (internal/preflight). A
// config that does not load is its first failed line, not a usage exit:
// the table says what to fix.
func (m *Main) runCheck(ctx context.Context) int {
	cfg, err := config.Load(m.Config, m.LookupEnv)
	in := preflight.Inputs{ConfigPath: m.Config, Config: cfg, ConfigErr: err}
	if err == nil {
		in.Profile, in.ProfileErr = app.Profile(cfg.OneC)
		// One attempt a call and no breaker: an unreachable system answers
		// in seconds, and every check says what it found.
		occ := app.OneCConfig(cfg.OneC)
		occ.Retry.MaxAttempts, occ.Breaker.Failures = 1, -1
		oc, oerr := onecapi.New(occ)
		in.OneC, in.OneCErr = oc, oerr
		vcc := app.VirtposConfig(cfg.Virtpos)
		vcc.Retry.MaxAttempts, vcc.Breaker.Failures = 1, -1
		vc, verr := virtposapi.New(vcc)
		in.Virtpos, in.VirtposErr = vc, verr
	}
	rep := preflight.Run(ctx, in)
	rep.Print(m.Stdout)
	if !rep.OK() {
		return ExitFailed
	}
	return ExitOK
}
