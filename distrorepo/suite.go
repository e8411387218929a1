package distrorepo

import "strings"

// Pocket classifies a suite by the role it plays for a release.
type Pocket string

// The pockets a Debian or Ubuntu release has.
const (
	PocketRelease   Pocket = "release"   // bookworm, jammy
	PocketUpdates   Pocket = "updates"   // bookworm-updates, jammy-updates
	PocketSecurity  Pocket = "security"  // bookworm-security, jammy-security
	PocketBackports Pocket = "backports" // bookworm-backports
	PocketProposed  Pocket = "proposed"  // jammy-proposed, bookworm-proposed-updates
	PocketOther     Pocket = "other"     // flat and third-party repositories
)

// PocketOf classifies a suite name.
func PocketOf(suite string) Pocket {
	switch {
	case strings.HasSuffix(suite, "/"):
		return PocketOther
	case strings.HasSuffix(suite, "-security"), strings.HasSuffix(suite, "/updates"):
		return PocketSecurity
	case strings.HasSuffix(suite, "-proposed-updates"), strings.HasSuffix(suite, "-proposed"):
		return PocketProposed
	case strings.HasSuffix(suite, "-updates"):
		return PocketUpdates
	case strings.HasSuffix(suite, "-backports"), strings.HasSuffix(suite, "-backports-sloppy"):
		return PocketBackports
	case strings.Contains(suite, "-"):
		return PocketOther
	}
	return PocketRelease
}

// Suite is one verified suite of a repository, shared by the packages
// indexed from it.
type Suite struct {
	// URI and Name are the repository and suite as configured (before
	// mirror rewrites).
	URI  string
	Name string
	// Pocket is PocketOf(Name).
	Pocket Pocket
	// Codename, Origin, Label and Version come from the Release file.
	Codename, Origin, Label, Version string
	// Components are those indexed.
	Components []string
	// Signed is false only for a suite accepted unsigned with AllowUnsigned.
	Signed bool
	// Signer is the primary key id that signed the Release file.
	Signer string
	// Release is the verified Release file.
	Release *Release
	// From says where the source came from ("/etc/apt/sources.list:1",
	// "default", "config").
	From string
}

// String names the suite as "URI suite".
func (s *Suite) String() string { return s.URI + " " + s.Name }
