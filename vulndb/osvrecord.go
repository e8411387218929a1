package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/patchloop/patchloop/version"
)

// maxOSVFileLen bounds one OSV JSON file; real records are a few KiB.
const maxOSVFileLen = 16 << 20

// maxOSVEvents bounds the events of one range; real ranges have a few.
const maxOSVEvents = 1000

// OSVRecord is the part of an OSV record (schema 1.x) this package uses.
type OSVRecord struct {
	ID        ID
	Aliases   []ID // aliases and upstream ids
	Summary   string
	Details   string
	Severity  Severity
	Withdrawn bool
	Affected  []OSVAffected
}

// OSVAffected is one affected package of an OSV record.
type OSVAffected struct {
	Ecosystem string
	Name      string
	Ranges    []OSVRange // ECOSYSTEM ranges only; other types are dropped
	Versions  []string
	Severity  Severity // the package's own severity, UNKNOWN when none
}

// OSVRange is an ECOSYSTEM range: ordered events over the ecosystem's
// version ordering.
type OSVRange struct {
	Events []OSVEvent
}

// OSVEvent is one range event; exactly one field is set.
type OSVEvent struct {
	Introduced   string
	Fixed        string
	LastAffected string
}

type osvJSON struct {
	SchemaVersion string          `json:"schema_version"`
	ID            string          `json:"id"`
	Withdrawn     string          `json:"withdrawn"`
	Aliases       []string        `json:"aliases"`
	Upstream      []string        `json:"upstream"`
	Summary       string          `json:"summary"`
	Details       string          `json:"details"`
	Severity      []osvSeverity   `json:"severity"`
	Affected      []osvAffected   `json:"affected"`
	DatabaseSpec  json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Severity []osvSeverity `json:"severity"`
	Ranges   []struct {
		Type   string `json:"type"`
		Events []struct {
			Introduced   *string `json:"introduced"`
			Fixed        *string `json:"fixed"`
			LastAffected *string `json:"last_affected"`
			Limit        *string `json:"limit"`
		} `json:"events"`
	} `json:"ranges"`
	Versions []string `json:"versions"`
}

// ParseOSV parses one OSV record. It checks what matching relies on: an
// id, a 1.x schema_version when one is given, package ecosystem and name on
// each affected entry, and exactly one of introduced, fixed, last_affected
// or limit per range event.
func ParseOSV(b []byte) (OSVRecord, error) {
	var rec OSVRecord
	if len(b) > maxOSVFileLen {
		return rec, fmt.Errorf("%d bytes, over the %d limit", len(b), maxOSVFileLen)
	}
	var raw osvJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return rec, err
	}
	if raw.SchemaVersion != "" && !strings.HasPrefix(raw.SchemaVersion, "1.") {
		return rec, fmt.Errorf("schema_version %q, want 1.x", raw.SchemaVersion)
	}
	id, err := ParseID(raw.ID)
	if err != nil {
		return rec, fmt.Errorf("field id: %w", err)
	}
	rec.ID, rec.Summary, rec.Details, rec.Withdrawn = id, raw.Summary, raw.Details, raw.Withdrawn != ""
	for _, a := range append(raw.Aliases, raw.Upstream...) {
		aid, err := ParseID(a)
		if err != nil {
			return rec, fmt.Errorf("record %s: aliases: %w", id, err)
		}
		if aid != id && !containsID(rec.Aliases, aid) {
			rec.Aliases = append(rec.Aliases, aid)
		}
	}
	rec.Severity = osvSeverityOf(raw.Severity, raw.DatabaseSpec)
	for i, a := range raw.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			return rec, fmt.Errorf("record %s: affected[%d]: package ecosystem and name are required", id, i)
		}
		aff := OSVAffected{
			Ecosystem: a.Package.Ecosystem,
			Name:      a.Package.Name,
			Versions:  a.Versions,
			Severity:  osvSeverityOf(a.Severity, nil),
		}
		for j, r := range a.Ranges {
			if r.Type == "" {
				return rec, fmt.Errorf("record %s: affected[%d].ranges[%d]: type is required", id, i, j)
			}
			if len(r.Events) == 0 || len(r.Events) > maxOSVEvents {
				return rec, fmt.Errorf("record %s: affected[%d].ranges[%d]: %d events, want 1 to %d", id, i, j, len(r.Events), maxOSVEvents)
			}
			var rng OSVRange
			for k, e := range r.Events {
				n := 0
				var ev OSVEvent
				for _, f := range []struct {
					v   *string
					dst *string
				}{{e.Introduced, &ev.Introduced}, {e.Fixed, &ev.Fixed}, {e.LastAffected, &ev.LastAffected}, {e.Limit, new(string)}} {
					if f.v != nil {
						n++
						if *f.v == "" {
							return rec, fmt.Errorf("record %s: affected[%d].ranges[%d].events[%d]: empty version", id, i, j, k)
						}
						*f.dst = *f.v
					}
				}
				if n != 1 {
					return rec, fmt.Errorf("record %s: affected[%d].ranges[%d].events[%d]: want exactly one of introduced, fixed, last_affected, limit", id, i, j, k)
				}
				if e.Limit == nil {
					rng.Events = append(rng.Events, ev)
				}
			}
			if r.Type == "ECOSYSTEM" {
				aff.Ranges = append(aff.Ranges, rng)
			}
		}
		rec.Affected = append(rec.Affected, aff)
	}
	return rec, nil
}

// osvSeverityOf reads a qualitative severity: an "Ubuntu" typed severity
// (negligible counts as LOW), else database_specific.severity as GHSA and
// others write it. CVSS vectors alone give UNKNOWN.
func osvSeverityOf(sevs []osvSeverity, dbSpecific json.RawMessage) Severity {
	for _, s := range sevs {
		if s.Type != "Ubuntu" {
			continue
		}
		if strings.EqualFold(s.Score, "negligible") {
			return SeverityLow
		}
		if p, err := ParseSeverity(s.Score); err == nil {
			return p
		}
	}
	if len(dbSpecific) > 0 {
		var ds struct {
			Severity string `json:"severity"`
		}
		if json.Unmarshal(dbSpecific, &ds) == nil {
			if strings.EqualFold(ds.Severity, "moderate") {
				return SeverityMedium
			}
			if p, err := ParseSeverity(ds.Severity); err == nil {
				return p
			}
		}
	}
	return SeverityUnknown
}

func containsID(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// errNotAffected marks a version outside every range.
var errNotAffected = errors.New("not affected")

// affects decides whether version v is affected by a, following the OSV
// evaluation rules: v is listed in versions, or, within any range, v is
// affected from an introduced event up to (not including) a fixed event or
// up to and including a last_affected event, events taken in version order. It returns the
// smallest fixed version above v in the range that affects it ("" when
// none), or errNotAffected.
func (a OSVAffected) affects(v string, cmp version.Comparer) (string, error) {
	compare := cmp.Compare
	// versions lists exact version strings.
	if slices.Contains(a.Versions, v) {
		return a.nextFixed(v, compare)
	}
	for _, r := range a.Ranges {
		affected := false
		// Walk events in version order; ties keep the list order.
		events, err := sortEvents(r.Events, compare)
		if err != nil {
			return "", err
		}
		for _, e := range events {
			switch {
			case e.Introduced == "0": // OSV's "0" is below every version
				affected = true
			case e.Introduced != "":
				c, err := compare(v, e.Introduced)
				if err != nil {
					return "", err
				}
				if c >= 0 {
					affected = true
				}
			case e.Fixed != "":
				c, err := compare(v, e.Fixed)
				if err != nil {
					return "", err
				}
				if c >= 0 {
					affected = false
				} else if affected {
					return e.Fixed, nil
				}
			case e.LastAffected != "":
				c, err := compare(v, e.LastAffected)
				if err != nil {
					return "", err
				}
				if c > 0 {
					affected = false
				} else if affected {
					return "", nil
				}
			}
		}
		if affected {
			return "", nil
		}
	}
	return "", errNotAffected
}

// nextFixed returns the smallest fixed event above v in any range.
func (a OSVAffected) nextFixed(v string, compare func(x, y string) (int, error)) (string, error) {
	best := ""
	for _, r := range a.Ranges {
		for _, e := range r.Events {
			if e.Fixed == "" {
				continue
			}
			c, err := compare(e.Fixed, v)
			if err != nil {
				return "", err
			}
			if c <= 0 {
				continue
			}
			if best != "" {
				if c, err := compare(e.Fixed, best); err != nil {
					return "", err
				} else if c >= 0 {
					continue
				}
			}
			best = e.Fixed
		}
	}
	return best, nil
}

func sortEvents(events []OSVEvent, compare func(x, y string) (int, error)) ([]OSVEvent, error) {
	out := append([]OSVEvent(nil), events...)
	key := func(e OSVEvent) string { return e.Introduced + e.Fixed + e.LastAffected }
	less := func(x, y OSVEvent) (bool, error) {
		if y.Introduced == "0" {
			return false, nil
		}
		if x.Introduced == "0" {
			return true, nil
		}
		c, err := compare(key(x), key(y))
		return c < 0, err
	}
	// Insertion sort: ranges have a handful of events, and a comparison
	// error must surface rather than be swallowed by sort.Slice.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0; j-- {
			l, err := less(out[j], out[j-1])
			if err != nil {
				return nil, err
			}
			if !l {
				break
			}
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
