// Package scan finds the fixable OS-package vulnerabilities of a container
// image in a registry: it resolves the reference (each linux platform of an
// index), reads the installed packages from the image's layers, checks end
// of support, asks a vulnerability source and builds a Trivy-compatible
// report.
package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

// ErrUnsupported marks an image the scanner cannot judge: Windows, an
// index without linux images, or a platform the index does not hold. Such
// an image is never reported clean.
var ErrUnsupported = errors.New("unsupported image")

// Getter fetches manifests from a registry; *registry.Client implements it.
type Getter interface {
	Get(ctx context.Context, ref name.Reference) (*remote.Descriptor, error)
}

// ImageSource is a vulnerability source that needs the image it judges:
// its apt configuration and architecture (vulndb.Repos). Scan binds such a
// source to each image with ForImage.
type ImageSource interface {
	ForImage(fsys fs.FS, arch string) vulndb.Source
}

var _ ImageSource = (*vulndb.Repos)(nil)

// Options configure a Scanner.
type Options struct {
	// Registry fetches manifests and layers. Required.
	Registry Getter
	// Source finds vulnerabilities. When nil only the inventory is read:
	// results carry packages and EOSL but no findings.
	Source vulndb.Source
	// Severities keeps findings of these severities. Zero means all.
	Severities vulndb.SeveritySet
	// Platform chooses one platform of an index ("linux/arm64"). Nil
	// scans every linux platform.
	Platform *v1.Platform
	// Cache keeps per-layer and per-image extraction results on disk. Nil
	// reads every layer afresh.
	Cache *image.Cache
	// Progress is told how layer downloads advance. It must be quick and
	// safe for concurrent use when several images are scanned at once.
	Progress func(image.Progress)
	// Now is the clock for end-of-support checks and report times.
	// Default time.Now.
	Now func() time.Time
}

// Timings say where a scan spent its time.
type Timings struct {
	Resolve time.Duration `json:"resolve"` // manifest and config fetches
	Extract time.Duration `json:"extract"` // layer reading
	Match   time.Duration `json:"match"`   // the vulnerability source
	Total   time.Duration `json:"total"`
}

// Result is the scan of one reference.
type Result struct {
	// Ref is the reference as given; Digest the manifest (or index)
	// digest it resolved to.
	Ref    string  `json:"ref"`
	Digest v1.Hash `json:"digest"`
	// Images holds one scan per platform scanned, in index order.
	Images []*Image `json:"images"`
	// Fixable is true when any image has a fixable vulnerability.
	Fixable bool `json:"fixable"`
	// EOSL is true when any image's distribution is past end of support.
	EOSL    bool    `json:"eosl"`
	Timings Timings `json:"timings"`
}

// Image is the scan of one platform image.
type Image struct {
	Platform v1.Platform `json:"platform"`
	Digest   v1.Hash     `json:"digest"`
	OS       pkgdb.OS    `json:"os"`
	// EOSL is true when OS is past its end of support (EOSLDate, zero
	// when unknown). An EOSL image is not matched against the source: it
	// is never patched.
	EOSL     bool             `json:"eosl"`
	EOSLDate time.Time        `json:"eosl_date,omitzero"`
	Packages []pkgdb.Package  `json:"packages"`
	Findings []vulndb.Finding `json:"findings"`
	Fixable  bool             `json:"fixable"`
	Report   *vulndb.Report   `json:"report,omitempty"`
	Source   string           `json:"source,omitempty"`
	// Warnings are problems the scan went past, such as an image without
	// apt sources whose release's default suites were used.
	Warnings   []string `json:"warnings,omitempty"`
	Timings    Timings  `json:"timings"`
	configName string   // config digest, for the report's ImageID
	diffIDs    []string // for the report
}

// Scanner scans references, each image digest once: tags pointing at the
// same digest share one scan. It is safe for concurrent use.
type Scanner struct {
	opts Options
	mu   sync.Mutex
	memo map[memoKey]*memoEntry
}

type memoKey struct {
	digest v1.Hash
}

type memoEntry struct {
	done chan struct{}
	img  *Image
	err  error
}

// New returns a Scanner.
func New(opts Options) (*Scanner, error) {
	if opts.Registry == nil {
		return nil, errors.New("scan options: Registry is required")
	}
	if opts.Severities == 0 {
		opts.Severities = vulndb.AllSeverities
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scanner{opts: opts, memo: map[memoKey]*memoEntry{}}, nil
}

// Scan scans one reference with a fresh Scanner.
func Scan(ctx context.Context, ref name.Reference, opts Options) (*Result, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	return s.Scan(ctx, ref)
}

// Scan resolves ref and scans each of its linux images (or the one
// Options.Platform chooses).
func (s *Scanner) Scan(ctx context.Context, ref name.Reference) (*Result, error) {
	start := time.Now()
	desc, err := s.opts.Registry.Get(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", ref, err)
	}
	res := &Result{Ref: ref.String(), Digest: desc.Digest}
	targets, err := s.platforms(desc)
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", ref, err)
	}
	res.Timings.Resolve = time.Since(start)
	for _, t := range targets {
		img, err := s.image(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", ref, err)
		}
		out := *img
		out.Report = s.report(ref, &out)
		res.Images = append(res.Images, &out)
		res.Fixable = res.Fixable || out.Fixable
		res.EOSL = res.EOSL || out.EOSL
	}
	res.Timings.Total = time.Since(start)
	return res, nil
}

// ScanAll scans refs, at most jobs at a time (1 when jobs < 1), each image
// digest once. It returns one result or error per ref, in order.
func (s *Scanner) ScanAll(ctx context.Context, refs []name.Reference, jobs int) ([]*Result, []error) {
	results := make([]*Result, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i, ref := range refs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = fmt.Errorf("scanning %s: %w", ref, ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], errs[i] = s.Scan(ctx, ref)
		}()
	}
	wg.Wait()
	return results, errs
}

// target is one platform image to scan.
type target struct {
	img      v1.Image
	platform v1.Platform
	digest   v1.Hash
}

// platforms picks the images of desc to scan.
func (s *Scanner) platforms(desc *remote.Descriptor) ([]target, error) {
	if !desc.MediaType.IsIndex() {
		// The platform comes from the config, read once per digest by
		// scanImage, which also refuses non-linux images.
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("reading image manifest: %w", err)
		}
		return []target{{img: img, digest: desc.Digest}}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var out []target
	var seen []string
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil || isAttestation(d) {
			continue
		}
		seen = append(seen, platformString(*d.Platform))
		if d.Platform.OS != "linux" {
			continue
		}
		if s.opts.Platform != nil && !d.Platform.Satisfies(*s.opts.Platform) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading %s image of index: %w", platformString(*d.Platform), err)
		}
		out = append(out, target{img: img, platform: *d.Platform, digest: d.Digest})
		if s.opts.Platform != nil {
			break
		}
	}
	if len(out) == 0 {
		want := "linux"
		if s.opts.Platform != nil {
			want = platformString(*s.opts.Platform)
		}
		return nil, fmt.Errorf("index has no %s image (platforms: %v): %w", want, seen, ErrUnsupported)
	}
	return out, nil
}

// isAttestation reports whether an index entry is a build attestation
// (buildx stores them as unknown/unknown images).
func isAttestation(d v1.Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
		(d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown")
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// image scans one platform image, once per digest.
func (s *Scanner) image(ctx context.Context, t target) (*Image, error) {
	key := memoKey{digest: t.digest}
	s.mu.Lock()
	e, ok := s.memo[key]
	if !ok {
		e = &memoEntry{done: make(chan struct{})}
		s.memo[key] = e
	}
	s.mu.Unlock()
	if ok {
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.img, nil
		}
		// The first attempt failed; try again ourselves.
		return s.image(ctx, t)
	}
	e.img, e.err = s.scanImage(ctx, t)
	if e.err != nil {
		s.mu.Lock()
		delete(s.memo, key)
		s.mu.Unlock()
	}
	close(e.done)
	return e.img, e.err
}

// scanImage reads the inventory of one image and matches it.
func (s *Scanner) scanImage(ctx context.Context, t target) (*Image, error) {
	start := time.Now()
	out := &Image{Platform: t.platform, Digest: t.digest}
	cfg, err := t.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", t.digest, err)
	}
	if h, err := t.img.ConfigName(); err == nil {
		out.configName = h.String()
	}
	for _, d := range cfg.RootFS.DiffIDs {
		out.diffIDs = append(out.diffIDs, d.String())
	}
	if out.Platform.OS == "" {
		// A single image: its platform is its config's.
		p := cfg.Platform()
		if p == nil {
			p = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture}
		}
		out.Platform = *p
		if s.opts.Platform != nil && !p.Satisfies(*s.opts.Platform) {
			return nil, fmt.Errorf("image %s is for %s, not %s: %w", t.digest, platformString(*p), platformString(*s.opts.Platform), ErrUnsupported)
		}
	}
	if out.Platform.OS != "linux" {
		return nil, fmt.Errorf("image %s is for %s: only linux images are scanned: %w", t.digest, platformString(out.Platform), ErrUnsupported)
	}
	out.Timings.Resolve = time.Since(start)

	t0 := time.Now()
	opts := []image.Option{}
	if s.opts.Cache != nil {
		opts = append(opts, image.WithCache(s.opts.Cache))
	}
	if s.opts.Progress != nil {
		opts = append(opts, image.WithProgress(s.opts.Progress))
	}
	fsys, err := image.Extract(ctx, t.img, Selector(), opts...)
	if err != nil {
		return nil, fmt.Errorf("reading layers of %s: %w", t.digest, err)
	}
	osr, pkgs, err := pkgdb.Inventory(fsys)
	if err != nil {
		if errors.Is(err, pkgdb.ErrUnsupportedOS) {
			err = fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("reading packages of %s: %w", t.digest, err)
	}
	out.OS, out.Packages = osr, pkgs
	out.Timings.Extract = time.Since(t0)

	out.EOSL, out.EOSLDate = vulndb.EOSL(osr, s.opts.Now())
	if s.opts.Source != nil && !out.EOSL {
		t1 := time.Now()
		src := s.opts.Source
		if b, ok := src.(ImageSource); ok {
			src = b.ForImage(fsys, "")
			if osr.Family == pkgdb.Deb && !hasAptSources(fsys) {
				out.Warnings = append(out.Warnings, fmt.Sprintf("no apt sources in the image: using the default suites of %s %s", osr.ID, cmp.Or(osr.Codename, osr.VersionID)))
			}
		}
		out.Source = src.Name()
		found, err := src.Find(ctx, osr, pkgs)
		if err != nil {
			return nil, fmt.Errorf("matching packages of %s: %w", t.digest, err)
		}
		out.Findings = s.opts.Severities.Filter(found)
		out.Fixable = len(vulndb.Fixable(out.Findings)) > 0
		out.Timings.Match = time.Since(t1)
	}
	out.Timings.Total = time.Since(start)
	return out, nil
}

// report builds the Trivy report of img as scanned under ref.
func (s *Scanner) report(ref name.Reference, img *Image) *vulndb.Report {
	ri := vulndb.ReportImage{
		Name:         ref.String(),
		DiffIDs:      img.diffIDs,
		RepoDigests:  []string{ref.Context().String() + "@" + img.Digest.String()},
		Architecture: img.Platform.Architecture,
		OS:           img.Platform.OS,
	}
	if tag, ok := ref.(name.Tag); ok {
		ri.RepoTags = []string{tag.String()}
	}
	ri.ImageID = img.configName
	findings := slices.Clone(img.Findings)
	return vulndb.NewReport(ri, img.OS, img.EOSL, findings, s.opts.Now())
}

// Selector is what the scanner reads from an image: the files that OS
// detection and the package databases need, and the apt sources and keys
// that the repos source needs. Reading stops at the first layer (from the
// top) below which neither the package database nor the apt sources can
// change: when the database is complete (pkgdb.Complete) and apt sources
// have been seen. Sources only in lower layers are then missed; the
// built-in default sources of the distribution stand in for them.
func Selector() image.Selector {
	paths := pkgdb.Paths()
	for _, p := range distrorepo.SourcePaths {
		switch p {
		case "etc/apt/sources.list.d", "etc/apt/trusted.gpg.d", "usr/share/keyrings":
			p += "/"
		}
		paths = append(paths, p)
	}
	sel := image.SelectPaths(paths...)
	sel.Stop = func(fsys fs.FS) bool {
		if !pkgdb.Complete(fsys) {
			return false
		}
		o, err := pkgdb.DetectOS(fsys)
		return err != nil || o.Family != pkgdb.Deb || hasAptSources(fsys)
	}
	sel.Key = "scan.Selector.v1"
	return sel
}

// hasAptSources reports whether a partial filesystem holds apt sources.
func hasAptSources(fsys fs.FS) bool {
	if st, err := fs.Stat(fsys, "etc/apt/sources.list"); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		return true
	}
	ents, err := fs.ReadDir(fsys, "etc/apt/sources.list.d")
	return err == nil && len(ents) > 0
}
