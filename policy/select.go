package policy

import (
	"slices"
	"strings"
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
	parts := make([]RepositorySelection, len(p.Repositories))
	images, missing := 0, 0
	for i, r := range p.Repositories {
		tags, ok := inventory[r.Name]
		parts[i] = SelectRepository(r, p.TagConvention, tags, ok)
		images += len(parts[i].Images)
		missing += len(parts[i].Missing)
	}
	if len(parts) == 1 {
		return Selection(parts[0])
	}
	var s Selection
	if images > 0 {
		s.Images = make([]Image, 0, images)
	}
	if missing > 0 {
		s.Missing = make([]Missing, 0, missing)
	}
	for _, part := range parts {
		s.Images = append(s.Images, part.Images...)
		s.Missing = append(s.Missing, part.Missing...)
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
	ix := newTagIndex(wildcard, r.Tags, len(tags))
	var patches []patchRef
	if wildcard {
		patches = make([]patchRef, 0, len(tags))
	}
	for ti, t := range tags {
		if IsReferrersTag(t) {
			continue // an attached artifact (OpenVEX), not an image
		}
		pt, isPatch := ParsePatchTag(t)
		if !isPatch {
			ix.sawOriginal(t)
			continue
		}
		if pt.Convention != conv {
			continue
		}
		if g, ok := ix.group(pt.Original); ok {
			patches = append(patches, patchRef{g: g, n: int32(pt.N), ti: int32(ti)})
		}
	}
	originals := ix.originals
	if wildcard {
		sortNatural(originals)
	} else {
		originals = originals[:0]
		for i, t := range r.Tags {
			if ix.exists[i] {
				originals = append(originals, original{tag: t, g: int32(i)})
			} else {
				out.Missing = append(out.Missing, Missing{Repository: r.Name, Tag: t})
			}
		}
	}
	patchTags, start, highest := groupPatches(patches, tags, len(ix.exists))

	// All next tags are cut from one string to spare an allocation each.
	var next []byte
	ends := make([]int, len(originals))
	errs := make([]error, len(originals))
	for i, o := range originals {
		next, errs[i] = appendNext(next, conv, o.tag, int(highest[o.g]))
		ends[i] = len(next)
	}
	nexts := string(next)

	out.Images = make([]Image, len(originals))
	for i, o := range originals {
		from, to := start[o.g], start[o.g+1]
		img := Image{Repository: r.Name, Tag: o.tag, NextPatchErr: errs[i]}
		if to > from {
			img.PatchTags = patchTags[from:to:to]
			img.LatestPatchTag = patchTags[to-1]
		}
		if i > 0 {
			img.NextPatchTag = nexts[ends[i-1]:ends[i]]
		} else {
			img.NextPatchTag = nexts[:ends[0]]
		}
		out.Images[i] = img
	}
	return out
}

// patchRef is tags[ti], an existing patch tag numbered n of the original
// in group g.
type patchRef struct {
	g, n, ti int32
}

// original is an original tag and its group.
type original struct {
	tag string
	g   int32
}

// tagIndex numbers the originals of one repository. For "*" every
// original gets a group as it is seen; for named tags the groups are the
// named tags, in listed order, and other originals are not tracked.
type tagIndex struct {
	wildcard  bool
	index     map[string]int32
	exists    []bool     // by group: the original is in the inventory
	originals []original // "*": originals in inventory order
}

func newTagIndex(wildcard bool, named []string, n int) *tagIndex {
	ix := &tagIndex{wildcard: wildcard}
	if wildcard {
		// Sized for about as many originals as patch tags.
		ix.index = make(map[string]int32, n/2)
		ix.exists = make([]bool, 0, n/2)
		ix.originals = make([]original, 0, n/2)
		return ix
	}
	ix.index = make(map[string]int32, len(named))
	ix.exists = make([]bool, len(named))
	for i, t := range named {
		ix.index[t] = int32(i)
	}
	return ix
}

// group returns the group of orig, creating it for "*".
func (ix *tagIndex) group(orig string) (int32, bool) {
	g, ok := ix.index[orig]
	if ok || !ix.wildcard {
		return g, ok
	}
	g = int32(len(ix.exists))
	ix.index[orig] = g
	ix.exists = append(ix.exists, false)
	return g, true
}

// sawOriginal records that tag is in the inventory.
func (ix *tagIndex) sawOriginal(tag string) {
	g, ok := ix.group(tag)
	if !ok || ix.exists[g] {
		return
	}
	ix.exists[g] = true
	if ix.wildcard {
		ix.originals = append(ix.originals, original{tag: tag, g: g})
	}
}

// groupPatches orders patch tags by group, then by number, dropping
// repeats, in linear time: a counting sort by group, then a sort of each
// group's few tags. The patch tags of group g are tags[start[g]:start[g+1]]
// and highest[g] is the largest number among them (0 if none).
func groupPatches(patches []patchRef, inventory []string, groups int) (tags []string, start, highest []int32) {
	start = make([]int32, groups+1)
	for _, p := range patches {
		start[p.g+1]++
	}
	for g := range groups {
		start[g+1] += start[g]
	}
	byGroup := make([]patchRef, len(patches))
	fill := slices.Clone(start[:groups])
	for _, p := range patches {
		byGroup[fill[p.g]] = p
		fill[p.g]++
	}
	tags = make([]string, 0, len(patches))
	highest = make([]int32, groups)
	from := int32(0)
	for g := range groups {
		seg := byGroup[from:start[g+1]]
		from = start[g+1]
		start[g] = int32(len(tags))
		if len(seg) == 0 {
			continue
		}
		if len(seg) > 1 {
			slices.SortFunc(seg, func(a, b patchRef) int { return int(a.n - b.n) })
		}
		for k, p := range seg {
			if k == 0 || p.n != seg[k-1].n {
				tags = append(tags, inventory[p.ti])
			}
		}
		highest[g] = seg[len(seg)-1].n
	}
	start[groups] = int32(len(tags))
	return tags, start, highest
}

// sortNatural sorts originals in NaturalCompare order. It compares
// precomputed keys (appendNaturalKey) with plain byte comparison, and
// sorts a permutation of small integers rather than the records, which
// is several times faster than NaturalCompare on large tag lists.
func sortNatural(originals []original) {
	var buf []byte
	ends := make([]int32, len(originals))
	for i, o := range originals {
		buf = appendNaturalKey(buf, o.tag)
		ends[i] = int32(len(buf))
	}
	all := string(buf)
	keys := make([]string, len(originals))
	prev := int32(0)
	for i := range originals {
		keys[i] = all[prev:ends[i]]
		prev = ends[i]
	}
	perm := make([]int32, len(originals))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int {
		if c := strings.Compare(keys[a], keys[b]); c != 0 {
			return c
		}
		return strings.Compare(originals[a].tag, originals[b].tag)
	})
	sorted := make([]original, len(originals))
	for i, p := range perm {
		sorted[i] = originals[p]
	}
	copy(originals, sorted)
}
