package main

import (
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// progress draws one bar per job during a resync on a terminal. Sources
// do not know their totals up front (a sweep or a stream), so the bar
// counts records and their rate.
type progress struct {
	w    io.Writer
	mu   sync.Mutex
	bars map[string]*progressbar.ProgressBar
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, bars: map[string]*progressbar.ProgressBar{}}
}

func (p *progress) update(job string, done, _ int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bars[job]
	if !ok {
		b = progressbar.NewOptions(-1, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(job),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
			progressbar.OptionClearOnFinish())
		p.bars[job] = b
	}
	_ = b.Set(done)
}

func (p *progress) finish(job string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.bars[job]; ok {
		_ = b.Finish()
	}
}
