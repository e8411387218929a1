package image

import (
	"fmt"
	"io/fs"
)

// merger stacks the selected entries of layers, read from the top layer
// down, into the merged filesystem, following the OCI whiteout rules: a
// whiteout or opaque marker hides only what lower layers hold, and the
// top-most entry for a path wins.
type merger struct {
	sel     Selector
	lim     limits
	total   int64
	visible map[string]*entry
	hidden  map[string]bool // whited out, with everything below, for lower layers
	opaque  map[string]bool // everything below is hidden for lower layers
}

func newMerger(sel Selector, lim limits) *merger {
	return &merger{sel: sel, lim: lim, visible: map[string]*entry{}, hidden: map[string]bool{}, opaque: map[string]bool{}}
}

// masked reports whether an entry at name in a lower layer is hidden by
// what the layers above it hold.
func (m *merger) masked(name string) bool {
	return m.hidden[name] || m.visible[name] != nil || m.belowMasked(parentOf(name))
}

// belowMasked reports whether everything below dir is hidden from lower
// layers: dir or an ancestor is whited out, opaque, or replaced by a
// non-directory.
func (m *merger) belowMasked(dir string) bool {
	for a := dir; ; a = parentOf(a) {
		if m.hidden[a] || m.opaque[a] {
			return true
		}
		if e := m.visible[a]; e != nil && e.kind != kindDir {
			return true
		}
		if a == "" {
			return false
		}
	}
}

// add applies one layer's entries, given in archive order.
func (m *merger) add(layer string, ents []*entry) error {
	here := map[string]*entry{}
	var order []string
	var masks []*entry
	for _, e := range ents {
		switch e.kind {
		case kindWhiteout, kindOpaque:
			masks = append(masks, e)
			continue
		}
		if m.masked(e.name) {
			continue
		}
		if _, dup := here[e.name]; !dup {
			order = append(order, e.name)
		}
		here[e.name] = e // a later entry for the same name replaces the earlier
	}
	for _, n := range order {
		e := here[n]
		if e.kind == kindFile && e.tooBig {
			return fmt.Errorf("%s in layer %s is %d bytes, over the %d-byte per-file limit", e.name, layer, e.size, m.lim.maxFile)
		}
		m.total += entryOverhead + int64(len(e.name)) + int64(len(e.data))
		if m.total > m.lim.maxTotal {
			return fmt.Errorf("selected files exceed the %d-byte total limit at %s in layer %s", m.lim.maxTotal, e.name, layer)
		}
		e.layer = layer
		m.visible[n] = e
	}
	for _, e := range masks {
		if e.kind == kindWhiteout {
			m.hidden[e.name] = true
		} else {
			m.opaque[e.name] = true
		}
	}
	return nil
}

// done reports whether no lower layer can change the result: every exact
// path is decided and every selected directory is closed.
func (m *merger) done() bool {
	if m.sel.Match != nil {
		return false
	}
	for _, p := range m.sel.Paths {
		if !m.masked(p) {
			return false
		}
	}
	for _, d := range m.sel.Dirs {
		if !m.belowMasked(d) {
			return false
		}
	}
	return true
}

// result builds the filesystem of the visible entries. Whiteouts and the
// file-replacing-directory rules have already been applied.
func (m *merger) result() *FS { return fsFromEntries(m.visible) }

func fsFromEntries(ents map[string]*entry) *FS {
	files := make(map[string]*File, len(ents))
	for n, e := range ents {
		f := &File{Name: n, Size: e.size, UID: e.uid, GID: e.gid, ModTime: e.mtime, Layer: e.layer, data: e.data}
		perm := fs.FileMode(e.mode) & fs.ModePerm
		if e.mode&0o4000 != 0 {
			perm |= fs.ModeSetuid
		}
		if e.mode&0o2000 != 0 {
			perm |= fs.ModeSetgid
		}
		if e.mode&0o1000 != 0 {
			perm |= fs.ModeSticky
		}
		switch e.kind {
		case kindDir:
			f.Mode = fs.ModeDir | perm
			f.Size = 0
		case kindSymlink:
			f.Mode = fs.ModeSymlink | perm
			f.Linkname = e.linkname
			f.Size = int64(len(e.linkname))
		default:
			f.Mode = perm
			f.Size = int64(len(e.data))
		}
		files[n] = f
	}
	return newFS(files)
}

// outside lists the targets of selected symlinks that resolve to paths
// the selector did not select, so that a further pass can fetch them.
// Symlinks that are only parents of selected paths (a usrmerge /lib ->
// usr/lib) are followed when their target is selected too, but never
// cause a further pass: that would re-read every layer of every usrmerged
// image for a path that is almost never there. Targets at the root are
// ignored (they would select everything).
func outside(f *FS, sel Selector) []string {
	seen := map[string]bool{}
	var out []string
	for n, fl := range f.files {
		if fl.Mode&fs.ModeSymlink == 0 || !sel.wants(n) {
			continue
		}
		r, err := f.resolve(n, true)
		if err != nil || r == "" || r == n || seen[r] {
			continue // loops surface as errors when the path is opened
		}
		seen[r] = true
		if !sel.wants(r) {
			out = append(out, r)
		}
	}
	return out
}
