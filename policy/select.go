package policy

import (
	"slices"
	"strconv"
)

// Image is one original tag selected for a patch cycle.
type Image struct {
	Repository string
	Tag        string // the original tag; patches are always built from it
	// PatchTags are the existing patch tags of Tag in the policy's
	// convention, oldest first (incremental: by suffix number).
	PatchTags []string
	// LatestPatchTag is the last of PatchTags, or "" if there is none; a
	// scan looks at it instead of Tag when it exists.
	LatestPatchTag string
	// NextPatchTag is the tag the next patch is pushed under; "" when
	// NextPatchErr says why there can be none (999 patches already).
	NextPatchTag string
	NextPatchErr error
}

// Missing is a tag the policy names that the registry does not have.
type Missing struct {
	Repository string
	Tag        string // a named tag, or "*" when the repository is missing
	// RepositoryMissing is true when the whole repository was not found.
	RepositoryMissing bool
}

// RepositorySelection is what one policy entry selects.
type RepositorySelection struct {
	Images  []Image
	Missing []Missing
}

// Selection is what a policy selects across all its repositories.
type Selection struct {
	Images  []Image
	Missing []Missing
}

// Select picks the images of every enabled repository from inventory,
// which maps a repository name to all of its tags; a repository with no
// key is not found. Images come in policy order of repositories; within a
// repository, "*" gives originals in natural order (3.9 before 3.10) and
// named tags keep their listed order.
func (p *Policy) Select(inventory map[string][]string) Selection {
	var s Selection
	for _, r := range p.Repositories {
		tags, ok := inventory[r.Name]
		rs := SelectRepository(r, p.TagConvention, tags, ok)
		s.Images = append(s.Images, rs.Images...)
		s.Missing = append(s.Missing, rs.Missing...)
	}
	return s
}

// SelectRepository picks the images of one policy entry from tags, all
// the tags of the repository (in any order). repoExists false reports
// every named tag (or "*") as missing with RepositoryMissing set. A
// disabled entry selects nothing and reports nothing. An empty conv means
// Incremental.
//
// A tag is an original unless it ends in a reserved suffix of either
// convention: patch tags are never originals, even when their original is
// gone, and tags with the other convention's suffix are ignored. Named
// tags that are not originals in tags are reported missing.
func SelectRepository(r Repository, conv Convention, tags []string, repoExists bool) RepositorySelection {
	var out RepositorySelection
	if !r.Enabled {
		return out
	}
	conv = conv.orDefault()
	if !repoExists {
		for _, t := range r.Tags {
			out.Missing = append(out.Missing, Missing{Repository: r.Name, Tag: t, RepositoryMissing: true})
		}
		return out
	}
	wildcard := r.Wildcard()
	// groups indexes originals (and, for named tags, only those named)
	// to their existing patch numbers.
	type group struct {
		exists   bool
		named    bool
		floating bool
		ns       []int
	}
	groups := make(map[string]*group, len(tags))
	if !wildcard {
		for _, t := range r.Tags {
			groups[t] = &group{named: true}
		}
	}
	get := func(orig string) *group {
		g := groups[orig]
		if g == nil && wildcard {
			g = &group{}
			groups[orig] = g
		}
		return g
	}
	var originals []string
	for _, t := range tags {
		pt, isPatch := ParsePatchTag(t)
		if !isPatch {
			if g := get(t); g != nil && !g.exists {
				g.exists = true
				if wildcard {
					originals = append(originals, t)
				}
			}
			continue
		}
		if pt.Convention != conv {
			continue
		}
		if g := get(pt.Original); g != nil {
			if conv == Floating {
				g.floating = true
			} else {
				g.ns = append(g.ns, pt.N)
			}
		}
	}
	if wildcard {
		slices.SortFunc(originals, NaturalCompare)
	} else {
		for _, t := range r.Tags {
			if groups[t].exists {
				originals = append(originals, t)
			} else {
				out.Missing = append(out.Missing, Missing{Repository: r.Name, Tag: t})
			}
		}
	}
	out.Images = make([]Image, 0, len(originals))
	for _, orig := range originals {
		g := groups[orig]
		img := Image{Repository: r.Name, Tag: orig}
		highest := 0
		if conv == Floating {
			if g.floating {
				img.PatchTags = []string{orig + floatingSuffix}
			}
		} else if len(g.ns) > 0 {
			slices.Sort(g.ns)
			g.ns = slices.Compact(g.ns)
			img.PatchTags = make([]string, len(g.ns))
			for i, n := range g.ns {
				img.PatchTags[i] = orig + "-" + strconv.Itoa(n)
			}
			highest = g.ns[len(g.ns)-1]
		}
		if len(img.PatchTags) > 0 {
			img.LatestPatchTag = img.PatchTags[len(img.PatchTags)-1]
		}
		img.NextPatchTag, img.NextPatchErr = nextAfter(conv, orig, highest)
		out.Images = append(out.Images, img)
	}
	return out
}
