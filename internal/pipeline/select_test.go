package pipeline_test

import (
	"testing"

	"github.com/patchloop/patchloop/internal/pipeline"
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
		if got := pipeline.IsReferrersTag(tag); got != want {
			t.Errorf("IsReferrersTag(%q) = %v", tag, got)
		}
	}
}
