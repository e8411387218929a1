package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchloop/patchloop/server"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/store/sqlitestore"
	"github.com/patchloop/patchloop/workflow"
)

// The selector, scanner and patcher below are doubles for the engine's
// collaborators: the API is under test here, not scanning or patching.
// "repo:broken" is the injected fault: its scan always fails.

type selector struct{ n int }

func (s selector) Select(ctx context.Context, wf string, log io.Writer) (workflow.Selection, error) {
	var sel workflow.Selection
	for i := range s.n {
		tag := fmt.Sprintf("t%d", i)
		sel.Targets = append(sel.Targets, workflow.Target{Registry: wf, Repository: "repo", Tag: tag, ScanTag: tag, NextTag: tag + "-1"})
	}
	sel.Targets = append(sel.Targets, workflow.Target{Registry: wf, Repository: "repo", Tag: "broken", ScanTag: "broken", NextTag: "broken-1"})
	return sel, nil
}

type scanner struct{}

func (scanner) Scan(ctx context.Context, t workflow.Target, log io.Writer) (workflow.ScanResult, error) {
	fmt.Fprintf(log, "scanning %s\n", t.Image())
	if t.Tag == "broken" {
		return workflow.ScanResult{}, errors.New("registry unavailable")
	}
	if t.Tag == "t0" {
		return workflow.ScanResult{}, nil
	}
	return workflow.ScanResult{Fixable: true, CVEs: []string{"CVE-2024-0001", "CVE-2024-0002"}}, nil
}

type patcher struct{}

func (patcher) Patch(ctx context.Context, req workflow.PatchRequest, log io.Writer) (workflow.PatchResult, error) {
	return workflow.PatchResult{Tag: req.Registry + "/" + req.Repository + ":" + req.NextTag, Digest: "sha256:00", FixedCVEs: req.CVEs}, nil
}

func (patcher) Pushed(ctx context.Context, req workflow.PatchRequest) (workflow.PatchResult, bool, error) {
	return workflow.PatchResult{}, false, nil
}

// storeWorkflows is Workflows on the real SQLite store, without the policy
// parsing and registry artifact the CLI adds.
type storeWorkflows struct{ s store.Store }

func (w storeWorkflows) info(wf *store.Workflow) server.WorkflowInfo {
	return server.WorkflowInfo{Registry: wf.Registry, Type: wf.Type, Schedule: wf.Schedule, ScheduleSetAt: wf.ScheduleSetAt, Policy: string(wf.Policy)}
}

func (w storeWorkflows) CreateWorkflow(ctx context.Context, spec server.WorkflowSpec) (server.WorkflowInfo, error) {
	if !regexp.MustCompile(`^([1-9]|[12][0-9]|30)d$`).MatchString(spec.Schedule) {
		return server.WorkflowInfo{}, fmt.Errorf("schedule %q: %w", spec.Schedule, server.ErrInvalid)
	}
	wf, err := w.s.WorkflowCreate(ctx, &store.WorkflowCreateParams{Registry: spec.Registry, Type: workflow.WorkflowType,
		Schedule: spec.Schedule, ScheduleSetAt: time.Now(), Policy: []byte(spec.Config)})
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	return w.info(wf), nil
}

func (w storeWorkflows) GetWorkflow(ctx context.Context, registry, typ string) (server.WorkflowInfo, error) {
	wf, err := w.s.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: registry, Type: typ})
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	return w.info(wf), nil
}

func (w storeWorkflows) ListWorkflows(ctx context.Context) ([]server.WorkflowInfo, error) {
	list, err := w.s.WorkflowList(ctx, &store.WorkflowListParams{})
	var out []server.WorkflowInfo
	for _, wf := range list {
		out = append(out, w.info(wf))
	}
	return out, err
}

func (w storeWorkflows) UpdateWorkflow(ctx context.Context, spec server.WorkflowSpec) (server.WorkflowInfo, error) {
	p := &store.WorkflowUpdateParams{Registry: spec.Registry, Type: workflow.WorkflowType}
	if spec.Schedule != "" {
		p.Schedule = &spec.Schedule
	}
	if spec.Config != "" {
		p.Policy = []byte(spec.Config)
	}
	wf, err := w.s.WorkflowUpdate(ctx, p)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	return w.info(wf), nil
}

func (w storeWorkflows) DeleteWorkflow(ctx context.Context, registry, typ string) error {
	return w.s.WorkflowDelete(ctx, &store.WorkflowDeleteParams{Registry: registry, Type: typ})
}

type testBundle struct {
	engine *workflow.Engine
	srv    *httptest.Server
	client *server.Client
	token  string
}

const reg = "registry.test:5000"

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := workflow.OpenSQLite(ctx, filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e, err := workflow.New(ctx, workflow.SQLite(db), workflow.Config{
		Selector: selector{n: 3}, Scanner: scanner{}, Patcher: patcher{},
		PollInterval: 20 * time.Millisecond, RetryDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(ctx) })
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "store.db"), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	token, err := server.LoadOrCreateToken(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{Runs: e, Workflows: storeWorkflows{st}, Token: token, Collectors: []prometheus.Collector{e.Collector()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := server.NewClient(srv.URL, token, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{engine: e, srv: srv, client: c, token: token}
}

func (b *testBundle) request(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// settle waits until the cycle has a patch run for every image and no
// active run. The engine runs in the background; the API has no push.
func (b *testBundle) settle(t *testing.T, images int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		runs, err := b.engine.ListRuns(context.Background(), workflow.RunFilter{Workflow: reg})
		if err != nil {
			t.Fatal(err)
		}
		active, patches, failed := 0, 0, 0
		for _, r := range runs {
			if r.Status.Active() {
				active++
			}
			if r.Task == workflow.TaskPatch {
				patches++
			}
			if r.Status == workflow.StatusFailed {
				failed++
			}
		}
		if active == 0 && patches == images && failed == 1 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("cycle did not settle: %d runs, %d active, %d patches", len(runs), active, patches)
		}
	}
}

func TestAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("HealthzNeedsNoToken", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		code, body := b.request(t, "GET", "/healthz", "", "")
		if code != 200 || !strings.Contains(body, "ok") {
			t.Fatalf("healthz = %d %s", code, body)
		}
	})

	t.Run("EverythingElseNeedsTheToken", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, ep := range []string{"GET /metrics", "GET /v1/workflows", "POST /v1/workflows", "GET /v1/workflows/" + reg,
			"PATCH /v1/workflows/" + reg, "DELETE /v1/workflows/" + reg, "GET /v1/workflows/" + reg + "/images",
			"POST /v1/workflows/" + reg + "/run", "POST /v1/workflows/" + reg + "/cancel", "GET /v1/runs", "GET /v1/runs/1",
			"GET /v1/runs/1/logs", "GET /nowhere"} {
			method, path, _ := strings.Cut(ep, " ")
			for _, tok := range []string{"", "wrong-token-wrong-token", b.token + "x", strings.ToUpper(b.token)} {
				code, body := b.request(t, method, path, tok, "{}")
				if code != http.StatusUnauthorized || !strings.Contains(body, "bearer token") {
					t.Errorf("%s with token %q = %d %s, want 401", ep, tok, code, body)
				}
			}
		}
		if code, _ := b.request(t, "GET", "/v1/runs", b.token, ""); code != 200 {
			t.Fatalf("GET /v1/runs with the token = %d", code)
		}
	})

	t.Run("MalformedRequestsGet400WithAMessage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, c := range []struct{ method, path, body, want string }{
			{"POST", "/v1/workflows", "{not json", "decoding request body"},
			{"POST", "/v1/workflows", `{"registry":"r","config":"{}","schedule":"1d","colour":"red"}`, "unknown field"},
			{"POST", "/v1/workflows", `{"registry":"r"}`, "needs registry, config and schedule"},
			{"POST", "/v1/workflows", `{"registry":"r","config":"{}","schedule":"1d","dry_run":true,"run_immediately":true}`, "cannot be used together"},
			{"POST", "/v1/workflows", `{"registry":"r","config":"{}","schedule":"31d"}`, "invalid request"},
			{"POST", "/v1/workflows", `{"registry":"r","config":"{}","schedule":"1d"} {}`, "unexpected data"},
			{"PATCH", "/v1/workflows/" + reg, `{}`, "needs config, schedule or both"},
			{"PATCH", "/v1/workflows/" + reg, `{"registry":"other","schedule":"1d"}`, "but the path"},
			{"GET", "/v1/runs/abc", "", "run id"},
			{"GET", "/v1/runs/0/logs", "", "run id"},
			{"GET", "/v1/runs?run-status=bogus", "", "parsing run status"},
			{"GET", "/v1/runs?top=-1", "", "top"},
			{"GET", "/v1/runs?name=cssc-nothing", "", "parsing task name"},
			{"GET", "/v1/workflows/" + reg + "/images?run-status=done", "", "parsing run status"},
		} {
			code, body := b.request(t, c.method, c.path, b.token, c.body)
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s %s = %d %s, want 400 with %q", c.method, c.path, c.body, code, body, c.want)
			}
		}
		if code, body := b.request(t, "GET", "/v1/runs/999", b.token, ""); code != http.StatusNotFound {
			t.Errorf("missing run = %d %s, want 404", code, body)
		}
	})

	t.Run("WorkflowCRUDThroughTheClient", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		spec := server.WorkflowSpec{Registry: reg, Config: `{"version":"v1"}`, Schedule: "7d"}
		info, err := b.client.CreateWorkflow(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if info.Registry != reg || info.Schedule != "7d" || info.Type != workflow.WorkflowType {
			t.Fatalf("created = %+v", info)
		}
		if _, err := b.client.CreateWorkflow(ctx, spec); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second create: err = %v, want ErrExists", err)
		}
		got, err := b.client.GetWorkflow(ctx, reg, "")
		if err != nil || got.Policy != `{"version":"v1"}` {
			t.Fatalf("get = %+v, %v", got, err)
		}
		up, err := b.client.UpdateWorkflow(ctx, server.WorkflowSpec{Registry: reg, Schedule: "3d"})
		if err != nil || up.Schedule != "3d" {
			t.Fatalf("update = %+v, %v", up, err)
		}
		list, err := b.client.ListWorkflows(ctx)
		if err != nil || len(list) != 1 || list[0].Schedule != "3d" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if err := b.client.DeleteWorkflow(ctx, reg, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.GetWorkflow(ctx, reg, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get after delete: err = %v, want ErrNotFound", err)
		}
		if _, err := b.client.RunImmediately(ctx, reg); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("run-now of a deleted workflow: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("RunsLogsAndMetricsMatchTheEngine", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		info, err := b.client.CreateWorkflow(ctx, server.WorkflowSpec{Registry: reg, Config: "{}", Schedule: "1d", RunImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if info.RunID == 0 {
			t.Fatal("create with run_immediately returned no run id")
		}
		b.settle(t, 3)

		rows, err := b.client.ListImages(ctx, reg)
		if err != nil {
			t.Fatal(err)
		}
		want, err := b.engine.ListImages(ctx, reg)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("API rows differ from the engine's:\n%v\n%v", rows, want)
		}
		failed, err := b.client.ListImages(ctx, reg, "failed")
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) != 1 || failed[0].Image != "repo:broken" || !strings.Contains(failed[0].ScanErrorReason, "registry unavailable") {
			t.Fatalf("failed rows = %+v", failed)
		}
		code, body := b.request(t, "GET", "/v1/workflows/"+reg+"/images?run-status=SKIPPED", b.token, "")
		if code != 200 || !strings.Contains(body, `"patch_skipped_reason": "no vulnerability found"`) || strings.Count(body, `"image"`) != 1 {
			t.Fatalf("skipped rows = %d %s", code, body)
		}

		top, err := b.client.ListRuns(ctx, workflow.RunFilter{Task: workflow.TaskPatch, Statuses: []workflow.Status{workflow.StatusSucceeded}, Top: 1})
		if err != nil {
			t.Fatal(err)
		}
		all, err := b.engine.ListRuns(ctx, workflow.RunFilter{Task: workflow.TaskPatch, Statuses: []workflow.Status{workflow.StatusSucceeded}})
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 1 || len(all) != 2 || top[0].ID != all[0].ID || top[0].Result.Tag != all[0].Result.Tag {
			t.Fatalf("top 1 succeeded patch = %+v, engine has %d", top, len(all))
		}
		trig, err := b.client.GetRun(ctx, info.RunID)
		if err != nil || trig.Task != workflow.TaskTrigger || trig.Status != workflow.StatusSucceeded {
			t.Fatalf("trigger run = %+v, %v", trig, err)
		}
		scans, err := b.engine.ListRuns(ctx, workflow.RunFilter{Task: workflow.TaskScan, Image: "repo:broken"})
		if err != nil || len(scans) != 1 {
			t.Fatalf("broken scans = %v, %v", scans, err)
		}
		var apiLog, engineLog bytes.Buffer
		if err := b.client.CopyLog(ctx, scans[0].ID, &apiLog); err != nil {
			t.Fatal(err)
		}
		if err := b.engine.CopyLog(ctx, scans[0].ID, &engineLog); err != nil {
			t.Fatal(err)
		}
		if apiLog.String() != engineLog.String() || strings.Count(apiLog.String(), "registry unavailable") != 3 {
			t.Fatalf("API log differs from the engine's or lacks the 3 attempts:\n%s", apiLog.String())
		}

		code, metrics := b.request(t, "GET", "/metrics", b.token, "")
		if code != 200 {
			t.Fatalf("metrics = %d", code)
		}
		counts := map[string]int{}
		runs, err := b.engine.ListRuns(ctx, workflow.RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			counts[fmt.Sprintf(`patchloop_runs{status="%s",task="%s"} `, r.Status, r.Task)]++
		}
		for line, n := range counts {
			if !strings.Contains(metrics, line+strconv.Itoa(n)+"\n") {
				t.Errorf("metrics lack %s%d", line, n)
			}
		}
		for _, line := range []string{"patchloop_images_patched_total 2\n", "patchloop_cves_fixed_total 4\n",
			"patchloop_scan_duration_seconds_count 6\n", "patchloop_patch_duration_seconds_count 2\n"} {
			if !strings.Contains(metrics, line) {
				t.Errorf("metrics lack %q", line)
			}
		}
	})

	t.Run("CancelThroughTheAPI", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.client.CancelCycle(ctx, reg); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("cancel before any cycle: err = %v, want not found", err)
		}
		if _, err := b.client.CreateWorkflow(ctx, server.WorkflowSpec{Registry: reg, Config: "{}", Schedule: "1d", RunImmediately: true}); err != nil {
			t.Fatal(err)
		}
		b.settle(t, 3)
		canceled, err := b.client.CancelCycle(ctx, reg)
		if err != nil {
			t.Fatal(err)
		}
		if len(canceled) != 0 {
			t.Fatalf("canceled %d runs of a finished cycle", len(canceled))
		}
	})
}
