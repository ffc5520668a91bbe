package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile of the whole process to path (from
// VIRTSYNC_CPUPROFILE) until the returned stop is called: what an
// integrator attaches to a report that a run is slow. Empty path: nothing.
func startCPUProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = pprof.StartCPUProfile(f)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtsync: VIRTSYNC_CPUPROFILE: %v; running without a profile\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "virtsync: VIRTSYNC_CPUPROFILE: %v\n", err)
		}
	}
}
