package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
)

// fastRetries keeps fault-injection tests quick; the shape is the default's.
var fastRetries = registry.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 5}

// harness runs the CLI in-process against one test's store.
type harness struct {
	t              *testing.T
	storePath      string
	now            time.Time
	interactive    bool
	defaultRetries bool
}

type result struct {
	stdout, stderr string
	code           int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{
		t:         t,
		storePath: filepath.Join(t.TempDir(), "state", "patchloop.db"),
		now:       time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC),
	}
}

// run executes patchloop with args and stdin.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:       strings.NewReader(stdin),
		stdout:      &out,
		stderr:      &errb,
		now:         func() time.Time { return h.now },
		getenv:      func(k string) string { return map[string]string{"PATCHLOOP_STORE": h.storePath}[k] },
		interactive: h.interactive,
	}
	if !h.defaultRetries {
		e.registryOptions = []registry.Option{registry.WithRetryBackoff(fastRetries)}
	}
	code := run(context.Background(), e, args)
	return result{out.String(), errb.String(), code}
}

// ok runs and fails the test unless the command succeeds.
func (h *harness) ok(stdin string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != 0 {
		h.t.Fatalf("patchloop %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fail runs and fails the test unless the command fails with a one-line
// error containing every want.
func (h *harness) fail(stdin string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code == 0 {
		h.t.Fatalf("patchloop %s: succeeded, want failure\nstdout:\n%s", strings.Join(args, " "), r.stdout)
	}
	return r
}

// workflows lists what the store holds (opening it only if it exists).
func (h *harness) workflows() []*store.Workflow {
	h.t.Helper()
	if _, err := os.Stat(h.storePath); os.IsNotExist(err) {
		return nil
	}
	st, err := store.Open(context.Background(), h.storePath, store.Config{})
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	ws, err := st.WorkflowList(context.Background(), &store.WorkflowListParams{})
	if err != nil {
		h.t.Fatal(err)
	}
	return ws
}

// storeUntouched fails the test if the store file was even created.
func (h *harness) storeUntouched() {
	h.t.Helper()
	if _, err := os.Stat(h.storePath); !os.IsNotExist(err) {
		h.t.Fatalf("the store file %s was created (%v)", h.storePath, err)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func oneLine(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var errs []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "warning: ") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want a one-line error, got:\n%s", stderr)
	}
	return errs[0]
}
