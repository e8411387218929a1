package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchloop/patchloop/internal/testutil"
)

// The crash test runs the engine in a child process (this test binary,
// re-executed), kills it with SIGKILL at a random moment of a cycle, starts
// it again, and checks that every image ends patched exactly once under
// its one incremental tag, with the recorded digest being the pushed one.
// Pushes go to a directory standing in for the registry, written
// atomically, so that they survive the kill as a real push would.

const (
	crashChildEnv = "PATCHLOOP_CRASH_CHILD_DIR"
	crashImages   = 12
)

// filePatcher "pushes" a tag by renaming a file holding the cycle, the
// original digest and a fresh digest into dir.
type filePatcher struct{ dir string }

var _ Patcher = filePatcher{}

func (p filePatcher) tagFile(req PatchRequest) string {
	return filepath.Join(p.dir, req.Repository+"_"+req.NextTag)
}

func (p filePatcher) Patch(ctx context.Context, req PatchRequest, log io.Writer) (PatchResult, error) {
	n, _ := rand.Int(rand.Reader, big.NewInt(300))
	select {
	case <-time.After(time.Duration(n.Int64()) * time.Millisecond):
	case <-ctx.Done():
		return PatchResult{}, ctx.Err()
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	digest := "sha256:" + hex.EncodeToString(b)
	tmp, err := os.CreateTemp(p.dir, ".push-*")
	if err != nil {
		return PatchResult{}, err
	}
	fmt.Fprintf(tmp, "%s %s %s", req.Cycle, req.OriginalDigest, digest)
	if err := tmp.Close(); err != nil {
		return PatchResult{}, err
	}
	if err := os.Rename(tmp.Name(), p.tagFile(req)); err != nil {
		return PatchResult{}, err
	}
	// Work after the push (a real patcher pushes the tag last, but the
	// result still has to reach the database) widens the window in which
	// a kill lands between push and record.
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
		return PatchResult{}, ctx.Err()
	}
	return PatchResult{Tag: req.Repository + ":" + req.NextTag, Digest: digest, FixedCVEs: req.CVEs}, nil
}

func (p filePatcher) Pushed(ctx context.Context, req PatchRequest) (PatchResult, bool, error) {
	b, err := os.ReadFile(p.tagFile(req))
	if os.IsNotExist(err) {
		return PatchResult{}, false, nil
	}
	if err != nil {
		return PatchResult{}, false, err
	}
	f := strings.Fields(string(b))
	if len(f) != 3 || f[0] != req.Cycle || f[1] != req.OriginalDigest {
		return PatchResult{}, false, nil
	}
	return PatchResult{Tag: req.Repository + ":" + req.NextTag, Digest: f[2], FixedCVEs: req.CVEs}, true, nil
}

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the crash test's child process")
	}
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(dir, "patchloop.db"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, SQLite(db), Config{
		Selector: &fakeSelector{targets: targets(crashImages)}, Scanner: newFakeScanner(),
		Patcher: filePatcher{dir: filepath.Join(dir, "registry")}, Workers: 3, ID: "crash-child",
		PollInterval: 50 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
		JobTimeout: 3 * time.Second, RescueAfter: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.LatestCycle(ctx, wfKey, false); err != nil {
		if _, err := e.RunImmediately(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
	}
	select {} // until killed
}

func TestCrashRecoveryPatchesEachImageOnce(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	for trial := range 4 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "registry"), 0o755); err != nil {
				t.Fatal(err)
			}
			child := func() *exec.Cmd {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				return cmd
			}
			first := child()
			n, _ := rand.Int(rand.Reader, big.NewInt(2000))
			time.Sleep(200*time.Millisecond + time.Duration(n.Int64())*time.Millisecond) // a random point of the cycle
			if err := first.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = first.Wait()
			second := child()
			t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })

			db, err := OpenSQLite(context.Background(), filepath.Join(dir, "patchloop.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			st := NewSQLiteStore(db)
			deadline := time.Now().Add(3 * time.Minute)
			var patches []Run
			for {
				patches, err = st.ListRuns(context.Background(), RunFilter{Workflow: wfKey, Task: TaskPatch})
				if err != nil {
					t.Fatal(err)
				}
				done := 0
				for _, p := range patches {
					if !p.Status.Active() {
						done++
					}
				}
				if done == crashImages {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the restart only %d of %d patches finished", done, crashImages)
				}
				time.Sleep(250 * time.Millisecond) // polling another process's database
			}
			pushed, err := os.ReadDir(filepath.Join(dir, "registry"))
			if err != nil {
				t.Fatal(err)
			}
			if len(pushed) != crashImages {
				t.Errorf("%d tags pushed for %d images", len(pushed), crashImages)
			}
			all, err := st.ListRuns(context.Background(), RunFilter{Workflow: wfKey})
			if err != nil {
				t.Fatal(err)
			}
			retried, reused := 0, 0
			for _, r := range all {
				if r.Attempt > 1 {
					retried++
				}
				if r.Result.Reused {
					reused++
				}
			}
			t.Logf("killed at %dms; %d runs retried after the kill, %d patches reused an earlier push", 200+n.Int64(), retried, reused)
			for _, p := range patches {
				if p.Status != StatusSucceeded {
					if p.Status != StatusFailed || p.Reason == "" {
						t.Errorf("%s: %s with reason %q", p.Image, p.Status, p.Reason)
					}
					continue
				}
				tg := strings.TrimPrefix(p.Image, "repo:")
				b, err := os.ReadFile(filepath.Join(dir, "registry", "repo_"+tg+"-1"))
				if err != nil {
					t.Errorf("%s: %v", p.Image, err)
					continue
				}
				if f := strings.Fields(string(b)); len(f) != 3 || f[2] != p.Result.Digest {
					t.Errorf("%s: run recorded digest %s but the tag holds %s", p.Image, p.Result.Digest, b)
				}
			}
		})
	}
}
