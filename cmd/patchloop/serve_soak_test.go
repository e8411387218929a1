package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/demo"
	"github.com/patchloop/patchloop/internal/pipeline"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/workflow"
)

// daemon is one `patchloop serve` process.
type daemon struct {
	cmd  *exec.Cmd
	addr string
}

// soakEnv is the environment of the binary in the daemon tests: its own
// home, the shared test cache for archive indexes and packages.
func soakEnv(t *testing.T, storeLoc string) []string {
	return []string{
		"PATCHLOOP_STORE=" + storeLoc,
		"HOME=" + t.TempDir(),
		"DOCKER_CONFIG=" + t.TempDir(),
		"XDG_CACHE_HOME=" + filepath.Join(testutil.CacheDir(), "xdg-cache"),
		"PATH=" + os.Getenv("PATH"),
	}
}

// startDaemon starts serve and waits for its listening line.
func startDaemon(t *testing.T, bin string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "patchloop serve: listening on http://"); ok {
			d.addr = a
			break
		}
	}
	if d.addr == "" {
		t.Fatal("serve printed no listening address")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return d
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "patchloop")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the binary and fails the test on a non-zero exit.
func runBin(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("patchloop %s: %v\n%s%s", strings.Join(args, " "), err, out, msg)
	}
	return string(out)
}

func listRuns(t *testing.T, bin string, env []string, reg string) []workflow.Run {
	t.Helper()
	var runs []workflow.Run
	if err := json.Unmarshal([]byte(runBin(t, bin, env, "-o", "json", "task", "list-runs", "-r", reg)), &runs); err != nil {
		t.Fatal(err)
	}
	return runs
}

func cycleFinished(runs []workflow.Run, images int) bool {
	patches := 0
	for _, r := range runs {
		if r.Status.Active() {
			return false
		}
		if r.Task == workflow.TaskPatch {
			patches++
		}
	}
	return patches == images
}

// TestServeSurvivesKill9 kills the real daemon with SIGKILL at random
// points of a cycle, restarts it, and checks that every image ends
// patched once and correctly tagged, or failed with a reason; never a
// second or overwritten incremental tag. PATCHLOOP_SOAK=1 runs 20 trials
// (PATCHLOOP_SOAK=N runs N); the normal run does 2.
func TestServeSurvivesKill9(t *testing.T) {
	testutil.RequireSlow(t)
	trials := 2
	if s := os.Getenv("PATCHLOOP_SOAK"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PATCHLOOP_SOAK=%q: want a number of trials", s)
		}
		trials = n
		if n == 1 {
			trials = 20
		}
	}
	bin := buildBinary(t)
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "xdg-cache", "patchloop")})
	if err != nil {
		t.Fatal(err)
	}
	built, err := demo.Build(context.Background(), demo.Config{Repos: repos, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	origDigest, err := built.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	images := []string{"python:a", "python:b", "python:c", "python:d"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for trial := range trials {
		t.Run(fmt.Sprintf("trial%02d", trial), func(t *testing.T) {
			reg := testutil.StartRegistry(t)
			for _, im := range images {
				reg.Push(t, im, built.Image)
			}
			env := soakEnv(t, filepath.Join(t.TempDir(), "p.db"))
			pf := policyFile(t, "incremental", repoEntry("python", "*"))
			runBin(t, bin, env, "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "1d", "--run-immediately")
			args := []string{"--workers", "2", "--job-timeout", "20s", "--rescue-after", "21s"}
			kills := 1 + rng.IntN(2)
			for k := range kills {
				d := startDaemon(t, bin, env, args...)
				delay := time.Duration(200+rng.IntN(6000)) * time.Millisecond
				time.Sleep(delay)
				_ = d.cmd.Process.Signal(syscall.SIGKILL)
				_ = d.cmd.Wait()
				t.Logf("kill %d after %s", k+1, delay)
			}
			d := startDaemon(t, bin, env, args...)
			deadline := time.Now().Add(4 * time.Minute)
			var runs []workflow.Run
			for {
				runs = listRuns(t, bin, env, reg.Addr)
				if cycleFinished(runs, len(images)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("cycle not finished after restart: %+v", runs)
				}
				time.Sleep(500 * time.Millisecond)
			}
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			_ = d.cmd.Wait()

			tags := map[string]bool{}
			for _, tg := range listTags(t, reg, "python") {
				tags[tg] = true
			}
			seen := map[string]int{}
			cycle := ""
			for _, r := range runs {
				if r.Task == workflow.TaskTrigger {
					cycle = r.Cycle
				}
			}
			for _, r := range runs {
				if r.Task != workflow.TaskPatch {
					continue
				}
				seen[r.Image]++
				next := r.Image + "-1"
				switch r.Status {
				case workflow.StatusSucceeded:
					if r.Result.Reused {
						t.Logf("%s: the retry found its own earlier push and recorded it", r.Image)
					}
					desc, err := remote.Get(reg.Ref(t, next))
					if err != nil {
						t.Fatalf("%s recorded but not in the registry: %v", next, err)
					}
					if desc.Digest.String() != r.Result.Digest {
						t.Fatalf("%s is %s, the run recorded %s", next, desc.Digest, r.Result.Digest)
					}
					img, err := desc.Image()
					if err != nil {
						t.Fatal(err)
					}
					m, err := img.Manifest()
					if err != nil {
						t.Fatal(err)
					}
					if m.Annotations[pipeline.AnnotationCycle] != cycle || m.Annotations[patch.AnnotationBaseDigest] != origDigest.String() {
						t.Fatalf("%s annotations %v", next, m.Annotations)
					}
				case workflow.StatusFailed:
					if r.Reason == "" {
						t.Fatalf("failed without a reason: %+v", r)
					}
					t.Logf("%s failed: %s", r.Image, r.Reason)
				default:
					t.Fatalf("patch of %s ended %s", r.Image, r.Status)
				}
			}
			for _, im := range images {
				if seen[im] != 1 {
					t.Fatalf("%s has %d patch runs", im, seen[im])
				}
				_, tag, _ := strings.Cut(im, ":")
				if tags[tag+"-2"] {
					t.Fatalf("%s got a second incremental tag", im)
				}
			}
		})
	}
}

func listTags(t *testing.T, reg *testutil.Registry, repo string) []string {
	t.Helper()
	r := reg.Ref(t, repo+":x").Context()
	list, err := remote.List(r)
	if err != nil {
		t.Fatal(err)
	}
	return list
}
