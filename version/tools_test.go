package version

// The real tools as oracles: dpkg's C implementation (dpkg
// --compare-versions), rpm 4.18's rpm.vercmp in its embedded Lua, and
// apk-tools 2.14 from the Alpine minirootfs fixture under chroot.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type pair struct{ a, b string }

// shards is how many tool processes run at once: the machine has 2 cores.
const shards = 2

func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("oracle %s is not installed (apt-get install %s): %v", name, name, err)
	}
}

// dpkgArg protects a version from being read as an option; dpkg trims
// leading blanks, so the value is unchanged.
func dpkgArg(v string) string {
	if strings.HasPrefix(v, "-") {
		return " " + v
	}
	return v
}

// dpkgRun runs dpkg --compare-versions a op b: true, false, or an error
// when dpkg rejects a version (exit status 2).
func dpkgRun(ctx context.Context, a, op, b string) (bool, error) {
	cmd := exec.CommandContext(ctx, "dpkg", "--compare-versions", dpkgArg(a), op, dpkgArg(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("dpkg --compare-versions %q %s %q: %w: %s", a, op, b, err, strings.TrimSpace(stderr.String()))
}

// dpkgCompare is dpkg's three-way answer for one pair.
func dpkgCompare(ctx context.Context, a, b string) (int, error) {
	lt, err := dpkgRun(ctx, a, "lt", b)
	if err != nil || lt {
		return -1, err
	}
	eq, err := dpkgRun(ctx, a, "eq", b)
	if err != nil || eq {
		return 0, err
	}
	return 1, nil
}

// dpkgAccepts reports whether dpkg compares v at all (it may warn).
func dpkgAccepts(ctx context.Context, v string) bool {
	_, err := dpkgRun(ctx, v, "eq", v)
	return err == nil
}

// dpkgShellLoop compares pairs without blanks in one shell per shard.
const dpkgShellLoop = `while read -r a b; do
  dpkg --compare-versions "$a" lt "$b" 2>/dev/null; r=$?
  if [ $r = 0 ]; then echo '<'; continue; fi
  if [ $r != 1 ]; then echo '!'; continue; fi
  dpkg --compare-versions "$a" eq "$b" 2>/dev/null; r=$?
  if [ $r = 0 ]; then echo '='; elif [ $r = 1 ]; then echo '>'; else echo '!'; fi
done`

// dpkgCompareMany asks dpkg about many pairs of blank-free versions that do
// not start with '-'.
func dpkgCompareMany(t testing.TB, pairs []pair) []int {
	t.Helper()
	requireTool(t, "dpkg")
	return runSharded(t, pairs, func(in string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", dpkgShellLoop)
		cmd.Stdin = strings.NewReader(in)
		return cmd
	})
}

// runSharded splits pairs into shards, one line "a b" each, runs one
// command per shard reading them, and reads one of <, =, > per line back
// as -1, 0, 1, or "!" (the tool refused a version) as 2.
func runSharded(t testing.TB, pairs []pair, command func(input string) *exec.Cmd) []int {
	t.Helper()
	out := make([]int, len(pairs))
	var wg sync.WaitGroup
	errs := make([]error, shards)
	for s := range shards {
		lo, hi := s*len(pairs)/shards, (s+1)*len(pairs)/shards
		wg.Go(func() {
			var in strings.Builder
			for _, p := range pairs[lo:hi] {
				in.WriteString(p.a + " " + p.b + "\n")
			}
			cmd := command(in.String())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			res, err := cmd.Output()
			if err != nil {
				errs[s] = fmt.Errorf("%v: %w: %s", cmd.Args, err, stderr.String())
				return
			}
			lines := strings.Fields(string(res))
			if len(lines) != hi-lo {
				errs[s] = fmt.Errorf("%v: %d answers for %d pairs: %s", cmd.Args, len(lines), hi-lo, stderr.String())
				return
			}
			for i, l := range lines {
				c, err := parseOp(l)
				if err != nil {
					errs[s] = fmt.Errorf("pair %q: %w", pairs[lo+i], err)
					return
				}
				out[lo+i] = c
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func parseOp(s string) (int, error) {
	switch s {
	case "<":
		return -1, nil
	case "=":
		return 0, nil
	case ">":
		return 1, nil
	case "!":
		return 2, nil // the tool refused a version
	}
	return 0, fmt.Errorf("tool answered %q", s)
}

// rpmLua compares the pairs in a file, one "a<TAB>b" per line, with rpm's
// own rpm.vercmp; a version rpm refuses prints "!".
const rpmLua = `%%{lua:
for l in io.lines(%q) do
  local a, b = l:match("^([^\t]*)\t([^\t]*)$")
  local ok, r = pcall(rpm.vercmp, a, b)
  if ok then io.write(r, "\n") else io.write("!\n") end
end
io.flush()
}`

// rpmCompareMany asks rpm about many pairs of versions without tabs or
// newlines, in one rpm process. A refused version is reported as 2.
func rpmCompareMany(t testing.TB, pairs []pair) []int {
	t.Helper()
	requireTool(t, "rpm")
	path := filepath.Join(t.TempDir(), "pairs")
	var in strings.Builder
	for _, p := range pairs {
		in.WriteString(p.a + "\t" + p.b + "\n")
	}
	if err := os.WriteFile(path, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rpm", "--eval", fmt.Sprintf(rpmLua, path))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm --eval: %v: %s", err, stderr.String())
	}
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		if l == "!" {
			out = append(out, 2)
			continue
		}
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("rpm answered %q", l)
		}
		out = append(out, sign(n))
	}
	if len(out) != len(pairs) {
		t.Fatalf("rpm gave %d answers for %d pairs: %s", len(out), len(pairs), stderr.String())
	}
	return out
}

// alpineFixture is the Alpine minirootfs that carries apk-tools 2.14.4.
const alpineFixture = "/work/shared/fixtures/alpine/alpine-minirootfs-3.20.3-x86_64.tar.gz"

var (
	alpineOnce sync.Once
	alpineDir  string
	alpineErr  error
)

// alpineRoot extracts the Alpine minirootfs once per test binary and
// returns its directory. Running apk in it needs chroot, so root.
func alpineRoot(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the apk oracle runs apk-tools under chroot, which needs root")
	}
	requireTool(t, "tar")
	alpineOnce.Do(func() {
		dir, err := os.MkdirTemp("", "patchloop-apk-oracle-")
		if err != nil {
			alpineErr = err
			return
		}
		alpineDir = dir
		out, err := exec.Command("tar", "-xzf", alpineFixture, "-C", dir).CombinedOutput()
		if err != nil {
			alpineErr = fmt.Errorf("extracting %s: %w: %s", alpineFixture, err, out)
		}
	})
	if alpineErr != nil {
		t.Fatal(alpineErr)
	}
	return alpineDir
}

// TestMain removes the extracted Alpine root after all tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if alpineDir != "" {
		os.RemoveAll(alpineDir)
	}
	os.Exit(code)
}

// apkCompareMany asks apk version -t about many pairs of blank-free
// versions, one chrooted shell per shard.
func apkCompareMany(t testing.TB, pairs []pair) []int {
	t.Helper()
	root := alpineRoot(t)
	return runSharded(t, pairs, func(in string) *exec.Cmd {
		cmd := exec.Command("chroot", root, "/bin/sh", "-c",
			`while read -r a b; do /sbin/apk version -t -- "$a" "$b"; done`)
		cmd.Stdin = strings.NewReader(in)
		return cmd
	})
}

// apkInvalid returns the versions that apk version -c refuses.
func apkInvalidSet(t testing.TB, versions []string) map[string]bool {
	t.Helper()
	root := alpineRoot(t)
	bad := map[string]bool{}
	const chunk = 500
	for lo := 0; lo < len(versions); lo += chunk {
		args := []string{root, "/sbin/apk", "version", "-c", "--"}
		args = append(args, versions[lo:min(lo+chunk, len(versions))]...)
		cmd := exec.Command("chroot", args...)
		res, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("apk version -c: %v", err)
		}
		for _, l := range strings.Split(string(res), "\n") {
			if l != "" {
				bad[l] = true
			}
		}
	}
	return bad
}
