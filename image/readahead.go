package image

import (
	"errors"
	"io"
	"sync"
)

// readAhead reads the compressed stream in its own goroutine, a few chunks
// ahead, so that the network, the registry digest check and decompression
// run in parallel. It holds at most readAheadChunks chunks.
type readAhead struct {
	full chan []byte
	free chan []byte
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	err  error // set by the producer before it closes full
	cur  []byte
	last []byte
}

const (
	readAheadChunks = 8
	readAheadSize   = 256 << 10
)

func newReadAhead(r io.Reader) *readAhead {
	a := &readAhead{full: make(chan []byte, readAheadChunks), free: make(chan []byte, readAheadChunks), done: make(chan struct{})}
	for range readAheadChunks {
		a.free <- make([]byte, readAheadSize)
	}
	a.wg.Add(1)
	go a.produce(r)
	return a
}

func (a *readAhead) produce(r io.Reader) {
	defer a.wg.Done()
	defer close(a.full)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.done:
			a.err = errors.New("read-ahead closed")
			return
		}
		n, err := r.Read(buf[:cap(buf)])
		if n > 0 {
			select {
			case a.full <- buf[:n]:
			case <-a.done:
				a.err = errors.New("read-ahead closed")
				return
			}
		} else {
			a.free <- buf
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

func (a *readAhead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.last != nil {
			a.free <- a.last[:cap(a.last)]
			a.last = nil
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.cur, a.last = buf, buf
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the producer and waits for it. The caller must close the
// underlying stream first if the producer may be blocked reading it.
func (a *readAhead) Close() error {
	a.once.Do(func() { close(a.done) })
	a.wg.Wait()
	return nil
}
