// Package schedule parses a patch cycle's schedule ("7d") and computes
// when the cycle runs next.
//
// The rule (ACR's how-to, made exact): a schedule is set at a moment S,
// in UTC. In S's month the cycle runs on the days that are multiples of N
// (N, 2N, 3N, …) that come after S. In every later month it runs on day 1
// and then every N days (1, 1+N, 1+2N, …) while the month lasts. Every run
// is at S's hour and minute, seconds zeroed.
package schedule

import (
	"fmt"
	"strings"
	"time"
)

// Bounds of N in Nd.
const (
	MinDays = 1
	MaxDays = 30
)

// Schedule runs a cycle every Days days, as described in the package doc.
// The zero Schedule is invalid; make one with Parse.
type Schedule struct {
	Days int
}

// Parse reads "Nd" with N a whole number from 1 to 30 written without
// leading zeros or spaces, and a lower-case d: "1d", "7d", "30d".
func Parse(s string) (Schedule, error) {
	bad := fmt.Errorf("invalid schedule %q: use Nd with N from %d to %d days, e.g. 7d", s, MinDays, MaxDays)
	digits, ok := strings.CutSuffix(s, "d")
	if !ok || digits == "" || len(digits) > 2 || digits[0] == '0' {
		return Schedule{}, bad
	}
	n := 0
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return Schedule{}, bad
		}
		n = n*10 + int(c-'0')
	}
	if n < MinDays || n > MaxDays {
		return Schedule{}, bad
	}
	return Schedule{Days: n}, nil
}

// Valid reports whether Days is within 1 to 30.
func (s Schedule) Valid() bool { return s.Days >= MinDays && s.Days <= MaxDays }

// String gives the schedule as Parse reads it: "7d".
func (s Schedule) String() string { return fmt.Sprintf("%dd", s.Days) }

// MarshalText implements encoding.TextMarshaler.
func (s Schedule) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("invalid schedule of %d days: use 1 to 30", s.Days)
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Schedule) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Next returns the first run strictly after both after and set, for a
// schedule set at set. Times are compared as instants; the result is in
// UTC. It returns the zero time for an invalid Schedule.
func (s Schedule) Next(set, after time.Time) time.Time {
	if !s.Valid() {
		return time.Time{}
	}
	set = set.UTC()
	from := after.UTC()
	if from.Before(set) {
		from = set
	}
	hour, minute := set.Hour(), set.Minute()
	y, m, _ := from.Date()
	setY, setM, _ := set.Date()
	first := 1
	if y == setY && m == setM {
		first = s.Days // the set month counts multiples of N
	}
	for d := first; d <= daysIn(y, m); d += s.Days {
		if t := time.Date(y, m, d, hour, minute, 0, 0, time.UTC); t.After(from) {
			return t
		}
	}
	// Nothing left this month: every later month runs on day 1.
	y, m = nextMonth(y, m)
	return time.Date(y, m, 1, hour, minute, 0, 0, time.UTC)
}

// Upcoming returns the next n runs strictly after both after and set, in
// order.
func (s Schedule) Upcoming(set, after time.Time, n int) []time.Time {
	if !s.Valid() || n <= 0 {
		return nil
	}
	runs := make([]time.Time, 0, n)
	for range n {
		after = s.Next(set, after)
		runs = append(runs, after)
	}
	return runs
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func nextMonth(y int, m time.Month) (int, time.Month) {
	if m == time.December {
		return y + 1, time.January
	}
	return y, m + 1
}
