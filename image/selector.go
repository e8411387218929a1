package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Selector names the files to extract from an image's merged filesystem.
// Paths are slash-separated and relative to the image root; a leading "/"
// is ignored.
type Selector struct {
	// Paths are exact paths: a file (or a symlink, which is followed) whose
	// contents are wanted.
	Paths []string
	// Dirs are directories whose whole contents are wanted, recursively. A
	// Dir that turns out to be a file is extracted as that file.
	Dirs []string
	// Match, if set, selects any further path for which it returns true.
	// A selector with Match never stops early: any lower layer may add a
	// matching file. Match must be a pure function of its argument.
	Match func(name string) bool
	// Stop, if set, is called after each layer with the files merged so
	// far (every file in it is final: lower layers cannot change it). When
	// it returns true no lower layer is read. It lets a caller that knows
	// its format stop early, e.g. once /var/lib/dpkg/status is found.
	Stop func(fsys fs.FS) bool
	// Key names Match and Stop for the caches. Required when either is
	// set; selectors with different functions must have different keys.
	Key string

	exact  map[string]bool
	dirs   map[string]bool
	ancest map[string]bool
}

// SelectPaths builds a selector from paths where a trailing "/" marks a
// directory whose whole contents are wanted and anything else is an exact
// path. This is the convention of pkgdb.Reader.Paths.
func SelectPaths(paths ...string) Selector {
	var s Selector
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			s.Dirs = append(s.Dirs, p)
		} else {
			s.Paths = append(s.Paths, p)
		}
	}
	return s
}

// cleanName turns an archive or selector name into the canonical form used
// throughout: relative, slash-separated, cleaned, no trailing slash. The
// root is "". It reports false for names that escape the root with "..".
func cleanName(name string) (string, bool) {
	name = strings.TrimLeft(name, "/")
	if name == "" {
		return "", true
	}
	c := path.Clean(name)
	if c == "." {
		return "", true
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// parentOf returns the directory holding name ("" for top-level names).
func parentOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}

// compile validates the selector and builds its lookup tables. The result
// is a copy; the caller's selector is never edited.
func (s Selector) compile() (Selector, error) {
	if (s.Match != nil || s.Stop != nil) && s.Key == "" {
		return Selector{}, errors.New("selector has a Match or Stop function but no Key")
	}
	if len(s.Paths) == 0 && len(s.Dirs) == 0 && s.Match == nil {
		return Selector{}, errors.New("selector selects nothing")
	}
	out := Selector{Match: s.Match, Stop: s.Stop, Key: s.Key, exact: map[string]bool{}, dirs: map[string]bool{}, ancest: map[string]bool{}}
	for _, p := range s.Paths {
		c, ok := cleanName(p)
		if !ok || c == "" {
			return Selector{}, fmt.Errorf("selector path %q is not a path below the root", p)
		}
		if !out.exact[c] {
			out.exact[c] = true
			out.Paths = append(out.Paths, c)
		}
	}
	for _, p := range s.Dirs {
		c, ok := cleanName(p)
		if !ok || c == "" {
			return Selector{}, fmt.Errorf("selector directory %q is not a directory below the root", p)
		}
		if !out.dirs[c] {
			out.dirs[c] = true
			out.Dirs = append(out.Dirs, c)
		}
	}
	sort.Strings(out.Paths)
	sort.Strings(out.Dirs)
	for _, p := range append(append([]string{}, out.Paths...), out.Dirs...) {
		for a := parentOf(p); a != ""; a = parentOf(a) {
			out.ancest[a] = true
		}
	}
	return out, nil
}

// cacheKey is a stable digest of what the selector selects.
func (s Selector) cacheKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "paths\x00%s\x00dirs\x00%s\x00key\x00%s", strings.Join(s.Paths, "\x00"), strings.Join(s.Dirs, "\x00"), s.Key)
	return hex.EncodeToString(h.Sum(nil))
}

// underDir reports whether name is a wanted directory or lies below one.
func (s Selector) underDir(name string) bool {
	for n := name; n != ""; n = parentOf(n) {
		if s.dirs[n] {
			return true
		}
	}
	return false
}

// wants reports whether the contents of name are selected.
func (s Selector) wants(name string) bool {
	if name == "" {
		return false
	}
	return s.exact[name] || s.underDir(name) || (s.Match != nil && s.Match(name))
}

// isAncestor reports whether name is a proper ancestor of a selected path;
// a symlink or file there redirects or hides what is selected below it.
func (s Selector) isAncestor(name string) bool { return s.ancest[name] }

// relevantMask reports whether a whiteout or opaque marker at name can hide
// anything selected.
func (s Selector) relevantMask(name string) bool {
	return s.Match != nil || name == "" || s.ancest[name] || s.wants(name)
}

// with returns the selector extended by extra directories (symlink targets
// found outside the selection).
func (s Selector) with(extra []string) (Selector, error) {
	n := Selector{Paths: s.Paths, Dirs: append(append([]string{}, s.Dirs...), extra...), Match: s.Match, Stop: s.Stop, Key: s.Key}
	return n.compile()
}
