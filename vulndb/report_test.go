package vulndb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

func TestReportRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupTrivy(t, []trivyEntry{
		{"debian 12", "openssl", "CVE-2024-0727", map[string]any{"FixedVersion": "3.0.13-1~deb12u1"}},
		{"debian 12", "glibc", "CVE-2010-4756", map[string]any{"Status": 5}},
		{"debian 12", "glibc", "CVE-2025-4802", map[string]any{"FixedVersion": "2.36-9+deb12u11", "Severity": 3}},
	}, map[string]any{"CVE-2024-0727": map[string]any{"Title": "openssl: pkcs12 crash", "VendorSeverity": map[string]int{"debian": 1}}})
	findings, err := b.db.Find(context.Background(), bookworm, bookwormPkgs)
	if err != nil {
		t.Fatal(err)
	}
	img := vulndb.ReportImage{
		Name:         "localhost:5000/app:1.0",
		ImageID:      "sha256:" + strings.Repeat("ab", 32),
		RepoDigests:  []string{"localhost:5000/app@sha256:" + strings.Repeat("cd", 32)},
		Architecture: "amd64",
		OS:           "linux",
	}
	created := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := vulndb.WriteReport(&buf, vulndb.NewReport(img, bookworm, false, findings, created)); err != nil {
		t.Fatal(err)
	}
	rep, err := vulndb.ReadReport(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	back, err := rep.Findings()
	if err != nil {
		t.Fatal(err)
	}
	strip := func(fs []vulndb.Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s", f.VulnerabilityID, f.PkgName, f.InstalledVersion,
				f.FixedVersion, f.Status, f.Severity, f.Title, f.PrimaryURL))
		}
		return out
	}
	if a, b := strip(findings), strip(back); !slices.Equal(a, b) || len(a) != 4 {
		t.Errorf("round trip changed findings:\n%s\nback:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if rep.CreatedAt == nil || !rep.CreatedAt.Equal(created) || rep.Metadata.ImageConfig.Architecture != "amd64" {
		t.Errorf("metadata lost: %+v", rep)
	}
}

// TestReportHasWhatCopaReads checks the written JSON, decoded without our
// types, for every field Copa's Trivy parser and Trivy's own schema use.
func TestReportHasWhatCopaReads(t *testing.T) {
	t.Parallel()
	f := vulndb.Finding{
		VulnerabilityID: vulndb.MustParseID("CVE-2024-0727"), PkgName: "libssl3", SourceName: "openssl", Arch: "amd64",
		InstalledVersion: "3.0.11-1~deb12u2", FixedVersion: "3.0.13-1~deb12u1", Status: vulndb.StatusFixed, Severity: vulndb.SeverityMedium,
	}
	cases := []struct {
		os     pkgdb.OS
		eosl   bool
		family string
	}{
		{bookworm, false, "debian"},
		{pkgdb.OS{ID: "debian", VersionID: "10", Family: pkgdb.Deb}, true, "debian"},
		{jammy, false, "ubuntu"},
		{pkgdb.OS{ID: "alpine", VersionID: "3.19.1", Family: pkgdb.APK}, false, "alpine"},
		{pkgdb.OS{ID: "almalinux", VersionID: "9.3", Family: pkgdb.RPM}, false, "alma"},
		{pkgdb.OS{ID: "rhel", VersionID: "9.3", Family: pkgdb.RPM}, false, "redhat"},
		{pkgdb.OS{ID: "amzn", VersionID: "2023", Family: pkgdb.RPM}, false, "amazon"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		img := vulndb.ReportImage{Name: "r/app:1", Architecture: "amd64", OS: "linux"}
		if err := vulndb.WriteReport(&buf, vulndb.NewReport(img, c.os, c.eosl, []vulndb.Finding{f}, time.Time{})); err != nil {
			t.Fatal(err)
		}
		var raw struct {
			SchemaVersion int
			ArtifactName  string
			ArtifactType  string
			Metadata      struct {
				OS struct {
					Family string
					Name   string
					EOSL   bool
				}
				ImageConfig struct {
					Architecture string `json:"architecture"`
				}
			}
			Results []struct {
				Target, Class, Type string
				Vulnerabilities     []map[string]any
			}
		}
		if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		m := raw.Metadata
		if raw.SchemaVersion != 2 || raw.ArtifactType != "container_image" || raw.ArtifactName != "r/app:1" ||
			m.OS.Family != c.family || m.OS.Name != c.os.VersionID || m.OS.EOSL != c.eosl || m.ImageConfig.Architecture != "amd64" {
			t.Errorf("%s: header %s", c.os.ID, buf.Bytes())
		}
		if len(raw.Results) != 1 || raw.Results[0].Class != "os-pkgs" || raw.Results[0].Type != c.family || len(raw.Results[0].Vulnerabilities) != 1 {
			t.Fatalf("%s: results %s", c.os.ID, buf.Bytes())
		}
		v := raw.Results[0].Vulnerabilities[0]
		for k, want := range map[string]string{
			"VulnerabilityID": "CVE-2024-0727", "PkgName": "libssl3", "InstalledVersion": "3.0.11-1~deb12u2",
			"FixedVersion": "3.0.13-1~deb12u1", "Severity": "MEDIUM", "Status": "fixed",
		} {
			if v[k] != want {
				t.Errorf("%s: %s = %v, want %q", c.os.ID, k, v[k], want)
			}
		}
		if purl, _ := v["PkgIdentifier"].(map[string]any)["PURL"].(string); !strings.HasPrefix(purl, "pkg:"+string(c.os.Family)+"/"+c.family+"/libssl3@3.0.11-1~deb12u2?") {
			t.Errorf("%s: purl %q", c.os.ID, purl)
		}
	}
}

func TestReportSourceReplaysTrivyReport(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/trivy-report-debian12.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := vulndb.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	all, err := rep.Findings()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || len(vulndb.Fixable(all)) != 2 {
		t.Errorf("os-pkgs findings %q, want 3 (2 fixable); lang-pkgs ignored", summarize(all))
	}
	src := vulndb.NewReportSource(rep)
	pkgs := append(slices.Clone(bookwormPkgs), pkgdb.Package{Name: "apt", Version: "2.6.1", Arch: "amd64", SourceName: "apt", SourceVersion: "2.6.1"})
	got, err := src.Find(context.Background(), bookworm, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`apt CVE-2011-3374 affected fixed=""`, `libssl3 CVE-2024-0727 fixed fixed="3.0.13-1~deb12u1"`}
	if have := summarize(got); !slices.Equal(have, want) {
		t.Errorf("findings %q, want %q (not-installed dropped)", have, want)
	}
	if got[1].SourceName != "openssl" || got[1].Severity != vulndb.SeverityMedium || got[1].Title == "" {
		t.Errorf("libssl3 finding %+v", got[1])
	}
	if _, err := src.Find(context.Background(), jammy, pkgs); err == nil || !strings.Contains(err.Error(), "report is for debian") {
		t.Errorf("ubuntu image with a debian report: %v", err)
	}
}

func TestReadReportErrors(t *testing.T) {
	t.Parallel()
	good := `{"SchemaVersion":2,"ArtifactName":"a","ArtifactType":"container_image","Metadata":{},"Results":[%s]}`
	osRes := `{"Target":"a","Class":"os-pkgs","Type":"debian","Vulnerabilities":[%s]}`
	cases := map[string]struct{ doc, want string }{
		"schema 1":        {`{"SchemaVersion":1}`, "SchemaVersion 1"},
		"not json":        {`<html>`, "parsing trivy report"},
		"two os results":  {fmt.Sprintf(good, fmt.Sprintf(osRes, "")+","+fmt.Sprintf(osRes, "")), "2 results of class os-pkgs"},
		"bad id":          {fmt.Sprintf(good, fmt.Sprintf(osRes, `{"VulnerabilityID":"nope","PkgName":"a","InstalledVersion":"1","Severity":"LOW"}`)), `"nope"`},
		"bad severity":    {fmt.Sprintf(good, fmt.Sprintf(osRes, `{"VulnerabilityID":"CVE-2024-1234","PkgName":"a","InstalledVersion":"1","Severity":"SEVERE"}`)), `"SEVERE"`},
		"no package name": {fmt.Sprintf(good, fmt.Sprintf(osRes, `{"VulnerabilityID":"CVE-2024-1234","InstalledVersion":"1","Severity":"LOW"}`)), "PkgName"},
		"unknown status":  {fmt.Sprintf(good, fmt.Sprintf(osRes, `{"VulnerabilityID":"CVE-2024-1234","PkgName":"a","InstalledVersion":"1","Severity":"LOW","Status":"meh"}`)), `"meh"`},
	}
	for name, c := range cases {
		rep, err := vulndb.ParseReport([]byte(c.doc))
		if err == nil {
			_, err = rep.Findings()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %s", name, err, c.want)
		}
	}
}
