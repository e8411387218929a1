package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps test-only and server-side modules out of the
// binary: the in-process registry is for tests.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, forbidden := range []string{
		"github.com/distribution/distribution/v3",
		"github.com/patchloop/patchloop/internal/testutil",
		"github.com/patchloop/patchloop/internal/regserver",
	} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
				t.Errorf("patchloop depends on %s", dep)
			}
		}
	}
}
