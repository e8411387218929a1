package vulndb

import (
	"fmt"
	"strings"
)

// Severity is a vulnerability's severity on Trivy's scale.
type Severity int

// The severities, lowest first. SeverityUnknown is the zero value.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// ParseSeverity parses a severity name, case-insensitively: UNKNOWN, LOW,
// MEDIUM, HIGH or CRITICAL.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("parsing severity %q: want one of %s", s, strings.Join(severityNames[:], ", "))
}

// String returns the upper-case name.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return severityNames[0]
	}
	return severityNames[s]
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; empty text is UNKNOWN.
func (s *Severity) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = SeverityUnknown
		return nil
	}
	p, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// SeveritySet is a set of severities, as trivy's --severity flag takes:
// the listed severities are kept, the others dropped; it is not a threshold.
type SeveritySet uint8

// AllSeverities holds every severity; it is the default filter.
const AllSeverities SeveritySet = 1<<(SeverityCritical+1) - 1

// ParseSeveritySet parses a comma-separated list such as "CRITICAL,HIGH".
// Names are case-insensitive and may be surrounded by spaces; an empty list
// or an empty item is an error.
func ParseSeveritySet(list string) (SeveritySet, error) {
	var set SeveritySet
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return 0, fmt.Errorf("parsing severity list %q: empty item", list)
		}
		s, err := ParseSeverity(item)
		if err != nil {
			return 0, fmt.Errorf("parsing severity list: %w", err)
		}
		set |= 1 << s
	}
	return set, nil
}

// Has reports whether s is in the set.
func (set SeveritySet) Has(s Severity) bool {
	if s < 0 || s > SeverityCritical {
		s = SeverityUnknown
	}
	return set&(1<<s) != 0
}

// String lists the set's severities, highest first, comma-separated.
func (set SeveritySet) String() string {
	var names []string
	for s := SeverityCritical; s >= SeverityUnknown; s-- {
		if set.Has(s) {
			names = append(names, s.String())
		}
	}
	return strings.Join(names, ",")
}

// Filter returns the findings whose severity is in the set, in order.
func (set SeveritySet) Filter(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if set.Has(f.Severity) {
			out = append(out, f)
		}
	}
	return out
}
