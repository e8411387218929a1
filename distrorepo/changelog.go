package distrorepo

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/patchloop/patchloop/distrorepo/deb"
)

// MaxChangelogSize bounds a changelog, compressed and uncompressed.
const MaxChangelogSize = 32 << 20

// ErrNoChangelog is returned when a package ships no Debian changelog.
var ErrNoChangelog = errors.New("no changelog in package")

// Changelog returns the uncompressed Debian changelog shipped in p's .deb
// (usr/share/doc/<name>/changelog.Debian.gz, or changelog.gz for native
// packages). When the package's doc directory is a symlink to a sibling
// package's (libssl3 → openssl style), the changelog is read from that
// sibling's .deb, found in ix as the same source and version.
func (c *Client) Changelog(ctx context.Context, ix *Index, p *Package) ([]byte, error) {
	seen := map[string]bool{}
	for hop := 0; hop < 3; hop++ {
		seen[p.Name] = true
		b, target, err := c.changelogFrom(ctx, p)
		if err != nil || target == "" {
			return b, err
		}
		next := sibling(ix, p, target)
		if next == nil || seen[next.Name] {
			return nil, fmt.Errorf("changelog of %s: doc directory links to %s, which the index does not hold at source %s %s: %w", p, target, p.Source, p.SourceVersion, ErrNoChangelog)
		}
		p = next
	}
	return nil, fmt.Errorf("changelog of %s: too many doc directory links: %w", p, ErrNoChangelog)
}

// sibling finds the package named name built from the same source version
// as p, preferring p's architecture.
func sibling(ix *Index, p *Package, name string) *Package {
	if ix == nil {
		return nil
	}
	var found *Package
	for _, q := range ix.Packages(name) {
		if q.Source != p.Source || q.SourceVersion != p.SourceVersion {
			continue
		}
		if q.Architecture == p.Architecture {
			return q
		}
		if found == nil {
			found = q
		}
	}
	return found
}

// changelogFrom reads p's .deb once, returning its changelog or the
// package its doc directory links to.
func (c *Client) changelogFrom(ctx context.Context, p *Package) ([]byte, string, error) {
	f, err := c.Fetch(ctx, p)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	doc := "usr/share/doc/" + p.Name
	want := map[string]bool{doc + "/changelog.Debian.gz": true, doc + "/changelog.gz": true}
	d := deb.NewReader(f)
	var link string
	var fallback []byte
	for {
		sec, tr, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", p, err)
		}
		if sec != deb.Data {
			continue
		}
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, "", fmt.Errorf("reading data of %s: %w", p, err)
			}
			name := deb.CleanName(hdr.Name)
			switch {
			case name == doc && hdr.Typeflag == tar.TypeSymlink:
				link = path.Base(strings.TrimSuffix(hdr.Linkname, "/"))
			case want[name] && hdr.Typeflag == tar.TypeReg:
				text, err := gunzipLimited(tr)
				if err != nil {
					return nil, "", fmt.Errorf("changelog of %s: %w", p, err)
				}
				if strings.HasSuffix(name, ".Debian.gz") {
					return text, "", nil
				}
				fallback = text
			}
		}
	}
	if fallback != nil {
		return fallback, "", nil
	}
	if link != "" && link != p.Name {
		return nil, link, nil
	}
	return nil, "", fmt.Errorf("changelog of %s: %w", p, ErrNoChangelog)
}

func gunzipLimited(r io.Reader) ([]byte, error) {
	zr, err := kgzip.NewReader(io.LimitReader(r, MaxChangelogSize))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	defer zr.Close()
	b, err := io.ReadAll(io.LimitReader(zr, MaxChangelogSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	if len(b) > MaxChangelogSize {
		return nil, fmt.Errorf("over %d bytes: %w", MaxChangelogSize, ErrTooLarge)
	}
	return b, nil
}
