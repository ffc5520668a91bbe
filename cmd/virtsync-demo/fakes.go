package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// The addresses configs/demo.yaml names, and the fakes' credentials.
const (
	virtposAddr  = "127.0.0.1:18081"
	onecAddr     = "127.0.0.1:18082"
	virtposKey   = "demo-key"
	onecUser     = "demo"
	onecPassword = "demo"
)

// fakes are the two systems virtsync talks to, served over real loopback
// HTTP so that virtsync runs exactly as it would against production.
type fakes struct {
	onec    *onectest.Server
	vp      *virtpostest.Server
	seed    onectest.Seed
	servers []*http.Server
	vpAddr  string
	ocAddr  string
}

// startFakes loads the 1C seed and starts both fakes. A taken port is not
// fatal: the fake moves to a free port and the config written later says
// where (a developer often has the standalone fakes running on these).
func startFakes(ctx context.Context, seed onectest.Seed, out io.Writer) (*fakes, error) {
	oc := onectest.New(onectest.Options{User: onecUser, Password: onecPassword})
	if err := oc.Load(seed); err != nil {
		return nil, fmt.Errorf("load the 1C demo data: %w", err)
	}
	f := &fakes{onec: oc, vp: virtpostest.New(virtpostest.Options{APIKey: virtposKey}), seed: seed}
	var err error
	if f.vpAddr, err = f.serve("virtpos", virtposAddr, f.vp, out); err != nil {
		f.close()
		return nil, err
	}
	if f.ocAddr, err = f.serve("1C", onecAddr, oc.Handler(), out); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// serve listens on addr (else on a free loopback port) and serves h.
func (f *fakes) serve(name, addr string, h http.Handler, out io.Writer) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		fmt.Fprintf(out, "note: %s is taken (another fake running?); the fake %s uses a free port instead\n", addr, name)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return "", fmt.Errorf("start the fake %s on %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	f.servers = append(f.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

func (f *fakes) virtposURL() string { return "http://" + f.vpAddr + "/api" }

func (f *fakes) onecURL() string {
	return "http://" + f.ocAddr + strings.TrimSuffix(onectest.PublicationPath, "/")
}

// close stops both servers; the virtpos fake also releases requests it
// holds (none unless faults were injected).
func (f *fakes) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, s := range f.servers {
		_ = s.Shutdown(ctx)
	}
	f.vp.Close()
}
