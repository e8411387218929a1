package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/demo"
	"github.com/patchloop/patchloop/internal/pipeline"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// postgresSchema creates an empty schema in the CI database
// (PATCHLOOP_TEST_POSTGRES) and returns the URL with it as search path.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PATCHLOOP_TEST_POSTGRES")
	if base == "" {
		t.Skip("PATCHLOOP_TEST_POSTGRES is not set (run .ci/start-postgres)")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "serve_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "12")
	u.RawQuery = q.Encode()
	return u.String()
}

// finishedRuns sums patchloop_runs_finished_total on a daemon's /metrics.
func finishedRuns(t *testing.T, d *daemon, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "patchloop_runs_finished_total{") {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q", l)
		}
		n += int(v)
	}
	return n
}

// TestTwoDaemonsOnPostgresSplitA200ImageCycle runs two real daemons on one
// PostgreSQL database over a 200-image cycle (194 images already patched
// and clean, 6 to patch) and checks that each image is scanned once and
// patched at most once, that every finished run was run by exactly one
// daemon, and that both did some of the work.
func TestTwoDaemonsOnPostgresSplitA200ImageCycle(t *testing.T) {
	testutil.RequireSlow(t)
	loc := postgresSchema(t)
	ctx := context.Background()
	bin := buildBinary(t)
	cache := filepath.Join(testutil.CacheDir(), "xdg-cache", "patchloop")
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	built, err := demo.Build(ctx, demo.Config{Repos: repos, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	reg := testutil.StartRegistry(t)
	reg.Push(t, "seed:orig", built.Image)
	// One clean patch, made by the real patcher, for the images that are
	// already patched.
	lc, err := image.NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{
		Registry: func(host string) (*registry.Client, error) { return registry.New(host) },
		Repos:    repos, Cache: lc, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	origDigest, _ := built.Image.Digest()
	res, err := p.Patcher().Patch(ctx, workflow.PatchRequest{Target: workflow.Target{Registry: reg.Addr, Repository: "seed", Tag: "orig",
		OriginalDigest: origDigest.String(), NextTag: "orig-1", Convention: "incremental"}, Workflow: "seed", Cycle: "seed"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := registry.New(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	seedRef, _ := c.Tag("seed", "orig-1")
	clean, err := c.Image(ctx, seedRef)
	if err != nil {
		t.Fatal(err)
	}
	const images, toPatch = 200, 6
	for i := range images {
		tag := fmt.Sprintf("python:t%03d", i)
		reg.Push(t, tag, built.Image)
		if i >= toPatch {
			reg.Push(t, tag+"-1", clean)
		}
	}
	t.Logf("clean patch %s fixed %d", res.Tag, len(res.FixedCVEs))

	env := soakEnv(t, loc)
	env = append(env, "XDG_CONFIG_HOME="+t.TempDir())
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	runBin(t, bin, env, "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "1d", "--run-immediately")
	d1 := startDaemon(t, bin, env, "--workers", "4", "--id", "daemon-1")
	d2 := startDaemon(t, bin, env, "--workers", "4", "--id", "daemon-2")
	deadline := time.Now().Add(6 * time.Minute)
	var runs []workflow.Run
	for {
		runs = listRuns(t, bin, env, reg.Addr)
		if cycleFinished(runs, images) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cycle not finished: %d runs", len(runs))
		}
		time.Sleep(time.Second)
	}
	scans, patches := map[string]int{}, map[string]workflow.Run{}
	executed := 0
	for _, r := range runs {
		switch r.Task {
		case workflow.TaskScan:
			scans[r.Image]++
			executed++
		case workflow.TaskPatch:
			if _, dup := patches[r.Image]; dup {
				t.Fatalf("%s has two patch runs", r.Image)
			}
			patches[r.Image] = r
			if r.Status != workflow.StatusSkipped {
				executed++
			}
		case workflow.TaskTrigger:
			executed++
		}
	}
	for i := range images {
		im := fmt.Sprintf("python:t%03d", i)
		if scans[im] != 1 {
			t.Fatalf("%s scanned %d times", im, scans[im])
		}
		want := workflow.StatusSkipped
		if i < toPatch {
			want = workflow.StatusSucceeded
		}
		if patches[im].Status != want {
			t.Fatalf("%s patch %+v, want %s", im, patches[im], want)
		}
	}
	tok, err := readTokenFile(filepath.Join(envValue(env, "XDG_CONFIG_HOME"), "patchloop", "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := finishedRuns(t, d1, tok), finishedRuns(t, d2, tok)
	t.Logf("daemon 1 finished %d runs, daemon 2 %d; %d runs executed", n1, n2, executed)
	if n1+n2 != executed {
		t.Fatalf("daemons finished %d runs in all, the database has %d: duplicated or lost work", n1+n2, executed)
	}
	if n1 == 0 || n2 == 0 {
		t.Fatalf("work not split: %d and %d", n1, n2)
	}
	for i := range toPatch {
		if got := listTags(t, reg, "python"); contains(got, fmt.Sprintf("t%03d-2", i)) {
			t.Fatalf("t%03d got a second patch tag", i)
		}
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
