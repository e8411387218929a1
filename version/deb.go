package version

import (
	"math"
	"strconv"
	"strings"
)

// Deb is a parsed Debian package version, [epoch:]upstream[-revision], as
// described in deb-version(7) and ordered as dpkg orders it.
//
// ParseDeb accepts exactly the strings that `dpkg --compare-versions`
// compares, except the empty string (dpkg's "blank" version) and strings
// holding a NUL byte: strings dpkg rejects with an error are errors here; strings on
// which dpkg only warns (upstream not starting with a digit, characters
// outside the allowed set) are accepted and compared as dpkg compares them.
type Deb struct {
	epoch    int
	upstream string
	revision string
}

// ParseDeb parses a Debian version the way dpkg's parseversion does:
// surrounding blanks are trimmed, the epoch is everything before the first
// colon and the revision everything after the last hyphen.
func ParseDeb(s string) (Deb, error) {
	v, reason := parseDeb(s)
	if reason != "" {
		return Deb{}, invalid("deb", s, reason)
	}
	return v, nil
}

// debBlank reports whether c is a blank in dpkg's sense (C isblank).
func debBlank(c byte) bool { return c == ' ' || c == '\t' }

// parseDeb returns the version, or why dpkg refuses it.
func parseDeb(s string) (Deb, string) {
	if strings.IndexByte(s, 0) >= 0 {
		return Deb{}, "version contains a NUL byte"
	}
	start := 0
	for start < len(s) && debBlank(s[start]) {
		start++
	}
	if start == len(s) {
		return Deb{}, "version string is empty"
	}
	end := start
	for end < len(s) && !debBlank(s[end]) {
		end++
	}
	for i := end; i < len(s); i++ {
		if !debBlank(s[i]) {
			return Deb{}, "version string has embedded spaces"
		}
	}
	s = s[start:end]

	var v Deb
	if colon := strings.IndexByte(s, ':'); colon >= 0 {
		epoch, reason := parseDebEpoch(s[:colon])
		if reason != "" {
			return Deb{}, reason
		}
		if colon == len(s)-1 {
			return Deb{}, "nothing after colon in version number"
		}
		v.epoch = epoch
		s = s[colon+1:]
	}
	v.upstream = s
	if h := strings.LastIndexByte(s, '-'); h >= 0 {
		v.upstream, v.revision = s[:h], s[h+1:]
		if v.revision == "" {
			return Deb{}, "revision number is empty"
		}
	}
	if v.upstream == "" {
		return Deb{}, "version number is empty"
	}
	return v, ""
}

// parseDebEpoch reads the epoch as dpkg does with strtol: leading white
// space and one sign are allowed, then at least one digit, then nothing else.
func parseDebEpoch(s string) (int, string) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	switch {
	case i == digits:
		return 0, "epoch in version is empty"
	case i != len(s):
		return 0, "epoch in version is not number"
	}
	num := strings.TrimLeft(s[digits:], "0")
	switch {
	case neg && num != "":
		return 0, "epoch in version is negative"
	case len(num) > 10:
		return 0, "epoch in version is too big"
	}
	n, _ := strconv.ParseUint("0"+num, 10, 64)
	if n > math.MaxInt32 {
		return 0, "epoch in version is too big"
	}
	return int(n), ""
}

// Epoch is the epoch, 0 when the version has none.
func (v Deb) Epoch() int { return v.epoch }

// Upstream is the upstream version, between the epoch and the revision.
func (v Deb) Upstream() string { return v.upstream }

// Revision is the Debian revision, "" when the version has none.
func (v Deb) Revision() string { return v.revision }

// String is the canonical form: the epoch only when it is not 0 or the
// upstream version holds a colon, the revision only when there is one.
func (v Deb) String() string {
	var b strings.Builder
	if v.epoch != 0 || strings.IndexByte(v.upstream, ':') >= 0 {
		b.WriteString(strconv.Itoa(v.epoch))
		b.WriteByte(':')
	}
	b.WriteString(v.upstream)
	if v.revision != "" {
		b.WriteByte('-')
		b.WriteString(v.revision)
	}
	return b.String()
}

// MarshalText returns the canonical form.
func (v Deb) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses text with ParseDeb.
func (v *Deb) UnmarshalText(text []byte) error {
	p, err := ParseDeb(string(text))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w,
// in dpkg's order: epochs numerically, then upstream, then revision, each
// compared by verrevcmp.
func (v Deb) Compare(w Deb) int {
	switch {
	case v.epoch < w.epoch:
		return -1
	case v.epoch > w.epoch:
		return 1
	}
	if c := debCompareFragment(v.upstream, w.upstream); c != 0 {
		return c
	}
	return debCompareFragment(v.revision, w.revision)
}

// debOrder is the weight of one byte inside a non-digit run: the end of the
// string and digits weigh 0, '~' sorts before everything, then letters, then
// bytes above 0x7f (dpkg reads them as negative chars, plus 256), then all
// other ASCII.
func debOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	case c >= 0x80:
		return int(c)
	default:
		return int(c) + 256
	}
}

// debCompareFragment orders two upstream versions or two revisions:
// alternating non-digit runs, compared byte by byte with debOrder, and digit
// runs, compared as numbers of any length.
func debCompareFragment(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := debOrder(a, i), debOrder(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i, j = i+1, j+1
		}
		if c := compareDigitRuns(a, &i, b, &j); c != 0 {
			return c
		}
	}
	return 0
}

// compareDigitRuns compares the digit runs that start at a[*i] and b[*j]
// numerically, without leading zeros and without overflow, and moves both
// indexes past their runs.
func compareDigitRuns(a string, i *int, b string, j *int) int {
	for *i < len(a) && a[*i] == '0' {
		*i++
	}
	for *j < len(b) && b[*j] == '0' {
		*j++
	}
	si, sj := *i, *j
	for *i < len(a) && isDigit(a[*i]) {
		*i++
	}
	for *j < len(b) && isDigit(b[*j]) {
		*j++
	}
	da, db := a[si:*i], b[sj:*j]
	switch {
	case len(da) != len(db):
		return sign(len(da) - len(db))
	case da < db:
		return -1
	case da > db:
		return 1
	}
	return 0
}

// DebComparer orders Debian versions as dpkg --compare-versions does.
type DebComparer struct{}

var _ Comparer = (*DebComparer)(nil)

// Compare parses a and b with ParseDeb and compares them.
func (DebComparer) Compare(a, b string) (int, error) {
	va, err := ParseDeb(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseDeb(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}
