// Package image extracts a chosen set of files from a container image's
// merged filesystem by streaming its layers from the top down, each layer
// read at most once, never holding a whole layer in memory, with an
// on-disk cache per layer and per image digest.
package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Defaults for the size caps.
const (
	DefaultMaxFileSize  int64 = 256 << 20 // per selected file
	DefaultMaxTotalSize int64 = 512 << 20 // all selected files together
	// maxLinkPasses bounds the extra passes made to fetch symlink targets
	// that lie outside the selection.
	maxLinkPasses = 8
)

// Progress reports how far the reading of one layer has got.
type Progress struct {
	Layer  string // layer digest
	Read   int64  // compressed bytes read so far
	Total  int64  // compressed size, from the manifest
	Cached bool   // served from the layer cache; nothing downloaded
	Done   bool   // the layer is finished
}

// Option configures Extract.
type Option func(*options) error

type options struct {
	cache    *Cache
	lim      limits
	progress func(Progress)
}

// WithCache keeps per-layer and per-image results in c. Without it every
// extraction reads its layers afresh and nothing is written to disk.
func WithCache(c *Cache) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("cache is nil")
		}
		o.cache = c
		return nil
	}
}

// WithMaxFileSize caps each selected file (default DefaultMaxFileSize). A
// larger selected file that is visible in the merged filesystem is an
// error; one hidden by a higher layer is not.
func WithMaxFileSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max file size %d is not positive", n)
		}
		o.lim.maxFile = n
		return nil
	}
}

// WithMaxTotalSize caps all selected files of a layer, and of the result,
// together (default DefaultMaxTotalSize).
func WithMaxTotalSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max total size %d is not positive", n)
		}
		o.lim.maxTotal = n
		return nil
	}
}

// WithProgress calls fn as layers are read. fn is called from the
// extracting goroutine and must be quick.
func WithProgress(fn func(Progress)) Option {
	return func(o *options) error {
		o.progress = fn
		return nil
	}
}

// Extract returns the files that sel selects from img's merged filesystem.
// Layers are read from the top down and reading stops as soon as no lower
// layer can change the result. Symlinks among the selected files that
// point outside the selection are followed by further passes over the
// layers, which the layer cache makes cheap when they repeat.
func Extract(ctx context.Context, img v1.Image, sel Selector, opts ...Option) (*FS, error) {
	o := options{lim: limits{maxFile: DefaultMaxFileSize, maxTotal: DefaultMaxTotalSize}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("extract option: %w", err)
		}
	}
	if o.lim.maxFile > o.lim.maxTotal {
		o.lim.maxFile = o.lim.maxTotal
	}
	s, err := sel.compile()
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading image digest: %w", err)
	}
	limKey := strconv.FormatInt(o.lim.maxFile, 10) + "/" + strconv.FormatInt(o.lim.maxTotal, 10)
	var resultPath string
	if o.cache != nil {
		resultPath = o.cache.path("image", digest.String(), s.cacheKey(), limKey)
		if fsys, err := o.readResult(ctx, resultPath); err == nil {
			return fsys, nil
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers of %s: %w", digest, err)
	}
	for pass := 0; ; pass++ {
		fsys, err := o.merge(ctx, layers, s, limKey)
		if err != nil {
			return nil, err
		}
		extra := outside(fsys, s)
		if len(extra) == 0 {
			if o.cache != nil {
				if err := o.cache.put(resultPath, func(w io.Writer) error { return writeFS(w, fsys) }); err != nil {
					return nil, fmt.Errorf("caching result of %s: %w", digest, err)
				}
			}
			return fsys, nil
		}
		if pass == maxLinkPasses {
			sort.Strings(extra)
			return nil, fmt.Errorf("symlinks in %s still lead outside the selection after %d passes: %s", digest, maxLinkPasses, strings.Join(extra, ", "))
		}
		if s, err = s.with(extra); err != nil {
			return nil, err
		}
	}
}

// merge reads layers top-down into a merged filesystem.
func (o *options) merge(ctx context.Context, layers []v1.Layer, s Selector, limKey string) (*FS, error) {
	m := newMerger(s, o.lim)
	for i := len(layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dig, err := layers[i].Digest()
		if err != nil {
			return nil, fmt.Errorf("reading digest of layer %d: %w", i, err)
		}
		ents, err := o.layerEntries(ctx, layers[i], dig.String(), s, limKey)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", dig, err)
		}
		if err := m.add(dig.String(), ents); err != nil {
			return nil, err
		}
		if m.done() || (s.Stop != nil && s.Stop(m.result())) {
			break
		}
	}
	return m.result(), nil
}

// layerEntries returns the selected entries of one layer, from the cache
// or by streaming the layer once.
func (o *options) layerEntries(ctx context.Context, l v1.Layer, dig string, s Selector, limKey string) ([]*entry, error) {
	var cachePath string
	if o.cache != nil {
		cachePath = o.cache.path("layer", dig, s.cacheKey(), limKey)
		if f, err := o.cache.open(cachePath); err == nil {
			ents, err := readSelected(ctx, f, s, o.lim)
			f.Close()
			if err == nil {
				o.report(Progress{Layer: dig, Cached: true, Done: true})
				return ents, nil
			}
			_ = os.Remove(cachePath) // unreadable entry: read the layer again
		}
	}
	total, _ := l.Size()
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	ahead := newReadAhead(rc)
	defer func() {
		rc.Close() // unblocks the read-ahead goroutine if it is mid-read
		ahead.Close()
	}()
	cr := &countingReader{ctx: ctx, r: ahead, p: Progress{Layer: dig, Total: total}, fn: o.progress}
	r, closeDec, err := decompress(cr)
	if err != nil {
		return nil, err
	}
	ents, err := readSelected(ctx, r, s, o.lim)
	if err == nil {
		// Read to the end so that the digest of the stream is verified.
		if _, err = io.Copy(io.Discard, r); err == nil {
			_, err = io.Copy(io.Discard, cr)
		}
	}
	closeDec()
	if err != nil {
		return nil, err
	}
	cr.p.Done = true
	o.report(cr.p)
	err = resolveHardlinks(ctx, ents, l.Compressed, o.lim)
	if err != nil {
		return nil, err
	}
	if o.cache != nil {
		if err := o.cache.put(cachePath, func(w io.Writer) error { return writeEntries(w, ents) }); err != nil {
			return nil, fmt.Errorf("caching: %w", err)
		}
	}
	return ents, nil
}

func (o *options) report(p Progress) {
	if o.progress != nil {
		o.progress(p)
	}
}

// readResult loads a cached merged result.
func (o *options) readResult(ctx context.Context, p string) (*FS, error) {
	f, err := o.cache.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all := Selector{Match: func(string) bool { return true }, Key: "all", exact: map[string]bool{}, dirs: map[string]bool{}, ancest: map[string]bool{}}
	ents, err := readSelected(ctx, f, all, o.lim)
	if err != nil {
		_ = os.Remove(p)
		return nil, err
	}
	byName := make(map[string]*entry, len(ents))
	for _, e := range ents {
		byName[e.name] = e
	}
	return fsFromEntries(byName), nil
}

// writeFS encodes a merged result for the result cache.
func writeFS(w io.Writer, fsys *FS) error {
	files := fsys.Files()
	ents := make([]*entry, 0, len(files))
	for _, f := range files {
		e := &entry{name: f.Name, mode: int64(f.Mode.Perm()), uid: f.UID, gid: f.GID, mtime: f.ModTime, layer: f.Layer, data: f.data, size: f.Size}
		if f.Mode&fs.ModeSetuid != 0 {
			e.mode |= 0o4000
		}
		if f.Mode&fs.ModeSetgid != 0 {
			e.mode |= 0o2000
		}
		if f.Mode&fs.ModeSticky != 0 {
			e.mode |= 0o1000
		}
		switch {
		case f.Mode.IsDir():
			e.kind = kindDir
		case f.Mode&fs.ModeSymlink != 0:
			e.kind, e.linkname = kindSymlink, f.Linkname
		default:
			e.kind = kindFile
		}
		ents = append(ents, e)
	}
	return writeEntries(w, ents)
}

// countingReader reports progress about every 1 MiB and stops reading
// once ctx is done, even in the middle of a huge entry.
type countingReader struct {
	ctx  context.Context
	r    io.Reader
	p    Progress
	fn   func(Progress)
	last int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	c.p.Read += int64(n)
	if c.fn != nil && (c.p.Read-c.last >= 1<<20) {
		c.last = c.p.Read
		c.fn(c.p)
	}
	return n, err
}
