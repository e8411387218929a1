package policy_test

import (
	"testing"

	"github.com/patchloop/patchloop/policy"
)

func TestIsReferrersTag(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string]bool{
		"sha256-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": true,
		"sha256-" + "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef": false,
		"sha256-0123": false,
		"3.11-1":      false,
		"sha256-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig": false,
	} {
		if got := policy.IsReferrersTag(tag); got != want {
			t.Errorf("IsReferrersTag(%q) = %v", tag, got)
		}
	}
}

func TestSelectSkipsReferrersFallbackTags(t *testing.T) {
	t.Parallel()
	vexTag := "sha256-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	r := policy.Repository{Name: "python", Tags: []string{policy.Wildcard}, Enabled: true}
	sel := policy.SelectRepository(r, policy.Incremental, []string{"3.11", vexTag, "3.11-1"}, true)
	if len(sel.Images) != 1 || sel.Images[0].Tag != "3.11" || sel.Images[0].LatestPatchTag != "3.11-1" {
		t.Fatalf("selected %+v, want only 3.11 with patch 3.11-1", sel.Images)
	}
}
