package pkgdb_test

import (
	"testing"
	"testing/fstest"

	"github.com/patchloop/patchloop/pkgdb"
)

func TestComplete(t *testing.T) {
	osr := &fstest.MapFile{Data: []byte("ID=debian\nVERSION_ID=12\n")}
	apk := &fstest.MapFile{Data: []byte("ID=alpine\nVERSION_ID=3.19.4\n")}
	for name, tc := range map[string]struct {
		fs   fstest.MapFS
		want bool
	}{
		"os-release and status":       {fstest.MapFS{"etc/os-release": osr, "var/lib/dpkg/status": {Data: []byte("Package: a\n")}}, true},
		"status.d alone stays open":   {fstest.MapFS{"etc/os-release": osr, "var/lib/dpkg/status.d/a": {Data: []byte("Package: a\n")}}, false},
		"empty status stays open":     {fstest.MapFS{"etc/os-release": osr, "var/lib/dpkg/status": {}}, false},
		"database without os-release": {fstest.MapFS{"var/lib/dpkg/status": {Data: []byte("Package: a\n")}}, false},
		"os-release alone":            {fstest.MapFS{"etc/os-release": osr}, false},
		"alpine":                      {fstest.MapFS{"etc/os-release": apk, "lib/apk/db/installed": {Data: []byte("P:a\nV:1\n")}}, true},
		"windows decides at once":     {fstest.MapFS{"Files/Windows/System32/x": {}}, true},
	} {
		if got := pkgdb.Complete(tc.fs); got != tc.want {
			t.Errorf("%s: Complete = %v, want %v", name, got, tc.want)
		}
	}
}

func TestPathsMarkDirectories(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range pkgdb.Paths() {
		seen[p] = true
	}
	for _, want := range []string{"etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status", "var/lib/dpkg/status.d/", "lib/apk/db/installed", "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"} {
		if !seen[want] {
			t.Errorf("Paths lacks %s", want)
		}
	}
}
