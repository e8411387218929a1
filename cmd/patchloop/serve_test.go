package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/internal/testutil"
)

// serveHarness runs `patchloop serve` in-process until the test ends.
type serveHarness struct {
	h      *harness
	addr   string
	token  string
	cancel context.CancelFunc
	done   chan int
}

func startServe(t *testing.T, h *harness) *serveHarness {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serveHarness{h: h, cancel: cancel, done: make(chan int, 1)}
	e := &env{
		stdin: strings.NewReader(""), stdout: pw, stderr: io.Discard,
		now:    time.Now,
		getenv: func(k string) string { return map[string]string{"PATCHLOOP_STORE": h.storePath}[k] },
	}
	go func() {
		s.done <- run(ctx, e, []string{"serve", "--addr", "127.0.0.1:0", "--cache-dir", t.TempDir()})
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var printed strings.Builder
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if a, ok := strings.CutPrefix(sc.Text(), "patchloop serve: listening on http://"); ok {
			s.addr = a
		}
		if strings.HasPrefix(sc.Text(), "workers:") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	if s.addr == "" {
		t.Fatalf("serve printed no address:\n%s", printed.String())
	}
	tokPath := filepath.Join(filepath.Dir(h.storePath), "api-token")
	if !strings.Contains(printed.String(), "token file: "+tokPath) {
		t.Fatalf("serve output does not name the token file %s:\n%s", tokPath, printed.String())
	}
	fi, err := os.Stat(tokPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v", tokPath, fi, err)
	}
	b, _ := os.ReadFile(tokPath)
	s.token = strings.TrimSpace(string(b))
	if strings.Contains(printed.String(), s.token) {
		t.Fatal("serve printed the token")
	}
	return s
}

func (s *serveHarness) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeAPIAndServerMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := startServe(t, h)

	if code, _ := s.call(t, "GET", "/healthz", "", ""); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	for _, tok := range []string{"", "wrong-token-0123456789"} {
		if code, body := s.call(t, "GET", "/v1/workflows", tok, ""); code != http.StatusUnauthorized || !strings.Contains(body, "token") {
			t.Fatalf("token %q: %d %s", tok, code, body)
		}
		if code, _ := s.call(t, "GET", "/metrics", tok, ""); code != http.StatusUnauthorized {
			t.Fatalf("metrics with token %q: %d", tok, code)
		}
	}
	code, body := s.call(t, "POST", "/v1/workflows", s.token, `{"registry": "r.example", "config": "{", "schedule": "1d"}`)
	var eb struct{ Error string }
	if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &eb) != nil || eb.Error == "" {
		t.Fatalf("malformed policy: %d %s", code, body)
	}
	if code, body := s.call(t, "POST", "/v1/workflows", s.token, `{"registry": `); code != http.StatusBadRequest || !strings.Contains(body, "error") {
		t.Fatalf("malformed JSON: %d %s", code, body)
	}
	if code, body := s.call(t, "GET", "/v1/runs?run-status=sideways", s.token, ""); code != http.StatusBadRequest {
		t.Fatalf("bad run-status: %d %s", code, body)
	}
	if code, body := s.call(t, "GET", "/metrics", s.token, ""); code != http.StatusOK || !strings.Contains(body, "patchloop_images_patched_total") {
		t.Fatalf("metrics: %d", code)
	}

	// The CLI against the daemon: create with --run-immediately queues a
	// trigger the daemon owns; list-runs and workflow list answer.
	reg := testutil.StartRegistry(t)
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	server := "http://" + s.addr
	r := h.ok("", "--server", server, "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--run-immediately")
	if !strings.Contains(r.stdout, "Run queued now:") {
		t.Fatalf("create via server: %s", r.stdout)
	}
	r = h.ok("", "--server", server, "workflow", "show", "-r", reg.Addr)
	if !strings.Contains(r.stdout, "Schedule:") || !strings.Contains(r.stdout, "7d") {
		t.Fatalf("show via server: %s", r.stdout)
	}
	// The trigger runs in the daemon: the registry has no python repository, so
	// it selects nothing and succeeds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = h.ok("", "--server", server, "-o", "json", "task", "list-runs", "--name", "cssc-trigger-workflow")
		if strings.Contains(r.stdout, `"status": "Succeeded"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trigger not run by the daemon: %s", r.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.ok("", "--server", server, "workflow", "list", "-r", reg.Addr, "--run-status", "failed")
	// A wrong token from the environment is refused.
	bad := newHarness(t)
	bad.storePath = h.storePath
	res := bad.runEnv(map[string]string{"PATCHLOOP_TOKEN": "not-the-token-000000"}, "--server", server, "task", "list-runs")
	if res.code == 0 || !strings.Contains(res.stderr, "401") {
		t.Fatalf("wrong token: %d %s", res.code, res.stderr)
	}
	r = h.ok("", "--server", server, "workflow", "delete", "-r", reg.Addr, "--yes")
	if runs := h.ok("", "--server", server, "-o", "json", "task", "list-runs", "-r", reg.Addr); strings.TrimSpace(runs.stdout) != "[]" {
		t.Fatalf("runs after delete via server: %s", runs.stdout)
	}
}

func TestServeUnopenableStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, loc := range []string{t.TempDir(), "postgres://u:pw123@127.0.0.1:1/db?connect_timeout=5"} {
		r := h.fail("", "--store", loc, "serve", "--addr", "127.0.0.1:0")
		line := oneLine(t, r.stderr)
		if !strings.Contains(line, "store") || strings.Contains(line, "pw123") {
			t.Fatalf("store %s: %s", loc, line)
		}
	}
}

// runEnv is harness.run with more environment variables.
func (h *harness) runEnv(vars map[string]string, args ...string) result {
	h.t.Helper()
	var out, errb strings.Builder
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out, stderr: &errb,
		now: func() time.Time { return h.now },
		getenv: func(k string) string {
			if k == "PATCHLOOP_STORE" {
				return h.storePath
			}
			return vars[k]
		},
	}
	code := run(context.Background(), e, args)
	return result{out.String(), errb.String(), code}
}

// TestWorkflowListFailedAndLogs runs a real cycle in an in-process daemon
// on an image that is no Linux distribution: its scan fails on every
// attempt, and the CLI shows it through list --run-status failed,
// list-runs and logs.
func TestWorkflowListFailedAndLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg := testutil.StartRegistry(t)
	reg.PushRandom(t, "python:3.11")
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--run-immediately")
	startServe(t, h)
	var rows []map[string]string
	deadline := time.Now().Add(time.Minute)
	for {
		r := h.ok("", "-o", "json", "workflow", "list", "-r", reg.Addr, "--run-status", "FAILED")
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		if len(rows) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed row: %s", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	row := rows[0]
	if row["image"] != "python:3.11" || row["scan_status"] != "Failed" || row["scan_error_reason"] == "" || row["scan_task_ID"] == "" ||
		row["workflow_type"] != "continuouspatchv1" || row["patch_status"] != "" {
		t.Fatalf("row %v", row)
	}
	table := h.ok("", "workflow", "list", "-r", reg.Addr).stdout
	if !strings.HasPrefix(table, "IMAGE  ") || !strings.Contains(table, "SCAN TASK ID") || !strings.Contains(table, "scan: ") {
		t.Fatalf("table:\n%s", table)
	}
	if succeeded := h.ok("", "-o", "json", "workflow", "list", "-r", reg.Addr, "--run-status", "succeeded").stdout; strings.TrimSpace(succeeded) != "[]" {
		t.Fatalf("succeeded rows: %s", succeeded)
	}
	runs := h.ok("", "task", "list-runs", "--name", "cssc-scan-image", "--run-status", "Failed", "--top", "1").stdout
	if !strings.Contains(runs, "Failed") || !strings.Contains(runs, row["scan_task_ID"]) {
		t.Fatalf("list-runs:\n%s", runs)
	}
	logs := h.ok("", "task", "logs", "--run-id", row["scan_task_ID"]).stdout
	if !strings.Contains(logs, "attempt 3") || !strings.Contains(logs, "scanning ") {
		t.Fatalf("logs:\n%s", logs)
	}
	if r := h.fail("", "task", "logs", "--run-id", "999999"); !strings.Contains(oneLine(t, r.stderr), "999999") {
		t.Fatalf("missing run: %s", r.stderr)
	}
	if r := h.fail("", "task", "list-runs", "--run-status", "sideways"); !strings.Contains(oneLine(t, r.stderr), "sideways") {
		t.Fatalf("bad status: %s", r.stderr)
	}
	// The cycle is over: cancel-run has nothing left to cancel.
	if out := h.ok("", "workflow", "cancel-run", "-r", reg.Addr).stdout; !strings.Contains(out, "Canceled 0 runs") {
		t.Fatalf("cancel-run: %s", out)
	}
	if r := h.fail("", "workflow", "cancel-run", "-r", "never.example"); !strings.Contains(oneLine(t, r.stderr), "no run to cancel") {
		t.Fatalf("cancel-run without runs: %s", r.stderr)
	}
}

// TestDeleteRemovesQueuedRuns: a workflow deleted before any daemon ran
// its queued trigger leaves no run and no queued job behind.
func TestDeleteRemovesQueuedRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg := testutil.StartRegistry(t)
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--run-immediately")
	if out := h.ok("", "-o", "json", "task", "list-runs", "-r", reg.Addr).stdout; !strings.Contains(out, `"Queued"`) {
		t.Fatalf("no queued run after create: %s", out)
	}
	h.ok("", "workflow", "delete", "-r", reg.Addr, "--yes")
	if out := h.ok("", "-o", "json", "task", "list-runs", "-r", reg.Addr).stdout; strings.TrimSpace(out) != "[]" {
		t.Fatalf("runs after delete: %s", out)
	}
	// A daemon started now finds no job to run for it.
	startServe(t, h)
	time.Sleep(1500 * time.Millisecond)
	if out := h.ok("", "-o", "json", "task", "list-runs").stdout; strings.TrimSpace(out) != "[]" {
		t.Fatalf("a deleted workflow's job ran: %s", out)
	}
}
