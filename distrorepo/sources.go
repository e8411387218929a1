package distrorepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Source is one apt repository line: a URI, a suite and its components,
// with the options that matter to us.
type Source struct {
	// URI is the repository base, without trailing slash:
	// "http://deb.debian.org/debian".
	URI string `json:"uri"`
	// Suite is the distribution ("bookworm-security"), or a path ending in
	// "/" for a flat repository ("./", "stable/").
	Suite string `json:"suite"`
	// Components are the archive areas ("main"); empty for a flat repository.
	Components []string `json:"components,omitempty"`
	// Archs restricts the source to these architectures (arch= option).
	Archs []string `json:"archs,omitempty"`
	// SignedBy is the Signed-By value: keyring paths or fingerprints, or an
	// inline ASCII-armored key. Empty means the globally trusted keys.
	SignedBy string `json:"signed_by,omitempty"`
	// Trusted is [trusted=yes]: apt accepts it unsigned. patchloop still
	// demands AllowUnsigned for that.
	Trusted bool `json:"trusted,omitempty"`
	// From says where the source was found: "/etc/apt/sources.list:3",
	// "default", "config".
	From string `json:"from"`
}

// Flat reports whether the source is a flat repository (suite ends in "/").
func (s Source) Flat() bool { return strings.HasSuffix(s.Suite, "/") }

// String formats the source as a one-line sources.list entry.
func (s Source) String() string {
	return strings.TrimSpace("deb " + s.URI + " " + s.Suite + " " + strings.Join(s.Components, " "))
}

// SourcePaths are the image paths that hold apt sources and keys: the files
// and directories that an image reader must supply for ImageSources and the
// keyring lookups.
var SourcePaths = []string{
	"etc/apt/sources.list",
	"etc/apt/sources.list.d",
	"etc/apt/trusted.gpg",
	"etc/apt/trusted.gpg.d",
	"usr/share/keyrings",
}

// maxSourcesFile bounds one sources file.
const maxSourcesFile = 1 << 20

// ImageSources reads the binary (deb) sources configured in an image's
// root filesystem: /etc/apt/sources.list, /etc/apt/sources.list.d/*.list
// and *.sources. deb-src entries and disabled deb822 stanzas are skipped.
// Problems that apt would also skip past (an unreadable file, a bad line)
// are returned as warnings.
func ImageSources(fsys fs.FS) ([]Source, []string) {
	var out []Source
	var warnings []string
	read := func(name string, parse func(string, []byte) ([]Source, error)) {
		f, err := fsys.Open(name)
		if err != nil {
			if !isNotExist(err) {
				warnings = append(warnings, fmt.Sprintf("opening /%s: %v", name, err))
			}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSourcesFile+1))
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("reading /%s: %v", name, err))
			return
		}
		if len(b) > maxSourcesFile {
			warnings = append(warnings, fmt.Sprintf("/%s is over %d bytes: skipped", name, maxSourcesFile))
			return
		}
		srcs, err := parse("/"+name, b)
		if err != nil {
			warnings = append(warnings, err.Error())
		}
		out = append(out, srcs...)
	}
	read("etc/apt/sources.list", ParseSourcesList)
	entries, err := fs.ReadDir(fsys, "etc/apt/sources.list.d")
	if err != nil && !isNotExist(err) {
		warnings = append(warnings, fmt.Sprintf("listing /etc/apt/sources.list.d: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names) // apt reads them in this order
	for _, n := range names {
		p := path.Join("etc/apt/sources.list.d", n)
		switch {
		case strings.HasSuffix(n, ".list"):
			read(p, ParseSourcesList)
		case strings.HasSuffix(n, ".sources"):
			read(p, ParseDeb822Sources)
		}
	}
	return out, warnings
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// ParseSourcesList parses the one-line format of sources.list:
//
//	deb [ opt=val opt2=val2 ] uri suite [component…]
//
// name labels the entries' From. Bad lines are reported together in the
// error while the good ones are still returned.
func ParseSourcesList(name string, b []byte) ([]Source, error) {
	var out []Source
	var errs []string
	for i, line := range strings.Split(string(b), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		from := fmt.Sprintf("%s:%d", name, i+1)
		s, ok, err := parseSourceLine(line)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", from, err))
			continue
		}
		if ok {
			s.From = from
			out = append(out, s)
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s: %w", strings.Join(errs, "; "), ErrMalformed)
	}
	return out, nil
}

// parseSourceLine parses one non-empty line; ok is false for deb-src.
func parseSourceLine(line string) (Source, bool, error) {
	var s Source
	typ, rest, _ := strings.Cut(line, " ")
	typ = strings.TrimSpace(typ)
	rest = strings.TrimSpace(rest)
	switch typ {
	case "deb":
	case "deb-src":
		return s, false, nil
	default:
		return s, false, fmt.Errorf("unknown type %q", typ)
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return s, false, fmt.Errorf("options without closing ]")
		}
		for _, opt := range strings.Fields(rest[1:end]) {
			k, v, ok := strings.Cut(opt, "=")
			if !ok {
				return s, false, fmt.Errorf("option %q is not key=value", opt)
			}
			switch k {
			case "arch":
				s.Archs = strings.Split(v, ",")
			case "signed-by":
				s.SignedBy = v
			case "trusted":
				s.Trusted = v == "yes"
			}
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return s, false, fmt.Errorf("need a URI and a suite")
	}
	s.URI = strings.TrimSuffix(fields[0], "/")
	s.Suite = fields[1]
	if len(fields) > 2 {
		s.Components = fields[2:]
	}
	if err := s.check(); err != nil {
		return s, false, err
	}
	return s, true, nil
}

// check validates a parsed source.
func (s Source) check() error {
	if s.URI == "" || !strings.Contains(s.URI, ":") {
		return fmt.Errorf("bad URI %q", s.URI)
	}
	if s.Suite == "" {
		return fmt.Errorf("no suite")
	}
	if s.Flat() && len(s.Components) > 0 {
		return fmt.Errorf("flat suite %q with components", s.Suite)
	}
	if !s.Flat() && len(s.Components) == 0 {
		return fmt.Errorf("suite %q without components", s.Suite)
	}
	for _, c := range append([]string{s.Suite}, s.Components...) {
		if strings.Contains(c, "..") {
			return fmt.Errorf("path %q climbs out of the repository", c)
		}
	}
	return nil
}

// ParseDeb822Sources parses the deb822 format of *.sources files: one
// paragraph per entry with Types, URIs, Suites, Components, Architectures,
// Signed-By (paths, fingerprints or an inline armored key), Trusted and
// Enabled. A paragraph expands to one Source per URI and suite.
func ParseDeb822Sources(name string, b []byte) ([]Source, error) {
	ps, err := ParseParagraphs(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Source
	var errs []string
	for i, p := range ps {
		from := fmt.Sprintf("%s#%d", name, i+1)
		if strings.EqualFold(p.Value("Enabled"), "no") {
			continue
		}
		types := strings.Fields(p.Value("Types"))
		hasDeb := false
		for _, t := range types {
			hasDeb = hasDeb || t == "deb"
		}
		if !hasDeb {
			continue
		}
		signedBy := p.Value("Signed-By")
		if strings.Contains(signedBy, "\n") {
			// An inline key: continuation lines of "." stand for empty lines.
			lines := strings.Split(signedBy, "\n")
			for j, l := range lines {
				if l == "." {
					lines[j] = ""
				}
			}
			signedBy = strings.TrimSpace(strings.Join(lines, "\n")) + "\n"
		}
		for _, uri := range strings.Fields(p.Value("URIs")) {
			for _, suite := range strings.Fields(p.Value("Suites")) {
				s := Source{
					URI:        strings.TrimSuffix(uri, "/"),
					Suite:      suite,
					Components: strings.Fields(p.Value("Components")),
					Archs:      strings.Fields(p.Value("Architectures")),
					SignedBy:   signedBy,
					Trusted:    strings.EqualFold(p.Value("Trusted"), "yes"),
					From:       from,
				}
				if err := s.check(); err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", from, err))
					continue
				}
				out = append(out, s)
			}
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s: %w", strings.Join(errs, "; "), ErrMalformed)
	}
	return out, nil
}
