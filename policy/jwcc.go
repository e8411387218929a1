package policy

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a streaming reader for JWCC: JSON with comments (// and /* */)
// and trailing commas. It builds no syntax tree: the schema-driven code in
// decode.go walks objects and arrays through callbacks and skips what it
// does not know, so memory stays proportional to what the policy keeps.
// The first syntax error stops reading; it is sticky and every later call
// returns at once.

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// kind is the type of a JSON value, named as users know it.
type kind string

const (
	kindObject kind = "object"
	kindArray  kind = "array"
	kindString kind = "string"
	kindNumber kind = "number"
	kindBool   kind = "boolean"
	kindNull   kind = "null"
	kindNone   kind = ""
)

// located is a message at a byte offset.
type located struct {
	off int
	msg string
}

type reader struct {
	data  []byte
	off   int
	depth int

	syntax   *located // first syntax error; reading stops there
	problems []located
	warnings []located

	stopped         bool // MaxProblems problems found: reading stopped
	omittedWarnings int

	lineStarts []int // byte offset of each line start, built on first use
}

func newReader(data []byte) *reader { return &reader{data: data} }

// failed reports whether reading has stopped, at a syntax error or after
// MaxProblems problems.
func (r *reader) failed() bool { return r.syntax != nil || r.stopped }

func (r *reader) fail(off int, format string, args ...any) {
	if !r.failed() {
		r.syntax = &located{off, fmt.Sprintf(format, args...)}
	}
}

// problem records a problem. At MaxProblems reading stops, so hostile
// input cannot make problems pile up; the user has enough to fix.
func (r *reader) problem(off int, format string, args ...any) {
	if r.failed() {
		return
	}
	r.problems = append(r.problems, located{off, fmt.Sprintf(format, args...)})
	r.stopped = len(r.problems) >= MaxProblems
}

// warn records a warning, counting those past MaxProblems.
func (r *reader) warn(off int, format string, args ...any) {
	if len(r.warnings) >= MaxProblems {
		r.omittedWarnings++
		return
	}
	r.warnings = append(r.warnings, located{off, fmt.Sprintf(format, args...)})
}

// position turns a byte offset into a 1-based line and character column.
func (r *reader) position(off int) (line, col int) {
	if r.lineStarts == nil {
		r.lineStarts = []int{0}
		for i, c := range r.data {
			if c == '\n' {
				r.lineStarts = append(r.lineStarts, i+1)
			}
		}
	}
	off = min(max(off, 0), len(r.data))
	i, found := slices.BinarySearch(r.lineStarts, off)
	if !found {
		i--
	}
	line, col = i+1, 1+utf8.RuneCount(r.data[r.lineStarts[i]:off])
	if i == 0 && off > 0 && bytes.HasPrefix(r.data, []byte("\xEF\xBB\xBF")) {
		col-- // editors do not show a byte order mark
	}
	return line, col
}

// space skips whitespace and comments.
func (r *reader) space() {
	for r.off < len(r.data) && !r.failed() {
		switch c := r.data[r.off]; c {
		case ' ', '\t', '\n', '\r':
			r.off++
		case '/':
			start := r.off
			rest := r.data[r.off:]
			switch {
			case bytes.HasPrefix(rest, []byte("//")):
				if i := bytes.IndexByte(rest, '\n'); i >= 0 {
					r.off += i + 1
				} else {
					r.off = len(r.data)
				}
			case bytes.HasPrefix(rest, []byte("/*")):
				i := bytes.Index(rest[2:], []byte("*/"))
				if i < 0 {
					r.fail(start, "comment is not closed; end it with */")
					return
				}
				r.off += 2 + i + 2
			default:
				r.fail(start, "unexpected '/'; comments start with // or /*")
				return
			}
		default:
			if c == 0xEF && bytes.HasPrefix(r.data[r.off:], []byte("\xEF\xBB\xBF")) && r.off == 0 {
				r.off += 3 // a UTF-8 byte order mark at the start is harmless
				continue
			}
			return
		}
	}
}

// peek skips space and tells the kind of the next value without reading it.
// At the end of input, or before a character that cannot start a value, it
// returns kindNone.
func (r *reader) peek() kind {
	r.space()
	if r.failed() || r.off >= len(r.data) {
		return kindNone
	}
	switch c := r.data[r.off]; {
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == '"':
		return kindString
	case c == '-' || ('0' <= c && c <= '9'):
		return kindNumber
	case bytes.HasPrefix(r.data[r.off:], []byte("true")) || bytes.HasPrefix(r.data[r.off:], []byte("false")):
		return kindBool
	case bytes.HasPrefix(r.data[r.off:], []byte("null")):
		return kindNull
	}
	return kindNone
}

// badValue reports a syntax error for a value that cannot start here.
func (r *reader) badValue() {
	if r.failed() {
		return
	}
	if r.off >= len(r.data) {
		r.fail(r.off, "file ends where a value was expected")
		return
	}
	c := r.data[r.off]
	switch {
	case c == '\'':
		r.fail(r.off, "strings must be in double quotes, not single quotes")
	case isWordByte(c):
		w := r.word()
		r.fail(r.off, "%s is not a JSON value; quote strings, and write booleans as true or false", strconv.Quote(w))
	default:
		r.fail(r.off, "unexpected %s where a value was expected", quoteRune(r.data[r.off:]))
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// word returns the run of identifier bytes at the current offset, for messages.
func (r *reader) word() string {
	end := r.off
	for end < len(r.data) && end-r.off < 40 && isWordByte(r.data[end]) {
		end++
	}
	return string(r.data[r.off:end])
}

func quoteRune(b []byte) string {
	c, _ := utf8.DecodeRune(b)
	if c == utf8.RuneError {
		return fmt.Sprintf("byte 0x%02x", b[0])
	}
	return strconv.QuoteRune(c)
}

// str reads a string value at the current offset, which must be a '"'.
func (r *reader) str() string {
	start := r.off
	r.off++ // opening quote
	var buf []byte
	plain := r.off
	for {
		if r.off >= len(r.data) {
			r.fail(start, "string is not closed; end it with \"")
			return ""
		}
		c := r.data[r.off]
		switch {
		case c == '"':
			var s string
			if buf == nil {
				s = string(r.data[plain:r.off])
			} else {
				s = string(append(buf, r.data[plain:r.off]...))
			}
			r.off++
			return s
		case c < 0x20:
			r.fail(r.off, "control character %U in string; write it as an escape such as \\n", rune(c))
			return ""
		case c == '\\':
			buf = append(buf, r.data[plain:r.off]...)
			if !r.escape(&buf) {
				return ""
			}
			plain = r.off
		case c < utf8.RuneSelf:
			r.off++
		default:
			c, n := utf8.DecodeRune(r.data[r.off:])
			if c == utf8.RuneError && n == 1 {
				r.fail(r.off, "invalid UTF-8 in string; save the file as UTF-8")
				return ""
			}
			r.off += n
		}
	}
}

// escape decodes one backslash escape into buf.
func (r *reader) escape(buf *[]byte) bool {
	at := r.off
	if r.off+1 >= len(r.data) {
		r.fail(at, "string is not closed; end it with \"")
		return false
	}
	c := r.data[r.off+1]
	r.off += 2
	switch c {
	case '"', '\\', '/':
		*buf = append(*buf, c)
	case 'b':
		*buf = append(*buf, '\b')
	case 'f':
		*buf = append(*buf, '\f')
	case 'n':
		*buf = append(*buf, '\n')
	case 'r':
		*buf = append(*buf, '\r')
	case 't':
		*buf = append(*buf, '\t')
	case 'u':
		c1, ok := r.hex4(at)
		if !ok {
			return false
		}
		if utf16.IsSurrogate(c1) && bytes.HasPrefix(r.data[r.off:], []byte(`\u`)) {
			save := r.off
			r.off += 2
			c2, ok := r.hex4(save)
			if !ok {
				return false
			}
			if d := utf16.DecodeRune(c1, c2); d != utf8.RuneError {
				*buf = utf8.AppendRune(*buf, d)
				return true
			}
			r.off = save
		}
		*buf = utf8.AppendRune(*buf, c1) // a lone surrogate becomes U+FFFD
	default:
		r.fail(at, "invalid escape \\%s in string; use \\\\ for a backslash", quoteRuneBare(r.data[at+1:]))
		return false
	}
	return true
}

func quoteRuneBare(b []byte) string {
	c, _ := utf8.DecodeRune(b)
	if c == utf8.RuneError || c < 0x20 {
		return fmt.Sprintf("x%02x", b[0])
	}
	return string(c)
}

func (r *reader) hex4(at int) (rune, bool) {
	if r.off+4 > len(r.data) {
		r.fail(at, "invalid \\u escape in string; it needs four hex digits")
		return 0, false
	}
	var v rune
	for _, c := range r.data[r.off : r.off+4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			r.fail(at, "invalid \\u escape in string; it needs four hex digits")
			return 0, false
		}
	}
	r.off += 4
	return v, true
}

// number reads a JSON number and returns its text.
func (r *reader) number() string {
	start := r.off
	d := r.data
	i := r.off
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	ok := true
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		ok = false
	}
	if ok && i < len(d) && d[i] == '.' {
		i++
		ok = digits() > 0
	}
	if ok && i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		ok = digits() > 0
	}
	if ok && i < len(d) && (isWordByte(d[i]) || d[i] == '.') {
		ok = false
	}
	if !ok {
		r.fail(start, "invalid number")
		return ""
	}
	r.off = i
	return string(d[start:i])
}

// literal reads true, false or null.
func (r *reader) literal() string {
	w := r.word()
	switch w {
	case "true", "false", "null":
		r.off += len(w)
		return w
	}
	r.badValue()
	return ""
}

// boolean reads a value peek reported as kindBool.
func (r *reader) boolean() bool { return r.literal() == "true" }

// object reads an object, calling member for each member with the reader
// positioned at the member's value; member must read or skip that value.
// Duplicate names are a problem and their values are skipped.
func (r *reader) object(member func(name string, nameOff int)) {
	open := r.off
	if !r.enter() {
		return
	}
	defer r.leave()
	r.off++ // {
	seen := map[string]int{}
	n := 0
	comma := -1
	for {
		r.space()
		if r.failed() {
			return
		}
		if r.off >= len(r.data) {
			r.fail(open, "object is not closed; end it with }")
			return
		}
		if r.data[r.off] == '}' {
			if comma >= 0 {
				r.warn(comma, "trailing comma after the last field; accepted, but strict JSON tools reject it")
			}
			r.off++
			return
		}
		if n > 0 && comma < 0 {
			r.fail(r.off, "expected ',' or '}' after a field; add a comma")
			return
		}
		if c := r.data[r.off]; c != '"' {
			switch {
			case c == '\'':
				r.fail(r.off, "field names must be in double quotes, not single quotes")
			case isWordByte(c):
				r.fail(r.off, "field name %s must be in double quotes", strconv.Quote(r.word()))
			default:
				r.fail(r.off, "unexpected %s where a field name was expected", quoteRune(r.data[r.off:]))
			}
			return
		}
		n++
		nameOff := r.off
		name := r.str()
		r.space()
		if r.failed() {
			return
		}
		if r.off >= len(r.data) || r.data[r.off] != ':' {
			r.fail(r.off, "expected ':' after field name %s", strconv.Quote(name))
			return
		}
		r.off++
		if first, dup := seen[name]; dup {
			l, c := r.position(first)
			r.problem(nameOff, "field %s appears twice (first at %d:%d); remove one of them", strconv.Quote(name), l, c)
			r.skip()
		} else {
			seen[name] = nameOff
			member(name, nameOff)
		}
		r.space()
		if r.failed() {
			return
		}
		comma = -1
		if r.off < len(r.data) && r.data[r.off] == ',' {
			comma = r.off
			r.off++
		}
	}
}

// array reads an array, calling element for each element with the reader
// positioned at it; element must read or skip the value.
func (r *reader) array(element func(i, off int)) {
	open := r.off
	if !r.enter() {
		return
	}
	defer r.leave()
	r.off++ // [
	n := 0
	comma := -1
	for {
		r.space()
		if r.failed() {
			return
		}
		if r.off >= len(r.data) {
			r.fail(open, "array is not closed; end it with ]")
			return
		}
		if r.data[r.off] == ']' {
			if comma >= 0 {
				r.warn(comma, "trailing comma after the last item; accepted, but strict JSON tools reject it")
			}
			r.off++
			return
		}
		if n > 0 && comma < 0 {
			r.fail(r.off, "expected ',' or ']' after an item; add a comma")
			return
		}
		if r.data[r.off] == ',' {
			r.fail(r.off, "unexpected ','; remove the extra comma")
			return
		}
		element(n, r.off)
		n++
		r.space()
		if r.failed() {
			return
		}
		comma = -1
		if r.off < len(r.data) && r.data[r.off] == ',' {
			comma = r.off
			r.off++
		}
	}
}

func (r *reader) enter() bool {
	if r.depth == maxDepth {
		r.fail(r.off, "values are nested more than %d deep", maxDepth)
		return false
	}
	r.depth++
	return true
}

func (r *reader) leave() { r.depth-- }

// skip reads and discards one value of any kind.
func (r *reader) skip() {
	switch r.peek() {
	case kindObject:
		r.object(func(string, int) { r.skip() })
	case kindArray:
		r.array(func(int, int) { r.skip() })
	case kindString:
		r.str()
	case kindNumber:
		r.number()
	case kindBool, kindNull:
		r.literal()
	default:
		r.badValue()
	}
}

// describe reads and discards one value, returning its kind and, for
// scalars, a short rendering for messages ("string \"yes\"", "number 1").
func (r *reader) describe() (kind, string) {
	k := r.peek()
	switch k {
	case kindString:
		s := r.str()
		if n := 0; len(s) > 40 {
			for i := range s {
				if n == 40 {
					s = s[:i] + "…"
					break
				}
				n++
			}
		}
		return k, "string " + strconv.Quote(s)
	case kindNumber:
		return k, "number " + r.number()
	case kindBool:
		return k, r.literal()
	case kindNull:
		r.literal()
		return k, "null"
	case kindNone:
		r.badValue()
		return k, ""
	}
	r.skip()
	return k, string(k)
}
