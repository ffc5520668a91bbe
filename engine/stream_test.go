package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtsync/virtsync/engine"
)

// countingSource emits n records and counts how many it has handed over.
type countingSource struct {
	n       int
	emitted atomic.Int32
}

func (s *countingSource) Scan(ctx context.Context, _ engine.Known, emit func(engine.Record) error) (engine.ScanStats, error) {
	for _, r := range records(s.n, "1") {
		if err := emit(r); err != nil {
			return engine.ScanStats{Seen: int(s.emitted.Load())}, err
		}
		s.emitted.Add(1)
	}
	return engine.ScanStats{Seen: s.n}, nil
}

// The source reads ahead while a batch is pushed, and no further than one
// batch plus the queue: memory does not grow with the base.
func TestSourceRunsAheadBounded(t *testing.T) {
	r, _ := newRunner(t) // BatchSize 10
	src := &countingSource{n: 500}
	release := make(chan struct{})
	var first atomic.Bool
	h := &handler{apply: func(rec engine.Record) (engine.Outcome, error) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		return upsert(rec)
	}}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), job(src, h), engine.ModeOnce, nil)
		done <- err
	}()
	// 10 in the batch being pushed and 10 in the queue: the source gets
	// there at once, and no further while the batch is held.
	deadline := time.Now().Add(10 * time.Second)
	for src.emitted.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room to overrun, if it could
	if n := src.emitted.Load(); n != 20 {
		t.Errorf("the source emitted %d records while the first batch was held; want 20 (a batch and the queue)", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.calls.Load(); got != 500 {
		t.Errorf("handler calls = %d; want 500", got)
	}
}
