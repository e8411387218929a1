package vulndb_test

import (
	"encoding/json"
	"testing"

	"github.com/patchloop/patchloop/vulndb"
)

func TestParseID(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"CVE-2024-3094":           "CVE-2024-3094",
		"cve-2021-44228":          "CVE-2021-44228",
		"CVE-2019-1010022":        "CVE-2019-1010022",
		"DSA-5621-1":              "DSA-5621-1",
		"DLA-3782-1":              "DLA-3782-1",
		"USN-6663-1":              "USN-6663-1",
		"GHSA-jfh8-c2jp-5v3q":     "GHSA-jfh8-c2jp-5v3q",
		"ALAS2-2024-2500":         "ALAS2-2024-2500",
		"RHSA-2024:1234":          "RHSA-2024:1234",
		"DEBIAN-CVE-2024-2511":    "DEBIAN-CVE-2024-2511",
		"TEMP-0841856-B18BAF":     "TEMP-0841856-B18BAF",
		"openSUSE-SU-2024:0001-1": "openSUSE-SU-2024:0001-1",
	}
	for in, want := range valid {
		id, err := vulndb.ParseID(in)
		if err != nil || id.String() != want {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, id, err, want)
		}
	}
	for _, in := range []string{"", "CVE", "CVE-", "CVE-24-1234", "CVE-2024-123", "CVE-2024-12a4", "CVE-2024", "1CVE-2024-1234",
		"DSA--1", "DSA-1-", "not an id", "DSA-1/2", "ÄSA-1", string(make([]byte, 200))} {
		if id, err := vulndb.ParseID(in); err == nil {
			t.Errorf("ParseID(%q) = %q, want an error", in, id)
		}
	}
}

func TestIDJSON(t *testing.T) {
	t.Parallel()
	var v struct{ ID vulndb.ID }
	if err := json.Unmarshal([]byte(`{"ID":"cve-2024-0001"}`), &v); err != nil || v.ID.String() != "CVE-2024-0001" || !v.ID.IsCVE() {
		t.Fatalf("unmarshal: %v %v", v.ID, err)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"ID":"CVE-2024-0001"}` {
		t.Errorf("marshal: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"ID":"bogus"}`), &v); err == nil {
		t.Error("bogus id unmarshalled")
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"CVE-2024-3094", "DSA-5621-1", "RHSA-2024:1234", "x", "CVE-2024-", "a-b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := vulndb.ParseID(s)
		if err != nil {
			return
		}
		again, err := vulndb.ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("%q parsed to %q, which parses to %q, %v", s, id, again, err)
		}
	})
}
