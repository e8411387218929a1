package vulndb

import (
	"fmt"
	"strings"

	"github.com/patchloop/patchloop/pkgdb"
)

// platform is what the sources need to know about one distro. The
// platforms table is the package's only switch on distro.
type platform struct {
	// trivyFamily is the OS family as Trivy reports it (Metadata.OS.Family,
	// Results[].Type).
	trivyFamily string
	// trivyBucket names the Trivy DB bucket of a VERSION_ID; nil when the
	// Trivy DB layout for this distro is not supported.
	trivyBucket func(versionID string) (string, error)
	// trivySource is the Trivy DB source id whose vendor severity applies.
	trivySource string
	// osvEcosystems lists the OSV ecosystems of a VERSION_ID; nil when OSV
	// has no data for this distro.
	osvEcosystems func(versionID string, pro bool) ([]string, error)
	// bySourceName: advisories name source packages, not binary ones.
	bySourceName bool
	// bySourceVersion: the fixed version is compared with the source
	// package's version (dpkg's binNMU and binary-only versions differ).
	bySourceVersion bool
}

var platforms = map[string]platform{
	"debian": {
		trivyFamily:     "debian",
		trivyBucket:     prefixed("debian ", majorVersion),
		trivySource:     "debian",
		osvEcosystems:   debianEcosystems,
		bySourceName:    true,
		bySourceVersion: true,
	},
	"ubuntu": {
		trivyFamily:     "ubuntu",
		trivyBucket:     prefixed("ubuntu ", majorMinorVersion),
		trivySource:     "ubuntu",
		osvEcosystems:   ubuntuEcosystems,
		bySourceName:    true,
		bySourceVersion: true,
	},
	"alpine": {
		trivyFamily:   "alpine",
		trivyBucket:   alpineBucket,
		trivySource:   "alpine",
		osvEcosystems: alpineEcosystems,
		bySourceName:  true,
	},
	"rocky":      {trivyFamily: "rocky", trivyBucket: prefixed("rocky ", majorVersion), trivySource: "rocky"},
	"almalinux":  {trivyFamily: "alma", trivyBucket: prefixed("alma ", majorVersion), trivySource: "alma"},
	"amzn":       {trivyFamily: "amazon", trivyBucket: amazonBucket, trivySource: "amazon"},
	"ol":         {trivyFamily: "oracle", trivyBucket: prefixed("Oracle Linux ", majorVersion), trivySource: "oracle-oval"},
	"azurelinux": {trivyFamily: "azurelinux", trivyBucket: prefixed("Azure Linux ", majorMinorVersion), trivySource: "azure"},
	"mariner":    {trivyFamily: "cbl-mariner", trivyBucket: prefixed("CBL-Mariner ", majorMinorVersion), trivySource: "cbl-mariner"},
	"wolfi":      {trivyFamily: "wolfi", trivyBucket: fixedName("wolfi"), trivySource: "wolfi", bySourceName: true},
	"chainguard": {trivyFamily: "chainguard", trivyBucket: fixedName("chainguard"), trivySource: "chainguard", bySourceName: true},
	// Red Hat's Trivy DB data is keyed by CPE and content set, not by
	// version: not supported here.
	"rhel":   {trivyFamily: "redhat"},
	"centos": {trivyFamily: "centos"},
}

// platformFor returns the platform of os, or an error wrapping
// ErrUnsupportedOS.
func platformFor(os pkgdb.OS) (platform, error) {
	p, ok := platforms[os.ID]
	if !ok {
		return platform{}, fmt.Errorf("looking up distro %q: %w", os.ID, ErrUnsupportedOS)
	}
	return p, nil
}

// TrivyFamily returns the OS family name Trivy uses for os ("debian",
// "alma", "redhat"…), or os.ID when the distro is not in the table.
func TrivyFamily(os pkgdb.OS) string {
	if p, ok := platforms[os.ID]; ok {
		return p.trivyFamily
	}
	return os.ID
}

// advisoryName returns the package name and the version that advisories
// of this platform speak of.
func (p platform) advisoryName(pkg pkgdb.Package) (name, ver string) {
	name, ver = pkg.Name, pkg.Version
	if p.bySourceName && pkg.SourceName != "" {
		name = pkg.SourceName
	}
	if p.bySourceVersion && pkg.SourceVersion != "" {
		ver = pkg.SourceVersion
	}
	return name, ver
}

func prefixed(prefix string, norm func(string) (string, error)) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := norm(v)
		if err != nil {
			return "", err
		}
		return prefix + n, nil
	}
}

func fixedName(name string) func(string) (string, error) {
	return func(string) (string, error) { return name, nil }
}

// majorVersion returns "12" of "12" or "12.5".
func majorVersion(v string) (string, error) {
	major, _, _ := strings.Cut(v, ".")
	if !allDigits(major) {
		return "", fmt.Errorf("reading major version of %q: %w", v, ErrUnsupportedOS)
	}
	return major, nil
}

// majorMinorVersion returns "3.19" of "3.19.4" and "22.04" of "22.04".
func majorMinorVersion(v string) (string, error) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 || !allDigits(parts[0]) || !allDigits(parts[1]) {
		return "", fmt.Errorf("reading major.minor version of %q: %w", v, ErrUnsupportedOS)
	}
	return parts[0] + "." + parts[1], nil
}

// alpineBucket follows Trivy: "alpine 3.19" for 3.19.x, "alpine edge" for
// pre-releases such as 3.20_alpha20240329.
func alpineBucket(v string) (string, error) {
	if strings.Contains(v, "_alpha") {
		return "alpine edge", nil
	}
	mm, err := majorMinorVersion(v)
	if err != nil {
		return "", err
	}
	return "alpine " + mm, nil
}

// amazonBucket follows Trivy: "amazon linux 2", "amazon linux 2023", and
// "amazon linux 1" for the 2017.09/2018.03 releases of Amazon Linux 1.
func amazonBucket(v string) (string, error) {
	major, err := majorVersion(v)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(v, "2017.") || strings.HasPrefix(v, "2018.") {
		major = "1"
	}
	return "amazon linux " + major, nil
}

func debianEcosystems(v string, _ bool) ([]string, error) {
	major, err := majorVersion(v)
	if err != nil {
		return nil, err
	}
	return []string{"Debian:" + major}, nil
}

// ubuntuEcosystems returns "Ubuntu:22.04" and "Ubuntu:22.04:LTS", plus the
// Ubuntu Pro ecosystem when pro is set (its fixes need a Pro subscription).
func ubuntuEcosystems(v string, pro bool) ([]string, error) {
	mm, err := majorMinorVersion(v)
	if err != nil {
		return nil, err
	}
	eco := []string{"Ubuntu:" + mm, "Ubuntu:" + mm + ":LTS"}
	if pro {
		eco = append(eco, "Ubuntu:Pro:"+mm, "Ubuntu:Pro:"+mm+":LTS")
	}
	return eco, nil
}

func alpineEcosystems(v string, _ bool) ([]string, error) {
	mm, err := majorMinorVersion(v)
	if err != nil {
		return nil, err
	}
	return []string{"Alpine:v" + mm}, nil
}
