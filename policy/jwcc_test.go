package policy

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// checkStringAgainstJSON decodes lit, a JSON string literal, with our
// reader and with encoding/json. Where encoding/json accepts valid UTF-8,
// both must agree; invalid UTF-8, which encoding/json silently replaces,
// we reject.
func checkStringAgainstJSON(t *testing.T, lit string) {
	t.Helper()
	r := newReader([]byte(lit))
	if r.peek() != kindString {
		return
	}
	got := r.str()
	for r.off < len(lit) && (lit[r.off] == ' ' || lit[r.off] == '\t' || lit[r.off] == '\n' || lit[r.off] == '\r') {
		r.off++ // JSON whitespace only: comments are ours, not JSON's
	}
	ours := !r.failed() && r.off == len(lit)
	var want string
	theirs := json.Unmarshal([]byte(lit), &want) == nil
	if !utf8.ValidString(lit) {
		if ours {
			t.Errorf("accepted invalid UTF-8 in %q", lit)
		}
		return
	}
	if ours != theirs {
		t.Fatalf("string %q: ours ok=%v (%v), encoding/json ok=%v", lit, ours, r.syntax, theirs)
	}
	if ours && got != want {
		t.Fatalf("string %q: ours %q, encoding/json %q", lit, got, want)
	}
}

func TestStringsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{
		`"plain"`, `""`, `"a\"b"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`,
		`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`,
		`"\u12"`, `"\u12G4"`, `"\x41"`, `"\'"`, `"\`, `"abc`, "\"tab\tin\"", "\"nl\nin\"", `"é☕😀"`,
	} {
		checkStringAgainstJSON(t, lit)
	}
}

func FuzzStrings(f *testing.F) {
	for _, s := range []string{`"\ud83d\ude00"`, `"\u00e9"`, `"a\nb"`, `"\ud800\u"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) { checkStringAgainstJSON(t, lit) })
}

func TestNumbersMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{
		"0", "-0", "1", "-1", "10", "1.5", "-1.5e10", "1E+2", "1e-2", "0.0",
		"01", "-", "1.", ".5", "1e", "1e+", "--1", "+1", "0x10", "1.2.3", "1ee2", "Infinity", "NaN",
	} {
		r := newReader([]byte(lit))
		ours := false
		if r.peek() == kindNumber {
			got := r.number()
			ours = !r.failed() && r.off == len(lit) && got == lit
		}
		var v float64
		if theirs := json.Unmarshal([]byte(lit), &v) == nil; ours != theirs {
			t.Errorf("number %q: ours ok=%v, encoding/json ok=%v", lit, ours, theirs)
		}
	}
}

// FuzzReaderAcceptsJSON checks that whatever encoding/json calls valid
// JSON our reader reads to the end, unless it nests deeper than maxDepth
// or holds invalid UTF-8 (both rejected on purpose).
func FuzzReaderAcceptsJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5e3, true, null, {"b": "c\u00e9"}]}`, `[]`, `"x"`, ` 0 `, `[[[[]]]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) || !utf8.ValidString(data) {
			return
		}
		r := newReader([]byte(data))
		r.skip()
		r.space()
		if r.failed() && r.syntax.msg == "values are nested more than 64 deep" {
			return
		}
		if r.failed() || r.off != len(data) {
			t.Fatalf("valid JSON %q rejected at %d: %v", data, r.off, r.syntax)
		}
	})
}
