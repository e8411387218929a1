package vulndb

import (
	"fmt"
	"strings"
)

// maxIDLen bounds a vulnerability id; real ids are far shorter.
const maxIDLen = 128

// ID is a vulnerability or advisory id: "CVE-2024-3094", "DSA-5678-1",
// "USN-6000-1", "GHSA-xxxx-xxxx-xxxx", "ALAS2-2024-2500", "DEBIAN-CVE-…".
// The zero ID is empty.
type ID struct{ s string }

// ParseID parses a vulnerability id. CVE ids must have the form
// CVE-YYYY-NNNN with at least four digits in the sequence; other ids are a
// letter-led prefix of letters and digits and at least one further
// dash-separated part of letters, digits, dots, colons or underscores. A
// "cve" prefix is upper-cased; other ids are kept as written.
func ParseID(s string) (ID, error) {
	if s == "" {
		return ID{}, fmt.Errorf("parsing vulnerability id: empty")
	}
	if len(s) > maxIDLen {
		return ID{}, fmt.Errorf("parsing vulnerability id %.20q…: longer than %d bytes", s, maxIDLen)
	}
	prefix, rest, ok := strings.Cut(s, "-")
	if !ok || rest == "" {
		return ID{}, fmt.Errorf("parsing vulnerability id %q: no dash-separated prefix", s)
	}
	if strings.EqualFold(prefix, "CVE") {
		prefix = "CVE"
	}
	if !isIDPrefix(prefix) {
		return ID{}, fmt.Errorf("parsing vulnerability id %q: prefix must be letters then letters or digits", s)
	}
	if prefix == "CVE" {
		year, seq, ok := strings.Cut(rest, "-")
		if !ok || len(year) != 4 || !allDigits(year) || len(seq) < 4 || !allDigits(seq) {
			return ID{}, fmt.Errorf("parsing vulnerability id %q: want CVE-YYYY-NNNN", s)
		}
		return ID{s: prefix + "-" + rest}, nil
	}
	for _, part := range strings.Split(rest, "-") {
		if part == "" {
			return ID{}, fmt.Errorf("parsing vulnerability id %q: empty part", s)
		}
		for _, r := range part {
			if !isIDChar(r) {
				return ID{}, fmt.Errorf("parsing vulnerability id %q: character %q not allowed", s, r)
			}
		}
	}
	return ID{s: prefix + "-" + rest}, nil
}

// MustParseID is ParseID for constants known to be valid; it panics otherwise.
func MustParseID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the id as parsed.
func (id ID) String() string { return id.s }

// IsZero reports whether id is the empty ID.
func (id ID) IsZero() bool { return id.s == "" }

// IsCVE reports whether id is a CVE id.
func (id ID) IsCVE() bool { return strings.HasPrefix(id.s, "CVE-") }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler; an empty text gives
// the zero ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

func isIDPrefix(p string) bool {
	if p == "" || !(p[0] >= 'A' && p[0] <= 'Z' || p[0] >= 'a' && p[0] <= 'z') {
		return false
	}
	for _, r := range p {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func isIDChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == ':' || r == '_'
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
