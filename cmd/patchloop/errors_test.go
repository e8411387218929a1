package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
)

// TestBadInputWritesNothing: each bad input gives a one-line error naming
// what to fix, a non-zero exit, and leaves the store and registry untouched.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	pushInventory(t, reg)
	good := policyFile(t, "incremental", repoEntry("python", "*"))
	down := downAddr(t)

	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  []string
	}{
		{"bad schedule 0d", []string{"--config", good, "--schedule", "0d"}, "", []string{"0d"}},
		{"bad schedule 31d", []string{"--config", good, "--schedule", "31d"}, "", []string{"31d"}},
		{"bad schedule 1w", []string{"--config", good, "--schedule", "1w"}, "", []string{"1w"}},
		{"missing policy file", []string{"--config", "/nonexistent/p.json", "--schedule", "7d"}, "", []string{"/nonexistent/p.json"}},
		{"dry run with run immediately", []string{"--config", good, "--schedule", "7d", "--dry-run", "--run-immediately"}, "", []string{"--dry-run", "--run-immediately"}},
		{"wrong type", []string{"--config", good, "--schedule", "7d", "-t", "other"}, "", []string{"continuouspatchv1"}},
		{"password without username", []string{"--config", good, "--schedule", "7d", "--password-stdin"}, "pw\n", []string{"--username"}},
		{"bad output", []string{"--config", good, "--schedule", "7d", "-o", "yaml"}, "", []string{"table or json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.fail(tc.stdin, append([]string{"workflow", "create", "-r", reg.Addr}, tc.args...)...)
			line := oneLine(t, r.stderr)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Fatalf("error %q does not mention %q", line, w)
				}
			}
			h.storeUntouched()
		})
	}

	t.Run("malformed policy", func(t *testing.T) {
		h := newHarness(t)
		bad := writeFile(t, "bad.json", "{\n  \"version\": \"v2\",\n  \"repositories\": [{\"repository\": \"python\", \"tags\": [\"3.11-1\"]}]\n}\n")
		for _, extra := range [][]string{nil, {"--dry-run"}} {
			r := h.fail("", append([]string{"workflow", "create", "-r", reg.Addr, "--config", bad, "--schedule", "7d"}, extra...)...)
			if !strings.Contains(r.stderr, bad+":2:") || !strings.Contains(r.stderr, bad+":3:") {
				t.Fatalf("stderr lacks file:line:col problems:\n%s", r.stderr)
			}
		}
		h.storeUntouched()
	})

	t.Run("unreachable registry", func(t *testing.T) {
		h := newHarness(t)
		for _, extra := range [][]string{nil, {"--dry-run"}} {
			r := h.fail("", append([]string{"workflow", "create", "-r", down, "--config", good, "--schedule", "7d"}, extra...)...)
			line := oneLine(t, r.stderr)
			if !strings.Contains(line, "registry "+down) || !strings.Contains(line, "unreachable") || !strings.Contains(line, "check the registry address") {
				t.Fatalf("error: %s", line)
			}
		}
		h.storeUntouched()
	})

	if tags := policyTags(t, reg); len(tags) != 0 {
		t.Fatalf("bad input pushed policy tags %v", tags)
	}
}

func downAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// script answers the registry's API requests (not the /v2/ ping) with the
// next status in statuses, then passes everything through.
type script struct {
	statuses []int
	next     atomic.Int64
	seen     atomic.Int64
}

func (s *script) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			s.seen.Add(1)
			if i := s.next.Add(1) - 1; int(i) < len(s.statuses) {
				st := s.statuses[i]
				code := map[int]string{401: "UNAUTHORIZED", 500: "UNKNOWN"}[st]
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(st)
				fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"injected %d"}]}`, code, st)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// TestRegistry401Then500Then200: the first attempt is refused and says
// what to do; the second meets two 500s, which the default retries get
// through.
func TestRegistry401Then500Then200(t *testing.T) {
	t.Parallel()
	sc := &script{}
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(sc.wrap))
	pushInventory(t, reg)
	sc.statuses = []int{401, 500, 500}
	sc.next.Store(0)
	h := newHarness(t)
	h.defaultRetries = true
	pf := policyFile(t, "incremental", repoEntry("python", "*"))

	r := h.fail("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")
	line := oneLine(t, r.stderr)
	want := fmt.Sprintf(`patchloop: registry %s: repository %q:`, reg.Addr, registry.PolicyRepository)
	if !strings.HasPrefix(line, want) || !strings.Contains(line, "unauthorized (401)") || !strings.HasSuffix(line, "check --username/--password-stdin or docker login") {
		t.Fatalf("401 error: %s", line)
	}
	h.storeUntouched()
	if tags := policyTags(t, reg); len(tags) != 0 {
		t.Fatalf("401 left policy tags behind: %v", tags)
	}

	r = h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")
	if !strings.Contains(r.stdout, "Next run: ") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if sc.next.Load() < 3 {
		t.Fatalf("the script was not consumed: %d requests", sc.next.Load())
	}
	before := h.workflows()
	if len(before) != 1 {
		t.Fatalf("%d workflows after success", len(before))
	}

	// An update the registry refuses changes nothing in the store.
	sc.statuses = []int{401}
	sc.next.Store(0)
	h.now = h.now.Add(24 * time.Hour)
	r = h.fail("", "workflow", "update", "-r", reg.Addr, "--schedule", "1d")
	if line := oneLine(t, r.stderr); !strings.Contains(line, "unauthorized (401)") {
		t.Fatalf("update error: %s", line)
	}
	after := h.workflows()
	if len(after) != 1 || after[0].Schedule != before[0].Schedule || !after[0].UpdatedAt.Equal(before[0].UpdatedAt) || !after[0].ScheduleSetAt.Equal(before[0].ScheduleSetAt) {
		t.Fatalf("failed update changed the store: %+v -> %+v", before[0], after[0])
	}
}

// basicAuth requires user:pass on every request, as an authenticating proxy
// in front of a registry does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="patchloop-test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestBasicAuthFromStdin(t *testing.T) {
	t.Parallel()
	const user, pass = "alice", "Zq9-very-secret-pw"
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(basicAuth(user, pass)))
	h := newHarness(t)
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	var all strings.Builder

	// Wrong and missing credentials: unauthorized, nothing written.
	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{"wrong-" + pass + "\n", []string{"--username", user, "--password-stdin"}},
		{"", nil},
	} {
		for _, dry := range []bool{false, true} {
			args := append([]string{"workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d"}, tc.args...)
			if dry {
				args = append(args, "--dry-run")
			}
			r := h.fail(tc.stdin, args...)
			all.WriteString(r.stdout + r.stderr)
			if line := oneLine(t, r.stderr); !strings.Contains(line, "unauthorized (401)") || !strings.Contains(line, "--password-stdin") {
				t.Fatalf("error: %s", line)
			}
		}
	}
	h.storeUntouched()

	// The right password on stdin works for every command.
	for _, args := range [][]string{
		{"workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--dry-run"},
		{"workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d"},
		{"workflow", "show", "-r", reg.Addr, "-o", "json"},
		{"workflow", "update", "-r", reg.Addr, "--schedule", "1d"},
		{"workflow", "delete", "-r", reg.Addr, "--yes"},
	} {
		if args[1] != "show" {
			args = append(args, "--username", user, "--password-stdin")
		}
		r := h.ok(pass+"\n", args...)
		all.WriteString(r.stdout + r.stderr)
	}
	if strings.Contains(all.String(), pass) {
		t.Fatalf("the password appears in the output:\n%s", all.String())
	}
}

func TestDeleteConfirmation(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	h := newHarness(t)
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")

	r := h.fail("y\n", "workflow", "delete", "-r", reg.Addr)
	if line := oneLine(t, r.stderr); !strings.Contains(line, "--yes") {
		t.Fatalf("non-interactive delete: %s", line)
	}
	h.interactive = true
	r = h.ok("n\n", "workflow", "delete", "-r", reg.Addr)
	if !strings.Contains(r.stderr, "[y/N]") || !strings.Contains(r.stdout, "Not deleted.") {
		t.Fatalf("answer n: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = h.ok("", "workflow", "delete", "-r", reg.Addr)
	if ws := h.workflows(); len(ws) != 1 || len(policyTags(t, reg)) != 1 {
		t.Fatalf("declined delete removed something: %d workflows, tags %v", len(ws), policyTags(t, reg))
	}
	h.ok("yes\n", "workflow", "delete", "-r", reg.Addr)
	if ws := h.workflows(); len(ws) != 0 || len(policyTags(t, reg)) != 0 {
		t.Fatalf("after delete: %d workflows, tags %v", len(ws), policyTags(t, reg))
	}
	r = h.fail("", "workflow", "delete", "-r", reg.Addr, "--yes")
	if line := oneLine(t, r.stderr); !strings.Contains(line, "no continuouspatchv1 workflow") {
		t.Fatalf("delete twice: %s", line)
	}
}

func TestRunImmediatelyQueuesATrigger(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	h := newHarness(t)
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	r := h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--run-immediately")
	m := regexp.MustCompile(`trigger run (\d+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run id in stdout: %s", r.stdout)
	}
	runs := h.ok("", "-o", "json", "task", "list-runs", "--name", "cssc-trigger-workflow")
	var list []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(runs.stdout), &list); err != nil {
		t.Fatalf("%v: %s", err, runs.stdout)
	}
	if len(list) != 1 || fmt.Sprint(list[0].ID) != m[1] || list[0].Status != "Queued" {
		t.Fatalf("runs %+v, want trigger run %s Queued", list, m[1])
	}
}

func TestUnopenableStore(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	h := newHarness(t)
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	for _, loc := range []string{t.TempDir(), "postgres://u:pw123@db/x"} {
		r := h.fail("", "--store", loc, "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")
		line := oneLine(t, r.stderr)
		if !strings.Contains(line, "store") || !strings.Contains(line, "--store") || strings.Contains(line, "pw123") {
			t.Fatalf("store %s: %s", loc, line)
		}
	}
	if len(policyTags(t, reg)) != 0 {
		t.Fatal("a failed store open still pushed the policy")
	}
}
