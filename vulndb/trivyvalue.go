package vulndb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// TrivyAdvisory is one advisory value of a Trivy DB package bucket, the
// fields this package uses.
type TrivyAdvisory struct {
	FixedVersion string
	Status       Status   // stored as an integer in the DB
	Severity     Severity // per-package severity; stored as an integer
	Arches       []string
	VendorIDs    []string
}

type trivyAdvisoryJSON struct {
	FixedVersion string              `json:"FixedVersion"`
	Status       int                 `json:"Status"`
	Severity     int                 `json:"Severity"`
	Arches       []string            `json:"Arches"`
	VendorIDs    []string            `json:"VendorIDs"`
	Entries      []trivyAdvisoryJSON `json:"Entries"`
}

// ParseTrivyAdvisory parses one advisory value: either a single advisory
// ({"FixedVersion": "1.2-3", "Status": 3, …}) or Trivy's multi-entry form
// ({"Entries": [{…}, …]}), returning one TrivyAdvisory per entry. Unknown
// fields are ignored; out-of-range statuses and severities are errors.
func ParseTrivyAdvisory(b []byte) ([]TrivyAdvisory, error) {
	if len(b) > maxTrivyValueLen {
		return nil, fmt.Errorf("parsing advisory: %d bytes, over the %d limit", len(b), maxTrivyValueLen)
	}
	var raw trivyAdvisoryJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parsing advisory: %w", err)
	}
	entries := raw.Entries
	if len(entries) == 0 {
		entries = []trivyAdvisoryJSON{raw}
	}
	out := make([]TrivyAdvisory, 0, len(entries))
	for _, e := range entries {
		if len(e.Entries) > 0 {
			return nil, fmt.Errorf("parsing advisory: nested entries")
		}
		if e.Status < 0 || e.Status >= len(statusNames) {
			return nil, fmt.Errorf("parsing advisory: status %d out of range", e.Status)
		}
		if e.Severity < 0 || e.Severity > int(SeverityCritical) {
			return nil, fmt.Errorf("parsing advisory: severity %d out of range", e.Severity)
		}
		out = append(out, TrivyAdvisory{
			FixedVersion: e.FixedVersion,
			Status:       Status(e.Status),
			Severity:     Severity(e.Severity),
			Arches:       e.Arches,
			VendorIDs:    e.VendorIDs,
		})
	}
	return out, nil
}

// TrivyVulnerability is a value of the Trivy DB "vulnerability" bucket,
// the fields this package uses.
type TrivyVulnerability struct {
	Title          string
	Description    string
	Severity       string
	VendorSeverity map[string]int
	References     []string
}

// ParseTrivyVulnerability parses a value of the "vulnerability" bucket.
func ParseTrivyVulnerability(b []byte) (TrivyVulnerability, error) {
	var v TrivyVulnerability
	if len(b) > maxTrivyValueLen {
		return v, fmt.Errorf("parsing vulnerability: %d bytes, over the %d limit", len(b), maxTrivyValueLen)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("parsing vulnerability: %w", err)
	}
	for src, s := range v.VendorSeverity {
		if s < 0 || s > int(SeverityCritical) {
			return v, fmt.Errorf("parsing vulnerability: severity %d of %q out of range", s, src)
		}
	}
	if v.Severity != "" {
		if _, err := ParseSeverity(v.Severity); err != nil {
			return v, fmt.Errorf("parsing vulnerability: %w", err)
		}
	}
	return v, nil
}

// severity follows Trivy: the platform's vendor severity, else NVD's, else
// the record's own.
func (v TrivyVulnerability) severity(source string) Severity {
	if s, ok := v.VendorSeverity[source]; ok {
		return Severity(s)
	}
	if s, ok := v.VendorSeverity["nvd"]; ok {
		return Severity(s)
	}
	s, _ := ParseSeverity(v.Severity) // validated when parsed; empty is UNKNOWN
	return s
}

// readLimited reads r whole, failing when it is longer than limit.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("longer than %d bytes", limit)
	}
	return buf.Bytes(), nil
}

func lower(s string) string { return strings.ToLower(s) }
