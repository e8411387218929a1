package vulndb

import (
	"errors"
	"testing"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// FuzzOSVAffects checks the range walk against the comparer: a reported
// fix is always above the installed version, and no error but a version
// parse error escapes.
func FuzzOSVAffects(f *testing.F) {
	f.Add("1.0-1", "0", "1.0-2", "", "1.0-1")
	f.Add("2.0-1", "1.0", "1.5", "2.0", "")
	f.Add("1:2.3-4", "1:2.0", "", "", "1:2.3-4")
	f.Add("3.0.11-1~deb12u2", "0", "3.0.13-1~deb12u1", "3.1", "")
	cmp := version.For(pkgdb.Deb)
	f.Fuzz(func(t *testing.T, v, intro, fixed, intro2, last string) {
		var events []OSVEvent
		for _, e := range []OSVEvent{{Introduced: intro}, {Fixed: fixed}, {Introduced: intro2}, {LastAffected: last}} {
			if e.Introduced+e.Fixed+e.LastAffected != "" {
				events = append(events, e)
			}
		}
		a := OSVAffected{Ecosystem: "Debian:12", Name: "p", Ranges: []OSVRange{{Events: events}}}
		got, err := a.affects(v, cmp)
		if errors.Is(err, errNotAffected) || err != nil {
			return
		}
		if got != "" {
			if c, err := cmp.Compare(v, got); err != nil || c >= 0 {
				t.Fatalf("version %q reported fixed by %q (compare %d, %v)", v, got, c, err)
			}
		}
	})
}
