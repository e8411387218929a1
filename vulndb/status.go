package vulndb

import (
	"fmt"
)

// Status is an advisory's state for a package, with Trivy's names.
type Status int

// The statuses, in Trivy DB's numbering (the integer it stores in its
// advisory values).
const (
	StatusUnknown Status = iota
	StatusNotAffected
	StatusAffected
	StatusFixed
	StatusUnderInvestigation
	StatusWillNotFix
	StatusFixDeferred
	StatusEndOfLife
)

var statusNames = [...]string{
	"unknown", "not_affected", "affected", "fixed",
	"under_investigation", "will_not_fix", "fix_deferred", "end_of_life",
}

// ParseStatus parses a status name such as "fixed" or "will_not_fix".
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames {
		if s == n {
			return Status(i), nil
		}
	}
	return StatusUnknown, fmt.Errorf("parsing status %q: unknown status", s)
}

// String returns the status name.
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return statusNames[0]
	}
	return statusNames[s]
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; empty text is unknown.
func (s *Status) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = StatusUnknown
		return nil
	}
	p, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = p
	return nil
}
