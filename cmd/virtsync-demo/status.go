package main

import (
	"context"
	"fmt"
	"path/filepath"
)

// showStatus prints `virtsync status` on the demo config.
func (d *demo) showStatus(ctx context.Context) error {
	d.heading("virtsync status")
	return d.virtsync(ctx, "status")
}

// closingHint says where everything is and how to go on from here.
func (d *demo) closingHint(ctx context.Context) error {
	d.heading("Next")
	bin, cfg := d.opts.bin, d.config
	fmt.Fprintf(d.out, "Files:  %s (config), %s (state: checkpoints, id map, outbox),\n", cfg, filepath.Join(d.opts.dataDir, "virtsync.db"))
	fmt.Fprintf(d.out, "        %s/ (JetStream store of the embedded NATS)\n", d.store)
	fmt.Fprintf(d.out, "Daemon: the fakes stop with this program; to keep them up, run it with -keep\n")
	fmt.Fprintf(d.out, "        (bin/virtsync-demo -keep), then in another terminal:\n")
	fmt.Fprintf(d.out, "          %s -config %s            (every job every 5 s, Ctrl-C stops it)\n", bin, cfg)
	fmt.Fprintf(d.out, "          %s -config %s status      (or failures)\n", bin, cfg)
	fmt.Fprintf(d.out, "Real systems: copy configs/example.yaml; README.md, \"Running it against your systems\".\n")
	return nil
}
