package version

// Oracle tests: thousands of real and derived version pairs, each compared
// by our code and by the family's real tool. They also measure the knqyf263
// libraries against the same tools and log where those disagree.

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	apkver "github.com/knqyf263/go-apk-version"
	debver "github.com/knqyf263/go-deb-version"
	rpmver "github.com/knqyf263/go-rpm-version"

	"github.com/patchloop/patchloop/internal/testutil"
)

// checkAgainstTool compares ours (and a library's) answers with the tool's.
// A tool answer of 2 means the tool refused a version: ours must refuse it
// too, and the library is not judged on it.
func checkAgainstTool(t *testing.T, tool string, pairs []pair, want []int,
	ours func(a, b string) (int, error), libName string, lib func(a, b string) (int, error)) {
	t.Helper()
	var oursWrong, libWrong, libRefused, refused int
	for i, p := range pairs {
		got, err := ours(p.a, p.b)
		switch {
		case want[i] == 2:
			refused++
			if err == nil {
				oursWrong++
				if oursWrong <= 20 {
					t.Errorf("%s refuses %q vs %q; we compare them: %d", tool, p.a, p.b, got)
				}
			}
			continue
		case err != nil:
			oursWrong++
			if oursWrong <= 20 {
				t.Errorf("%s compares %q vs %q: %d; we refuse: %v", tool, p.a, p.b, want[i], err)
			}
		case got != want[i]:
			oursWrong++
			if oursWrong <= 20 {
				t.Errorf("%q vs %q: %s says %d, we say %d", p.a, p.b, tool, want[i], got)
			}
		}
		if lib == nil {
			continue
		}
		lg, lerr := lib(p.a, p.b)
		switch {
		case lerr != nil:
			libRefused++
			if libRefused <= 5 {
				t.Logf("%s refuses %q vs %q (%s: %d): %v", libName, p.a, p.b, tool, want[i], lerr)
			}
		case sign(lg) != want[i]:
			libWrong++
			if libWrong <= 15 {
				t.Logf("%s disagrees: %q vs %q: %s says %d, library %d", libName, p.a, p.b, tool, want[i], sign(lg))
			}
		}
	}
	if oursWrong > 0 {
		t.Errorf("we disagree with %s on %d of %d pairs", tool, oursWrong, len(pairs))
	}
	t.Logf("SUMMARY %s: %d pairs checked against %s (%d refused by it); ours disagree on %d",
		t.Name(), len(pairs), tool, refused, oursWrong)
	if lib != nil {
		t.Logf("SUMMARY %s: %s disagrees with %s on %d pairs and refuses %d that %s compares",
			t.Name(), libName, tool, libWrong, libRefused, tool)
	}
}

func libDeb(a, b string) (int, error) {
	va, err := debver.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := debver.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func libRPM(a, b string) (int, error) {
	return rpmver.NewVersion(a).Compare(rpmver.NewVersion(b)), nil
}

func libAPK(a, b string) (int, error) {
	va, err := apkver.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := apkver.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func TestDebAgreesWithDpkgOnArchiveVersions(t *testing.T) {
	testutil.RequireSlow(t)
	pairs := debArchivePairs(t)
	if len(pairs) < 10000 {
		t.Fatalf("only %d pairs drawn from the archive, want at least 10000", len(pairs))
	}
	want := dpkgCompareMany(t, pairs)
	checkAgainstTool(t, "dpkg", pairs, want, DebComparer{}.Compare, "go-deb-version", libDeb)
}

func TestRPMAgreesWithRPMOnArchiveVersions(t *testing.T) {
	testutil.RequireSlow(t)
	pairs := debArchivePairs(t)
	s := newPairSet(2)
	for _, p := range pairs {
		s.add(p.a, p.b)
	}
	// rpm's own notations around real versions.
	all := distinctVersions(archiveVersions(t))
	for range 3000 {
		v := all[s.rng.IntN(len(all))]
		s.add(v, rpmMutation(s.rng, v))
	}
	if len(s.pairs) < 10000 {
		t.Fatalf("only %d pairs, want at least 10000", len(s.pairs))
	}
	want := rpmCompareMany(t, s.pairs)
	checkAgainstTool(t, "rpm", s.pairs, want, RPMComparer{}.Compare, "go-rpm-version", libRPM)
}

// rpmMutation derives a version around v in rpm's notations: '~'
// pre-releases, '^' snapshots, epochs, releases.
func rpmMutation(rng *rand.Rand, v string) string {
	switch rng.IntN(8) {
	case 0:
		return v + "^git1"
	case 1:
		return v + "~rc1"
	case 2:
		return v + "^"
	case 3:
		return "1:" + v
	case 4:
		return "0:" + v
	case 5:
		if h := strings.LastIndexByte(v, '-'); h > 0 {
			return v[:h] // no release
		}
		return v + "-1.el9"
	case 6:
		if h := strings.LastIndexByte(v, '-'); h > 0 {
			return v[:h] + "^20240101" + v[h:]
		}
		return v + "^20240101"
	default:
		return v + ".0~beta"
	}
}

// apkSuffixes and apkRevisions build apk versions around a base version.
var (
	apkSuffixes  = []string{"", "", "_alpha", "_alpha1", "_beta2", "_pre1", "_rc", "_rc3", "_cvs", "_svn1", "_git20230101", "_hg2", "_p", "_p1", "_p10", "a", "b", "_rc1_p2", "_p1_p2"}
	apkRevisions = []string{"", "-r0", "-r1", "-r2", "-r10"}
)

func TestAPKAgreesWithApkToolsOnArchiveVersions(t *testing.T) {
	testutil.RequireSlow(t)
	byName := archiveVersions(t)
	rng := rand.New(rand.NewPCG(3, 3))

	// Upstream parts of the archive's versions: many are valid apk
	// versions, many are not. Both our validity and apk's must agree.
	upstream := func(v string) string {
		d, err := ParseDeb(v)
		if err != nil {
			return v
		}
		return d.Upstream()
	}
	var candidates []string
	seen := map[string]bool{}
	for _, v := range distinctVersions(byName) {
		u := upstream(v)
		if !seen[u] {
			seen[u] = true
			candidates = append(candidates, u)
		}
	}
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	probe := candidates[:min(6000, len(candidates))]
	bad := apkInvalidSet(t, probe)
	var valid []string
	var validityWrong int
	for _, v := range probe {
		ours := apkValid(v)
		if ours == bad[v] {
			validityWrong++
			if validityWrong <= 20 {
				t.Errorf("apk version -c says %q valid=%v, we say %v", v, !bad[v], ours)
			}
		}
		if ours && !bad[v] {
			valid = append(valid, v)
		}
	}
	t.Logf("SUMMARY %s: validity of %d archive upstream versions checked against apk version -c (%d valid); ours disagree on %d",
		t.Name(), len(probe), len(valid), validityWrong)

	s := newPairSet(4)
	// Suffix and revision combinations around valid bases.
	var generated []string
	for range 150 {
		base := valid[rng.IntN(len(valid))]
		var group []string
		for range 6 {
			g := base + apkSuffixes[rng.IntN(len(apkSuffixes))] + apkRevisions[rng.IntN(len(apkRevisions))]
			if apkValid(g) {
				group = append(group, g)
			}
		}
		for i := range group {
			for j := i + 1; j < len(group); j++ {
				s.add(group[i], group[j])
			}
		}
		generated = append(generated, group...)
	}
	pool := append(slices.Clone(valid), generated...)
	slices.Sort(pool)
	pool = slices.Compact(pool)
	s.addSample(neighbours(pool, apkCompare), 800)
	s.addSample(neighbours(pool, strings.Compare), 400)
	for range 400 {
		s.add(pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))])
	}
	// Same package across suites, where both upstreams are apk-valid.
	var same []pair
	for _, p := range sameName(rng, byName) {
		a, b := upstream(p.a), upstream(p.b)
		if a != b && apkValid(a) && apkValid(b) {
			same = append(same, pair{a, b})
		}
	}
	s.addSample(same, 500)

	want := apkCompareMany(t, s.pairs)
	checkAgainstTool(t, "apk", s.pairs, want, APKComparer{}.Compare, "go-apk-version", libAPK)
}

// randomVersion joins a few random pieces: a cheap grammar-aware fuzzer
// whose outputs the real tools judge.
func randomVersion(rng *rand.Rand, pieces []string, maxPieces int) string {
	var b strings.Builder
	for range 1 + rng.IntN(maxPieces) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// randomPairs draws n pairs of random versions; a third of them share a
// prefix, so that comparisons run deep before they differ.
func randomPairs(seed uint64, n int, pieces []string, maxPieces int) []pair {
	s := newPairSet(seed)
	for len(s.pairs) < n {
		a := randomVersion(s.rng, pieces, maxPieces)
		var b string
		if s.rng.IntN(3) == 0 {
			b = a + randomVersion(s.rng, pieces, 2)
		} else {
			b = randomVersion(s.rng, pieces, maxPieces)
		}
		s.add(a, b)
	}
	return s.pairs
}

func TestDebRandomVersionsAgreeWithDpkg(t *testing.T) {
	testutil.RequireSlow(t)
	pieces := []string{"0", "1", "2", "9", "00", "10", ".", "+", "~", "-", ":", "a", "Z", "z", "b", "dfsg", "deb12u", "ubuntu", "~bpo"}
	pairs := randomPairs(5, 1500, pieces, 7)
	for i, p := range pairs {
		// The shell loop cannot pass a leading '-' (dpkg reads an option).
		if strings.HasPrefix(p.a, "-") {
			pairs[i].a = "1" + p.a
		}
		if strings.HasPrefix(p.b, "-") {
			pairs[i].b = "1" + p.b
		}
	}
	want := dpkgCompareMany(t, pairs)
	checkAgainstTool(t, "dpkg", pairs, want, DebComparer{}.Compare, "go-deb-version", libDeb)
}

func TestRPMRandomVersionsAgreeWithRPM(t *testing.T) {
	testutil.RequireSlow(t)
	pieces := []string{"0", "1", "2", "9", "00", "10", ".", "_", "+", "~", "^", "-", ":", "a", "Z", "rc", "git", "el9", "é"}
	pairs := randomPairs(6, 5000, pieces, 7)
	want := rpmCompareMany(t, pairs)
	checkAgainstTool(t, "rpm", pairs, want, RPMComparer{}.Compare, "go-rpm-version", libRPM)
}

func TestAPKRandomVersionsAgreeWithApkTools(t *testing.T) {
	testutil.RequireSlow(t)
	pieces := []string{"0", "1", "2", "9", "00", "10", ".", ".0", "_", "-r", "-r1", "-", "a", "z", "A", "~",
		"_alpha", "_beta", "_pre", "_rc", "_cvs", "_svn", "_git", "_hg", "_p", "alpha", "p"}
	pairs := randomPairs(7, 800, pieces, 6)
	want := apkCompareMany(t, pairs)
	// apk version -t orders invalid versions too; apkCompare must agree
	// on every pair, valid or not.
	checkAgainstTool(t, "apk version -t", pairs, want,
		func(a, b string) (int, error) { return apkCompare(a, b), nil }, "", nil)
	var versions []string
	for _, p := range pairs {
		versions = append(versions, p.a, p.b)
	}
	slices.Sort(versions)
	versions = slices.Compact(versions)
	bad := apkInvalidSet(t, versions)
	var wrong int
	for _, v := range versions {
		if apkValid(v) == bad[v] {
			wrong++
			if wrong <= 20 {
				t.Errorf("apk version -c says %q valid=%v, we say %v", v, !bad[v], apkValid(v))
			}
		}
	}
	t.Logf("SUMMARY %s: validity of %d random versions checked against apk version -c; ours disagree on %d", t.Name(), len(versions), wrong)
}
