package distrorepo

import (
	"fmt"
	"strings"
)

// Relation is one package named in a dependency field, with its optional
// architecture qualifier and version constraint: "libc6:any (>= 2.34)".
type Relation struct {
	Name string
	// Arch is the qualifier after ":" ("any", "native", "amd64") or "".
	Arch string
	// Op is one of "<<", "<=", "=", ">=", ">>", or "" with no constraint.
	Op      string
	Version string
}

// String formats the relation as in a control file.
func (r Relation) String() string {
	s := r.Name
	if r.Arch != "" {
		s += ":" + r.Arch
	}
	if r.Op != "" {
		s += " (" + r.Op + " " + r.Version + ")"
	}
	return s
}

// Alternatives is an OR-group: "a | b".
type Alternatives []Relation

// Relations is the value of a dependency field: an AND of OR-groups.
type Relations []Alternatives

// String formats the relations as in a control file.
func (rs Relations) String() string {
	groups := make([]string, len(rs))
	for i, g := range rs {
		alts := make([]string, len(g))
		for j, r := range g {
			alts[j] = r.String()
		}
		groups[i] = strings.Join(alts, " | ")
	}
	return strings.Join(groups, ", ")
}

// ParseRelations parses a Depends-style field. Architecture restriction
// lists ("[amd64]") and build profiles ("<!nocheck>") are accepted and
// dropped: they only occur in source packages.
func ParseRelations(s string) (Relations, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := make(Relations, 0, strings.Count(s, ",")+1)
	for rest := s; rest != ""; {
		var group string
		group, rest, _ = strings.Cut(rest, ",")
		group = strings.TrimSpace(group)
		if group == "" {
			continue // trailing comma, as dpkg tolerates
		}
		alts := make(Alternatives, 0, strings.Count(group, "|")+1)
		for g := group; ; {
			alt, more, found := strings.Cut(g, "|")
			r, err := parseRelation(alt)
			if err != nil {
				return nil, fmt.Errorf("relation %q: %w", strings.TrimSpace(alt), err)
			}
			alts = append(alts, r)
			if !found {
				break
			}
			g = more
		}
		out = append(out, alts)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func parseRelation(s string) (Relation, error) {
	var r Relation
	rest := s
	if i := strings.IndexByte(s, '('); i >= 0 {
		j := strings.IndexByte(s, ')')
		if j < i {
			return r, fmt.Errorf("unclosed version constraint: %w", ErrMalformed)
		}
		c := strings.TrimSpace(s[i+1 : j])
		after := strings.TrimSpace(dropBracketed(dropBracketed(s[j+1:], '[', ']'), '<', '>'))
		if after != "" {
			return r, fmt.Errorf("text after version constraint: %w", ErrMalformed)
		}
		rest = s[:i]
		for _, op := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
			if strings.HasPrefix(c, op) {
				r.Op, r.Version = op, strings.TrimSpace(c[len(op):])
				break
			}
		}
		// "<" and ">" are obsolete spellings of "<=" and ">=".
		switch r.Op {
		case "<":
			r.Op = "<="
		case ">":
			r.Op = ">="
		case "":
			return r, fmt.Errorf("unknown operator in %q: %w", c, ErrMalformed)
		}
		if r.Version == "" || strings.ContainsAny(r.Version, " \t") {
			return r, fmt.Errorf("bad version in %q: %w", c, ErrMalformed)
		}
	}
	rest = strings.TrimSpace(dropBracketed(dropBracketed(rest, '[', ']'), '<', '>'))
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest, r.Arch = rest[:i], rest[i+1:]
	}
	r.Name = rest
	if !validPackageName(r.Name) {
		return r, fmt.Errorf("bad package name %q: %w", r.Name, ErrMalformed)
	}
	return r, nil
}

func dropBracketed(s string, open, close byte) string {
	for {
		i := strings.IndexByte(s, open)
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], close)
		if j < 0 {
			return s
		}
		s = s[:i] + s[i+j+1:]
	}
}

// validPackageName reports whether s follows Debian policy 5.6.1 loosely:
// lower-case letters, digits, "+", "-", "."; at least two characters.
// Upper case is tolerated, as old archives carry it.
func validPackageName(s string) bool {
	if len(s) < 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c == '+', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}
