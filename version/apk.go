package version

import (
	"strings"
)

// APK is a validated Alpine package version, ordered as apk-tools 2.x
// orders it. The grammar (apk-tools' own description) is
//
//	{digit}{.digit}...{letter}{_suffix{number}}...{-r#}
//
// with the pre-release suffixes _alpha < _beta < _pre < _rc, which sort
// before the bare version, and the post-release suffixes _cvs < _svn < _git
// < _hg < _p, which sort after it. A digit run after a dot that starts with
// 0 compares as a fraction-like token (1.05 < 1.5, 1.00 < 1.0), a single
// lower-case letter may follow the digits (1.2a > 1.2) and -rN is the
// package release.
//
// ParseAPK accepts what `apk version -c` accepts, except the empty string.
// apk-tools 2.x (Alpine up to at least 3.20) has no "~hash" commit suffix:
// a '~' makes a version invalid, as `apk version -c` says.
type APK struct {
	s string
}

// ParseAPK validates s as an apk version.
func ParseAPK(s string) (APK, error) {
	switch {
	case s == "":
		return APK{}, invalid("apk", s, "version string is empty")
	case strings.IndexByte(s, 0) >= 0:
		return APK{}, invalid("apk", s, "version contains a NUL byte")
	case !apkValid(s):
		return APK{}, invalid("apk", s, "not {digit}{.digit}...{letter}{_suffix{#}}...{-r#}")
	}
	return APK{s: s}, nil
}

// String is the version as parsed.
func (v APK) String() string { return v.s }

// MarshalText returns the version as parsed.
func (v APK) MarshalText() ([]byte, error) { return []byte(v.s), nil }

// UnmarshalText parses text with ParseAPK.
func (v *APK) UnmarshalText(text []byte) error {
	p, err := ParseAPK(string(text))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v APK) Compare(w APK) int { return apkCompare(v.s, w.s) }

// APKComparer orders apk versions as `apk version -t` does.
type APKComparer struct{}

var _ Comparer = (*APKComparer)(nil)

// Compare parses a and b with ParseAPK and compares them.
func (APKComparer) Compare(a, b string) (int, error) {
	va, err := ParseAPK(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseAPK(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// apkToken is the kind of the next token of an apk version. The order of
// the constants matters: a version may only move to a later kind, apart from
// the few steps back that apkScanner.next allows, and at the end of a
// comparison the version with the earlier pending kind is the newer one.
type apkToken int

const (
	apkInvalid     apkToken = iota - 1
	apkDigitOrZero          // after '.': a digit run, leading zeros special
	apkDigit                // a digit run
	apkLetter               // one lower-case letter after digits
	apkSuffix               // after '_': alpha, beta, pre, rc, cvs, svn, git, hg, p
	apkSuffixNo             // the number after a suffix
	apkRevisionNo           // after "-r": the release number
	apkEnd
)

var (
	apkPreSuffixes  = []string{"alpha", "beta", "pre", "rc"}
	apkPostSuffixes = []string{"cvs", "svn", "git", "hg", "p"}
)

// apkMaxDigits is the length at which apk-tools refuses a digit run.
const apkMaxDigits = 18

// apkScanner walks one version token by token.
type apkScanner struct {
	s    string
	kind apkToken // kind of the token at s
}

// next reads the separator after a token and sets the kind of the token
// that follows it.
func (sc *apkScanner) next() {
	prev := sc.kind
	n := apkInvalid
	switch {
	case sc.s == "":
		n = apkEnd
	case (prev == apkDigit || prev == apkDigitOrZero) && isLower(sc.s[0]):
		n = apkLetter
	case prev == apkLetter && isDigit(sc.s[0]):
		n = apkDigit
	case prev == apkSuffix && isDigit(sc.s[0]):
		n = apkSuffixNo
	default:
		switch sc.s[0] {
		case '.':
			n = apkDigitOrZero
		case '_':
			n = apkSuffix
		case '-':
			if len(sc.s) > 1 && sc.s[1] == 'r' {
				n = apkRevisionNo
				sc.s = sc.s[1:]
			}
		}
		sc.s = sc.s[1:]
	}
	if n < prev {
		backOK := n == apkDigitOrZero && prev == apkDigit ||
			n == apkSuffix && prev == apkSuffixNo ||
			n == apkDigit && prev == apkLetter
		if !backOK {
			n = apkInvalid
		}
	}
	sc.kind = n
}

// token reads the token of the current kind, returns its value and moves to
// the next token. Invalid tokens have the value -1.
func (sc *apkScanner) token() int64 {
	if sc.s == "" {
		sc.kind = apkEnd
		return 0
	}
	var v int64
	n := 0              // bytes consumed
	after := apkInvalid // kind forced after this token, if any
	switch sc.kind {
	case apkDigitOrZero:
		if sc.s[0] == '0' {
			// All but the last of a run of leading zeros count
			// negatively; the last zero starts a plain digit run.
			for n+1 < len(sc.s) && sc.s[n+1] == '0' {
				n++
			}
			v = -int64(n)
			after = apkDigit
			break
		}
		fallthrough
	case apkDigit, apkSuffixNo, apkRevisionNo:
		for n < len(sc.s) && isDigit(sc.s[n]) {
			v = v*10 + int64(sc.s[n]-'0')
			n++
		}
		if n >= apkMaxDigits {
			sc.kind = apkInvalid
			return -1
		}
	case apkLetter:
		v = int64(sc.s[0])
		n = 1
	case apkSuffix:
		if i, name := apkSuffixIndex(sc.s, apkPreSuffixes); name != "" {
			v, n = int64(i-len(apkPreSuffixes)), len(name)
		} else if i, name := apkSuffixIndex(sc.s, apkPostSuffixes); name != "" {
			v, n = int64(i), len(name)
		} else {
			sc.kind = apkInvalid
			return -1
		}
	default:
		sc.kind = apkInvalid
		return -1
	}
	sc.s = sc.s[n:]
	switch {
	case sc.s == "":
		sc.kind = apkEnd
	case after != apkInvalid:
		sc.kind = after
	default:
		sc.next()
	}
	return v
}

// apkSuffixIndex finds the first name in names that s starts with.
func apkSuffixIndex(s string, names []string) (int, string) {
	for i, name := range names {
		if strings.HasPrefix(s, name) {
			return i, name
		}
	}
	return 0, ""
}

// apkValid reports whether s reads to its end without an invalid token.
func apkValid(s string) bool {
	sc := apkScanner{s: s, kind: apkDigit}
	for sc.kind != apkEnd && sc.kind != apkInvalid {
		sc.token()
	}
	return sc.kind == apkEnd
}

// apkCompare orders two version strings token by token. It is defined for
// any strings, valid or not, and gives the answer apk-tools gives.
func apkCompare(a, b string) int {
	x := apkScanner{s: a, kind: apkDigit}
	y := apkScanner{s: b, kind: apkDigit}
	var xv, yv int64
	for x.kind == y.kind && x.kind != apkEnd && x.kind != apkInvalid && xv == yv {
		xv = x.token()
		yv = y.token()
	}
	switch {
	case xv < yv:
		return -1
	case xv > yv:
		return 1
	case x.kind == y.kind:
		return 0
	}
	// Equal so far and one version goes on: the longer one is newer,
	// unless what follows is a pre-release suffix.
	if x.kind == apkSuffix {
		if t := x; t.token() < 0 {
			return -1
		}
	}
	if y.kind == apkSuffix {
		if t := y; t.token() < 0 {
			return 1
		}
	}
	switch {
	case x.kind > y.kind:
		return -1
	case x.kind < y.kind:
		return 1
	}
	return 0
}
