// Package distrorepo is the apt repository client: it resolves an image's
// apt sources and keys (plus built-in defaults and user configuration),
// verifies signed Release files, and serves the merged, checksummed
// package index of a release with verified, cached downloads of .debs and
// their changelogs.
package distrorepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// Repo is a family's remote package repositories, as the scanner and the
// patch engine use them. Client implements it for apt.
type Repo interface {
	// Index returns the merged package index of a source set.
	Index(ctx context.Context, set *SourceSet, opts ...IndexOption) (*Index, error)
	// Fetch returns the verified package file of an index entry, opened at
	// offset 0; its Name is its path in the cache.
	Fetch(ctx context.Context, p *Package) (*os.File, error)
	// Changelog returns the uncompressed Debian changelog shipped in a
	// package (following a doc directory symlink to a sibling package).
	Changelog(ctx context.Context, ix *Index, p *Package) ([]byte, error)
}

var _ Repo = (*Client)(nil)

// ErrExpired marks a Release whose Valid-Until has passed or whose Date
// lies in the future.
var ErrExpired = errors.New("release file is expired or not yet valid")

// ErrMissingIndex marks a suite whose Release lists no Packages file for a
// component and architecture.
var ErrMissingIndex = errors.New("no package index")

// Client is an apt repository client. It is safe for concurrent use.
type Client struct {
	cfg      Config
	userKeys openpgp.EntityList

	mu   sync.Mutex
	memo map[string]*memoEntry
}

type memoEntry struct {
	done  chan struct{}
	at    time.Time
	suite *Suite
	pkgs  []*Package
	err   error
}

// New returns a client for cfg (defaults applied, then validated). The
// keyrings of cfg.Keyrings are read now.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, memo: map[string]*memoEntry{}}
	for _, p := range cfg.Keyrings {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading keyring %s: %w", p, err)
		}
		el, err := ParseKeyring(b)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", p, err)
		}
		c.userKeys = append(c.userKeys, el...)
	}
	return c, nil
}

// IndexOption changes what Index keeps.
type IndexOption func(*indexOptions)

type indexOptions struct {
	names map[string]bool
}

// WithPackages keeps only the entries with these binary package names (for
// the scanner: the packages installed in the image). Parsing then skips
// the other paragraphs, about 8x faster; such indexes are not kept in
// memory between calls.
func WithPackages(names ...string) IndexOption {
	return func(o *indexOptions) {
		if o.names == nil {
			o.names = map[string]bool{}
		}
		for _, n := range names {
			o.names[n] = true
		}
	}
}

// Index fetches, verifies and parses the Packages indexes of every source
// in set for set.Arch and merges them. Suites are fetched in parallel;
// any failing suite fails the whole index, naming the suite. Full indexes
// are kept in memory for IndexTTL and shared by later calls.
func (c *Client) Index(ctx context.Context, set *SourceSet, opts ...IndexOption) (*Index, error) {
	var o indexOptions
	for _, opt := range opts {
		opt(&o)
	}
	type result struct {
		suite *Suite
		pkgs  []*Package
		err   error
	}
	results := make([]result, len(set.entries))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, e := range set.entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var s *Suite
			var p []*Package
			var err error
			if o.names != nil {
				s, p, err = c.loadSuite(ctx, e, set.Arch, o.names)
			} else {
				s, p, err = c.suiteIndex(ctx, e, set.Arch)
			}
			results[i] = result{s, p, err}
		}()
	}
	wg.Wait()
	ix := newIndex(set.Arch)
	var errs []string
	var first error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err.Error())
			if first == nil {
				first = r.err
			}
			continue
		}
		ix.add(r.suite, r.pkgs)
	}
	if first != nil {
		if len(errs) == 1 {
			return nil, first
		}
		return nil, fmt.Errorf("%w (and: %s)", first, strings.Join(errs[1:], "; "))
	}
	return ix, nil
}

// suiteIndex returns one suite's packages, from memory when a verified
// copy is younger than IndexTTL.
func (c *Client) suiteIndex(ctx context.Context, e sourceEntry, arch string) (*Suite, []*Package, error) {
	key := strings.Join([]string{e.src.URI, e.src.Suite, strings.Join(e.src.Components, ","), arch, keyIDs(e.keys), e.src.From}, "|")
	c.mu.Lock()
	m := c.memo[key]
	if m != nil {
		select {
		case <-m.done:
			if m.err != nil || c.cfg.IndexTTL < 0 || c.cfg.Now().Sub(m.at) > c.cfg.IndexTTL {
				m = nil
			}
		default:
		}
	}
	if m == nil {
		c.evictLocked()
		m = &memoEntry{done: make(chan struct{})}
		c.memo[key] = m
		c.mu.Unlock()
		m.suite, m.pkgs, m.err = c.loadSuite(ctx, e, arch, nil)
		m.at = c.cfg.Now()
		close(m.done)
		return m.suite, m.pkgs, m.err
	}
	c.mu.Unlock()
	select {
	case <-m.done:
		return m.suite, m.pkgs, m.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// evictLocked drops finished memo entries older than IndexTTL, so a
// long-running process holds only the indexes it still uses.
func (c *Client) evictLocked() {
	now := c.cfg.Now()
	for k, m := range c.memo {
		select {
		case <-m.done:
			if m.err != nil || c.cfg.IndexTTL < 0 || now.Sub(m.at) > c.cfg.IndexTTL {
				delete(c.memo, k)
			}
		default:
		}
	}
}

// suiteBase is the URL of the directory holding a suite's Release file.
func suiteBase(s Source) string {
	if s.Flat() {
		base := s.URI + "/" + strings.TrimSuffix(s.Suite, "/")
		return strings.TrimSuffix(strings.TrimSuffix(base, "/."), "/")
	}
	return s.URI + "/dists/" + s.Suite
}

// loadSuite fetches and verifies one suite's Release and Packages files.
// With names, only those packages are kept.
func (c *Client) loadSuite(ctx context.Context, e sourceEntry, arch string, names map[string]bool) (*Suite, []*Package, error) {
	s := e.src
	name := "repository " + s.URI + " " + s.Suite
	if real := c.cfg.rewrite(s.URI); real != s.URI {
		name += " (via " + real + ")"
	}
	rel, signer, err := c.fetchRelease(ctx, e)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	suite := &Suite{
		URI: s.URI, Name: s.Suite, Pocket: PocketOf(s.Suite),
		Codename: rel.Codename, Origin: rel.Origin, Label: rel.Label, Version: rel.Version,
		Components: s.Components, Signed: signer != "", Signer: signer, From: s.From, Release: rel,
	}
	if !s.Flat() && !strings.Contains(s.Suite, "/") && rel.Suite != s.Suite && rel.Codename != s.Suite {
		return nil, nil, fmt.Errorf("%s: Release is for suite %q codename %q: %w", name, rel.Suite, rel.Codename, ErrMalformed)
	}
	var dirs []string
	if s.Flat() {
		dirs = []string{""}
	} else {
		for _, comp := range s.Components {
			dirs = append(dirs, comp+"/binary-"+arch+"/")
			// As apt: binary-all is an index of its own only when the
			// Release lists "all" and does not say the arch files hold it.
			if !rel.NoArchAllIndex && slices.Contains(rel.Architectures, "all") {
				if _, ok := pickIndex(rel, comp+"/binary-all/"); ok {
					dirs = append(dirs, comp+"/binary-all/")
				}
			}
		}
	}
	var pkgs []*Package
	for _, dir := range dirs {
		file, ok := pickIndex(rel, dir)
		if !ok {
			return nil, nil, fmt.Errorf("%s: Release lists no %sPackages for %s: %w", name, dir, arch, ErrMissingIndex)
		}
		ps, err := c.loadPackages(ctx, s, rel, dir, file, suite, names)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		pkgs = append(pkgs, ps...)
	}
	return suite, pkgs, nil
}

// pickIndex chooses the Packages file of dir from the Release: gzip first
// (fast to decompress), then xz, then uncompressed.
func pickIndex(rel *Release, dir string) (string, bool) {
	for _, ext := range []string{".gz", ".xz", ""} {
		if _, ok := rel.SHA256[dir+"Packages"+ext]; ok {
			return dir + "Packages" + ext, true
		}
	}
	return "", false
}

// fetchRelease gets InRelease (or Release and Release.gpg), verifies it
// against the source's keys and checks its dates. signer is "" when the
// suite was accepted unsigned.
func (c *Client) fetchRelease(ctx context.Context, e sourceEntry) (*Release, string, error) {
	base := suiteBase(e.src)
	now := c.cfg.Now()
	var buf bytes.Buffer
	reset := func() error { buf.Reset(); return nil }
	var text []byte
	signer := ""
	var sigErr error
	const maxRelease = 64 << 20
	err := c.get(ctx, base+"/InRelease", maxRelease, &buf, reset)
	switch {
	case err == nil:
		data := bytes.Clone(buf.Bytes())
		plain, ent, verr := verifyInRelease(data, e.keys, now)
		if verr == nil {
			text, signer = plain, ent.PrimaryKey.KeyIdString()
			break
		}
		sigErr = fmt.Errorf("InRelease %w (trusted: %s): %v", ErrSignature, keyIDs(e.keys), strings.TrimSuffix(verr.Error(), ": "+ErrSignature.Error()))
		if plain, _ := clearsignedText(data); plain != nil {
			text = plain
		} else {
			text = data
		}
	case errors.Is(err, ErrNotFound):
		buf.Reset()
		if err := c.get(ctx, base+"/Release", maxRelease, &buf, reset); err != nil {
			return nil, "", fmt.Errorf("fetching Release: %w", err)
		}
		text = bytes.Clone(buf.Bytes())
		buf.Reset()
		gerr := c.get(ctx, base+"/Release.gpg", 1<<20, &buf, reset)
		switch {
		case errors.Is(gerr, ErrNotFound):
			sigErr = fmt.Errorf("Release is unsigned (no InRelease or Release.gpg): %w", ErrSignature)
		case gerr != nil:
			return nil, "", fmt.Errorf("fetching Release.gpg: %w", gerr)
		default:
			ent, verr := verifyDetached(text, buf.Bytes(), e.keys, now)
			if verr != nil {
				sigErr = fmt.Errorf("Release.gpg %w (trusted: %s): %v", ErrSignature, keyIDs(e.keys), strings.TrimSuffix(verr.Error(), ": "+ErrSignature.Error()))
			} else {
				signer = ent.PrimaryKey.KeyIdString()
			}
		}
	default:
		return nil, "", fmt.Errorf("fetching InRelease: %w", err)
	}
	if sigErr != nil {
		if !c.cfg.AllowUnsigned {
			return nil, "", fmt.Errorf("%w: add the key with --keyring or pass --allow-unsigned-repo", sigErr)
		}
		signer = ""
	}
	rel, err := ParseRelease(text)
	if err != nil {
		return nil, "", err
	}
	if !rel.Date.IsZero() && rel.Date.After(now.Add(c.cfg.MaxFutureDate)) {
		return nil, "", fmt.Errorf("Release Date %s is in the future: %w", rel.Date.Format(time.RFC3339), ErrExpired)
	}
	if !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return nil, "", fmt.Errorf("Release expired at %s (Valid-Until): %w", rel.ValidUntil.Format(time.RFC3339), ErrExpired)
	}
	return rel, signer, nil
}

// clearsignedText extracts the text of a clearsigned message without
// verifying it (for AllowUnsigned).
func clearsignedText(data []byte) ([]byte, bool) {
	if plain, _, err := verifyInRelease(data, nil, time.Time{}); plain != nil && err == nil {
		return plain, true
	}
	b := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(b, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, false
	}
	// Skip the armor headers up to the first empty line, stop at the
	// signature, and undo dash-escaping.
	_, body, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return nil, false
	}
	body, _, _ = bytes.Cut(body, []byte("\n-----BEGIN PGP SIGNATURE-----"))
	lines := bytes.Split(body, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimPrefix(l, []byte("- "))
	}
	return bytes.Join(lines, []byte("\n")), true
}

// loadPackages downloads one Packages file (by hash when the suite offers
// it), checks it against the Release and parses it.
//
// The decompressed index is kept in the cache too, under the SHA-256 the
// Release lists for the plain Packages file, so later runs skip both the
// download and the decompression.
func (c *Client) loadPackages(ctx context.Context, s Source, rel *Release, dir, file string, suite *Suite, names map[string]bool) ([]*Package, error) {
	var keep func(string) bool
	if names != nil {
		keep = func(n string) bool { return names[n] }
	}
	parse := func(r io.Reader) ([]*Package, error) {
		pkgs, err := ParsePackages(&limitedReader{r: r, n: c.cfg.MaxIndexSize}, suite, keep)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return pkgs, nil
	}
	plain, hasPlain := rel.SHA256[dir+"Packages"]
	if hasPlain {
		// Hash while parsing, in one pass; a damaged copy is dropped and
		// the index fetched again.
		if pf, err := os.Open(c.blobPath(plain.SHA256)); err == nil {
			h := sha256.New()
			tee := io.TeeReader(pf, h)
			pkgs, perr := parse(tee)
			_, cerr := io.Copy(io.Discard, tee)
			pf.Close()
			if perr == nil && cerr == nil && hex.EncodeToString(h.Sum(nil)) == plain.SHA256 {
				return pkgs, nil
			}
			_ = os.Remove(pf.Name())
		}
	}
	sum := rel.SHA256[file]
	base := suiteBase(s)
	url := base + "/" + file
	var f *os.File
	var err error
	if rel.AcquireByHash {
		f, err = c.fetchBlob(ctx, base+"/"+dir+"by-hash/SHA256/"+sum.SHA256, sum.SHA256, sum.Size)
		if errors.Is(err, ErrNotFound) {
			f, err = c.fetchBlob(ctx, url, sum.SHA256, sum.Size)
		}
	} else {
		f, err = c.fetchBlob(ctx, url, sum.SHA256, sum.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", file, err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(file, ".gz"):
		zr, err := kgzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(file, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", file, err)
		}
		r = xr
	}
	if !hasPlain || r == io.Reader(f) {
		return parse(r)
	}
	// Keep the decompressed copy when it matches the signed checksum.
	tmp, err := c.tempFile()
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	h := sha256.New()
	tee := io.TeeReader(r, io.MultiWriter(tmp, h))
	pkgs, err := parse(tee)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", file, err)
	}
	if st, err := tmp.Stat(); err == nil && st.Size() == plain.Size && hex.EncodeToString(h.Sum(nil)) == plain.SHA256 {
		_ = c.commitBlob(tmp, plain.SHA256) // only a cache: failure costs speed, not correctness
	}
	return pkgs, nil
}

// limitedReader fails, rather than ending quietly, past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("decompressed index over limit: %w", ErrTooLarge)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Fetch returns the .deb of an index entry from the cache, or downloads
// it, checking its size and SHA-256 against the index first: a mismatch
// is refused with ErrChecksum and nothing is cached. The caller closes the
// file; its Name is its path in the content-addressed cache.
func (c *Client) Fetch(ctx context.Context, p *Package) (*os.File, error) {
	if p.Suite == nil {
		return nil, fmt.Errorf("fetching %s: package has no suite", p)
	}
	f, err := c.fetchBlob(ctx, p.URL(), p.SHA256, p.Size)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", p, err)
	}
	return f, nil
}
