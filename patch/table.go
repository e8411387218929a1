package patch

import (
	"fmt"

	"github.com/patchloop/patchloop/pkgdb"
)

// The implementations of each stage, per family: the only switch on family.
var (
	installers = map[pkgdb.Family]Installer{pkgdb.Deb: &Dpkg{}}
	planners   = map[pkgdb.Family]Planner{pkgdb.Deb: &DpkgPlanner{}}
)

// InstallerFor returns the layer builder of a family.
func InstallerFor(f pkgdb.Family) (Installer, error) {
	if i, ok := installers[f]; ok {
		return i, nil
	}
	return nil, fmt.Errorf("building a patch layer for %s packages: %w", f, ErrUnsupported)
}

// PlannerFor returns the upgrade planner of a family.
func PlannerFor(f pkgdb.Family) (Planner, error) {
	if p, ok := planners[f]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("planning an upgrade of %s packages: %w", f, ErrUnsupported)
}
