package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps test-only packages out of the binary. The
// in-process distribution registry (internal/regserver) is allowed: it is
// what `patchloop demo` runs.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, forbidden := range []string{
		"github.com/patchloop/patchloop/internal/testutil",
		"testing",
	} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
				t.Errorf("patchloop depends on %s", dep)
			}
		}
	}
}
