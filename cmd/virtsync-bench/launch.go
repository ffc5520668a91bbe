package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// launchFlag makes virtsync-bench a launcher: `virtsync-bench -launch
// RSSFILE BIN ARGS...` runs BIN, writes its peak RSS in KiB to RSSFILE and
// exits with BIN's code.
//
// Why a launcher: on Linux a child's ru_maxrss starts at its parent's
// high-water RSS when the parent forked it (exec records the old memory's
// peak). The bench holds a million-record fake, so virtsync started
// straight from it would be charged hundreds of MiB it never touched. The
// launcher is a fresh, small process; what it starts is charged only for
// itself.
const launchFlag = "-launch"

// launch runs the launcher and returns its exit code.
func launch(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: virtsync-bench -launch RSSFILE BIN [ARGS...]")
		return 2
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "virtsync-bench -launch:", err)
		return 1
	}
	kib := maxRSS(cmd.ProcessState) >> 10
	if werr := os.WriteFile(args[0], []byte(strconv.FormatInt(kib, 10)), 0o600); werr != nil {
		fmt.Fprintln(os.Stderr, "virtsync-bench -launch:", werr)
		return 1
	}
	if code < 0 { // killed by a signal
		code = 1
	}
	return code
}
