package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// kind is what an archive entry means for the merged filesystem.
type kind uint8

const (
	kindFile kind = iota + 1
	kindDir
	kindSymlink
	kindWhiteout // hides the named path and everything below it in lower layers
	kindOpaque   // hides everything below the named directory in lower layers
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// entryOverhead is what one kept entry costs beyond its contents; it
	// is charged against the total cap so that millions of tiny entries
	// cannot exhaust memory either.
	entryOverhead = 256
	// paxTooBig marks, in a cached layer, a selected file that was over
	// the per-file cap; its contents were not kept.
	paxTooBig = "PATCHLOOP.toobig"
	// paxLayer records, in a cached result, the layer an entry came from.
	paxLayer = "PATCHLOOP.layer"
)

// entry is one selected archive entry of one layer.
type entry struct {
	name     string
	kind     kind
	mode     int64
	uid, gid int
	mtime    time.Time
	linkname string // symlink target as stored
	size     int64
	data     []byte
	tooBig   bool // over the per-file cap: size is known, data is not kept
	hardlink string
	layer    string // digest of the source layer, in merged results
}

// limits bound what one extraction keeps in memory.
type limits struct {
	maxFile  int64
	maxTotal int64
}

// decompress picks the decoder from the stream's magic bytes: gzip, zstd,
// or an uncompressed tar.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("reading compression header: %w", err)
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("opening zstd stream: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return br, func() {}, nil
	}
}

// readSelected walks one uncompressed tar stream and returns the entries
// that sel selects or that can hide selected paths, in archive order.
// Hardlinks to entries not kept are left with hardlink set and no data; the
// caller resolves them with a second read.
func readSelected(ctx context.Context, r io.Reader, sel Selector, lim limits) ([]*entry, error) {
	tr := tar.NewReader(r)
	var out []*entry
	var total int64
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive entry %d: %w", n, err)
		}
		e, keep := classify(hdr, sel)
		if !keep {
			continue
		}
		e.layer = hdr.PAXRecords[paxLayer]
		total += entryOverhead + int64(len(e.name)) + int64(len(e.linkname))
		if e.kind == kindFile && e.hardlink == "" {
			switch {
			case hdr.PAXRecords[paxTooBig] != "":
				e.tooBig = true
				e.size, _ = strconv.ParseInt(hdr.PAXRecords[paxTooBig], 10, 64)
			case hdr.Size > lim.maxFile:
				e.tooBig = true
			default:
				if total+hdr.Size > lim.maxTotal {
					return nil, fmt.Errorf("selected files exceed the %d-byte total limit at %s", lim.maxTotal, e.name)
				}
				e.data = make([]byte, hdr.Size)
				if _, err := io.ReadFull(tr, e.data); err != nil {
					return nil, fmt.Errorf("reading %s: %w", e.name, err)
				}
				total += hdr.Size
			}
		}
		if total > lim.maxTotal {
			return nil, fmt.Errorf("selected entries exceed the %d-byte total limit at %s", lim.maxTotal, e.name)
		}
		out = append(out, e)
	}
}

// classify turns a tar header into an entry and says whether it matters to
// sel. Names that escape the root, device nodes and fifos are dropped.
func classify(hdr *tar.Header, sel Selector) (*entry, bool) {
	name, ok := cleanName(hdr.Name)
	if !ok || name == "" {
		return nil, false
	}
	dir, base := parentOf(name), name[strings.LastIndexByte(name, '/')+1:]
	if strings.HasPrefix(base, whiteoutPrefix) {
		if base == opaqueMarker {
			return &entry{name: dir, kind: kindOpaque}, sel.relevantMask(dir)
		}
		hidden := strings.TrimPrefix(base, whiteoutPrefix)
		if hidden == "" || hidden == "." || hidden == ".." {
			return nil, false
		}
		if dir != "" {
			hidden = dir + "/" + hidden
		}
		return &entry{name: hidden, kind: kindWhiteout}, sel.relevantMask(hidden)
	}
	e := &entry{name: name, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, mtime: hdr.ModTime, size: hdr.Size}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		e.kind = kindFile
	case tar.TypeLink:
		target, ok := cleanName(hdr.Linkname)
		if !ok || target == "" {
			return nil, false
		}
		e.kind, e.hardlink, e.size = kindFile, target, 0
	case tar.TypeSymlink:
		e.kind, e.linkname, e.size = kindSymlink, hdr.Linkname, 0
	case tar.TypeDir:
		e.kind, e.size = kindDir, 0
	default:
		return nil, false // devices, fifos: never selected, never followed
	}
	if sel.wants(name) {
		return e, true
	}
	// A file or symlink where a selected path has a parent directory hides
	// or redirects it; a plain parent directory changes nothing.
	return e, e.kind != kindDir && sel.isAncestor(name)
}

// resolveHardlinks fills hardlinked entries from a second read of the same
// layer, keeping only the link targets. It is needed only when a selected
// path is a hardlink to a file the selector did not select.
func resolveHardlinks(ctx context.Context, ents []*entry, reopen func() (io.ReadCloser, error), lim limits) error {
	kept := map[string]*entry{}
	want := map[string]bool{}
	for _, e := range ents {
		if e.kind == kindFile && e.hardlink == "" {
			kept[e.name] = e
		}
	}
	for _, e := range ents {
		if e.hardlink == "" {
			continue
		}
		if t := kept[e.hardlink]; t != nil {
			e.data, e.size, e.tooBig, e.hardlink = t.data, t.size, t.tooBig, ""
			continue
		}
		want[e.hardlink] = true
	}
	if len(want) == 0 {
		return nil
	}
	rc, err := reopen()
	if err != nil {
		return fmt.Errorf("reopening for hardlinks: %w", err)
	}
	defer rc.Close()
	r, closeDec, err := decompress(rc)
	if err != nil {
		return err
	}
	defer closeDec()
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	targets, err := readSelected(ctx, r, Selector{Paths: paths, exact: want, ancest: map[string]bool{}}, lim)
	if err != nil {
		return fmt.Errorf("reading hardlink targets: %w", err)
	}
	for _, t := range targets {
		if t.kind == kindFile && t.hardlink == "" {
			kept[t.name] = t
		}
	}
	for _, e := range ents {
		if e.hardlink == "" {
			continue
		}
		t := kept[e.hardlink]
		if t == nil {
			return fmt.Errorf("hardlink %s points to %s, which is not a file earlier in the layer", e.name, e.hardlink)
		}
		e.data, e.size, e.tooBig, e.hardlink = t.data, t.size, t.tooBig, ""
	}
	return nil
}

// writeEntries encodes selected entries as an uncompressed tar, the format
// of the layer and result caches. Masks keep their archive spelling, so the
// cached stream is read back by readSelected like any layer.
func writeEntries(w io.Writer, ents []*entry) error {
	tw := tar.NewWriter(w)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: e.mtime, Format: tar.FormatPAX, PAXRecords: map[string]string{}}
		if e.layer != "" {
			hdr.PAXRecords[paxLayer] = e.layer
		}
		switch e.kind {
		case kindWhiteout:
			hdr.Typeflag = tar.TypeReg
			hdr.Name = joinName(parentOf(e.name), whiteoutPrefix+e.name[strings.LastIndexByte(e.name, '/')+1:])
		case kindOpaque:
			hdr.Typeflag = tar.TypeReg
			hdr.Name = joinName(e.name, opaqueMarker)
		case kindDir:
			hdr.Typeflag = tar.TypeDir
		case kindSymlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.linkname
		case kindFile:
			hdr.Typeflag = tar.TypeReg
			if e.tooBig {
				hdr.PAXRecords[paxTooBig] = strconv.FormatInt(e.size, 10)
			} else {
				hdr.Size = int64(len(e.data))
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s: %w", e.name, err)
		}
		if e.kind == kindFile && !e.tooBig {
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("writing %s: %w", e.name, err)
			}
		}
	}
	return tw.Close()
}

func joinName(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}
