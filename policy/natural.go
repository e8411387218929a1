package policy

import "strings"

// NaturalCompare orders tags as people read them: runs of digits compare
// by numeric value, so "3.9" < "3.10" < "3.11" and "v2" < "v10"; other
// bytes compare as bytes. Ties (such as "01" and "1") fall back to plain
// string order, so the order is total and deterministic.
func NaturalCompare(a, b string) int {
	// Skip the common prefix, backing up to the start of a digit run in
	// it: before that point both strings read the same.
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	for p > 0 && isDigit(a[p-1]) {
		p--
	}
	i, j := p, p
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			// Skip leading zeros, then the longer run is the larger number.
			si, sj := i, j
			for si < len(a) && a[si] == '0' {
				si++
			}
			for sj < len(b) && b[sj] == '0' {
				sj++
			}
			ei, ej := si, sj
			for ei < len(a) && isDigit(a[ei]) {
				ei++
			}
			for ej < len(b) && isDigit(b[ej]) {
				ej++
			}
			if d := (ei - si) - (ej - sj); d != 0 {
				return sign(d)
			}
			if c := strings.Compare(a[si:ei], b[sj:ej]); c != 0 {
				return c
			}
			i, j = ei, ej
			continue
		}
		if ca != cb {
			return sign(int(ca) - int(cb))
		}
		i++
		j++
	}
	if d := (len(a) - i) - (len(b) - j); d != 0 {
		return sign(d)
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// appendNaturalKey appends a byte string whose plain byte order is the
// order NaturalCompare gives up to its final tie-break: each digit run
// becomes '0', the count of its significant digits, then those digits
// (so longer numbers sort later); other bytes stay. No other byte is
// a digit, so a run compares against them as its digits would. Valid tags
// are at most 128 bytes, so the count fits in a byte; a longer run (only in
// an invalid tag) has its count capped and still sorts deterministically.
func appendNaturalKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			dst = append(dst, s[i])
			i++
			continue
		}
		for i < len(s) && s[i] == '0' {
			i++
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		dst = append(dst, '0', byte(min(j-i, 255)))
		dst = append(dst, s[i:j]...)
		i = j
	}
	return dst
}
