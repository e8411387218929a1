package version

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalid is wrapped by every error about a version that does not parse.
var ErrInvalid = errors.New("invalid version")

// invalid is the error for version s of a family, refused for reason.
func invalid(family, s, reason string) error {
	return fmt.Errorf("parsing %s version %s: %w: %s", family, quote(s), ErrInvalid, reason)
}

// maxQuoted is how much of a version an error message quotes.
const maxQuoted = 200

// quote quotes a version for an error message, cut short if it is long:
// hostile input must not make huge errors.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
