package workflow

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// runLog is the io.Writer a task writes its log to. It stores each
// complete line (or 4 KiB, whichever comes first) as soon as it is written,
// so a killed process leaves everything but a partial last line.
type runLog struct {
	mu    sync.Mutex
	logs  RunLogs
	runID int64
	buf   bytes.Buffer
	err   error
}

const runLogChunk = 4 << 10

func newRunLog(logs RunLogs, runID int64) *runLog {
	return &runLog{logs: logs, runID: runID}
}

// Write implements io.Writer. A storage failure is remembered and reported
// by Close; the task is not failed because its log could not be written.
func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if i := bytes.LastIndexByte(l.buf.Bytes(), '\n'); i >= 0 || l.buf.Len() >= runLogChunk {
		n := i + 1
		if i < 0 {
			n = l.buf.Len()
		}
		l.flush(n)
	}
	return len(p), nil
}

func (l *runLog) flush(n int) {
	chunk := make([]byte, n)
	copy(chunk, l.buf.Next(n))
	// The log must be stored even when the job's context was canceled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.logs.AppendLog(ctx, l.runID, chunk); err != nil && l.err == nil {
		l.err = err
	}
}

// Close stores what is left and returns the first storage error.
func (l *runLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.flush(l.buf.Len())
	}
	return l.err
}
