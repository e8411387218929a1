package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// registryTags is a repository as a registry lists it: originals, patch
// tags of both conventions, an orphan patch tag whose original is gone, and
// a -1000 original.
var registryTags = []string{
	"latest", "3.11-2", "jammy-20240111-1", "3.11", "3.12-1000", "3.11-patched",
	"3.10-3", "3.11-1", "jammy-20240111", "3.9", "3.10-patched",
}

// img builds an expected Image; next "" means the error errNext.
func img(repo, tag string, patches []string, next string) Image {
	i := Image{Repository: repo, Tag: tag, PatchTags: patches, NextPatchTag: next}
	if len(patches) > 0 {
		i.LatestPatchTag = patches[len(patches)-1]
	}
	return i
}

func TestSelectRepository(t *testing.T) {
	t.Parallel()
	all := Repository{Name: "python", Tags: []string{"*"}, Enabled: true}
	named := Repository{Name: "python", Tags: []string{"jammy-20240111", "jammy-20240125", "3.11", "3.10"}, Enabled: true}
	tests := []struct {
		name    string
		repo    Repository
		conv    Convention
		tags    []string
		exists  bool
		images  []Image
		missing []Missing
	}{{
		name: "wildcard incremental", repo: all, conv: Incremental, tags: registryTags, exists: true,
		images: []Image{
			img("python", "3.9", nil, "3.9-1"),
			img("python", "3.11", []string{"3.11-1", "3.11-2"}, "3.11-3"),
			img("python", "3.12-1000", nil, "3.12-1000-1"),
			img("python", "jammy-20240111", []string{"jammy-20240111-1"}, "jammy-20240111-2"),
			img("python", "latest", nil, "latest-1"),
		},
	}, {
		name: "wildcard floating", repo: all, conv: Floating, tags: registryTags, exists: true,
		images: []Image{
			img("python", "3.9", nil, "3.9-patched"),
			img("python", "3.11", []string{"3.11-patched"}, "3.11-patched"),
			img("python", "3.12-1000", nil, "3.12-1000-patched"),
			img("python", "jammy-20240111", nil, "jammy-20240111-patched"),
			img("python", "latest", nil, "latest-patched"),
		},
	}, {
		name: "named incremental keeps listed order", repo: named, conv: Incremental, tags: registryTags, exists: true,
		images: []Image{
			img("python", "jammy-20240111", []string{"jammy-20240111-1"}, "jammy-20240111-2"),
			img("python", "3.11", []string{"3.11-1", "3.11-2"}, "3.11-3"),
		},
		missing: []Missing{{Repository: "python", Tag: "jammy-20240125"}, {Repository: "python", Tag: "3.10"}},
	}, {
		name: "named floating", repo: named, conv: Floating, tags: registryTags, exists: true,
		images: []Image{
			img("python", "jammy-20240111", nil, "jammy-20240111-patched"),
			img("python", "3.11", []string{"3.11-patched"}, "3.11-patched"),
		},
		missing: []Missing{{Repository: "python", Tag: "jammy-20240125"}, {Repository: "python", Tag: "3.10"}},
	}, {
		name: "patch numbers sort numerically", repo: all, conv: "", tags: []string{"v1-10", "v1", "v1-9", "v1-2"}, exists: true,
		images: []Image{img("python", "v1", []string{"v1-2", "v1-9", "v1-10"}, "v1-11")},
	}, {
		name: "repeated tags in the inventory count once", repo: all, conv: Incremental, tags: []string{"v1", "v1-1", "v1", "v1-1"}, exists: true,
		images: []Image{img("python", "v1", []string{"v1-1"}, "v1-2")},
	}, {
		name: "repository missing", repo: named, conv: Incremental, exists: false,
		missing: []Missing{
			{Repository: "python", Tag: "jammy-20240111", RepositoryMissing: true},
			{Repository: "python", Tag: "jammy-20240125", RepositoryMissing: true},
			{Repository: "python", Tag: "3.11", RepositoryMissing: true},
			{Repository: "python", Tag: "3.10", RepositoryMissing: true},
		},
	}, {
		name: "wildcard repository missing", repo: all, conv: Incremental, exists: false,
		missing: []Missing{{Repository: "python", Tag: "*", RepositoryMissing: true}},
	}, {
		name: "empty repository", repo: all, conv: Incremental, tags: nil, exists: true,
	}, {
		name: "only patch tags", repo: all, conv: Incremental, tags: []string{"3.11-1", "3.11-patched"}, exists: true,
	}, {
		name: "disabled selects nothing", repo: Repository{Name: "python", Tags: []string{"*"}}, conv: Incremental, tags: registryTags, exists: true,
	}, {
		name: "disabled missing reports nothing", repo: Repository{Name: "python", Tags: []string{"3.11"}}, conv: Incremental, exists: false,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := SelectRepository(tt.repo, tt.conv, tt.tags, tt.exists)
			if len(got.Images) == 0 {
				got.Images = nil
			}
			if !reflect.DeepEqual(got.Images, tt.images) {
				t.Errorf("images:\n%+v\nwant:\n%+v", got.Images, tt.images)
			}
			if !reflect.DeepEqual(got.Missing, tt.missing) {
				t.Errorf("missing = %+v, want %+v", got.Missing, tt.missing)
			}
		})
	}
}

func TestSelectRepositoryAt999(t *testing.T) {
	t.Parallel()
	tags := []string{"3.11", "3.11-998", "3.11-999", "3.12", "3.12-998"}
	got := SelectRepository(Repository{Name: "python", Tags: []string{"*"}, Enabled: true}, Incremental, tags, true)
	if len(got.Images) != 2 {
		t.Fatalf("images = %+v", got.Images)
	}
	full, next := got.Images[0], got.Images[1]
	if full.NextPatchTag != "" || full.NextPatchErr == nil || full.NextPatchErr.Error() != `no more than 999 patches can be created for tag "3.11"` {
		t.Errorf("3.11: next = %q, %v", full.NextPatchTag, full.NextPatchErr)
	}
	if full.LatestPatchTag != "3.11-999" {
		t.Errorf("3.11: latest = %q", full.LatestPatchTag)
	}
	if next.NextPatchTag != "3.12-999" || next.NextPatchErr != nil {
		t.Errorf("3.12: next = %q, %v", next.NextPatchTag, next.NextPatchErr)
	}
}

func TestPolicySelect(t *testing.T) {
	t.Parallel()
	p, _, err := Parse("p.json", []byte(`{"version": "v1", "repositories": [
		{"repository": "ubuntu", "tags": ["jammy-20240111", "jammy-20240125"]},
		{"repository": "python", "tags": ["*"]},
		{"repository": "gone", "tags": ["1.0"]},
		{"repository": "off", "tags": ["*"], "enabled": false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	inventory := map[string][]string{
		"python": {"3.11", "3.11-1"},
		"ubuntu": {"jammy-20240111", "jammy-20240111-1", "jammy-20240111-2"},
		"off":    {"1"},
	}
	got := p.Select(inventory)
	want := Selection{
		Images: []Image{
			img("ubuntu", "jammy-20240111", []string{"jammy-20240111-1", "jammy-20240111-2"}, "jammy-20240111-3"),
			img("python", "3.11", []string{"3.11-1"}, "3.11-2"),
		},
		Missing: []Missing{
			{Repository: "ubuntu", Tag: "jammy-20240125"},
			{Repository: "gone", Tag: "1.0", RepositoryMissing: true},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Select =\n%+v\nwant\n%+v", got, want)
	}
}

// TestSelectMatchesBruteForce compares SelectRepository with a slow,
// obviously-correct selection on random inventories: originals are the
// tags the reserved-suffix regexp does not match, and patch tags are
// found by probing every suffix 1…999.
func TestSelectMatchesBruteForce(t *testing.T) {
	t.Parallel()
	reserved := regexp.MustCompile(ReservedSuffixPattern)
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"1", "2", "10", "a", "-", ".", "-1", "-2", "-999", "-1000", "-patched", "-0"}
	for round := range 300 {
		var tags []string
		seen := map[string]bool{}
		for range rng.IntN(30) {
			var s string
			for range 1 + rng.IntN(4) {
				s += parts[rng.IntN(len(parts))]
			}
			if ValidTag(s) && !seen[s] {
				seen[s] = true
				tags = append(tags, s)
			}
		}
		for _, conv := range []Convention{Incremental, Floating} {
			repo := Repository{Name: "r", Tags: []string{"*"}, Enabled: true}
			if round%2 == 1 && len(tags) > 0 {
				repo.Tags = []string{tags[0], "zz-never"}
			}
			got := SelectRepository(repo, conv, tags, true)

			var originals []string
			for _, tag := range tags {
				if !reserved.MatchString(tag) && (repo.Wildcard() || slices.Contains(repo.Tags, tag)) {
					originals = append(originals, tag)
				}
			}
			if repo.Wildcard() {
				slices.SortFunc(originals, NaturalCompare)
			}
			var want []Image
			for _, o := range originals {
				im := Image{Repository: "r", Tag: o}
				if conv == Floating {
					if seen[o+"-patched"] {
						im.PatchTags = []string{o + "-patched"}
					}
					im.NextPatchTag = o + "-patched"
				} else {
					highest := 0
					for n := 1; n <= 999; n++ {
						if seen[o+"-"+strconv.Itoa(n)] {
							im.PatchTags = append(im.PatchTags, o+"-"+strconv.Itoa(n))
							highest = n
						}
					}
					im.NextPatchTag = o + "-" + strconv.Itoa(highest+1)
					if highest == 999 {
						im.NextPatchTag = ""
					}
				}
				if len(im.PatchTags) > 0 {
					im.LatestPatchTag = im.PatchTags[len(im.PatchTags)-1]
				}
				if len(im.NextPatchTag) > 128 {
					im.NextPatchTag = ""
				}
				want = append(want, im)
			}
			for i := range got.Images {
				got.Images[i].NextPatchErr = nil
			}
			if len(got.Images) == 0 {
				got.Images = nil
			}
			if !reflect.DeepEqual(got.Images, want) {
				t.Fatalf("%s %v on %q:\ngot  %+v\nwant %+v", conv, repo.Tags, tags, got.Images, want)
			}
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	t.Parallel()
	sorted := []string{"", "0", "00", "01", "1", "2", "3.9", "3.10", "3.10.1", "3.11", "3.11-slim", "10", "a", "v2", "v10", "v10a", "vb"}
	for i := range sorted {
		for j := range sorted {
			if got, want := NaturalCompare(sorted[i], sorted[j]), cmpInt(i, j); got != want {
				t.Errorf("NaturalCompare(%q, %q) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
	// A total order on random strings: antisymmetric, transitive, and 0
	// only for equal strings.
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := "0019a.-"
	randStr := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		a, b, c := randStr(), randStr(), randStr()
		ab, bc, ac := NaturalCompare(a, b), NaturalCompare(b, c), NaturalCompare(a, c)
		if ab != -NaturalCompare(b, a) || (ab == 0) != (a == b) {
			t.Fatalf("not antisymmetric on %q %q", a, b)
		}
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("not transitive on %q %q %q", a, b, c)
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// benchTags makes n tags shaped like a busy registry: versioned originals
// with variants, a few dated ones, and 0–3 incremental patches plus
// sometimes a floating one per original, shuffled.
func benchTags(n int) []string {
	rng := rand.New(rand.NewPCG(5, 6))
	variants := []string{"", "-slim", "-alpine", "-bookworm", "-jammy"}
	tags := make([]string, 0, n)
	for i := 0; len(tags) < n; i++ {
		orig := fmt.Sprintf("%d.%d.%d%s", 1+i%4, i/4%40, i/160, variants[i%len(variants)])
		if i%7 == 0 {
			orig = fmt.Sprintf("jammy-2024%04d", i)
		}
		tags = append(tags, orig)
		for k := 1; k <= rng.IntN(4) && len(tags) < n; k++ {
			tags = append(tags, orig+"-"+strconv.Itoa(k))
		}
		if rng.IntN(5) == 0 && len(tags) < n {
			tags = append(tags, orig+"-patched")
		}
	}
	rng.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
	return tags
}

func BenchmarkSelect100kTags(b *testing.B) {
	tags := benchTags(100_000)
	b.Run("one repository wildcard", func(b *testing.B) {
		p := &Policy{Version: "v1", TagConvention: Incremental, Repositories: []Repository{{Name: "big", Tags: []string{"*"}, Enabled: true}}}
		inv := map[string][]string{"big": tags}
		measureCPU(b, func() {
			if s := p.Select(inv); len(s.Images) == 0 {
				b.Fatal("nothing selected")
			}
		})
	})
	b.Run("100 repositories wildcard", func(b *testing.B) {
		p := &Policy{Version: "v1", TagConvention: Incremental}
		inv := map[string][]string{}
		for i := range 100 {
			name := fmt.Sprintf("team/app%d", i)
			p.Repositories = append(p.Repositories, Repository{Name: name, Tags: []string{"*"}, Enabled: true})
			inv[name] = tags[i*1000 : (i+1)*1000]
		}
		measureCPU(b, func() {
			if s := p.Select(inv); len(s.Images) == 0 {
				b.Fatal("nothing selected")
			}
		})
	})
	b.Run("one repository named tags", func(b *testing.B) {
		p := &Policy{Version: "v1", TagConvention: Floating, Repositories: []Repository{{Name: "big", Tags: tags[:50], Enabled: true}}}
		inv := map[string][]string{"big": tags}
		measureCPU(b, func() { p.Select(inv) })
	})
}

// measureCPU runs f b.N times and reports, besides wall time, the CPU time
// per call (cpu-ns/op, garbage collection included), which stays
// meaningful on a loaded machine.
func measureCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	start, ok := cpuTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	if end, ok2 := cpuTime(); ok && ok2 && n > 0 {
		b.ReportMetric(float64(end-start)/float64(n), "cpu-ns/op")
	}
}
