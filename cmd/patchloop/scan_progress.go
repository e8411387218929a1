package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/patchloop/patchloop/image"
)

// progress shows layer downloads on a terminal, one line rewritten in
// place: how many layers are done and the bytes read of the current ones.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	layers map[string]image.Progress
	order  []string
	shown  bool
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, layers: map[string]image.Progress{}}
}

// update records one report and redraws the line.
func (p *progress) update(u image.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.layers[u.Layer]; !ok {
		p.order = append(p.order, u.Layer)
	}
	p.layers[u.Layer] = u
	var done, cached int
	var read, total int64
	for _, l := range p.order {
		st := p.layers[l]
		switch {
		case st.Cached:
			cached++
		case st.Done:
			done++
		}
		if !st.Cached {
			read += st.Read
			total += st.Total
		}
	}
	fmt.Fprintf(p.w, "\rlayers: %d read, %d cached, %d seen; %s of %s", done, cached, len(p.order), mib(read), mib(total))
	p.shown = true
}

// finish ends the progress line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
