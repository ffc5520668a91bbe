package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/mapping"
)

// profile is the 1C profile the bench config names; the fake 1C is an
// УТ 11 base.
const profile = mapping.ProfileUT11

// writeConfig writes what a new user would run at scale: NATS at natsURL
// ("" starts the embedded server beside the state, whose memory is then
// virtsync's too), no rate limit (the fake has none), the bench's
// concurrency, the customers and cards jobs. The orders job stays off: the
// virtpos fake has no orders, so it would only add a constant. virtsync
// must accept the file, or the bench stops before measuring anything.
func writeConfig(path, stateDir, virtposURL, onecURL, natsURL string, concurrency int) error {
	cfg := fmt.Sprintf(`# Written by virtsync-bench; rewritten on every run.
state: {path: %q}
nats: {url: %q}
http: {listen: ""}
log: {level: warn}
virtpos:
  base_url: %q
  apikey: %q
  rate_limit: 0
  concurrency: %d
onec:
  base_url: %q
  user: %q
  password: %q
  profile: %s
jobs:
  customers: {schedule: "@every 10m"}
  cards: {schedule: "@every 10m"}
  orders: {enabled: false}
`, filepath.Join(stateDir, "virtsync.db"), natsURL, virtposURL, virtposKey, concurrency, onecURL, onecUser, onecPassword, profile)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write the config: %w", err)
	}
	if _, err := config.Load(path, func(string) (string, bool) { return "", false }); err != nil {
		return fmt.Errorf("virtsync refuses the bench config: %w", err)
	}
	return nil
}

// runOnce runs `virtsync -once` on cfg, its output going to logPath, and
// returns its wall time and peak RSS. A non-zero exit is an error that
// quotes the end of the log. When ctx ends virtsync gets SIGTERM, which
// it answers by committing and exiting; SIGKILL follows 10 s later.
func runOnce(ctx context.Context, bin, cfg, logPath string) (time.Duration, int64, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return 0, 0, fmt.Errorf("create the run's log: %w", err)
	}
	defer logf.Close()
	self, err := os.Executable()
	if err != nil {
		return 0, 0, fmt.Errorf("find this binary to launch virtsync through: %w", err)
	}
	rssFile := logPath + ".rss"
	// Through the launcher: see launchFlag for why.
	cmd := exec.CommandContext(ctx, self, launchFlag, rssFile, bin, "-config", cfg, "-once")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = config.WithoutOwnVariables(os.Environ())
	// SIGTERM reaches the launcher's group: virtsync commits and exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	var rss int64
	if b, err := os.ReadFile(rssFile); err == nil {
		kib, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		rss = kib << 10
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return wall, rss, fmt.Errorf("virtsync -once was stopped after %s: %w", secs(wall), ctx.Err())
		}
		return wall, rss, fmt.Errorf("virtsync -once: %w (log %s ends:\n%s)", runErr, logPath, tail(logPath, 20))
	}
	if rss == 0 {
		return wall, rss, fmt.Errorf("virtsync -once: the launcher left no peak RSS in %s", rssFile)
	}
	return wall, rss, nil
}

// maxRSS is the child's peak resident set in bytes, from its rusage:
// Linux reports KiB, macOS bytes.
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) << 10
}

// tail returns the last n lines of a file, for a failure message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read it: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// errLost says virtpos does not hold exactly one record per 1C record.
var errLost = errors.New("records lost or duplicated")
