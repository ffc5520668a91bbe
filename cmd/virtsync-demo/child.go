package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// virtsync runs bin/virtsync on the demo config with args, its output
// going straight to the user (the summary table on stdout, warnings on
// stderr). A non-zero exit is an error. When ctx ends (the demo's time
// limit, Ctrl-C) virtsync gets SIGTERM, which it answers by committing
// and exiting; SIGKILL follows if it has not exited 10 s later.
func (d *demo) virtsync(ctx context.Context, args ...string) error {
	argv := append([]string{"-config", d.config}, args...)
	cmd := exec.CommandContext(ctx, d.opts.bin, argv...)
	cmd.Stdout, cmd.Stderr = d.out, d.errOut
	cmd.Env = childEnv()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("virtsync %s was stopped: %w", strings.Join(args, " "), ctx.Err())
		}
		return fmt.Errorf("virtsync %s: %w (exit 1: some records failed or a run could not finish; 2: config error)",
			strings.Join(args, " "), err)
	}
	return nil
}

// childEnv is the demo's environment without the variables that would
// point virtsync somewhere else than the demo config says.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "VIRTSYNC_CONFIG", "VIRTPOS_APIKEY", "ONEC_USER", "ONEC_PASSWORD":
			continue
		}
		env = append(env, kv)
	}
	return env
}
