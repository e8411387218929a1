// Package deb streams the members of a Debian binary package: it reads the
// outer ar archive and walks the entries of control.tar and data.tar in
// whatever compression they carry (xz, zstd, gzip, bzip2 or none), without
// extracting anything to disk or holding a whole member in memory.
package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Section names a tar member of a .deb.
type Section string

// The sections a .deb carries, in archive order.
const (
	Control Section = "control"
	Data    Section = "data"
)

// ErrNotDeb is returned for input that is not a Debian binary package.
var ErrNotDeb = errors.New("not a debian binary package")

const (
	arMagic     = "!<arch>\n"
	arHeaderLen = 60
	// maxMember bounds the size field of an ar member (64 GiB), so garbage
	// headers fail early rather than promising absurd reads.
	maxMember = 64 << 30
)

// Reader walks the sections of one .deb read sequentially from an
// io.Reader. Call Next to move to the control or data tar, then read its
// entries from the returned tar.Reader before calling Next again.
type Reader struct {
	r       *bufio.Reader
	started bool
	// remaining counts the unread bytes of the current ar member, and pad
	// says whether an alignment byte follows it.
	remaining int64
	pad       bool
	closer    io.Closer
	version   string
}

// NewReader returns a Reader over the .deb bytes in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// FormatVersion is the content of the debian-binary member ("2.0"), known
// once Next has been called.
func (d *Reader) FormatVersion() string { return d.version }

// Next advances to the next control or data section and returns a tar
// reader over its entries. It returns io.EOF after the last section.
// Members other than control.tar* and data.tar* (signatures, _gpgbuilder)
// are skipped.
func (d *Reader) Next() (Section, *tar.Reader, error) {
	if err := d.finishMember(); err != nil {
		return "", nil, err
	}
	if !d.started {
		magic := make([]byte, len(arMagic))
		if _, err := io.ReadFull(d.r, magic); err != nil || string(magic) != arMagic {
			return "", nil, fmt.Errorf("reading ar magic: %w", ErrNotDeb)
		}
		d.started = true
	}
	for {
		name, size, err := d.nextHeader()
		if err != nil {
			return "", nil, err
		}
		d.remaining, d.pad = size, size%2 == 1
		switch {
		case name == "debian-binary":
			b, err := io.ReadAll(io.LimitReader(d.member(), 64))
			if err != nil {
				return "", nil, fmt.Errorf("reading debian-binary: %w", err)
			}
			d.version = strings.TrimSpace(string(b))
			if !strings.HasPrefix(d.version, "2.") {
				return "", nil, fmt.Errorf("debian-binary version %q: %w", d.version, ErrNotDeb)
			}
		case strings.HasPrefix(name, "control.tar"), strings.HasPrefix(name, "data.tar"):
			if d.version == "" {
				return "", nil, fmt.Errorf("member %s before debian-binary: %w", name, ErrNotDeb)
			}
			sec := Control
			if strings.HasPrefix(name, "data.tar") {
				sec = Data
			}
			rc, err := decompress(name, d.member())
			if err != nil {
				return "", nil, err
			}
			d.closer = rc
			return sec, tar.NewReader(rc), nil
		}
		if err := d.finishMember(); err != nil {
			return "", nil, err
		}
	}
}

// member reads what is left of the current ar member.
func (d *Reader) member() io.Reader { return &memberReader{d: d} }

type memberReader struct{ d *Reader }

func (m *memberReader) Read(p []byte) (int, error) {
	if m.d.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > m.d.remaining {
		p = p[:m.d.remaining]
	}
	n, err := m.d.r.Read(p)
	m.d.remaining -= int64(n)
	if err == io.EOF && m.d.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// finishMember skips the unread rest of the current member and its padding.
func (d *Reader) finishMember() error {
	if d.closer != nil {
		_ = d.closer.Close()
		d.closer = nil
	}
	if d.remaining > 0 {
		if _, err := io.CopyN(io.Discard, d.r, d.remaining); err != nil {
			return fmt.Errorf("skipping ar member: %w", err)
		}
		d.remaining = 0
	}
	if d.pad {
		d.pad = false
		if _, err := d.r.ReadByte(); err != nil && err != io.EOF {
			return fmt.Errorf("skipping ar padding: %w", err)
		}
	}
	return nil
}

// nextHeader reads one ar member header.
func (d *Reader) nextHeader() (string, int64, error) {
	var h [arHeaderLen]byte
	n, err := io.ReadFull(d.r, h[:])
	if err == io.EOF {
		return "", 0, io.EOF
	}
	if err != nil {
		return "", 0, fmt.Errorf("reading ar header after %d bytes: %w", n, err)
	}
	if h[58] != '`' || h[59] != '\n' {
		return "", 0, fmt.Errorf("bad ar header terminator: %w", ErrNotDeb)
	}
	name := strings.TrimRight(string(h[0:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar style
	size, err := strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
	if err != nil || size < 0 || size > maxMember {
		return "", 0, fmt.Errorf("bad ar size %q for member %q: %w", bytes.TrimSpace(h[48:58]), name, ErrNotDeb)
	}
	return name, size, nil
}

// decompress wraps r according to the member name's compression suffix.
func decompress(name string, r io.Reader) (io.ReadCloser, error) {
	switch {
	case strings.HasSuffix(name, ".tar"):
		return io.NopCloser(r), nil
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("opening xz of %s: %w", name, err)
		}
		return io.NopCloser(xr), nil
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, fmt.Errorf("opening zstd of %s: %w", name, err)
		}
		return zr.IOReadCloser(), nil
	case strings.HasSuffix(name, ".gz"):
		gr, err := kgzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("opening gzip of %s: %w", name, err)
		}
		return gr, nil
	case strings.HasSuffix(name, ".bz2"):
		return io.NopCloser(bzip2.NewReader(r)), nil
	}
	return nil, fmt.Errorf("member %s: unsupported compression: %w", name, ErrNotDeb)
}
