package sync_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	vsync "github.com/virtsync/virtsync/sync"
)

// countingSource emits n records and counts how many it has handed over.
type countingSource struct {
	n       int
	emitted atomic.Int32
}

func (s *countingSource) Scan(ctx context.Context, _ vsync.Known, emit func(vsync.Record) error) (vsync.ScanStats, error) {
	for _, r := range records(s.n, "1") {
		if err := emit(r); err != nil {
			return vsync.ScanStats{Seen: int(s.emitted.Load())}, err
		}
		s.emitted.Add(1)
	}
	return vsync.ScanStats{Seen: s.n}, nil
}

// The source reads ahead while a batch is pushed, and no further than one
// batch plus the queue: memory does not grow with the base.
func TestSourceRunsAheadBounded(t *testing.T) {
	r, _ := newRunner(t) // BatchSize 10
	src := &countingSource{n: 500}
	release := make(chan struct{})
	var first atomic.Bool
	h := &handler{apply: func(rec vsync.Record) (vsync.Outcome, error) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		return upsert(rec)
	}}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), job(src, h), vsync.ModeOnce, nil)
		done <- err
	}()
	// Wait until the source is blocked: the count stops moving.
	last, still := int32(-1), 0
	for still < 20 {
		time.Sleep(5 * time.Millisecond)
		if n := src.emitted.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	// 10 in the batch being pushed, 10 queued, none further.
	if last < 11 || last > 20 {
		t.Errorf("the source emitted %d records while the first batch was held; want it ahead by the queue (11..20)", last)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.calls.Load(); got != 500 {
		t.Errorf("handler calls = %d; want 500", got)
	}
}
