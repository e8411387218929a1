package patch

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DirDebs is a DebSource over a directory of package files named as apt
// names its downloads: <name>_<version>_<arch>.deb, the version's epoch
// colon written as %3a. It does no verification: use it for packages that
// were verified when they were put there.
type DirDebs struct {
	Dir string
}

var _ DebSource = DirDebs{}

// DebFileName is the file name apt gives a downloaded package.
func DebFileName(name, version, arch string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + arch + ".deb"
}

// OpenDeb opens <Dir>/<name>_<version>_<arch>.deb.
func (d DirDebs) OpenDeb(ctx context.Context, name, version, arch string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, s := range []string{name, version, arch} {
		if s == "" || strings.ContainsAny(s, "/\x00") {
			return nil, fmt.Errorf("opening package %q %q %q: bad name", name, version, arch)
		}
	}
	f, err := os.Open(filepath.Join(d.Dir, DebFileName(name, version, arch)))
	if err != nil {
		return nil, fmt.Errorf("opening package %s %s %s: %w", name, version, arch, err)
	}
	return f, nil
}
