package vulndb_test

import (
	"testing"

	"github.com/patchloop/patchloop/vulndb"
)

func TestSeveritySetKeepsListedSeverities(t *testing.T) {
	t.Parallel()
	var fs []vulndb.Finding
	for s := vulndb.SeverityUnknown; s <= vulndb.SeverityCritical; s++ {
		fs = append(fs, vulndb.Finding{PkgName: s.String(), Severity: s})
	}
	cases := map[string]string{
		"CRITICAL,HIGH":                    "HIGH CRITICAL",
		"high, critical":                   "HIGH CRITICAL",
		"LOW":                              "LOW", // a set, not a threshold
		"UNKNOWN,MEDIUM":                   "UNKNOWN MEDIUM",
		"UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL": "UNKNOWN LOW MEDIUM HIGH CRITICAL",
	}
	for list, want := range cases {
		set, err := vulndb.ParseSeveritySet(list)
		if err != nil {
			t.Fatalf("%q: %v", list, err)
		}
		got := ""
		for _, f := range set.Filter(fs) {
			if got != "" {
				got += " "
			}
			got += f.PkgName
		}
		if got != want {
			t.Errorf("%q kept %q, want %q", list, got, want)
		}
	}
	if got := vulndb.AllSeverities.Filter(fs); len(got) != len(fs) {
		t.Errorf("AllSeverities kept %d of %d", len(got), len(fs))
	}
	set, _ := vulndb.ParseSeveritySet("high,CRITICAL")
	if set.String() != "CRITICAL,HIGH" {
		t.Errorf("String() = %q", set.String())
	}
	for _, bad := range []string{"", "HIGH,", "SEVERE", "HIGH,,LOW", "MODERATE"} {
		if _, err := vulndb.ParseSeveritySet(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestStatusNames(t *testing.T) {
	t.Parallel()
	for s := vulndb.StatusUnknown; s <= vulndb.StatusEndOfLife; s++ {
		p, err := vulndb.ParseStatus(s.String())
		if err != nil || p != s {
			t.Errorf("%d: %q parses to %d, %v", s, s, p, err)
		}
	}
	if _, err := vulndb.ParseStatus("Fixed"); err == nil {
		t.Error("statuses are lower case, as Trivy writes them")
	}
}
