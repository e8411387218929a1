package patch

import (
	"context"
	"fmt"
	"io"

	"github.com/patchloop/patchloop/distrorepo"
)

// RepoDebs is a DebSource over an apt repository client: it finds the
// package in the index and fetches it, checksum-verified, through the
// client's cache.
type RepoDebs struct {
	Repo  distrorepo.Repo
	Index Candidates
}

var _ DebSource = RepoDebs{}

// OpenDeb fetches name at version for arch.
func (d RepoDebs) OpenDeb(ctx context.Context, name, version, arch string) (io.ReadCloser, error) {
	for _, p := range d.Index.Packages(name) {
		if p.Version == version && p.Architecture == arch {
			f, err := d.Repo.Fetch(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("fetching %s: %w", p, err)
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("package %s %s %s is not in the index", name, version, arch)
}
