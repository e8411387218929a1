package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// The grammars the policy enforces. schema.json carries the same strings,
// and a test keeps the two equal.
const (
	// TagPattern is a valid OCI tag: 1 to 128 characters, letters, digits,
	// '_', '.' and '-', not starting with '.' or '-'.
	TagPattern = `^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`
	// ReservedSuffixPattern matches tags reserved for patches: -1 to -999
	// (incremental) and -patched (floating). -1000 and above are ordinary.
	ReservedSuffixPattern = `-patched$|-[1-9][0-9]{0,2}$`
	// RepositoryPattern is a valid repository name: lower-case path
	// components separated by '/', each component alphanumerics joined by
	// one '.', one or two '_', or any number of '-' (the OCI distribution
	// grammar; distribution's own form, [-]*, accepts the same names).
	RepositoryPattern = `^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`
	// MaxRepositoryLength is distribution's limit on a repository name.
	MaxRepositoryLength = 255
	// Wildcard in a tag list selects every original tag of a repository.
	Wildcard = "*"
)

var (
	tagRe        = regexp.MustCompile(TagPattern)
	reservedRe   = regexp.MustCompile(ReservedSuffixPattern)
	repositoryRe = regexp.MustCompile(RepositoryPattern)
)

// ValidTag reports whether tag is a valid OCI tag (reserved or not).
func ValidTag(tag string) bool { return tagRe.MatchString(tag) }

// Reserved reports whether tag ends in a patch suffix (-1…-999 or -patched).
func Reserved(tag string) bool { return reservedRe.MatchString(tag) }

// checkTag returns what is wrong with a tag named in a policy, or "".
func checkTag(tag string) string {
	if !ValidTag(tag) {
		why := "a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'"
		if tag == "" {
			return "tag is empty; " + why + `, or use "*" for every tag`
		}
		return fmt.Sprintf("tag %q is not valid; %s", tag, why)
	}
	if Reserved(tag) {
		return fmt.Sprintf("tag %q ends in a reserved patch suffix (-1…-999 or -patched); name the original tag %q instead",
			tag, reservedRe.ReplaceAllString(tag, ""))
	}
	return ""
}

// CheckRepository returns nil if name is a valid repository name, else an
// error saying what to change.
func CheckRepository(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("repository name is empty; write the repository path, such as \"library/python\"")
	case len(name) > MaxRepositoryLength:
		return fmt.Errorf("repository name is %d characters long; the limit is %d", len(name), MaxRepositoryLength)
	case repositoryRe.MatchString(name):
		return nil
	case strings.ToLower(name) != name && repositoryRe.MatchString(strings.ToLower(name)):
		return fmt.Errorf("repository name %q has upper-case letters; write %q", name, strings.ToLower(name))
	case strings.Contains(name, ":") || strings.Contains(name, "@"):
		return fmt.Errorf("repository name %q holds a tag or digest; put the repository path in \"repository\" and tags in \"tags\"", name)
	}
	return fmt.Errorf("repository name %q is not valid; use lower-case letters and digits, joined by '.', '_', '__' or '-', with '/' between path components", name)
}
