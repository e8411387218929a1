package policy

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParsePatchTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag  string
		want PatchTag
		ok   bool
	}{
		{"3.11-1", PatchTag{"3.11", Incremental, 1}, true},
		{"3.11-42", PatchTag{"3.11", Incremental, 42}, true},
		{"3.11-999", PatchTag{"3.11", Incremental, 999}, true},
		{"3.11-patched", PatchTag{"3.11", Floating, 0}, true},
		{"jammy-20240111-1", PatchTag{"jammy-20240111", Incremental, 1}, true},
		{"a-1-2", PatchTag{"a-1", Incremental, 2}, true},
		{"a--1", PatchTag{"a-", Incremental, 1}, true},
		{"x-patched-patched", PatchTag{"x-patched", Floating, 0}, true},
		{"3.11", PatchTag{}, false},
		{"3.11-1000", PatchTag{}, false},
		{"jammy-20240111", PatchTag{}, false},
		{"3.11-0", PatchTag{}, false},
		{"3.11-01", PatchTag{}, false},
		{"3.11-1a", PatchTag{}, false},
		{"3.11_1", PatchTag{}, false},
		{"-1", PatchTag{}, false},
		{"-patched", PatchTag{}, false},
		{"patched", PatchTag{}, false},
		{"1", PatchTag{}, false},
		{"", PatchTag{}, false},
	}
	for _, tt := range tests {
		got, ok := ParsePatchTag(tt.tag)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParsePatchTag(%q) = %+v, %v; want %+v, %v", tt.tag, got, ok, tt.want, tt.ok)
		}
		if ok && got.String() != tt.tag {
			t.Errorf("ParsePatchTag(%q).String() = %q", tt.tag, got.String())
		}
	}
}

// FuzzParsePatchTag checks the fast hand-written parser against the
// reserved-suffix regular expression the policy and schema use.
func FuzzParsePatchTag(f *testing.F) {
	for _, s := range []string{"3.11-1", "3.11-999", "3.11-1000", "x-patched", "a-01", "-1", "a--9"} {
		f.Add(s)
	}
	suffix := regexp.MustCompile(ReservedSuffixPattern)
	f.Fuzz(func(t *testing.T, tag string) {
		p, ok := ParsePatchTag(tag)
		if !ValidTag(tag) {
			return // registries never list such tags
		}
		if ok != suffix.MatchString(tag) {
			t.Fatalf("ParsePatchTag(%q) ok = %v, regexp says %v", tag, ok, !ok)
		}
		if ok {
			if want := suffix.ReplaceAllString(tag, ""); p.Original != want {
				t.Fatalf("ParsePatchTag(%q).Original = %q, regexp leaves %q", tag, p.Original, want)
			}
			if p.String() != tag {
				t.Fatalf("ParsePatchTag(%q).String() = %q", tag, p.String())
			}
		}
	})
}

func TestNextPatchTag(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 126)
	tests := []struct {
		name     string
		conv     Convention
		original string
		existing []string
		want     string
		wantErr  string
	}{
		{"first incremental", Incremental, "3.11", []string{"3.11", "3.12-4"}, "3.11-1", ""},
		{"zero convention is incremental", "", "3.11", nil, "3.11-1", ""},
		{"highest plus one", Incremental, "3.11", []string{"3.11", "3.11-1", "3.11-2"}, "3.11-3", ""},
		{"gaps are not filled", Incremental, "3.11", []string{"3.11-5", "3.11-1", "3.11-10", "3.11-9"}, "3.11-11", ""},
		{"other tags ignored", Incremental, "3.11", []string{"3.11.1-7", "3.1-9", "3.11-patched", "3.11-1000", "3.11-07", "x3.11-4"}, "3.11-1", ""},
		{"the 999th", Incremental, "3.11", []string{"3.11-998"}, "3.11-999", ""},
		{"past 999", Incremental, "3.11", []string{"3.11-3", "3.11-999"}, "", `no more than 999 patches can be created for tag "3.11"`},
		{"original with a big number suffix", Incremental, "jammy-20240530", []string{"jammy-20240530-1"}, "jammy-20240530-2", ""},
		{"floating", Floating, "3.11", []string{"3.11-patched", "3.11-4"}, "3.11-patched", ""},
		{"floating ignores the 999 limit", Floating, "3.11", []string{"3.11-999"}, "3.11-patched", ""},
		{"longest original", Incremental, long, nil, long + "-1", ""},
		{"too long", Incremental, long + "vv", nil, "", `patch tag "` + long + `vv-1" of tag "` + long + `vv" would be longer than 128 characters`},
		{"patch tag as original", Incremental, "3.11-2", nil, "", `tag "3.11-2" is a patch tag, not an original tag`},
		{"invalid original", Incremental, "a b", nil, "", `tag "a b" is not a valid tag`},
		{"unknown convention", Convention("weekly"), "3.11", nil, "", `unknown tag convention "weekly"; use "incremental" or "floating"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NextPatchTag(tt.conv, tt.original, tt.existing)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("NextPatchTag = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NextPatchTag = %q, %v; want %q", got, err, tt.want)
			}
			if p, ok := ParsePatchTag(got); !ok || p.Original != tt.original || !reflect.DeepEqual(p.Convention, tt.conv.orDefault()) {
				t.Errorf("result %q does not parse back as a patch of %q", got, tt.original)
			}
		})
	}
}
