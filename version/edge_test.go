package version

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/pkgdb"
)

// edge is one hand-picked comparison: want is what the family's tool says,
// and the ...AgreeWithTool tests below check that it does.
type edge struct {
	a, b string
	want int
}

var debEdges = []edge{
	{"1.0", "1.0", 0},
	{"1.0", "1.0-0", 0},         // a missing revision equals revision 0
	{"0:1.0", "1.0", 0},         // epoch 0 is no epoch
	{"1:0.1", "9.9", 1},         // the epoch wins
	{"1:1.0", "2:0.1", -1},      //
	{"1.0~rc1", "1.0", -1},      // '~' sorts before the end
	{"1.0~rc1", "1.0~rc1~1", 1}, //
	{"1.0~~", "1.0~~a", -1},     // dpkg's own example
	{"1.0~", "1.0", -1},         //
	{"1.0+1", "1.0", 1},         // '+' sorts after the end
	{"1.0+dfsg", "1.0.1", -1},   // '+' (43) sorts before '.' (46)
	{"1.0.", "1.0+", 1},         // '.' (46) after '+' (43)
	{"1.0a", "1.0+", -1},        // letters before non-letters
	{"1.0a", "1.0", 1},          //
	{"1.0a", "1.0A", 1},         // 'a' (97) after 'A' (65)
	{"1.01", "1.1", 0},          // digit runs numerically
	{"1.001", "1.1", 0},         //
	{"1.10", "1.9", 1},          //
	{"1.0", "1.0.0", -1},        //
	{"2.36-9+deb12u8", "2.36-9+deb12u10", -1},
	{"2.36-9+deb12u8", "2.36-9", 1},
	{"1.2.3-1~bpo12+1", "1.2.3-1", -1},
	{"1.2.3-1~bpo12+1", "1.2.2-2", 1},
	{"2.35-0ubuntu3.8", "2.35-0ubuntu3.10", -1},
	{"2.35-0ubuntu3.8", "2.35-0ubuntu3", 1},
	{"1:2.35-0ubuntu3", "2.35-0ubuntu3.8", 1},
	{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
	{"3.0.11-1~deb12u2", "3.0.11-1", -1},
	{"1.0-1-2", "1.0-1", 1},               // upstream "1.0-1", revision "2"
	{"1.0-1.1", "1.0-1-1", -1},            // upstream "1.0" vs "1.0-1"
	{"10:1", "9:99", 1},                   // epochs numerically
	{"1:1", "01:1", 0},                    //
	{"99999999999999999999", "1", 1},      // digit runs of any length
	{"1.99999999999999999999", "1.1e", 1}, //
	{"abc", "1", 1},                       // dpkg warns but compares: letters after digits
	{"1.0é", "1.0+", -1},                  // bytes above 0x7f sort before '+'
	{"1.0é", "1.0z", 1},                   // and after letters
	{" 1.0\t", "1.0", 0},                  // surrounding blanks trimmed
	{"+1:2", "1:2", 0},                    // strtol takes a sign
	{"-0:2", "2", 0},                      //
	{"\n1:2", "1:2", 0},                   // strtol skips white space
}

// debInvalid are refused by dpkg --compare-versions (exit status 2).
var debInvalid = []string{
	"", "  ", "1 0", "1.0 a", ":1", "a:1", "1a:1", "-1:1", "1:", "1-",
	"1.0-", "-1", "99999999999:1", "2147483648:1", "1:-1", "1\x00",
}

var apkEdges = []edge{
	{"1.0_alpha", "1.0_beta", -1},
	{"1.0_beta", "1.0_pre", -1},
	{"1.0_pre", "1.0_rc", -1},
	{"1.0_rc", "1.0", -1},
	{"1.0", "1.0_cvs", -1},
	{"1.0_cvs", "1.0_svn", -1},
	{"1.0_svn", "1.0_git", -1},
	{"1.0_git", "1.0_hg", -1},
	{"1.0_hg", "1.0_p1", -1},
	{"1.0_p1", "1.0_p2", -1},
	{"1.0_alpha1", "1.0_alpha2", -1},
	{"1.0_alpha10", "1.0_alpha9", 1},
	{"1.0_rc1", "1.0_rc1_p1", -1},
	{"1.0_rc1_p1", "1.0", -1},
	{"1.0-r0", "1.0-r10", -1},
	{"1.0-r9", "1.0-r10", -1},
	{"1.0", "1.0-r0", -1},   // an explicit -r0 is newer than none
	{"1.0-r1", "1.0.1", -1}, //
	{"1.2a", "1.2", 1},
	{"1.2a", "1.2b", -1},
	{"1.2a", "1.2.1", -1},
	{"1.2z", "1.3", -1},
	{"1.05", "1.5", -1}, // a digit run after '.' with a leading 0
	{"1.00", "1.0", -1},
	{"1.01", "1.1", -1},
	{"01", "1", 0}, // no leading-zero rule for the first run
	{"1.0", "1.0.0", -1},
	{"1.10", "1.9", 1},
	{"2.14.4-r0", "2.14.4-r1", -1},
	{"0.9.33_p20230925-r1", "0.9.33-r1", 1},
	{"1.2.3_git20230101-r0", "1.2.3-r0", 1},
	{"1.2.3_rc2-r5", "1.2.3-r0", -1},
	{"3.3.1_p1-r0", "3.3.1-r10", 1},
	{"99999999999999999", "1", 1}, // 17 digits still compare
	{"1_p", "1", 1},               // a suffix without a number
	{"1-r", "1", 1},               // "-r" without a number
}

// apkInvalidVersions are refused by apk version -c (and "" by ParseAPK).
var apkInvalidVersions = []string{
	"", "abc", "1.0~abc", "1.0-1", "1.0_foo", "1.0A", "1.0ab", "1.0-r1_p",
	"1.0_alpha_foo", "_1", "1.0-", "999999999999999999", "1.0_p1a", "1.0 ", "1\x00",
}

var rpmEdges = []edge{
	{"1.0", "1.0", 0},
	{"1.0", "1.0.0", -1},
	{"1.0", "1.0-1", -1}, // a missing release sorts first
	{"1.0-", "1.0", 1},   // even an empty release is newer than none
	{"1.0-1", "1.0-2", -1},
	{"1.0-1-2", "1.0.1-2", 0}, // release after the LAST hyphen
	{"1.01", "1.1", 0},        // leading zeros ignored
	{"1.001", "1.01", 0},
	{"1.10", "1.9", 1},
	{"1.0a", "1.0", 1},
	{"1.0a", "1.0.1", -1}, // letters older than digits
	{"1.a", "1.1", -1},
	{"a", "B", 1}, // bytewise: 'a' (97) after 'B' (66)
	{"1.0~rc1", "1.0", -1},
	{"1.0~rc1", "1.0~rc2", -1},
	{"1.0~~", "1.0~", -1},
	{"1.0^", "1.0", 1},
	{"1.0^git1", "1.0", 1},
	{"1.0^git1", "1.0.1", -1},
	{"1.0^git1", "1.0^git2", -1},
	{"1.0^git1~pre", "1.0^git1", -1},
	{"1.0~rc1^git1", "1.0~rc1", 1},
	{"1.0~rc1^git1", "1.0", -1},
	{"1:1.0", "2.0", 1},
	{"0:1.0", "1.0", 0}, // a missing epoch is 0
	{":1.0", "1.0", 0},  // an empty epoch too
	{"01:1.0", "1:1.0", 0},
	{"2:1.0", "10:0.1", -1},
	{"1.0_1", "1.0.1", 0}, // separators are all alike
	{"1.0", "1.0.", 0},
	{"1..0", "1.0", 0},
	{"1.0é", "1.0", 0}, // bytes above 0x7f are separators
	{"a:1", "1", -1},   // not an epoch: the version is "a:1"
	{"2.35-0ubuntu3.8", "2.35-0ubuntu3.10", -1},
	{"1.2.3-1.el9_3", "1.2.3-1.el9", 1},
	{"4.18.0-513.5.1.el8_9", "4.18.0-513.el8", 1},
	{"99999999999999999999", "100000000000000000000", -1},
}

func TestDebEdgeCases(t *testing.T) {
	t.Parallel()
	testEdges(t, DebComparer{}, debEdges, debInvalid)
}

func TestAPKEdgeCases(t *testing.T) {
	t.Parallel()
	testEdges(t, APKComparer{}, apkEdges, apkInvalidVersions)
}

func TestRPMEdgeCases(t *testing.T) {
	t.Parallel()
	testEdges(t, RPMComparer{}, rpmEdges, []string{"", "1\x00"})
}

func testEdges(t *testing.T, c Comparer, edges []edge, invalid []string) {
	for _, e := range edges {
		got, err := c.Compare(e.a, e.b)
		if err != nil {
			t.Errorf("Compare(%q, %q): %v", e.a, e.b, err)
			continue
		}
		if got != e.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", e.a, e.b, got, e.want)
		}
		if back, _ := c.Compare(e.b, e.a); back != -e.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", e.b, e.a, back, -e.want)
		}
	}
	for _, v := range invalid {
		if _, err := c.Compare(v, "1"); err == nil {
			t.Errorf("Compare(%q, \"1\") gave no error", v)
		} else if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), strconv.Quote(v)) {
			t.Errorf("error %q does not name the version %q", err, v)
		}
		if _, err := c.Compare("1", v); err == nil {
			t.Errorf("Compare(\"1\", %q) gave no error", v)
		}
	}
}

func TestForHasEveryFamily(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		family pkgdb.Family
		want   Comparer
	}{
		{pkgdb.Deb, DebComparer{}},
		{pkgdb.APK, APKComparer{}},
		{pkgdb.RPM, RPMComparer{}},
		{"pacman", nil},
	} {
		if got := For(tc.family); got != tc.want {
			t.Errorf("For(%q) = %#v, want %#v", tc.family, got, tc.want)
		}
	}
}

// The tables above are typed by hand; these tests make the real tools
// confirm every row, so a wrong belief cannot hide in a table.

func TestDebEdgeCasesAgreeWithDpkg(t *testing.T) {
	t.Parallel()
	requireTool(t, "dpkg")
	ctx := context.Background()
	for _, e := range debEdges {
		got, err := dpkgCompare(ctx, e.a, e.b)
		if err != nil {
			t.Errorf("dpkg on table row %q vs %q: %v", e.a, e.b, err)
			continue
		}
		if got != e.want {
			t.Errorf("table says %q vs %q is %d, dpkg says %d", e.a, e.b, e.want, got)
		}
	}
	for _, v := range debInvalid {
		if v == "" || strings.IndexByte(v, 0) >= 0 {
			continue // dpkg reads "" as the blank version; argv has no NUL
		}
		if dpkgAccepts(ctx, v) {
			t.Errorf("table says dpkg refuses %q, dpkg accepts it", v)
		}
	}
}

func TestAPKEdgeCasesAgreeWithAPK(t *testing.T) {
	t.Parallel()
	var pairs []pair
	for _, e := range apkEdges {
		pairs = append(pairs, pair{e.a, e.b})
	}
	got := apkCompareMany(t, pairs)
	for i, e := range apkEdges {
		if got[i] != e.want {
			t.Errorf("table says %q vs %q is %d, apk says %d", e.a, e.b, e.want, got[i])
		}
	}
	var probe []string
	for _, v := range apkInvalidVersions {
		if v != "" && v != "1\x00" && v != "1.0 " {
			probe = append(probe, v)
		}
	}
	bad := apkInvalidSet(t, probe)
	for _, v := range probe {
		if !bad[v] {
			t.Errorf("table says apk refuses %q, apk version -c accepts it", v)
		}
	}
}

func TestRPMEdgeCasesAgreeWithRPM(t *testing.T) {
	t.Parallel()
	var pairs []pair
	for _, e := range rpmEdges {
		pairs = append(pairs, pair{e.a, e.b})
	}
	pairs = append(pairs, pair{"", "1"})
	got := rpmCompareMany(t, pairs)
	for i, e := range rpmEdges {
		if got[i] != e.want {
			t.Errorf("table says %q vs %q is %d, rpm says %d", e.a, e.b, e.want, got[i])
		}
	}
	if got[len(got)-1] != 2 {
		t.Errorf("rpm compared the empty version: %d", got[len(got)-1])
	}
}
