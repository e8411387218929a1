package vulndb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/patchloop/patchloop/pkgdb"
)

// The fixed values of a Trivy report for OS packages.
const (
	ReportSchemaVersion = 2
	ReportArtifactType  = "container_image"
	ReportClassOSPkgs   = "os-pkgs"
	maxReportLen        = 256 << 20
)

// Report is a Trivy JSON report (SchemaVersion 2), the fields that Copa
// and other consumers read. Field names follow Trivy's JSON exactly.
type Report struct {
	SchemaVersion int            `json:"SchemaVersion"`
	CreatedAt     *time.Time     `json:"CreatedAt,omitempty"`
	ArtifactName  string         `json:"ArtifactName"`
	ArtifactType  string         `json:"ArtifactType"`
	Metadata      ReportMetadata `json:"Metadata"`
	Results       []ReportResult `json:"Results,omitempty"`
}

// ReportMetadata is a report's Metadata.
type ReportMetadata struct {
	OS          *ReportOS          `json:"OS,omitempty"`
	ImageID     string             `json:"ImageID,omitempty"`
	DiffIDs     []string           `json:"DiffIDs,omitempty"`
	RepoTags    []string           `json:"RepoTags,omitempty"`
	RepoDigests []string           `json:"RepoDigests,omitempty"`
	ImageConfig *ReportImageConfig `json:"ImageConfig,omitempty"`
}

// ReportOS is Metadata.OS: Trivy's family name ("debian", "alma"…), the
// version it found ("12.5", "22.04") and whether it is past end of support.
type ReportOS struct {
	Family string `json:"Family"`
	Name   string `json:"Name"`
	EOSL   bool   `json:"EOSL,omitempty"`
}

// ReportImageConfig is the part of the image config a report carries;
// Copa reads its architecture.
type ReportImageConfig struct {
	Architecture string `json:"architecture,omitempty"`
	OS           string `json:"os,omitempty"`
}

// ReportResult is one scan target; OS packages are one result of class
// "os-pkgs" whose Type is the OS family.
type ReportResult struct {
	Target          string                `json:"Target"`
	Class           string                `json:"Class"`
	Type            string                `json:"Type"`
	Vulnerabilities []ReportVulnerability `json:"Vulnerabilities,omitempty"`
}

// ReportVulnerability is one vulnerability of one package.
type ReportVulnerability struct {
	VulnerabilityID  string            `json:"VulnerabilityID"`
	PkgID            string            `json:"PkgID,omitempty"`
	PkgName          string            `json:"PkgName"`
	PkgIdentifier    *ReportIdentifier `json:"PkgIdentifier,omitempty"`
	InstalledVersion string            `json:"InstalledVersion"`
	FixedVersion     string            `json:"FixedVersion,omitempty"`
	Status           string            `json:"Status,omitempty"`
	SeveritySource   string            `json:"SeveritySource,omitempty"`
	PrimaryURL       string            `json:"PrimaryURL,omitempty"`
	Title            string            `json:"Title,omitempty"`
	Description      string            `json:"Description,omitempty"`
	Severity         string            `json:"Severity"`
}

// ReportIdentifier identifies a package by package URL.
type ReportIdentifier struct {
	PURL string `json:"PURL,omitempty"`
}

// ReportImage describes the scanned image for NewReport.
type ReportImage struct {
	Name         string   // ArtifactName: the reference as given
	ImageID      string   // config digest, "sha256:…"
	DiffIDs      []string // layer diff ids, bottom first
	RepoTags     []string
	RepoDigests  []string // "repo@sha256:…"
	Architecture string
	OS           string // "linux"
}

// NewReport builds a Trivy report of findings on an image running os.
// Results hold one "os-pkgs" result, even when there are no findings.
// createdAt is left out when zero.
func NewReport(img ReportImage, os pkgdb.OS, eosl bool, findings []Finding, createdAt time.Time) *Report {
	family := TrivyFamily(os)
	r := &Report{
		SchemaVersion: ReportSchemaVersion,
		ArtifactName:  img.Name,
		ArtifactType:  ReportArtifactType,
		Metadata: ReportMetadata{
			OS:          &ReportOS{Family: family, Name: os.VersionID, EOSL: eosl},
			ImageID:     img.ImageID,
			DiffIDs:     img.DiffIDs,
			RepoTags:    img.RepoTags,
			RepoDigests: img.RepoDigests,
		},
	}
	if !createdAt.IsZero() {
		t := createdAt.UTC()
		r.CreatedAt = &t
	}
	if img.Architecture != "" || img.OS != "" {
		r.Metadata.ImageConfig = &ReportImageConfig{Architecture: img.Architecture, OS: img.OS}
	}
	res := ReportResult{
		Target: fmt.Sprintf("%s (%s %s)", img.Name, family, os.VersionID),
		Class:  ReportClassOSPkgs,
		Type:   family,
	}
	for _, f := range findings {
		res.Vulnerabilities = append(res.Vulnerabilities, ReportVulnerability{
			VulnerabilityID:  f.VulnerabilityID.String(),
			PkgID:            f.PkgName + "@" + f.InstalledVersion,
			PkgName:          f.PkgName,
			PkgIdentifier:    &ReportIdentifier{PURL: purl(os, family, f)},
			InstalledVersion: f.InstalledVersion,
			FixedVersion:     f.FixedVersion,
			Status:           f.Status.String(),
			SeveritySource:   f.DataSource,
			PrimaryURL:       f.PrimaryURL,
			Title:            f.Title,
			Description:      f.Description,
			Severity:         f.Severity.String(),
		})
	}
	r.Results = []ReportResult{res}
	return r
}

// purl builds the package URL Trivy writes: pkg:deb/debian/name@version?arch=…&distro=debian-12.
func purl(os pkgdb.OS, family string, f Finding) string {
	s := "pkg:" + string(os.Family) + "/" + url.PathEscape(family) + "/" + url.PathEscape(f.PkgName) + "@" + url.PathEscape(f.InstalledVersion)
	q := url.Values{}
	if f.Arch != "" {
		q.Set("arch", f.Arch)
	}
	q.Set("distro", os.ID+"-"+os.VersionID)
	return s + "?" + q.Encode()
}

// WriteReport writes r as indented JSON, as trivy --format json does.
func WriteReport(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing trivy report: %w", err)
	}
	return nil
}

// ReadReport parses a Trivy JSON report of at most 256 MiB. Its schema
// version must be 2.
func ReadReport(r io.Reader) (*Report, error) {
	b, err := readLimited(r, maxReportLen)
	if err != nil {
		return nil, fmt.Errorf("reading trivy report: %w", err)
	}
	return ParseReport(b)
}

// ParseReport parses a Trivy JSON report held in b.
func ParseReport(b []byte) (*Report, error) {
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("parsing trivy report: %w", err)
	}
	if rep.SchemaVersion != ReportSchemaVersion {
		return nil, fmt.Errorf("parsing trivy report: SchemaVersion %d, want %d", rep.SchemaVersion, ReportSchemaVersion)
	}
	n := 0
	for _, res := range rep.Results {
		if res.Class == ReportClassOSPkgs {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("parsing trivy report: %d results of class %s, want at most one", n, ReportClassOSPkgs)
	}
	return &rep, nil
}

// Findings returns the findings of the report's os-pkgs result, in the
// report's order. Results of other classes (language packages) are
// ignored.
func (r *Report) Findings() ([]Finding, error) {
	var out []Finding
	for _, res := range r.Results {
		if res.Class != ReportClassOSPkgs {
			continue
		}
		for i, v := range res.Vulnerabilities {
			f, err := v.finding()
			if err != nil {
				return nil, fmt.Errorf("reading trivy report %s vulnerability %d: %w", res.Target, i, err)
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func (v ReportVulnerability) finding() (Finding, error) {
	id, err := ParseID(v.VulnerabilityID)
	if err != nil {
		return Finding{}, err
	}
	if v.PkgName == "" || v.InstalledVersion == "" {
		return Finding{}, fmt.Errorf("%s: PkgName and InstalledVersion are required", id)
	}
	var sev Severity
	if err := sev.UnmarshalText([]byte(v.Severity)); err != nil {
		return Finding{}, fmt.Errorf("%s: %w", id, err)
	}
	var st Status
	if err := st.UnmarshalText([]byte(v.Status)); err != nil {
		return Finding{}, fmt.Errorf("%s: %w", id, err)
	}
	if st == StatusUnknown {
		st = StatusAffected
		if v.FixedVersion != "" {
			st = StatusFixed
		}
	}
	return Finding{
		VulnerabilityID:  id,
		PkgName:          v.PkgName,
		SourceName:       v.PkgName,
		InstalledVersion: v.InstalledVersion,
		FixedVersion:     v.FixedVersion,
		Status:           st,
		Severity:         sev,
		Title:            v.Title,
		Description:      v.Description,
		PrimaryURL:       v.PrimaryURL,
		DataSource:       v.SeveritySource,
	}, nil
}

// ReportSource is a Source that replays an existing Trivy report, as
// Copa's --report does.
type ReportSource struct {
	report *Report
}

var _ Source = (*ReportSource)(nil)

// NewReportSource returns a Source answering from rep.
func NewReportSource(rep *Report) *ReportSource { return &ReportSource{report: rep} }

// Name returns "report".
func (s *ReportSource) Name() string { return "report" }

// Find returns the report's findings for the packages in pkgs: findings
// for packages not installed are dropped (the report is stale), and source
// names and architectures are filled from pkgs. With no pkgs, every
// finding is returned. A report for another OS family is an error.
func (s *ReportSource) Find(ctx context.Context, os pkgdb.OS, pkgs []pkgdb.Package) ([]Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ro := s.report.Metadata.OS; ro != nil && os.ID != "" && ro.Family != TrivyFamily(os) {
		return nil, fmt.Errorf("matching trivy report: report is for %s %s, image runs %s %s", ro.Family, ro.Name, os.ID, os.VersionID)
	}
	fs, err := s.report.Findings()
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		SortFindings(fs)
		return fs, nil
	}
	byName := map[string]pkgdb.Package{}
	for _, p := range pkgs {
		byName[p.Name] = p
	}
	var out []Finding
	for _, f := range fs {
		p, ok := byName[f.PkgName]
		if !ok {
			continue
		}
		if p.SourceName != "" {
			f.SourceName = p.SourceName
		}
		f.Arch = p.Arch
		out = append(out, f)
	}
	SortFindings(out)
	return out, nil
}
