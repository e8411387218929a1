package image

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"sort"
	"strings"
	"syscall"
	"time"
)

// maxSymlinkHops bounds symlink resolution, as the kernel's ELOOP limit does.
const maxSymlinkHops = 40

// ErrSymlinkLoop is returned when resolving a path takes more than 40
// symlink hops.
var ErrSymlinkLoop = errors.New("too many levels of symbolic links")

// File is one extracted entry of the merged filesystem.
type File struct {
	Name     string      // slash-separated, relative to the image root
	Mode     fs.FileMode // type bits and permissions
	Size     int64
	UID, GID int
	ModTime  time.Time
	Linkname string // symlink target, as stored in the layer
	// Layer is the digest of the layer the entry came from.
	Layer string

	data []byte
}

// FS is the in-memory result of an extraction: the selected files of an
// image's merged filesystem, with symlinks among them resolved inside the
// root. It implements fs.FS, fs.StatFS, fs.ReadFileFS, fs.ReadDirFS and
// fs.ReadLinkFS. Directories not present in any layer are synthesized.
type FS struct {
	files    map[string]*File
	children map[string][]string // dir -> sorted base names
}

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
)

func newFS(files map[string]*File) *FS {
	f := &FS{files: files, children: map[string][]string{}}
	seen := map[string]bool{}
	for name := range files {
		for n := name; n != ""; n = parentOf(n) {
			if seen[n] {
				break
			}
			seen[n] = true
			p := parentOf(n)
			f.children[p] = append(f.children[p], n[strings.LastIndexByte(n, '/')+1:])
		}
	}
	for _, c := range f.children {
		sort.Strings(c)
	}
	return f
}

// Files lists every extracted entry, sorted by name, without following
// symlinks.
func (f *FS) Files() []*File {
	out := make([]*File, 0, len(f.files))
	for _, v := range f.files {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkName validates an fs.FS name; unlike fs.ValidPath it accepts names
// that are not UTF-8, which real layers contain.
func checkName(op, name string) (string, error) {
	if name == "." {
		return "", nil
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
		}
	}
	return name, nil
}

// resolve follows symlinks in name inside the root: absolute targets start
// at the image root and ".." never climbs above it. The last element is
// followed only when followLast is set.
func (f *FS) resolve(name string, followLast bool) (string, error) {
	var rest []string
	if name != "" {
		rest = strings.Split(name, "/")
	}
	cur := ""
	hops := 0
	for len(rest) > 0 {
		el := rest[0]
		rest = rest[1:]
		switch el {
		case "", ".":
			continue
		case "..":
			cur = parentOf(cur)
			continue
		}
		next := joinName(cur, el)
		if fl := f.files[next]; fl != nil && fl.Mode&fs.ModeSymlink != 0 && (len(rest) > 0 || followLast) {
			hops++
			if hops > maxSymlinkHops {
				return "", ErrSymlinkLoop
			}
			target := fl.Linkname
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		cur = next
	}
	return cur, nil
}

func (f *FS) lookup(op, name string, follow bool) (string, *File, bool, error) {
	n, err := checkName(op, name)
	if err != nil {
		return "", nil, false, err
	}
	r, err := f.resolve(n, follow)
	if err != nil {
		return "", nil, false, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if fl := f.files[r]; fl != nil {
		return r, fl, fl.Mode.IsDir(), nil
	}
	if _, ok := f.children[r]; ok || r == "" {
		return r, nil, true, nil
	}
	return "", nil, false, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// Open opens the named file, following symlinks inside the root.
func (f *FS) Open(name string) (fs.File, error) {
	r, fl, isDir, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	info := f.info(r, fl)
	if isDir {
		return &openDir{fsys: f, name: r, info: info}, nil
	}
	if fl.data == nil && fl.Size > 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EFBIG}
	}
	return &openFile{info: info, Reader: bytes.NewReader(fl.data)}, nil
}

// ReadFile returns the contents of the named file, following symlinks.
func (f *FS) ReadFile(name string) ([]byte, error) {
	_, fl, isDir, err := f.lookup("read", name, true)
	if err != nil {
		return nil, err
	}
	if isDir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	return bytes.Clone(fl.data), nil
}

// Stat describes the named file, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	r, fl, _, err := f.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.info(r, fl), nil
}

// Lstat describes the named file without following a final symlink.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	r, fl, _, err := f.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return f.info(r, fl), nil
}

// ReadLink returns the target of the named symlink as stored in the layer.
func (f *FS) ReadLink(name string) (string, error) {
	_, fl, _, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if fl == nil || fl.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return fl.Linkname, nil
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	r, _, isDir, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !isDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	return f.readDir(r), nil
}

func (f *FS) readDir(r string) []fs.DirEntry {
	names := f.children[r]
	out := make([]fs.DirEntry, 0, len(names))
	for _, b := range names {
		n := joinName(r, b)
		out = append(out, fs.FileInfoToDirEntry(f.info(n, f.files[n])))
	}
	return out
}

func (f *FS) info(name string, fl *File) *fileInfo {
	if fl == nil {
		return &fileInfo{name: name, mode: fs.ModeDir | 0o755}
	}
	return &fileInfo{name: name, mode: fl.Mode, size: fl.Size, mtime: fl.ModTime, file: fl}
}

type fileInfo struct {
	name  string
	mode  fs.FileMode
	size  int64
	mtime time.Time
	file  *File
}

func (i *fileInfo) Name() string {
	if i.name == "" {
		return "."
	}
	return i.name[strings.LastIndexByte(i.name, '/')+1:]
}
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.mtime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }

// Sys returns the *File, with owner and layer, or nil for a synthesized
// directory.
func (i *fileInfo) Sys() any {
	if i.file == nil {
		return nil
	}
	return i.file
}

type openFile struct {
	info *fileInfo
	*bytes.Reader
}

func (o *openFile) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *openFile) Close() error               { return nil }

type openDir struct {
	fsys    *FS
	name    string
	info    *fileInfo
	entries []fs.DirEntry
	read    bool
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: syscall.EISDIR}
}

func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		d.entries, d.read = d.fsys.readDir(d.name), true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	if n > len(d.entries) {
		n = len(d.entries)
	}
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}
