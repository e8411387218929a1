package policy

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/distribution/reference"
)

// The tag and repository grammars are checked against the distribution
// project's reference package, which the registry itself uses.

var refTag = regexp.MustCompile(`^(?:` + reference.TagRegexp.String() + `)$`)

// refRepository asks the reference parser whether name is a valid
// repository path, by parsing it under a registry host.
func refRepository(name string) bool {
	n, err := reference.WithName("example.com/" + name)
	return err == nil && reference.Path(n) == name
}

func checkNameAgainstReference(t *testing.T, s string) {
	t.Helper()
	if got, want := ValidTag(s), refTag.MatchString(s); got != want {
		t.Errorf("ValidTag(%q) = %v, reference says %v", s, got, want)
	}
	if len(s) > 200 {
		return // the reference limit counts the host prefix too
	}
	if got, want := CheckRepository(s) == nil, refRepository(s); got != want {
		t.Errorf("CheckRepository(%q) valid = %v, reference says %v", s, got, want)
	}
}

func TestNamesAgreeWithReference(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"a", "python", "library/python", "a.b", "a_b", "a__b", "a___b", "a-b", "a--b", "a.-b", "a..b",
		"a/b/c", "a//b", "/a", "a/", "-a", "a-", "_a", "Python", "a:b", "a@b", "", "3.11", "3.11-1",
		"latest", ".a", "a b", "é",
	} {
		checkNameAgainstReference(t, s)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	alphabet := "ab0Z._-/:é "
	runes := []rune(alphabet)
	for range 50000 {
		b := make([]rune, 1+rng.IntN(8))
		for i := range b {
			b[i] = runes[rng.IntN(len(runes))]
		}
		checkNameAgainstReference(t, string(b))
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"a", "a__b", "a/b", "A", "a.-b", "3.11-patched"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkNameAgainstReference(t, s) })
}
