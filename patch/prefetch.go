package patch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxUnpackedData bounds the decompressed data.tar of one package that
// prefetching writes to disk.
const maxUnpackedData = 8 << 30

// prefetchDebs is a DebSource that decompresses the data.tar of every
// planned package ahead of time, several at once, into a copy of the .deb
// whose data.tar is stored uncompressed (byte for byte the same tar), in
// a scratch directory. The layer writer, which reads packages one after
// the other, then spends no time decompressing. A package it does not
// know, or failed to transcode, is opened from the source as it is, so
// the source's errors (checksum mismatches) surface unchanged.
type prefetchDebs struct {
	src  DebSource
	dir  string
	jobs map[string]*prefetchJob
	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ DebSource = (*prefetchDebs)(nil)

type prefetchJob struct {
	done chan struct{}
	path string // transcoded copy; "" when transcoding failed
}

func debKey(name, version, arch string) string { return name + " " + version + " " + arch }

// newPrefetch starts transcoding ups from src into dir with up to
// GOMAXPROCS workers, in the order given. Close stops it and removes the
// copies.
func newPrefetch(ctx context.Context, src DebSource, ups []Upgrade, dir string) *prefetchDebs {
	ctx, stop := context.WithCancel(ctx)
	p := &prefetchDebs{src: src, dir: dir, jobs: map[string]*prefetchJob{}, stop: stop}
	queue := make(chan Upgrade, len(ups))
	for _, u := range ups {
		k := debKey(u.Name, u.NewVersion, u.Arch)
		if _, ok := p.jobs[k]; ok {
			continue
		}
		p.jobs[k] = &prefetchJob{done: make(chan struct{})}
		queue <- u
	}
	close(queue)
	for range min(runtime.GOMAXPROCS(0), len(p.jobs)) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for u := range queue {
				j := p.jobs[debKey(u.Name, u.NewVersion, u.Arch)]
				if ctx.Err() == nil {
					j.path, _ = p.transcode(ctx, u)
				}
				close(j.done)
			}
		}()
	}
	return p
}

// OpenDeb returns the transcoded copy when there is one.
func (p *prefetchDebs) OpenDeb(ctx context.Context, name, version, arch string) (io.ReadCloser, error) {
	j, ok := p.jobs[debKey(name, version, arch)]
	if !ok {
		return p.src.OpenDeb(ctx, name, version, arch)
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if j.path == "" {
		return p.src.OpenDeb(ctx, name, version, arch)
	}
	f, err := os.Open(j.path)
	if err != nil {
		return p.src.OpenDeb(ctx, name, version, arch)
	}
	return f, nil
}

// Close stops the workers and removes every copy.
func (p *prefetchDebs) Close() {
	p.stop()
	p.wg.Wait()
	for _, j := range p.jobs {
		if j.path != "" {
			_ = os.Remove(j.path)
		}
	}
}

// transcode writes u's package with an uncompressed data.tar and returns
// the file's path.
func (p *prefetchDebs) transcode(ctx context.Context, u Upgrade) (path string, err error) {
	rc, err := p.src.OpenDeb(ctx, u.Name, u.NewVersion, u.Arch)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	in := bufio.NewReaderSize(rc, 256<<10)
	data, err := os.CreateTemp(p.dir, "prefetch-data-*.tar")
	if err != nil {
		return "", err
	}
	defer func() {
		_ = data.Close()
		_ = os.Remove(data.Name())
	}()
	f, err := os.CreateTemp(p.dir, "prefetch-*.deb")
	if err != nil {
		return "", err
	}
	out := bufio.NewWriterSize(f, 256<<10)
	defer func() {
		if err == nil {
			err = out.Flush()
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(f.Name())
			path = ""
		}
	}()
	magic := make([]byte, 8)
	if _, err := io.ReadFull(in, magic); err != nil || string(magic) != "!<arch>\n" {
		return "", errors.New("not an ar archive")
	}
	if _, err := out.Write(magic); err != nil {
		return "", err
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(in, hdr); err == io.EOF {
			break
		} else if err != nil {
			return "", err
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || string(hdr[58:60]) != "`\n" {
			return "", errors.New("bad ar header")
		}
		member := io.LimitReader(in, size)
		if !strings.HasPrefix(name, "data.tar.") {
			if err := writeArMember(out, hdr, name, size, member); err != nil {
				return "", err
			}
		} else {
			dw := bufio.NewWriterSize(data, 256<<10)
			n, err := decompressTo(ctx, dw, name, member)
			if err != nil {
				return "", err
			}
			if err := dw.Flush(); err != nil {
				return "", err
			}
			if _, err := data.Seek(0, io.SeekStart); err != nil {
				return "", err
			}
			if err := writeArMember(out, hdr, "data.tar", n, bufio.NewReaderSize(data, 256<<10)); err != nil {
				return "", err
			}
		}
		if _, err := io.Copy(io.Discard, member); err != nil {
			return "", err
		}
		if size%2 == 1 {
			if _, err := in.ReadByte(); err != nil && err != io.EOF {
				return "", err
			}
		}
	}
	return f.Name(), nil
}

// decompressTo writes the decompressed member to w and returns its size.
func decompressTo(ctx context.Context, w io.Writer, name string, r io.Reader) (int64, error) {
	var dr io.Reader
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return 0, err
		}
		dr = xr
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		dr = zr
	default:
		// gzip and bzip2 are read in line by the installer.
		return 0, fmt.Errorf("member %s: not prefetched", name)
	}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		m, rerr := dr.Read(buf)
		if m > 0 {
			if n += int64(m); n > maxUnpackedData {
				return 0, fmt.Errorf("member %s: more than %d bytes", name, int64(maxUnpackedData))
			}
			if _, err := w.Write(buf[:m]); err != nil {
				return 0, err
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return 0, rerr
		}
	}
}

// writeArMember writes an ar header like hdr, renamed and resized, and
// size bytes of r, padded to an even length.
func writeArMember(w io.Writer, hdr []byte, name string, size int64, r io.Reader) error {
	h := bytes.Clone(hdr)
	copy(h[:16], fmt.Sprintf("%-16s", name))
	copy(h[48:58], fmt.Sprintf("%-10d", size))
	if _, err := w.Write(h); err != nil {
		return err
	}
	if _, err := io.CopyN(w, r, size); err != nil {
		return err
	}
	if size%2 == 1 {
		if _, err := w.Write([]byte{'\n'}); err != nil {
			return err
		}
	}
	return nil
}
