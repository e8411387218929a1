package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxPatches is the highest incremental patch suffix: python:3.11-999.
const MaxPatches = 999

const floatingSuffix = "-patched"

// PatchTag is a parsed patch tag: Original plus a suffix of Convention.
type PatchTag struct {
	Original   string
	Convention Convention
	// N is the incremental patch number, 1 to 999; 0 for floating.
	N int
}

// String gives the tag: "3.11-2" or "3.11-patched".
func (p PatchTag) String() string {
	if p.Convention == Floating {
		return p.Original + floatingSuffix
	}
	return p.Original + "-" + strconv.Itoa(p.N)
}

// ParsePatchTag recognises orig-N (N from 1 to 999, no leading zero) and
// orig-patched, with a non-empty orig. Anything else, including orig-1000
// and orig-01, is an original tag and gives false.
func ParsePatchTag(tag string) (PatchTag, bool) {
	if orig, ok := strings.CutSuffix(tag, floatingSuffix); ok {
		if orig == "" {
			return PatchTag{}, false
		}
		return PatchTag{Original: orig, Convention: Floating}, true
	}
	// Find the last '-' within the final four bytes: -N, -NN or -NNN.
	i := len(tag) - 1
	n := 0
	for i >= 0 && n < 4 && '0' <= tag[i] && tag[i] <= '9' {
		i--
		n++
	}
	if n == 0 || n > 3 || i <= 0 || tag[i] != '-' || tag[i+1] == '0' {
		return PatchTag{}, false
	}
	v := 0
	for _, c := range tag[i+1:] {
		v = v*10 + int(c-'0')
	}
	return PatchTag{Original: tag[:i], Convention: Incremental, N: v}, true
}

// NextPatchTag gives the tag the next patch of original is pushed under.
// Incremental: the highest existing suffix of original in existing, plus
// one (gaps are not filled); past MaxPatches it fails. Floating: always
// original-patched. Tags in existing that are not patch tags of original
// in this convention are ignored.
func NextPatchTag(conv Convention, original string, existing []string) (string, error) {
	if err := checkOriginal(conv, original); err != nil {
		return "", err
	}
	highest := 0
	if conv.orDefault() == Incremental {
		for _, t := range existing {
			if p, ok := ParsePatchTag(t); ok && p.Convention == Incremental && p.Original == original {
				highest = max(highest, p.N)
			}
		}
	}
	return nextAfter(conv, original, highest)
}

func checkOriginal(conv Convention, original string) error {
	switch conv.orDefault() {
	case Incremental, Floating:
	default:
		return fmt.Errorf("unknown tag convention %q; use \"incremental\" or \"floating\"", string(conv))
	}
	if !ValidTag(original) {
		return fmt.Errorf("tag %q is not a valid tag", original)
	}
	if _, ok := ParsePatchTag(original); ok {
		return fmt.Errorf("tag %q is a patch tag, not an original tag", original)
	}
	return nil
}

// nextAfter gives the next patch tag given the highest incremental suffix
// in use; original has been checked.
func nextAfter(conv Convention, original string, highest int) (string, error) {
	b, err := appendNext(nil, conv, original, highest)
	return string(b), err
}

// appendNext appends the next patch tag to dst; on error dst is unchanged.
func appendNext(dst []byte, conv Convention, original string, highest int) ([]byte, error) {
	n := len(dst)
	switch conv.orDefault() {
	case Floating:
		dst = append(append(dst, original...), floatingSuffix...)
	case Incremental:
		if highest >= MaxPatches {
			return dst, fmt.Errorf("no more than %d patches can be created for tag %q", MaxPatches, original)
		}
		dst = strconv.AppendInt(append(append(dst, original...), '-'), int64(highest+1), 10)
	default:
		return dst, fmt.Errorf("unknown tag convention %q; use \"incremental\" or \"floating\"", string(conv))
	}
	if len(dst)-n > 128 { // original is a valid tag: only the length can break
		return dst[:n], fmt.Errorf("patch tag %q of tag %q would be longer than 128 characters", dst[n:], original)
	}
	return dst, nil
}

// IsReferrersTag reports whether tag is the referrers API's tag-schema
// fallback ("sha256-" and 64 hex digits), where registries without the
// referrers API keep the artifacts (OpenVEX documents) attached to an
// image. Such a tag is never an image to patch.
func IsReferrersTag(tag string) bool {
	hex, ok := strings.CutPrefix(tag, "sha256-")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
