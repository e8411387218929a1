package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/internal/testutil"
)

// TestBinary builds patchloop once and drives it as a user would: real
// process, real stdin pipe, real exit codes.
func TestBinary(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "patchloop")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const user, pass = "dave", "binary-test-password-77"
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(basicAuth(user, pass)))
	storePath := filepath.Join(t.TempDir(), "p.db")
	pf := policyFile(t, "incremental", repoEntry("python", "*"))

	run := func(stdin string, args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATCHLOOP_STORE=" + storePath, "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + t.TempDir()}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String()+errb.String(), pass) {
			t.Fatalf("password printed by %v", args)
		}
		return out.String(), errb.String(), code
	}

	out, _, code := run("", "workflow", "schedule", "--schedule", "7d", "--from", "2026-01-03T10:00:00Z", "--count", "2")
	if code != 0 || out != "2026-01-07T10:00:00Z\n2026-01-14T10:00:00Z\n" {
		t.Fatalf("schedule: exit %d, %q", code, out)
	}
	_, errOut, code := run("", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d")
	if code == 0 || !strings.Contains(errOut, "unauthorized (401)") {
		t.Fatalf("create without credentials: exit %d, %q", code, errOut)
	}
	out, errOut, code = run(pass+"\n", "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "7d", "--username", user, "--password-stdin")
	if code != 0 || !strings.Contains(out, "Next run: ") {
		t.Fatalf("create: exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = run("y\n", "workflow", "delete", "-r", reg.Addr, "--username", user, "--password-stdin")
	if code == 0 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("delete without --yes from a pipe: exit %d, %q", code, errOut)
	}
	_, _, code = run("", "-o", "yaml", "workflow", "schedule", "--schedule", "7d")
	if code == 0 {
		t.Fatal("-o yaml accepted")
	}
}
