// Package policy reads and validates the continuous-patching policy file
// (which repositories and tags to patch, under which tag convention) and
// selects, from a registry's tag lists, the images a patch cycle works on
// and the patch tags they get next.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Version is the only policy schema version.
const Version = "v1"

// MaxFileSize is the largest policy file accepted, 10 MiB.
const MaxFileSize = 10 << 20

// MaxProblems is how many problems Parse reports before it stops reading
// (ValidationError.Truncated). Warnings beyond it are counted in a last
// warning.
const MaxProblems = 1000

// Convention is how patch tags are named.
type Convention string

const (
	// Incremental pushes patches of 3.11 as 3.11-1, 3.11-2, … 3.11-999.
	Incremental Convention = "incremental"
	// Floating overwrites a single 3.11-patched with every patch.
	Floating Convention = "floating"
)

// ParseConvention parses "incremental" or "floating".
func ParseConvention(s string) (Convention, error) {
	switch c := Convention(s); c {
	case Incremental, Floating:
		return c, nil
	}
	return "", fmt.Errorf("invalid tag convention %q: use \"incremental\" or \"floating\"", s)
}

// String returns the convention's name.
func (c Convention) String() string { return string(c) }

// MarshalText implements encoding.TextMarshaler.
func (c Convention) MarshalText() ([]byte, error) {
	if _, err := ParseConvention(string(c)); err != nil {
		return nil, err
	}
	return []byte(c), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Convention) UnmarshalText(b []byte) error {
	v, err := ParseConvention(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// orDefault treats the zero Convention as Incremental.
func (c Convention) orDefault() Convention {
	if c == "" {
		return Incremental
	}
	return c
}

// Policy is a validated policy file. Marshalled with encoding/json it is
// the canonical form: every field present, defaults filled in.
type Policy struct {
	Version       string       `json:"version"`
	TagConvention Convention   `json:"tag-convention"`
	Repositories  []Repository `json:"repositories"`
}

// Repository is one entry of a policy's repositories.
type Repository struct {
	Name string `json:"repository"`
	// Tags are the tags to patch, or just "*" for every original tag.
	Tags []string `json:"tags"`
	// Enabled is false for an entry kept in the file but never selected.
	Enabled bool `json:"enabled"`
}

// Wildcard reports whether the entry selects every tag.
func (r Repository) Wildcard() bool { return len(r.Tags) == 1 && r.Tags[0] == Wildcard }

// Canonical returns the policy as indented standard JSON ending in a
// newline, with defaults filled in; Parse reads it back unchanged.
func (p *Policy) Canonical() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	return append(b, '\n'), nil
}

// Summary describes the policy in one line, e.g.
// "2 repositories (1 disabled), tag convention incremental".
func (p *Policy) Summary() string {
	disabled := 0
	for _, r := range p.Repositories {
		if !r.Enabled {
			disabled++
		}
	}
	noun := "repositories"
	if len(p.Repositories) == 1 {
		noun = "repository"
	}
	s := fmt.Sprintf("%d %s", len(p.Repositories), noun)
	if disabled > 0 {
		s += fmt.Sprintf(" (%d disabled)", disabled)
	}
	return s + ", tag convention " + string(p.TagConvention.orDefault())
}

// Parse reads a policy from data, JSON with comments and trailing commas
// (JWCC). filename prefixes every position. It returns warnings for what
// it accepted but strict JSON would not (trailing commas) and for unknown
// fields. When the policy is invalid the error is a *ValidationError
// listing every problem as file:line:col: message.
func Parse(filename string, data []byte) (*Policy, []Warning, error) {
	if len(data) > MaxFileSize {
		return nil, nil, fmt.Errorf("policy file %q is %d bytes; the limit is 10 MiB", filename, len(data))
	}
	return decode(filename, data)
}

// Load reads and parses the policy file at path. It rejects directories,
// files over 10 MiB (without reading them) and empty files.
func Load(path string) (*Policy, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening policy file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading policy file: %w", err)
	}
	if st.IsDir() {
		return nil, nil, fmt.Errorf("policy file %q is a directory; give the path of a JSON file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, nil, fmt.Errorf("policy file %q is %d bytes; the limit is 10 MiB", path, st.Size())
	}
	// Size can lie (pipes, /proc): read at most one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading policy file %q: %w", path, trimPathError(err))
	}
	if len(data) > MaxFileSize {
		return nil, nil, fmt.Errorf("policy file %q is over 10 MiB", path)
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("policy file %q is empty; write a policy such as {\"version\": \"v1\", \"repositories\": [{\"repository\": \"python\", \"tags\": [\"*\"]}]}", path)
	}
	return Parse(path, data)
}

// trimPathError drops the path from an *os.PathError the caller already names.
func trimPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
