// Package demo builds the image `patchloop demo` patches: a small but real
// Debian bookworm image, installed from the archive's own packages by the
// patch engine's .deb code, in versions that bookworm-security supersedes,
// with a valid dpkg database.
package demo

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// Bookworm is the release the demo image is built from.
var Bookworm = pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)", Family: pkgdb.Deb}

// DefaultSeeds are the libraries the demo image may hold, in order of
// preference; those with a newer version in bookworm-security are kept.
var DefaultSeeds = []string{"libssl3", "zlib1g", "libexpat1", "libsqlite3-0", "libxml2", "libtasn1-6", "libgnutls30", "libcurl4"}

// MaxSeeds bounds the vulnerable libraries installed, to keep the image small.
const MaxSeeds = 3

// maxPackages bounds the dependency closure.
const maxPackages = 80

// Config configures Build.
type Config struct {
	// Repos reaches the Debian archive. Required.
	Repos *distrorepo.Client
	// ScratchDir holds the root and layer files while building. Required.
	ScratchDir string
	// Seeds overrides DefaultSeeds.
	Seeds []string
	// Arch is the dpkg architecture. Default "amd64".
	Arch string
}

// Image is the built image and what it holds.
type Image struct {
	Image v1.Image
	// Packages are the installed packages, sorted by name.
	Packages []patch.Upgrade
	// Vulnerable maps each seed installed at its release version to the
	// newer bookworm-security version.
	Vulnerable map[string]string
}

// Build resolves the seeds' release versions and their dependency
// closure, and writes the image: a base layer (merged-/usr symlinks, an
// empty dpkg database, root's passwd and group) and one layer that the
// patch engine's dpkg installer writes, installing every package.
func Build(ctx context.Context, cfg Config) (*Image, error) {
	if cfg.Repos == nil || cfg.ScratchDir == "" {
		return nil, errors.New("demo config: Repos and ScratchDir are required")
	}
	if cfg.Arch == "" {
		cfg.Arch = "amd64"
	}
	seeds := cfg.Seeds
	if seeds == nil {
		seeds = DefaultSeeds
	}
	set, err := cfg.Repos.Sources(nil, Bookworm, cfg.Arch)
	if err != nil {
		return nil, err
	}
	ix, err := cfg.Repos.Index(ctx, set)
	if err != nil {
		return nil, err
	}
	cmp := version.For(pkgdb.Deb)
	vulnerable := map[string]string{}
	var roots []string
	for _, s := range seeds {
		rel := inPocket(ix, s, cfg.Arch, distrorepo.PocketRelease)
		sec := inPocket(ix, s, cfg.Arch, distrorepo.PocketSecurity)
		if rel == nil || sec == nil {
			continue
		}
		if c, err := cmp.Compare(sec.Version, rel.Version); err != nil || c <= 0 {
			continue
		}
		vulnerable[s] = sec.Version
		roots = append(roots, s)
		if len(roots) == MaxSeeds {
			break
		}
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("none of %s has a bookworm-security update newer than bookworm today", strings.Join(seeds, ", "))
	}
	pkgs, err := closure(ix, append([]string{"base-files"}, roots...), cfg.Arch)
	if err != nil {
		return nil, err
	}
	ups := make([]patch.Upgrade, 0, len(pkgs))
	for _, p := range pkgs {
		ups = append(ups, patch.Upgrade{Name: p.Name, Arch: p.Architecture, NewVersion: p.Version, Reason: "demo"})
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })

	work, err := os.MkdirTemp(cfg.ScratchDir, "demo-image-*")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	root := filepath.Join(work, "root")
	if err := writeBase(root); err != nil {
		return nil, err
	}
	baseFile := filepath.Join(cfg.ScratchDir, "demo-base-"+filepath.Base(work)+".tar")
	if err := tarDir(root, baseFile); err != nil {
		return nil, err
	}
	base, err := tarball.LayerFromFile(baseFile, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading base layer: %w", err)
	}
	lf, _, err := patch.BuildLayer(ctx, &patch.Dpkg{}, patch.LayerParams{
		Root:         os.DirFS(root),
		RootComplete: true,
		Upgrades:     ups,
		Debs:         patch.RepoDebs{Repo: cfg.Repos, Index: ix},
	}, cfg.ScratchDir)
	if err != nil {
		return nil, fmt.Errorf("installing the demo packages: %w", err)
	}
	install, err := lf.Layer(types.OCILayer)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: cfg.Arch,
		OS:           "linux",
		Config:       v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	})
	if err != nil {
		return nil, fmt.Errorf("writing demo config: %w", err)
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{CreatedBy: "patchloop demo: merged-/usr root, empty dpkg database"}},
		mutate.Addendum{Layer: install, History: v1.History{CreatedBy: "patchloop demo: install " + names(ups)}},
	)
	if err != nil {
		return nil, fmt.Errorf("assembling demo image: %w", err)
	}
	return &Image{Image: img, Packages: ups, Vulnerable: vulnerable}, nil
}

func names(ups []patch.Upgrade) string {
	var s []string
	for _, u := range ups {
		s = append(s, u.Name+"="+u.NewVersion)
	}
	return strings.Join(s, " ")
}

// inPocket returns name's entry for arch (or "all") from a suite of pocket.
func inPocket(ix *distrorepo.Index, name, arch string, pocket distrorepo.Pocket) *distrorepo.Package {
	var best *distrorepo.Package
	cmp := version.For(pkgdb.Deb)
	for _, p := range ix.Packages(name) {
		if p.Suite == nil || p.Suite.Pocket != pocket || (p.Architecture != arch && p.Architecture != "all") {
			continue
		}
		if best == nil {
			best = p
			continue
		}
		if c, err := cmp.Compare(p.Version, best.Version); err == nil && c > 0 {
			best = p
		}
	}
	return best
}

// closure adds the release-pocket Depends and Pre-Depends of roots until
// nothing is missing: each OR-group is met by its first alternative that
// is a real package, else by a provider.
func closure(ix *distrorepo.Index, roots []string, arch string) ([]*distrorepo.Package, error) {
	chosen := map[string]*distrorepo.Package{}
	provided := map[string]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if chosen[name] != nil {
			continue
		}
		p := inPocket(ix, name, arch, distrorepo.PocketRelease)
		if p == nil {
			return nil, fmt.Errorf("package %s is not in bookworm for %s", name, arch)
		}
		chosen[name] = p
		for _, pr := range p.Provides {
			for _, r := range pr {
				provided[r.Name] = true
			}
		}
		if len(chosen) > maxPackages {
			return nil, fmt.Errorf("the demo packages need more than %d packages", maxPackages)
		}
		for _, group := range slices.Concat(p.PreDepends, p.Depends) {
			if met(group, chosen, provided) {
				continue
			}
			next := ""
			for _, alt := range group {
				if inPocket(ix, alt.Name, arch, distrorepo.PocketRelease) != nil {
					next = alt.Name
					break
				}
			}
			if next == "" {
				for _, alt := range group {
					for _, pv := range ix.Providers(alt.Name) {
						if pv.Suite != nil && pv.Suite.Pocket == distrorepo.PocketRelease {
							next = pv.Name
							break
						}
					}
					if next != "" {
						break
					}
				}
			}
			if next == "" {
				return nil, fmt.Errorf("%s: no bookworm package meets %s", p, group[0])
			}
			queue = append(queue, next)
		}
	}
	out := make([]*distrorepo.Package, 0, len(chosen))
	for _, p := range chosen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func met(group distrorepo.Alternatives, chosen map[string]*distrorepo.Package, provided map[string]bool) bool {
	for _, alt := range group {
		if chosen[alt.Name] != nil || provided[alt.Name] {
			return true
		}
	}
	return false
}

// writeBase writes the base root: merged-/usr symlinks, the directories
// packages expect, root's passwd and group, and an empty dpkg database.
func writeBase(root string) error {
	dirs := []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "root", "tmp", "run", "var/tmp"}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("writing demo root: %w", err)
		}
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		if err := os.Chmod(filepath.Join(root, d), 0o1777|fs.ModeSticky); err != nil {
			return fmt.Errorf("writing demo root: %w", err)
		}
	}
	for link, target := range map[string]string{"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			return fmt.Errorf("writing demo root: %w", err)
		}
	}
	files := map[string]string{
		"etc/passwd":              "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":               "root:x:0:\n",
		"var/lib/dpkg/status":     "",
		"var/lib/dpkg/available":  "",
		"var/lib/dpkg/arch":       "amd64\n",
		"var/lib/dpkg/diversions": "",
		// The arch-qualified info/ layout of multiarch dpkg.
		"var/lib/dpkg/info/format": "1\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing demo root: %w", err)
		}
	}
	return nil
}

// tarDir writes the tree at dir as an uncompressed tar file, owned by root.
func tarDir(dir, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("writing base layer: %w", err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		h.ModTime = h.ModTime.Truncate(0).UTC()
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing base layer %s: %w", dst, err)
	}
	return nil
}
