// Command virtsync keeps 1C:Enterprise and virtpos in step. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		LookupEnv: os.LookupEnv,
		Terminal:  term.IsTerminal(int(os.Stderr.Fd())),
	}
	code := ExitUsage
	if err := m.ParseFlags(os.Args[1:]); err == nil {
		code = m.Run(ctx)
	}
	if err := m.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "virtsync: %v\n", err)
	}
	stop()
	os.Exit(code)
}
