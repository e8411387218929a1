package version

import (
	"strings"
)

// RPM is a parsed rpm EVR, [epoch:]version[-release], ordered as rpm 4.18's
// rpmverCmp orders it (rpm.vercmp in rpm's Lua, rpmdev-vercmp).
//
// The epoch is the leading run of digits when a colon follows it; the
// release is everything after the last hyphen that follows the epoch. A
// missing epoch equals epoch 0; a missing release sorts before any release,
// even an empty one. Version and release are compared by rpmvercmp: runs of
// ASCII digits (numerically, leading zeros ignored) and of ASCII letters
// (bytewise), a digit run newer than a letter run, other bytes only
// separators, '~' sorting before everything (1.0~rc1 < 1.0) and '^' after
// the base version but before any further segment (1.0 < 1.0^git1 < 1.0.1).
//
// ParseRPM accepts every string rpm accepts: anything but the empty string
// (and, unlike C, strings holding a NUL byte are refused).
type RPM struct {
	s       string // as parsed, for String
	epoch   string // digits; "" when absent or empty, which both mean 0
	version string
	release string
	hasRel  bool
}

// ParseRPM splits s into epoch, version and release as rpm's parseEVR does.
func ParseRPM(s string) (RPM, error) {
	switch {
	case s == "":
		return RPM{}, invalid("rpm", s, "version string is empty")
	case strings.IndexByte(s, 0) >= 0:
		return RPM{}, invalid("rpm", s, "version contains a NUL byte")
	}
	v := RPM{s: s, version: s}
	d := 0
	for d < len(s) && isDigit(s[d]) {
		d++
	}
	if d < len(s) && s[d] == ':' {
		v.epoch, v.version = s[:d], s[d+1:]
	}
	if h := strings.LastIndexByte(v.version, '-'); h >= 0 {
		v.version, v.release, v.hasRel = v.version[:h], v.version[h+1:], true
	}
	return v, nil
}

// Epoch is the epoch's digits, "" when the version has none (which means 0).
func (v RPM) Epoch() string { return v.epoch }

// Version is the version part, between epoch and release.
func (v RPM) Version() string { return v.version }

// Release is the release part and whether there is one.
func (v RPM) Release() (string, bool) { return v.release, v.hasRel }

// String is the version as parsed.
func (v RPM) String() string { return v.s }

// MarshalText returns the version as parsed.
func (v RPM) MarshalText() ([]byte, error) { return []byte(v.s), nil }

// UnmarshalText parses text with ParseRPM.
func (v *RPM) UnmarshalText(text []byte) error {
	p, err := ParseRPM(string(text))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w:
// epochs, then versions, then releases, each by rpmvercmp.
func (v RPM) Compare(w RPM) int {
	ve, we := v.epoch, w.epoch
	if ve == "" {
		ve = "0"
	}
	if we == "" {
		we = "0"
	}
	if c := rpmSegmentCompare(ve, we); c != 0 {
		return c
	}
	if c := rpmSegmentCompare(v.version, w.version); c != 0 {
		return c
	}
	switch {
	case !v.hasRel && !w.hasRel:
		return 0
	case !v.hasRel:
		return -1
	case !w.hasRel:
		return 1
	}
	return rpmSegmentCompare(v.release, w.release)
}

// rpmSep reports whether c only separates segments.
func rpmSep(c byte) bool { return !isDigit(c) && !isAlpha(c) && c != '~' && c != '^' }

// rpmSegmentCompare is rpmvercmp: it compares a and b segment by segment.
func rpmSegmentCompare(a, b string) int {
	if a == b {
		return 0
	}
	for a != "" || b != "" {
		a, b = trimRPMSeps(a), trimRPMSeps(b)

		// '~' sorts before anything, even the end of the string.
		if at, bt := first(a) == '~', first(b) == '~'; at || bt {
			if !at {
				return 1
			}
			if !bt {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		// '^' sorts after the end of the string but before anything else.
		if ac, bc := first(a) == '^', first(b) == '^'; ac || bc {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case !ac:
				return 1
			case !bc:
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}

		numeric := isDigit(a[0])
		sa, sb := rpmRun(a, numeric), rpmRun(b, numeric)
		if sb == "" {
			// b's segment is of the other kind: numbers are newer.
			if numeric {
				return 1
			}
			return -1
		}
		a, b = a[len(sa):], b[len(sb):]
		if numeric {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				return sign(len(sa) - len(sb))
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// trimRPMSeps drops leading separator bytes. Bytes above 0x7f are
// separators too: rpm's risalnum is ASCII only.
func trimRPMSeps(s string) string {
	i := 0
	for i < len(s) && (s[i] > 0x7f || rpmSep(s[i])) {
		i++
	}
	return s[i:]
}

// rpmRun is the leading run of digits (numeric) or of letters in s.
func rpmRun(s string, numeric bool) string {
	i := 0
	for i < len(s) && (numeric && isDigit(s[i]) || !numeric && isAlpha(s[i])) {
		i++
	}
	return s[:i]
}

func first(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// RPMComparer orders rpm EVR strings as rpm's vercmp does.
type RPMComparer struct{}

var _ Comparer = (*RPMComparer)(nil)

// Compare parses a and b with ParseRPM and compares them.
func (RPMComparer) Compare(a, b string) (int, error) {
	va, err := ParseRPM(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseRPM(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}
