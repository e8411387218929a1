package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/internal/regserver"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
)

// The how-to's own example, trailing comma included.
const seedPolicy = `{
"version": "v1",
"tag-convention" : "incremental",
"repositories": [{
        "repository": "python",
        "tags": ["*"],
        "enabled": true
    },
    {
        "repository": "ubuntu",
        "tags": ["jammy-20240111", "jammy-20240125"],
     "enabled": true, 
    }]
}
`

// inventory is the registry of the issue: originals, patch tags of both
// conventions, a -1000 original and a dated original.
var inventory = []string{"3.11", "3.11-1", "3.11-2", "3.11-patched", "3.12-1000", "jammy-20240111"}

func pushInventory(t *testing.T, reg *testutil.Registry) {
	t.Helper()
	var refs []string
	for _, tag := range inventory {
		refs = append(refs, "python:"+tag, "ubuntu:"+tag)
	}
	reg.PushRandom(t, refs...)
}

func policyFile(t *testing.T, convention string, repos ...string) string {
	t.Helper()
	return writeFile(t, "policy.json", fmt.Sprintf(`{"version": "v1", "tag-convention": %q, "repositories": [%s]}`, convention, strings.Join(repos, ",")))
}

func repoEntry(name string, tags ...string) string {
	b, _ := json.Marshal(tags)
	return fmt.Sprintf(`{"repository": %q, "tags": %s}`, name, b)
}

func policyTags(t *testing.T, reg *testutil.Registry) []string {
	t.Helper()
	tags, err := remote.List(reg.Ref(t, registry.PolicyRepository+":x").Context())
	if err != nil {
		return nil
	}
	return tags
}

func TestDryRunSelection(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	pushInventory(t, reg)

	for _, tc := range []struct {
		name, convention string
		wantLines        []string
	}{
		{"incremental", "incremental", []string{
			"python: 3.11  (latest patch tag: 3.11-2)",
			"python: 3.12-1000  (no patch tag yet)",
			"python: jammy-20240111  (no patch tag yet)",
			"ubuntu: 3.11  (latest patch tag: 3.11-2)",
		}},
		{"floating", "floating", []string{
			"python: 3.11  (latest patch tag: 3.11-patched)",
			"python: 3.12-1000  (no patch tag yet)",
			"python: jammy-20240111  (no patch tag yet)",
			"ubuntu: 3.11  (latest patch tag: 3.11-patched)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pf := policyFile(t, tc.convention,
				repoEntry("python", "*"),
				repoEntry("ubuntu", "3.11", "3.10"),
				repoEntry("ruby", "3.3"),
			)
			r := h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--dry-run", "--show-patch-tags")
			want := strings.Join([]string{
				tc.wantLines[0], tc.wantLines[1], tc.wantLines[2], tc.wantLines[3],
				"Matches found: 4",
				"Tags not found (1):",
				"  ubuntu: 3.10",
				"Repositories not found (1):",
				"  ruby",
			}, "\n") + "\n"
			if !strings.HasPrefix(r.stdout, want) {
				t.Fatalf("stdout:\n%s\nwant it to start with:\n%s", r.stdout, want)
			}
			if !strings.Contains(r.stdout, registry.PolicyRepository+":"+registry.DryRunPolicyTag) {
				t.Fatalf("stdout does not name the dry-run artifact:\n%s", r.stdout)
			}
			if ws := h.workflows(); len(ws) != 0 {
				t.Fatalf("dry run recorded %d workflows", len(ws))
			}
		})
	}
	tags := policyTags(t, reg)
	if len(tags) != 1 || tags[0] != registry.DryRunPolicyTag {
		t.Fatalf("policy tags after dry runs = %v, want only %s", tags, registry.DryRunPolicyTag)
	}
}

func TestDryRunSeedExample(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	pushInventory(t, reg)
	h := newHarness(t)
	pf := writeFile(t, "continuouspatching.json", seedPolicy)
	r := h.ok("", "workflow", "create", "-r", reg.Addr, "-t", "continuouspatchv1", "--config", pf, "--schedule", "1d", "--dry-run")
	if !strings.Contains(r.stderr, "warning: ") || !strings.Contains(r.stderr, "trailing comma") {
		t.Fatalf("no trailing-comma warning on stderr:\n%s", r.stderr)
	}
	want := "python: 3.11\npython: 3.12-1000\npython: jammy-20240111\nubuntu: jammy-20240111\nMatches found: 4\nTags not found (1):\n  ubuntu: jammy-20240125\n"
	if !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("stdout:\n%s\nwant prefix:\n%s", r.stdout, want)
	}

	// The same as JSON.
	r = h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "1d", "--dry-run", "-o", "json")
	var v dryRunView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if v.MatchesFound != 4 || len(v.Images) != 4 || v.Images[0].LatestPatchTag != "3.11-2" || v.Images[0].NextPatchTag != "3.11-3" ||
		len(v.Missing) != 1 || v.Missing[0].Tag != "jammy-20240125" || v.Missing[0].RepositoryMissing {
		t.Fatalf("json view = %+v", v)
	}
}

func TestDryRunOverManyRepositories(t *testing.T) {
	t.Parallel()
	const repos, tagsPer = 200, 50
	reg := startRegistryInMemory(t)
	populate(t, reg, repos, tagsPer)

	var entries []string
	for i := range repos {
		entries = append(entries, repoEntry(fmt.Sprintf("app%03d", i), "*"))
	}
	pf := policyFile(t, "incremental", entries...)
	h := newHarness(t)
	start := time.Now()
	r := h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--dry-run")
	took := time.Since(start)
	if !strings.Contains(r.stdout, fmt.Sprintf("Matches found: %d\n", repos*tagsPer)) {
		t.Fatalf("stdout tail:\n%s", r.stdout[max(0, len(r.stdout)-300):])
	}
	t.Logf("dry run over %d repositories x %d tags: %v", repos, tagsPer, took)
	if took > 5*time.Second {
		t.Fatalf("dry run took %v, want well under 5s", took)
	}
}

// populate fills the registry with repos repositories of tagsPer tags of
// one small image. Pushing and tagging 10,000 times through the API takes
// minutes on a loaded machine, so one repository is pushed through the API
// and the rest is written into the registry's filesystem storage exactly as
// its storage driver lays it out: tags are _manifests/tags/<tag>/current/link
// and index/sha256/<hex>/link files, and a repository directory holds only
// links to content-addressed blobs, so copying it makes another repository.
// The registry then serves all of it over HTTP like anything pushed.
func populate(t *testing.T, reg *testutil.Registry, repos, tagsPer int) {
	t.Helper()
	img := reg.PushRandom(t, "app000:t00")
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(reg.Dir, "docker/registry/v2/repositories")
	first := filepath.Join(root, "app000")
	for j := 1; j < tagsPer; j++ {
		dir := filepath.Join(first, "_manifests/tags", fmt.Sprintf("t%02d", j))
		for _, link := range []string{filepath.Join(dir, "current/link"), filepath.Join(dir, "index", h.Algorithm, h.Hex, "link")} {
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(link, []byte(h.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 1; i < repos; i++ {
		if err := copyTree(first, filepath.Join(root, fmt.Sprintf("app%03d", i))); err != nil {
			t.Fatalf("copying repository: %v", err)
		}
	}
	// The registry itself serves the seeded repositories and tags.
	got, err := remote.List(reg.Ref(t, "app007:t00").Context())
	if err != nil || len(got) != tagsPer {
		t.Fatalf("app007 has %d tags (%v), want %d", len(got), err, tagsPer)
	}
	if d, err := remote.Head(reg.Ref(t, fmt.Sprintf("app%03d:t%02d", repos-1, tagsPer-1))); err != nil || d.Digest != h {
		t.Fatalf("seeded tag resolves to %v, %v; want %s", d, err, h)
	}
}

// copyTree copies a tree of directories and small files.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// startRegistryInMemory starts the real registry like testutil.StartRegistry
// but keeps its storage on tmpfs when the machine has one: tens of thousands
// of tag files are slow to create and remove on a busy disk.
func startRegistryInMemory(t *testing.T) *testutil.Registry {
	t.Helper()
	dir := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "patchloop-registry-"); err == nil {
			dir = d
			t.Cleanup(func() { _ = os.RemoveAll(d) })
		}
	}
	srv, err := regserver.Start(context.Background(), regserver.Config{Dir: dir})
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &testutil.Registry{Server: srv}
}

func TestWorkflowRoundTrip(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	pushInventory(t, reg)
	h := newHarness(t)
	ctx := context.Background()
	pf := writeFile(t, "continuouspatching.json", seedPolicy)

	// 2026-01-03 10:00 UTC, 7d: Jan 7 is the first multiple of 7 after it.
	r := h.ok("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")
	if !strings.Contains(r.stdout, "Next run: 2026-01-07T10:00:00Z\n") {
		t.Fatalf("create stdout:\n%s", r.stdout)
	}
	ws := h.workflows()
	if len(ws) != 1 || ws[0].Registry != reg.Addr || ws[0].Schedule != "7d" || !ws[0].ScheduleSetAt.Equal(h.now) {
		t.Fatalf("stored = %+v", ws)
	}
	c, err := registry.New(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := c.PullPolicy(ctx, registry.PolicyTag)
	if err != nil {
		t.Fatalf("policy artifact: %v", err)
	}
	if string(pushed) != string(ws[0].Policy) {
		t.Fatalf("artifact %s differs from stored policy %s", pushed, ws[0].Policy)
	}
	d, err := remote.Head(reg.Ref(t, registry.PolicyRepository+":"+registry.PolicyTag))
	if err != nil || d.Digest.String() != ws[0].PolicyDigest {
		t.Fatalf("artifact digest %v (%v), stored %s", d, err, ws[0].PolicyDigest)
	}

	// Creating again points at update and changes nothing.
	h.now = h.now.Add(time.Hour)
	r = h.fail("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "3d")
	if line := oneLine(t, r.stderr); !strings.Contains(line, "already exists") || !strings.Contains(line, "workflow update") {
		t.Fatalf("create twice: %s", line)
	}

	// Show, as a table and as JSON, on Jan 8.
	h.now = time.Date(2026, 1, 8, 12, 0, 0, 0, time.UTC)
	r = h.ok("", "workflow", "show", "-r", reg.Addr)
	for _, want := range []string{"Schedule:", "7d", "10:00 UTC", "2026-01-14T10:00:00Z", "2 repositories", "python: *", "ubuntu: jammy-20240111, jammy-20240125", "Created:", "2026-01-03T10:00:00Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = h.ok("", "workflow", "show", "-r", reg.Addr, "-o", "json")
	var v workflowView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("show json: %v\n%s", err, r.stdout)
	}
	if v.NextRun != "2026-01-14T10:00:00Z" || v.TimeOfDay != "10:00 UTC" || v.Type != "continuouspatchv1" || len(v.Policy.Repositories) != 2 ||
		v.Policy.TagConvention != "incremental" || v.CreatedAt != "2026-01-03T10:00:00Z" || v.PolicyDigest != ws[0].PolicyDigest {
		t.Fatalf("show json = %+v", v)
	}

	// Update the policy only: the schedule and its time of day stay.
	pf2 := policyFile(t, "floating", repoEntry("python", "3.11"))
	r = h.ok("", "workflow", "update", "-r", reg.Addr, "--config", pf2)
	if !strings.Contains(r.stdout, "Next run: 2026-01-14T10:00:00Z\n") {
		t.Fatalf("update stdout:\n%s", r.stdout)
	}
	ws = h.workflows()
	if !ws[0].ScheduleSetAt.Equal(time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)) || !strings.Contains(string(ws[0].Policy), "floating") || !ws[0].UpdatedAt.Equal(h.now) {
		t.Fatalf("after config update: %+v", ws[0])
	}
	pushed, err = c.PullPolicy(ctx, registry.PolicyTag)
	if err != nil || !strings.Contains(string(pushed), "floating") {
		t.Fatalf("artifact after update: %s, %v", pushed, err)
	}

	// Update the schedule: it counts from now, Jan 8 12:00 → multiples of 3.
	r = h.ok("", "workflow", "update", "-r", reg.Addr, "--schedule", "3d")
	if !strings.Contains(r.stdout, "Next run: 2026-01-09T12:00:00Z\n") {
		t.Fatalf("schedule update stdout:\n%s", r.stdout)
	}
	ws = h.workflows()
	if ws[0].Schedule != "3d" || !ws[0].ScheduleSetAt.Equal(h.now) || !strings.Contains(string(ws[0].Policy), "floating") {
		t.Fatalf("after schedule update: %+v", ws[0])
	}

	// Neither flag is an error.
	r = h.fail("", "workflow", "update", "-r", reg.Addr)
	if line := oneLine(t, r.stderr); !strings.Contains(line, "--config") || !strings.Contains(line, "--schedule") {
		t.Fatalf("update without flags: %s", line)
	}

	// Delete: the artifacts and the stored workflow go.
	if _, err := c.PushPolicy(ctx, registry.DryRunPolicyTag, []byte(`{"version":"v1"}`)); err != nil {
		t.Fatal(err)
	}
	r = h.ok("", "workflow", "delete", "-r", reg.Addr, "--yes")
	if !strings.Contains(r.stdout, "2 manifests removed") {
		t.Fatalf("delete stdout:\n%s", r.stdout)
	}
	if ws := h.workflows(); len(ws) != 0 {
		t.Fatalf("workflows after delete: %+v", ws)
	}
	for _, tag := range []string{registry.PolicyTag, registry.DryRunPolicyTag} {
		ref, err := c.Tag(registry.PolicyRepository, tag)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.Exists(ctx, ref); ok || err != nil {
			t.Fatalf("%s after delete: exists=%v err=%v", tag, ok, err)
		}
	}
	if tags := policyTags(t, reg); len(tags) != 0 {
		t.Fatalf("policy tags after delete: %v", tags)
	}
	r = h.fail("", "workflow", "show", "-r", reg.Addr)
	if line := oneLine(t, r.stderr); !strings.Contains(line, "no continuouspatchv1 workflow") || !strings.Contains(line, "workflow create") {
		t.Fatalf("show after delete: %s", line)
	}
}

func TestStoreFlagOverridesEnvironment(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	h := newHarness(t)
	other := filepath.Join(t.TempDir(), "other.db")
	pf := policyFile(t, "incremental", repoEntry("python", "*"))
	h.ok("", "--store", "sqlite://"+other, "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")
	h.storeUntouched()
	r := h.ok("", "--store", other, "workflow", "show", "-r", reg.Addr, "-o", "json")
	if !strings.Contains(r.stdout, `"schedule": "7d"`) {
		t.Fatalf("show from --store: %s", r.stdout)
	}
	// The environment's store has no such workflow.
	r = h.fail("", "workflow", "show", "-r", reg.Addr)
	if !strings.Contains(r.stderr, "no continuouspatchv1 workflow") {
		t.Fatalf("show from PATCHLOOP_STORE: %s", r.stderr)
	}
}

func TestJSONOutputs(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	h := newHarness(t)
	pf := policyFile(t, "floating", repoEntry("python", "3.11"))

	var created, updated workflowView
	r := h.ok("", "-o", "json", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "3d")
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("create json: %v\n%s", err, r.stdout)
	}
	// Set 2026-01-03 10:00: the multiples of 3 after it start at the 6th.
	if created.NextRun != "2026-01-06T10:00:00Z" || created.Policy.TagConvention != "floating" || created.Schedule != "3d" {
		t.Fatalf("create json = %+v", created)
	}
	r = h.ok("", "-o", "json", "workflow", "update", "-r", reg.Addr, "--schedule", "1d")
	if err := json.Unmarshal([]byte(r.stdout), &updated); err != nil {
		t.Fatalf("update json: %v\n%s", err, r.stdout)
	}
	if updated.NextRun != "2026-01-04T10:00:00Z" || updated.Schedule != "1d" || updated.CreatedAt != created.CreatedAt {
		t.Fatalf("update json = %+v", updated)
	}
	r = h.ok("", "-o", "json", "workflow", "delete", "-r", reg.Addr, "--yes")
	var deleted struct {
		Deleted          bool     `json:"deleted"`
		DeletedManifests []string `json:"deletedManifests"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &deleted); err != nil || !deleted.Deleted || len(deleted.DeletedManifests) != 1 || deleted.DeletedManifests[0] != updated.PolicyDigest {
		t.Fatalf("delete json: %s (%v)", r.stdout, err)
	}
}
