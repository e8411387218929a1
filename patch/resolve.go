package patch

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// maxLinks bounds the symlinks followed while resolving one path, as the
// kernel's ELOOP does.
const maxLinks = 40

// resolver maps a path as a package names it to the path it lands on in an
// image, following the image's directory symlinks (on a merged-/usr system
// "lib/x86_64-linux-gnu/libz.so.1" lands on "usr/lib/x86_64-linux-gnu/...").
// Resolved directories are cached.
type resolver struct {
	fsys fs.ReadLinkFS
	// dirs caches the resolution of directory paths.
	dirs map[string]string
	// created holds the directories the layer itself creates, which the
	// image does not have.
	created map[string]bool
}

func newResolver(root fs.FS) (*resolver, error) {
	rl, ok := root.(fs.ReadLinkFS)
	if !ok {
		return nil, fmt.Errorf("root filesystem %T cannot read symlinks: %w", root, ErrUnsupported)
	}
	return &resolver{fsys: rl, dirs: map[string]string{".": "."}, created: map[string]bool{}}, nil
}

// parent resolves every component of p but the last: the result is where an
// entry named p is written.
func (r *resolver) parent(p string) (string, error) {
	p = path.Clean(p)
	if p == "." {
		return p, nil
	}
	dir, base := path.Split(p)
	d, err := r.dir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return "", err
	}
	return path.Join(d, base), nil
}

// full resolves every component of p, the last too when it is a symlink.
func (r *resolver) full(p string) (string, error) {
	return r.dir(path.Clean(p))
}

// dir resolves a path all of whose components are followed.
func (r *resolver) dir(p string) (string, error) {
	if p == "" {
		p = "."
	}
	if d, ok := r.dirs[p]; ok {
		return d, nil
	}
	d, err := r.walk(p, 0)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", p, err)
	}
	r.dirs[p] = d
	return d, nil
}

func (r *resolver) walk(p string, hops int) (string, error) {
	cur := "."
	parts := strings.Split(p, "/")
	for i, part := range parts {
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		if r.created[next] {
			cur = next
			continue
		}
		fi, err := r.fsys.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			// The rest does not exist yet: it is created as named.
			return path.Join(append([]string{next}, parts[i+1:]...)...), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops >= maxLinks {
			return "", fmt.Errorf("too many symlinks at %s", next)
		}
		target, err := r.fsys.ReadLink(next)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(target, "/") {
			target = path.Join(cur, target)
		}
		rest := append([]string{strings.TrimPrefix(target, "/")}, parts[i+1:]...)
		return r.walk(path.Clean(path.Join(rest...)), hops+1)
	}
	return cur, nil
}

// isDir says whether the resolved path p is a directory in the image or
// made by the layer.
func (r *resolver) isDir(p string) bool {
	if r.created[p] {
		return true
	}
	fi, err := r.fsys.Lstat(p)
	return err == nil && fi.IsDir()
}
