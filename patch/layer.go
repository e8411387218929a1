package patch

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// GzipLevel is the compression level of patch layers. It is fixed so the
// same inputs always give the same layer digest.
const GzipLevel = gzip.DefaultCompression

// LayerFile is a patch layer written to a gzip-compressed tar file.
type LayerFile struct {
	// Path is the file; the caller removes it when done.
	Path string
	// Digest and Size describe the compressed file, DiffID the tar inside.
	Digest v1.Hash
	DiffID v1.Hash
	Size   int64
}

// BuildLayer runs inst and writes its layer, gzip-compressed, to a new file
// in dir, hashing as it goes; the layer is never held in memory. On error
// nothing is left in dir.
func BuildLayer(ctx context.Context, inst Installer, p LayerParams, dir string) (*LayerFile, *LayerReport, error) {
	f, err := os.CreateTemp(dir, "patch-layer-*.tar.gz")
	if err != nil {
		return nil, nil, fmt.Errorf("creating layer file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	compressed := newCountingHash(f)
	gz, err := gzip.NewWriterLevel(compressed, GzipLevel)
	if err != nil {
		return nil, nil, fmt.Errorf("starting gzip: %w", err)
	}
	// A zero header (no name, no time) keeps the output reproducible.
	gz.Header = gzip.Header{OS: 255}
	diff := newCountingHash(gz)
	tw := tar.NewWriter(diff)
	report, err := inst.WriteLayer(ctx, tw, p)
	if err != nil {
		return nil, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, fmt.Errorf("closing layer tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, nil, fmt.Errorf("closing layer gzip: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, nil, fmt.Errorf("closing layer file %s: %w", f.Name(), err)
	}
	ok = true
	return &LayerFile{
		Path:   f.Name(),
		Digest: compressed.digest(),
		DiffID: diff.digest(),
		Size:   compressed.n,
	}, report, nil
}

type countingHash struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newCountingHash(w io.Writer) *countingHash {
	return &countingHash{w: w, h: sha256.New()}
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func (c *countingHash) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", c.h.Sum(nil))}
}

// Layer returns the file as an image layer of media type mt (the gzip
// layer type matching the image's manifest: types.DockerLayer or
// types.OCILayer).
func (l *LayerFile) Layer(mt types.MediaType) (v1.Layer, error) {
	return partial.CompressedToLayer(&fileLayer{f: l, mt: mt})
}

// fileLayer is the compressed core of a LayerFile, with its known DiffID.
type fileLayer struct {
	f  *LayerFile
	mt types.MediaType
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.f.Digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.f.DiffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.f.Size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.f.Path)
	if err != nil {
		return nil, fmt.Errorf("opening layer file: %w", err)
	}
	return f, nil
}
