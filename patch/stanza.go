package patch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// field is one field of a deb822 stanza. Value is the text after the colon
// with its continuation lines, exactly as written but for the leading space
// of the first line.
type field struct {
	Name  string
	Value string
}

// stanza is one paragraph of a control or status file, fields in order.
type stanza []field

// get returns the value of the named field, compared case-insensitively.
func (s stanza) get(name string) string {
	for _, f := range s {
		if strings.EqualFold(f.Name, name) {
			return strings.TrimSpace(f.Value)
		}
	}
	return ""
}

// raw returns the value of the named field untrimmed, and whether it is set.
func (s stanza) raw(name string) (string, bool) {
	for _, f := range s {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// maxStanzaLine bounds one line of a control or status file.
const maxStanzaLine = 1 << 20

// parseStanzas reads every paragraph of a deb822 file.
func parseStanzas(r io.Reader) ([]stanza, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxStanzaLine)
	var out []stanza
	var cur stanza
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		switch {
		case strings.TrimSpace(t) == "":
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
		case t[0] == ' ' || t[0] == '\t':
			if len(cur) == 0 {
				return nil, fmt.Errorf("line %d: continuation line outside a field", line)
			}
			cur[len(cur)-1].Value += "\n" + t
		case t[0] == '#':
			// comment (allowed in control files)
		default:
			name, value, ok := strings.Cut(t, ":")
			if !ok || name == "" {
				return nil, fmt.Errorf("line %d: no field name", line)
			}
			cur = append(cur, field{Name: name, Value: strings.TrimPrefix(value, " ")})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// dpkgFieldOrder is the order in which dpkg writes the fields it knows
// (lib/dpkg/parse.c fieldinfos). Other fields follow, in the order of the
// control file.
var dpkgFieldOrder = []string{
	"Package", "Essential", "Protected", "Status", "Priority", "Section",
	"Installed-Size", "Origin", "Maintainer", "Bugs", "Architecture",
	"Multi-Arch", "Source", "Version", "Config-Version", "Replaces",
	"Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks",
	"Conflicts", "Enhances", "Conffiles", "Description", "Triggers-Pending",
	"Triggers-Awaited",
}

// dpkgDropped are control fields dpkg never writes to its status file.
var dpkgDropped = map[string]bool{
	"filename": true, "size": true, "md5sum": true, "msdos-filename": true,
	"revision": true, "package-revision": true, "package_revision": true,
	"status": true, "conffiles": true, "config-version": true,
	"triggers-pending": true, "triggers-awaited": true,
}

// statusStanza builds the status paragraph dpkg writes for an installed
// package from its control file, its Status value and its Conffiles value
// ("" for none).
func statusStanza(control stanza, status, conffiles string) stanza {
	known := map[string]bool{}
	for _, n := range dpkgFieldOrder {
		known[strings.ToLower(n)] = true
	}
	var out stanza
	for _, n := range dpkgFieldOrder {
		switch n {
		case "Status":
			out = append(out, field{n, status})
			continue
		case "Conffiles":
			if conffiles != "" {
				out = append(out, field{n, conffiles})
			}
			continue
		}
		if dpkgDropped[strings.ToLower(n)] {
			continue
		}
		if v, ok := control.raw(n); ok {
			if (n == "Essential" || n == "Protected") && strings.TrimSpace(v) != "yes" {
				continue // dpkg writes these booleans only when true
			}
			out = append(out, field{n, v})
		}
	}
	for _, f := range control {
		l := strings.ToLower(f.Name)
		if known[l] || dpkgDropped[l] {
			continue
		}
		out = append(out, f)
	}
	return out
}

// writeTo appends the stanza in deb822 form, without the blank line after.
func (s stanza) appendTo(b *bytes.Buffer) {
	for _, f := range s {
		b.WriteString(f.Name)
		b.WriteByte(':')
		if f.Value != "" && f.Value[0] != '\n' {
			b.WriteByte(' ')
		}
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
}
