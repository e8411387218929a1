package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The reference's test vectors: schedule set at 10:00 UTC on the date.
func TestWorkflowScheduleVectors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		schedule, from string
		want           []string
	}{
		{"7d", "2026-01-03T10:00:00Z", []string{"2026-01-07", "2026-01-14", "2026-01-21", "2026-01-28", "2026-02-01", "2026-02-08"}},
		{"3d", "2026-01-07T10:00:00Z", []string{"2026-01-09", "2026-01-12"}},
		{"1d", "2026-01-31T10:00:00Z", []string{"2026-02-01", "2026-02-02"}},
		{"30d", "2026-02-02T10:00:00Z", []string{"2026-03-01", "2026-03-31", "2026-04-01"}},
	} {
		var want []string
		for _, d := range tc.want {
			want = append(want, d+"T10:00:00Z")
		}
		r := h.ok("", "workflow", "schedule", "--schedule", tc.schedule, "--from", tc.from, "--count", itoa(len(want)))
		if got := strings.Fields(r.stdout); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s from %s: got %v, want %v", tc.schedule, tc.from, got, want)
		}
		r = h.ok("", "workflow", "schedule", "--schedule", tc.schedule, "--from", tc.from, "--count", itoa(len(want)), "-o", "json")
		var got []string
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("json: %s (%v)", r.stdout, err)
		}
	}
}

func TestWorkflowScheduleDefaultsToNow(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // now is 2026-01-03T10:00:00Z
	r := h.ok("", "workflow", "schedule", "--schedule", "7d", "--count", "1")
	if r.stdout != "2026-01-07T10:00:00Z\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestWorkflowScheduleRejects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, args := range [][]string{
		{"--schedule", "0d"}, {"--schedule", "31d"}, {"--schedule", "7"}, {"--schedule", "1w"}, {"--schedule", "7 d"},
		{"--schedule", "7d", "--from", "yesterday"},
		{"--schedule", "7d", "--count", "0"},
		{},
	} {
		r := h.fail("", append([]string{"workflow", "schedule"}, args...)...)
		oneLine(t, r.stderr)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
