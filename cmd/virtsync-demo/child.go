package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/virtsync/virtsync/internal/config"
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
	cmd.Env = config.WithoutOwnVariables(os.Environ())
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
