package schedule

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"1d", "2d", "7d", "10d", "29d", "30d"} {
		got, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if got.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, got.String())
		}
	}
	for _, s := range []string{"0d", "31d", "7", "1w", "7 d", "07d", " 7d", "7d ", "7D", "-1d", "+7d", "d", "", "100d", "7dd", "1.5d", "٣d", "7d\n", "0x7d"} {
		_, err := Parse(s)
		want := fmt.Sprintf("invalid schedule %q: use Nd with N from 1 to 30 days, e.g. 7d", s)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error = %v, want %q", s, err, want)
		}
	}
}

func TestTextMarshaling(t *testing.T) {
	t.Parallel()
	type doc struct {
		Schedule Schedule `json:"schedule"`
	}
	b, err := json.Marshal(doc{Schedule{Days: 7}})
	if err != nil || string(b) != `{"schedule":"7d"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"schedule":"30d"}`), &d); err != nil || d.Schedule.Days != 30 {
		t.Fatalf("Unmarshal = %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"schedule":"1w"}`), &d); err == nil {
		t.Error("Unmarshal accepted 1w")
	}
	if _, err := json.Marshal(doc{}); err == nil {
		t.Error("Marshal accepted the zero Schedule")
	}
}

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

// TestReferenceVectors are the four vectors of the reference, each in a
// leap year and in ordinary years.
func TestReferenceVectors(t *testing.T) {
	t.Parallel()
	type md struct {
		m time.Month
		d int
	}
	vectors := []struct {
		days int
		set  md
		next []md
	}{
		{7, md{1, 3}, []md{{1, 7}, {1, 14}, {1, 21}, {1, 28}, {2, 1}, {2, 8}}},
		{3, md{1, 7}, []md{{1, 9}, {1, 12}}},
		{1, md{1, 31}, []md{{2, 1}, {2, 2}}},
		{30, md{2, 2}, []md{{3, 1}, {3, 31}, {4, 1}}},
	}
	for _, year := range []int{2023, 2024, 2025, 2028} {
		for _, v := range vectors {
			set := utc(year, v.set.m, v.set.d, 10, 0)
			var want []time.Time
			for _, n := range v.next {
				want = append(want, utc(year, n.m, n.d, 10, 0))
			}
			got := Schedule{Days: v.days}.Upcoming(set, set, len(want))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%dd set %s: runs %v, want %v", v.days, set.Format(time.DateTime), got, want)
			}
		}
	}
}

func TestNextEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		days  int
		set   time.Time
		after time.Time // zero: the set time
		want  []time.Time
	}{
		{"29d in a leap February", 29, utc(2024, 2, 1, 10, 0), time.Time{},
			[]time.Time{utc(2024, 2, 29, 10, 0), utc(2024, 3, 1, 10, 0), utc(2024, 3, 30, 10, 0), utc(2024, 4, 1, 10, 0)}},
		{"29d in an ordinary February", 29, utc(2025, 2, 1, 10, 0), time.Time{},
			[]time.Time{utc(2025, 3, 1, 10, 0), utc(2025, 3, 30, 10, 0), utc(2025, 4, 1, 10, 0)}},
		{"28d February 28 is a multiple", 28, utc(2023, 2, 27, 10, 0), time.Time{},
			[]time.Time{utc(2023, 2, 28, 10, 0), utc(2023, 3, 1, 10, 0), utc(2023, 3, 29, 10, 0)}},
		{"30d through 31- and 30-day months", 30, utc(2025, 1, 15, 8, 30), time.Time{},
			[]time.Time{utc(2025, 1, 30, 8, 30), utc(2025, 2, 1, 8, 30), utc(2025, 3, 1, 8, 30), utc(2025, 3, 31, 8, 30), utc(2025, 4, 1, 8, 30), utc(2025, 5, 1, 8, 30), utc(2025, 5, 31, 8, 30)}},
		{"15d runs on the 31st then the 1st", 15, utc(2025, 2, 20, 6, 0), time.Time{},
			[]time.Time{utc(2025, 3, 1, 6, 0), utc(2025, 3, 16, 6, 0), utc(2025, 3, 31, 6, 0), utc(2025, 4, 1, 6, 0), utc(2025, 4, 16, 6, 0), utc(2025, 5, 1, 6, 0)}},
		{"set at 23:59", 1, utc(2025, 1, 31, 23, 59), time.Time{},
			[]time.Time{utc(2025, 2, 1, 23, 59), utc(2025, 2, 2, 23, 59)}},
		{"seconds are zeroed", 7, time.Date(2025, 1, 6, 23, 59, 59, 999, time.UTC), time.Time{},
			[]time.Time{utc(2025, 1, 7, 23, 59), utc(2025, 1, 14, 23, 59)}},
		{"set exactly on a slot", 7, utc(2025, 1, 7, 10, 0), time.Time{},
			[]time.Time{utc(2025, 1, 14, 10, 0)}},
		{"set seconds after a slot", 7, time.Date(2025, 1, 7, 10, 0, 30, 0, time.UTC), time.Time{},
			[]time.Time{utc(2025, 1, 14, 10, 0)}},
		{"the set day itself is never a run", 7, utc(2025, 1, 7, 0, 0), time.Time{},
			[]time.Time{utc(2025, 1, 14, 0, 0)}},
		{"after in a later month", 7, utc(2025, 1, 3, 10, 0), utc(2025, 3, 10, 12, 0),
			[]time.Time{utc(2025, 3, 15, 10, 0), utc(2025, 3, 22, 10, 0), utc(2025, 3, 29, 10, 0), utc(2025, 4, 1, 10, 0)}},
		{"after just before a later-month slot", 7, utc(2025, 1, 3, 10, 0), utc(2025, 3, 8, 9, 59),
			[]time.Time{utc(2025, 3, 8, 10, 0)}},
		{"after exactly on a later-month slot", 7, utc(2025, 1, 3, 10, 0), utc(2025, 3, 8, 10, 0),
			[]time.Time{utc(2025, 3, 15, 10, 0)}},
		{"after before set counts from set", 3, utc(2025, 1, 7, 10, 0), utc(2024, 6, 1, 0, 0),
			[]time.Time{utc(2025, 1, 9, 10, 0)}},
		{"year end", 7, utc(2025, 12, 29, 10, 0), time.Time{},
			[]time.Time{utc(2026, 1, 1, 10, 0), utc(2026, 1, 8, 10, 0)}},
		{"set on the 1st is not a run that month", 7, utc(2025, 4, 1, 0, 0), time.Time{},
			[]time.Time{utc(2025, 4, 7, 0, 0)}},
		{"UTC decides the date", 7, time.Date(2025, 1, 7, 1, 0, 0, 0, time.FixedZone("UTC+2", 2*3600)), time.Time{},
			[]time.Time{utc(2025, 1, 7, 23, 0), utc(2025, 1, 14, 23, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			after := tt.after
			if after.IsZero() {
				after = tt.set
			}
			s := Schedule{Days: tt.days}
			got := s.Upcoming(tt.set, after, len(tt.want))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Upcoming = %v, want %v", got, tt.want)
			}
			if n := s.Next(tt.set, after); !n.Equal(tt.want[0]) || n.Location() != time.UTC {
				t.Errorf("Next = %v, want %v in UTC", n, tt.want[0])
			}
		})
	}
}

func TestInvalidSchedule(t *testing.T) {
	t.Parallel()
	now := utc(2025, 1, 1, 0, 0)
	for _, s := range []Schedule{{}, {Days: 31}, {Days: -1}} {
		if n := s.Next(now, now); !n.IsZero() {
			t.Errorf("%+v.Next = %v, want zero", s, n)
		}
		if u := s.Upcoming(now, now, 3); u != nil {
			t.Errorf("%+v.Upcoming = %v, want nil", s, u)
		}
	}
	if u := (Schedule{Days: 7}).Upcoming(now, now, 0); u != nil {
		t.Errorf("Upcoming(0) = %v", u)
	}
}

// bruteForce lists the runs of s set at set, strictly after set, by
// looking at every day from set's date on and asking whether the rule
// puts a run on it. It is slow and shares no code with Next.
func bruteForce(s Schedule, set time.Time, n int) []time.Time {
	set = set.UTC()
	var runs []time.Time
	day := time.Date(set.Year(), set.Month(), set.Day(), set.Hour(), set.Minute(), 0, 0, time.UTC)
	for len(runs) < n {
		inSetMonth := day.Year() == set.Year() && day.Month() == set.Month()
		var runDay bool
		if inSetMonth {
			runDay = day.Day()%s.Days == 0
		} else {
			runDay = (day.Day()-1)%s.Days == 0
		}
		if runDay && day.After(set) {
			runs = append(runs, day)
		}
		day = day.AddDate(0, 0, 1)
	}
	return runs
}

func TestPropertiesAgainstBruteForce(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	start := utc(1999, 1, 1, 0, 0).Unix()
	span := utc(2101, 1, 1, 0, 0).Unix() - start
	for range 400 {
		s := Schedule{Days: 1 + rng.IntN(30)}
		set := time.Unix(start+rng.Int64N(span), 0).UTC()
		runs := s.Upcoming(set, set, 90)
		want := bruteForce(s, set, 90)
		if !reflect.DeepEqual(runs, want) {
			t.Fatalf("seed %d: %s set %s:\n got  %v\n want %v", seed, s, set, runs, want)
		}
		seenDay := map[string]bool{}
		prev := set
		for _, r := range runs {
			if !r.After(prev) {
				t.Fatalf("seed %d: %s set %s: runs not strictly increasing at %s", seed, s, set, r)
			}
			prev = r
			if r.Hour() != set.Hour() || r.Minute() != set.Minute() || r.Second() != 0 || r.Nanosecond() != 0 || r.Location() != time.UTC {
				t.Fatalf("seed %d: run %s is not at the set time of day %s", seed, r, set)
			}
			day := r.Format(time.DateOnly)
			if seenDay[day] {
				t.Fatalf("seed %d: two runs on %s", seed, day)
			}
			seenDay[day] = true
			laterMonth := r.Year() != set.Year() || r.Month() != set.Month()
			if laterMonth && (r.Day()-1)%s.Days != 0 {
				t.Fatalf("seed %d: %s: later-month run on day %d is not 1 mod %d", seed, s, r.Day(), s.Days)
			}
			if !laterMonth && r.Day()%s.Days != 0 {
				t.Fatalf("seed %d: %s: set-month run on day %d is not a multiple of %d", seed, s, r.Day(), s.Days)
			}
			if laterMonth && !seenDay[time.Date(r.Year(), r.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)] {
				t.Fatalf("seed %d: month of %s has no run on day 1", seed, r)
			}
		}
		// Next from any moment is the first brute-force run after it.
		for range 5 {
			after := set.Add(time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))))
			got := s.Next(set, after)
			var wantNext time.Time
			for _, r := range want {
				if r.After(after) {
					wantNext = r
					break
				}
			}
			if !wantNext.IsZero() && !got.Equal(wantNext) {
				t.Fatalf("seed %d: %s set %s: Next(after %s) = %s, want %s", seed, s, set, after, got, wantNext)
			}
		}
	}
}

// FuzzParse checks Parse accepts exactly the thirty strings "1d" … "30d".
func FuzzParse(f *testing.F) {
	valid := map[string]int{}
	for n := 1; n <= 30; n++ {
		valid[fmt.Sprintf("%dd", n)] = n
	}
	for _, s := range []string{"7d", "07d", "31d", "1w", " 7d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		n, ok := valid[s]
		if ok != (err == nil) || (ok && got.Days != n) {
			t.Fatalf("Parse(%q) = %+v, %v", s, got, err)
		}
	})
}
