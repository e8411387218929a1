package version

import "github.com/patchloop/patchloop/pkgdb"

// comparers is the table of implementations, one per family.
var comparers = map[pkgdb.Family]Comparer{
	pkgdb.Deb: DebComparer{},
	pkgdb.APK: APKComparer{},
	pkgdb.RPM: RPMComparer{},
}

// For returns the Comparer of a family, or nil for a family it does not
// know.
func For(f pkgdb.Family) Comparer { return comparers[f] }
