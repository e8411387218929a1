package vulndb

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// The media types of Trivy's DB artifact (ghcr.io/aquasecurity/trivy-db:2
// and its mirrors).
const (
	TrivyDBLayerMediaType  types.MediaType = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	TrivyDBConfigMediaType types.MediaType = "application/vnd.aquasec.trivy.config.v1+json"
)

// DefaultMaxTrivyDBSize bounds the trivy.db file unpacked from an artifact.
const DefaultMaxTrivyDBSize int64 = 8 << 30

// PullOption changes how PullTrivyDB fetches the artifact.
type PullOption func(*pullConfig)

type pullConfig struct {
	remote  []remote.Option
	maxSize int64
}

// WithRemoteOptions passes options (authentication, transport, platform…)
// to go-containerregistry's remote package.
func WithRemoteOptions(opts ...remote.Option) PullOption {
	return func(c *pullConfig) { c.remote = append(c.remote, opts...) }
}

// WithMaxDBSize bounds the unpacked trivy.db; the default is
// DefaultMaxTrivyDBSize.
func WithMaxDBSize(n int64) PullOption {
	return func(c *pullConfig) { c.maxSize = n }
}

// PullTrivyDB fetches the Trivy DB artifact at ref into cacheDir and
// returns the directory holding its trivy.db and metadata.json, ready for
// OpenTrivyDB. Each DB layer is unpacked once into a directory named by
// its digest; a later pull of the same digest only fetches the manifest.
// The layer is streamed: never held in memory, never written outside
// cacheDir.
func PullTrivyDB(ctx context.Context, ref name.Reference, cacheDir string, opts ...PullOption) (string, error) {
	cfg := pullConfig{maxSize: DefaultMaxTrivyDBSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxSize <= 0 {
		return "", fmt.Errorf("pulling trivy db %s: max db size %d must be positive", ref, cfg.maxSize)
	}
	ropts := append([]remote.Option{remote.WithContext(ctx)}, cfg.remote...)
	img, err := remote.Image(ref, ropts...)
	if err != nil {
		return "", fmt.Errorf("pulling trivy db %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("pulling trivy db manifest %s: %w", ref, err)
	}
	var desc *v1.Descriptor
	for i := range m.Layers {
		if m.Layers[i].MediaType == TrivyDBLayerMediaType {
			desc = &m.Layers[i]
			break
		}
	}
	if desc == nil {
		return "", fmt.Errorf("pulling trivy db %s: no layer of media type %s", ref, TrivyDBLayerMediaType)
	}
	dir := filepath.Join(cacheDir, "trivy-db", desc.Digest.Algorithm+"-"+desc.Digest.Hex)
	if complete(dir) {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("creating trivy db cache: %w", err)
	}
	layer, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return "", fmt.Errorf("pulling trivy db layer %s: %w", desc.Digest, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".pull-")
	if err != nil {
		return "", fmt.Errorf("creating trivy db cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := unpackTrivyDB(layer, tmp, cfg.maxSize); err != nil {
		return "", fmt.Errorf("unpacking trivy db layer %s of %s: %w", desc.Digest, ref, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if complete(dir) { // another pull won the race
			return dir, nil
		}
		return "", fmt.Errorf("storing trivy db %s: %w", desc.Digest, err)
	}
	return dir, nil
}

func complete(dir string) bool {
	for _, f := range []string{TrivyDBFile, TrivyMetadataFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// unpackTrivyDB streams the gzip'd tar layer and writes its trivy.db and
// metadata.json into dir; other entries are skipped.
func unpackTrivyDB(layer v1.Layer, dir string, maxSize int64) error {
	rc, err := layer.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("reading gzip: %w", err)
	}
	// Everything unpacked, skipped entries too, counts against the bound.
	budget := &io.LimitedReader{R: zr, N: maxSize + maxTrivyMetadataLen + 1<<20}
	tr := tar.NewReader(budget)
	limits := map[string]int64{TrivyDBFile: maxSize, TrivyMetadataFile: maxTrivyMetadataLen}
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if budget.N <= 0 {
				return fmt.Errorf("reading tar: layer unpacks to more than %d bytes", maxSize)
			}
			return fmt.Errorf("reading tar: %w", err)
		}
		base := path.Clean(h.Name)
		limit, wanted := limits[base]
		if !wanted {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("tar entry %q is not a regular file", h.Name)
		}
		if found[base] {
			return fmt.Errorf("tar entry %q appears twice", h.Name)
		}
		if h.Size > limit {
			return fmt.Errorf("tar entry %q is %d bytes, over the %d limit", h.Name, h.Size, limit)
		}
		if err := writeFile(filepath.Join(dir, base), tr); err != nil {
			return fmt.Errorf("writing %s: %w", base, err)
		}
		found[base] = true
	}
	for f := range limits {
		if !found[f] {
			return fmt.Errorf("layer has no %s", f)
		}
	}
	// Read to the end so the registry layer's digest is verified.
	if _, err := io.Copy(io.Discard, budget); err != nil {
		return fmt.Errorf("reading gzip: %w", err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("verifying layer: %w", err)
	}
	return nil
}

func writeFile(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TrivyDBArtifact builds the OCI artifact of the Trivy DB in dir (trivy.db
// and metadata.json) in Trivy's format, for mirroring into a registry with
// remote.Write. The files are streamed when the image is written.
func TrivyDBArtifact(dir string) (v1.Image, error) {
	for _, f := range []string{TrivyDBFile, TrivyMetadataFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("building trivy db artifact: %w", err)
		} else if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("building trivy db artifact: %s is not a regular file", f)
		}
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTrivyTar(pw, dir)) }()
		return pr, nil
	}, tarball.WithMediaType(TrivyDBLayerMediaType))
	if err != nil {
		return nil, fmt.Errorf("building trivy db artifact layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, TrivyDBConfigMediaType)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       layer,
		MediaType:   TrivyDBLayerMediaType,
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"},
	})
	if err != nil {
		return nil, fmt.Errorf("building trivy db artifact: %w", err)
	}
	return img, nil
}

func writeTrivyTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	for _, f := range []string{TrivyDBFile, TrivyMetadataFile} {
		if err := addTarFile(tw, filepath.Join(dir, f), f); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addTarFile(tw *tar.Writer, p, name string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing tar header of %s: %w", name, err)
	}
	if _, err := io.CopyN(tw, f, st.Size()); err != nil {
		return fmt.Errorf("writing %s into tar: %w", name, err)
	}
	return nil
}
