package deb

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrNotFound is returned by Find when no entry has the wanted name.
var ErrNotFound = errors.New("not found in package")

// ErrTooLarge is returned by Find when the entry is bigger than allowed.
var ErrTooLarge = errors.New("entry too large")

// CleanName returns a tar entry name as a clean slash path without the
// leading "./" or "/", as dpkg records it ("usr/bin/perl"); "." for the root.
func CleanName(name string) string {
	name = path.Clean("/" + name)
	if name == "/" {
		return "."
	}
	return strings.TrimPrefix(name, "/")
}

// Find reads the .deb in r up to the entry named name (in the form
// CleanName returns) of section sec, and returns its header and, for a
// regular file, its content, read up to max bytes. A symlink is returned
// with its header only; the caller decides whether to follow it.
func Find(r io.Reader, sec Section, name string, max int64) (*tar.Header, []byte, error) {
	d := NewReader(r)
	for {
		s, tr, err := d.Next()
		if err == io.EOF {
			return nil, nil, fmt.Errorf("%s in %s section: %w", name, sec, ErrNotFound)
		}
		if err != nil {
			return nil, nil, err
		}
		if s != sec {
			continue
		}
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil, nil, fmt.Errorf("%s in %s section: %w", name, sec, ErrNotFound)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s tar: %w", sec, err)
			}
			if CleanName(hdr.Name) != name {
				continue
			}
			if hdr.Typeflag != tar.TypeReg {
				return hdr, nil, nil
			}
			if hdr.Size > max {
				return nil, nil, fmt.Errorf("%s is %d bytes, over %d: %w", name, hdr.Size, max, ErrTooLarge)
			}
			b, err := io.ReadAll(io.LimitReader(tr, max))
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s: %w", name, err)
			}
			return hdr, b, nil
		}
	}
}

// ReadControl returns the control file of the .deb in r, up to 1 MiB.
func ReadControl(r io.Reader) ([]byte, error) {
	_, b, err := Find(r, Control, "control", 1<<20)
	return b, err
}
