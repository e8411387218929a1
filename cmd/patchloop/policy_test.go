package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	seed := writeFile(t, "continuouspatching.json", seedPolicy)
	r := h.ok("", "policy", "validate", seed)
	if !strings.Contains(r.stderr, "warning: "+seed+":") || !strings.Contains(r.stdout, "valid") {
		t.Fatalf("seed: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = h.ok("", "policy", "validate", seed, "-o", "json")
	var v struct {
		Valid    bool     `json:"valid"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !v.Valid || len(v.Warnings) == 0 {
		t.Fatalf("json: %s (%v)", r.stdout, err)
	}

	bad := writeFile(t, "bad.json", "{\n  \"version\": \"v1\",\n  \"repositories\": [{\"repository\": \"python\", \"tags\": [\"3.11-patched\"]}]\n}\n")
	r = h.fail("", "policy", "validate", bad)
	if !strings.Contains(r.stderr, bad+":3:") || !strings.Contains(r.stderr, "fix the 1 problem above") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	if ws := h.workflows(); len(ws) != 0 {
		t.Fatal("validate touched the store")
	}
	h.fail("", "policy", "validate")
}
