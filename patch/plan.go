package patch

import (
	"context"
	"errors"
	"io/fs"

	"github.com/patchloop/patchloop/distrorepo"
)

// Candidates is the index of package versions a plan may install;
// *distrorepo.Index implements it.
type Candidates interface {
	// Packages returns every available entry of a binary package.
	Packages(name string) []*distrorepo.Package
	// Providers returns the entries whose Provides names name.
	Providers(name string) []*distrorepo.Package
}

var _ Candidates = (*distrorepo.Index)(nil)

// Fix asks for one installed package to be upgraded.
type Fix struct {
	Name string `json:"name"`
	// MinVersion is the lowest version that fixes it ("" for any newer
	// version); a plan whose candidate is older fails.
	MinVersion string `json:"min_version,omitempty"`
}

// PlanRequest says what to upgrade.
type PlanRequest struct {
	// Fixes are the packages to upgrade. All upgrades every installed
	// package that has a newer candidate; it cannot be combined with Fixes.
	Fixes []Fix
	All   bool
	// Index holds the candidates, typically every configured suite merged.
	Index Candidates
	// Arch is the image's native architecture ("amd64").
	Arch string
}

// Plan is the set of packages a patch installs.
type Plan struct {
	// Upgrades are sorted by name; an entry with no OldVersion is a new
	// package a dependency requires, and its Reason says which.
	Upgrades []Upgrade `json:"upgrades"`
	// UpToDate are requested packages that have no newer candidate.
	UpToDate []string `json:"up_to_date,omitempty"`
}

// Planner picks the packages a patch installs, for one family, the way the
// family's package manager would.
type Planner interface {
	// Paths are the database paths Plan reads from the root.
	Paths() []string
	// Plan computes the upgrade, or fails with ErrUnsatisfiable and the
	// reason; it never returns a partial plan.
	Plan(ctx context.Context, db fs.FS, req PlanRequest) (*Plan, error)
}

// ErrUnsatisfiable marks a plan whose dependencies cannot be met.
var ErrUnsatisfiable = errors.New("upgrade cannot be satisfied")
