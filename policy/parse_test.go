package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// In test inputs, ‸ marks where a problem must be reported and ⁂ where a
// warning must be, in file order. marked strips the marks and returns
// their positions, counted the way an editor counts (1-based lines,
// characters not bytes), independently of the code under test.
func marked(file, s string) (clean string, problems, warnings []Pos) {
	var b strings.Builder
	line, col := 1, 1
	for len(s) > 0 {
		c, n := utf8.DecodeRuneInString(s)
		raw := s[:n]
		s = s[n:]
		switch c {
		case '‸':
			problems = append(problems, Pos{File: file, Line: line, Col: col})
			continue
		case '⁂':
			warnings = append(warnings, Pos{File: file, Line: line, Col: col})
			continue
		case '\n':
			line, col = line+1, 1
		case '\uFEFF': // a byte order mark takes no column
		default:
			col++
		}
		b.WriteString(raw) // keeps invalid UTF-8 as it is
	}
	return b.String(), problems, warnings
}

// seedExample is the example policy of ACR's how-to, byte for byte,
// including its trailing comma after "enabled": true.
const seedExample = `{
"version": "v1",
"tag-convention" : "incremental",
"repositories": [{
        "repository": "python",
        "tags": ["*"],
        "enabled": true
    },
    {
        "repository": "ubuntu",
        "tags": ["jammy-20240111", "jammy-20240125"],
     "enabled": true⁂, 
    }]
}
`

func TestParseSeedExampleIsAcceptedWithWarning(t *testing.T) {
	t.Parallel()
	data, _, wantWarn := marked("continuouspatching.json", seedExample)
	p, warnings, err := Parse("continuouspatching.json", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Policy{Version: "v1", TagConvention: Incremental, Repositories: []Repository{
		{Name: "python", Tags: []string{"*"}, Enabled: true},
		{Name: "ubuntu", Tags: []string{"jammy-20240111", "jammy-20240125"}, Enabled: true},
	}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("policy = %+v, want %+v", p, want)
	}
	if len(warnings) != 1 || warnings[0].Pos != wantWarn[0] {
		t.Fatalf("warnings = %v, want one at %v", warnings, wantWarn[0])
	}
	if got, want := warnings[0].String(), "continuouspatching.json:12:21: trailing comma after the last field; accepted, but strict JSON tools reject it"; got != want {
		t.Errorf("warning = %q, want %q", got, want)
	}
}

func TestParseAcceptsComments(t *testing.T) {
	t.Parallel()
	data := `// policy for the platform team
/* block
   comment */ {
  "version": /* inline */ "v1", // trailing line comment
  "repositories": [
    // python gets everything
    {"repository": "python", "tags": ["*"]}
  ]
} // end`
	p, warnings, err := Parse("p.json", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %v, want none", warnings)
	}
	if p.TagConvention != Incremental || !p.Repositories[0].Enabled {
		t.Errorf("defaults not applied: %+v", p)
	}
}

func TestParseWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		want  []string
	}{{
		name: "unknown fields at both levels",
		input: `{"version": "v1", ⁂"schedule": "7d", "repositories": [
  {"repository": "a", "tags": ["*"], ⁂"comment": {"deep": [1, 2, {"x": null}]}}]}`,
		want: []string{
			`unknown field "schedule" is ignored`,
			`unknown field "comment" is ignored`,
		},
	}, {
		name:  "misspelled fields get a hint",
		input: `{"version": "v1", "repositories": [{"repository": "a", "tags": ["*"], ⁂"Enabled": false}], ⁂"tag_convention": "floating"}`,
		want: []string{
			`unknown field "Enabled" is ignored; did you mean "enabled"?`,
			`unknown field "tag_convention" is ignored; did you mean "tag-convention"?`,
		},
	}, {
		name:  "trailing commas in arrays and objects",
		input: `{"version": "v1", "repositories": [{"repository": "a", "tags": ["x"⁂,]⁂,}⁂,]⁂,}`,
		want: []string{
			"trailing comma after the last item; accepted, but strict JSON tools reject it",
			"trailing comma after the last field; accepted, but strict JSON tools reject it",
			"trailing comma after the last item; accepted, but strict JSON tools reject it",
			"trailing comma after the last field; accepted, but strict JSON tools reject it",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, _, pos := marked("p.json", tt.input)
			_, warnings, err := Parse("p.json", []byte(data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got, want []string
			for _, w := range warnings {
				got = append(got, w.String())
			}
			for i, m := range tt.want {
				want = append(want, pos[i].String()+": "+m)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 129)
	longRepo := strings.Repeat("r", 256)
	tests := []struct {
		name  string
		input string
		want  []string // one per ‸, in order
	}{
		// The file as a whole.
		{"empty file", "‸", []string{`file is empty; write a policy such as {"version": "v1", "repositories": [{"repository": "python", "tags": ["*"]}]}`}},
		{"only whitespace", "‸ \n\t\n", []string{`file is empty; write a policy such as {"version": "v1", "repositories": [{"repository": "python", "tags": ["*"]}]}`}},
		{"only comments", "// nothing\n/* here */\n‸", []string{"file holds only comments; write the policy object after them"}},
		{"root is an array", "\n  ‸[1, 2]", []string{"the policy must be a JSON object {...}, not an array"}},
		{"root is a string", `‸"v1"`, []string{"the policy must be a JSON object {...}, not a string"}},
		{"root is null", `‸null`, []string{"the policy must be a JSON object {...}, not a null"}},
		{"two root objects", `{"version": "v1", "repositories": [{"repository": "a", "tags": ["*"]}]} ‸{}`, []string{`unexpected '{' after the policy object; a file holds one object`}},

		// version.
		{"version missing", `‸{"repositories": [{"repository": "a", "tags": ["*"]}]}`, []string{`"version" is missing; add "version": "v1"`}},
		{"version wrong", `{"version": ‸"v2", "repositories": [{"repository": "a", "tags": ["*"]}]}`, []string{`version "v2" is not supported; write "version": "v1"`}},
		{"version number", `{"version": ‸1, "repositories": [{"repository": "a", "tags": ["*"]}]}`, []string{`"version" must be a string, not number 1; write "version": "v1"`}},
		{"version null", `{"version": ‸null, "repositories": [{"repository": "a", "tags": ["*"]}]}`, []string{`"version" must be a string, not null; write "version": "v1"`}},

		// tag-convention.
		{"tag-convention unknown", `{"version": "v1", "tag-convention": ‸"weekly", "repositories": [{"repository": "a", "tags": ["*"]}]}`,
			[]string{`tag-convention "weekly" is not valid; use "incremental" or "floating"`}},
		{"tag-convention capitalised", `{"version": "v1", "tag-convention": ‸"Floating", "repositories": [{"repository": "a", "tags": ["*"]}]}`,
			[]string{`tag-convention "Floating" is not valid; use "incremental" or "floating" (write "floating")`}},
		{"tag-convention empty", `{"version": "v1", "tag-convention": ‸"", "repositories": [{"repository": "a", "tags": ["*"]}]}`,
			[]string{`tag-convention "" is not valid; use "incremental" or "floating"`}},
		{"tag-convention boolean", `{"version": "v1", "tag-convention": ‸true, "repositories": [{"repository": "a", "tags": ["*"]}]}`,
			[]string{`"tag-convention" must be a string, not true; write "incremental" or "floating"`}},

		// repositories.
		{"repositories missing", `‸{"version": "v1"}`, []string{`"repositories" is missing; add "repositories": [{"repository": "<name>", "tags": ["*"]}]`}},
		{"repositories empty", `{"version": "v1", "repositories": ‸[]}`, []string{`"repositories" is empty; list at least one {"repository": "<name>", "tags": ["*"]}`}},
		{"repositories empty, later problem", `{"version": "v1", "repositories": ‸[], "tag-convention": ‸"x"}`, []string{
			`"repositories" is empty; list at least one {"repository": "<name>", "tags": ["*"]}`,
			`tag-convention "x" is not valid; use "incremental" or "floating"`}},
		{"byte order mark is not a column", "\xEF\xBB\xBF{\"version\": ‸\"v2\", \"repositories\": [{\"repository\": \"a\", \"tags\": [\"*\"]}]}",
			[]string{`version "v2" is not supported; write "version": "v1"`}},
		{"repositories object", `{"version": "v1", "repositories": ‸{"repository": "a"}}`,
			[]string{`"repositories" must be an array of objects, not object; write "repositories": [{"repository": "<name>", "tags": ["*"]}]`}},
		{"repositories item string", `{"version": "v1", "repositories": [‸"python"]}`,
			[]string{`repositories[0] must be an object, not string "python"; write {"repository": "<name>", "tags": ["*"]}`}},
		{"repository duplicated", `{"version": "v1", "repositories": [
  {"repository": "python", "tags": ["*"]},
  {"repository": ‸"python", "tags": ["3.11"]}]}`,
			[]string{`repository "python" is listed twice (first at 2:18); merge the two entries into one`}},

		// repository.
		{"repository missing", `{"version": "v1", "repositories": [‸{"tags": ["*"]}]}`, []string{`repository entry has no "repository" field; add "repository": "<name>"`}},
		{"repository and tags missing", `{"version": "v1", "repositories": [‸‸{}]}`, []string{
			`repository entry has no "repository" field; add "repository": "<name>"`,
			`repository entry has no "tags" field; add "tags": ["*"] for every tag, or list the tags`}},
		{"repository number", `{"version": "v1", "repositories": [{"repository": ‸7, "tags": ["*"]}]}`,
			[]string{`"repository" must be a string, not number 7; write the repository path, such as "library/python"`}},
		{"repository upper case", `{"version": "v1", "repositories": [{"repository": ‸"Library/Python", "tags": ["*"]}]}`,
			[]string{`repository name "Library/Python" has upper-case letters; write "library/python"`}},
		{"repository with tag", `{"version": "v1", "repositories": [{"repository": ‸"python:3.11", "tags": ["*"]}]}`,
			[]string{`repository name "python:3.11" holds a tag or digest; put the repository path in "repository" and tags in "tags"`}},
		{"repository bad separators", `{"version": "v1", "repositories": [{"repository": ‸"a//b", "tags": ["*"]}, {"repository": ‸"-a", "tags": ["*"]}, {"repository": ‸"a...b", "tags": ["*"]}]}`,
			[]string{
				`repository name "a//b" is not valid; use lower-case letters and digits, joined by '.', '_', '__' or '-', with '/' between path components`,
				`repository name "-a" is not valid; use lower-case letters and digits, joined by '.', '_', '__' or '-', with '/' between path components`,
				`repository name "a...b" is not valid; use lower-case letters and digits, joined by '.', '_', '__' or '-', with '/' between path components`}},
		{"repository empty", `{"version": "v1", "repositories": [{"repository": ‸"", "tags": ["*"]}]}`,
			[]string{`repository name is empty; write the repository path, such as "library/python"`}},
		{"repository too long", `{"version": "v1", "repositories": [{"repository": ‸"` + longRepo + `", "tags": ["*"]}]}`,
			[]string{`repository name is 256 characters long; the limit is 255`}},

		// tags.
		{"tags missing", `{"version": "v1", "repositories": [‸{"repository": "python"}]}`,
			[]string{`repository "python" has no "tags" field; add "tags": ["*"] for every tag, or list the tags`}},
		{"tags empty", `{"version": "v1", "repositories": [{"repository": "python", "tags": ‸[]}]}`,
			[]string{`"tags" is empty; write ["*"] for every tag, or list the tags`}},
		{"tags is a string", `{"version": "v1", "repositories": [{"repository": "python", "tags": ‸"3.11"}]}`,
			[]string{`"tags" must be an array of strings, not string "3.11"; write "tags": ["3.11"]`}},
		{"tag not a string", `{"version": "v1", "repositories": [{"repository": "python", "tags": ["3.11", ‸3.12, ‸["x"]]}]}`,
			[]string{`tags[1] must be a string, not number 3.12`, `tags[2] must be a string, not array`}},
		{"tag reserved incremental", `{"version": "v1", "repositories": [{"repository": "python", "tags": [‸"3.11-1", ‸"3.11-999", "3.12-1000", "3.12-0", "3.12-01"]}]}`,
			[]string{
				`tag "3.11-1" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "3.11" instead`,
				`tag "3.11-999" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "3.11" instead`}},
		{"tag reserved floating", `{"version": "v1", "repositories": [{"repository": "python", "tags": [‸"3.11-patched", "3.11-patched-x"]}]}`,
			[]string{`tag "3.11-patched" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "3.11" instead`}},
		{"tag invalid", `{"version": "v1", "repositories": [{"repository": "python", "tags": [‸".hidden", ‸"a b", ‸"", ‸"` + long + `", "` + long[:128] + `"]}]}`,
			[]string{
				`tag ".hidden" is not valid; a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'`,
				`tag "a b" is not valid; a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'`,
				`tag is empty; a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-', or use "*" for every tag`,
				`tag "` + long + `" is not valid; a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'`}},
		{"tag duplicated", `{"version": "v1", "repositories": [{"repository": "python",
   "tags": ["3.11", ‸"3.11"]}]}`,
			[]string{`tag "3.11" is listed twice (first at 2:13); remove one`}},
		{"wildcard mixed", `{"version": "v1", "repositories": [{"repository": "python", "tags": ["3.11", ‸"*"]}]}`,
			[]string{`"*" selects every tag and cannot be combined with other tags; use ["*"] alone, or list tags without "*"`}},

		// enabled.
		{"enabled string", `{"version": "v1", "repositories": [{"repository": "python", "tags": ["*"], "enabled": ‸"yes"}]}`,
			[]string{`"enabled" must be true or false, not string "yes"`}},
		{"long values are shortened", `{"version": "v1", "repositories": [{"repository": "python", "tags": ["*"], "enabled": ‸"ééééééééééééééééééééééééééééééééééééééééééé"}]}`,
			[]string{`"enabled" must be true or false, not string "éééééééééééééééééééééééééééééééééééééééé…"`}},
		{"enabled number", `{"version": "v1", "repositories": [{"repository": "python", "tags": ["*"], "enabled": ‸0}]}`,
			[]string{`"enabled" must be true or false, not number 0`}},

		// Duplicate fields.
		{"field twice", `{"version": "v1", "repositories": [{"repository": "a", "tags": ["*"]}], ‸"version": "v1"}`,
			[]string{`field "version" appears twice (first at 1:2); remove one of them`}},

		// Several problems at once, reported in file order.
		{"every problem", `‸{
  "tag-convention": ‸"weekly",
  "repositories": [
    {"repository": ‸"Python", "tags": [‸"3.11-1", "3.12"], "enabled": ‸"no"},
    {"repository": "ubuntu", "tags": [‸"*", "jammy"]}
  ]
}`, []string{
			`"version" is missing; add "version": "v1"`,
			`tag-convention "weekly" is not valid; use "incremental" or "floating"`,
			`repository name "Python" has upper-case letters; write "python"`,
			`tag "3.11-1" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "3.11" instead`,
			`"enabled" must be true or false, not string "no"`,
			`"*" selects every tag and cannot be combined with other tags; use ["*"] alone, or list tags without "*"`,
		}},
		{"positions count characters not bytes", `{"version": "v1", /* café ☕ */ "note": "naïve", "repositories": [{"repository": "a", "tags": ["ok", ‸"ok-1"]}]}`,
			[]string{`tag "ok-1" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "ok" instead`}},

		// Syntax: reading stops at the first syntax error, problems
		// before it stand.
		{"missing comma", `{"version": "v1"
  ‸"repositories": []}`, []string{`expected ',' or '}' after a field; add a comma`}},
		{"missing comma in array", `{"version": "v1", "repositories": [{"repository": "a", "tags": ["a" ‸"b"]}]}`,
			[]string{`expected ',' or ']' after an item; add a comma`}},
		{"double comma", `{"version": "v1", "repositories": [{"repository": "a", "tags": ["a",‸,"b"]}]}`,
			[]string{`unexpected ','; remove the extra comma`}},
		{"unquoted field name", `{‸version: "v1"}`, []string{`field name "version" must be in double quotes`}},
		{"single quotes", `{"version": ‸'v1'}`, []string{`strings must be in double quotes, not single quotes`}},
		{"python booleans", `{"version": "v1", "repositories": [{"repository": "a", "tags": ["*"], "enabled": ‸True}]}`,
			[]string{`"True" is not a JSON value; quote strings, and write booleans as true or false`}},
		{"string not closed", `{"version": ‸"v1}`, []string{`string is not closed; end it with "`}},
		{"object not closed", `‸{"version": "v1"`, []string{`object is not closed; end it with }`}},
		{"array not closed", `{"version": "v1", "repositories": ‸[`, []string{`array is not closed; end it with ]`}},
		{"comment not closed", `{"version": "v1" ‸/* oops`, []string{`comment is not closed; end it with */`}},
		{"missing colon", `{"version" ‸"v1"}`, []string{`expected ':' after field name "version"`}},
		{"bad number", `{"version": ‸01}`, []string{`invalid number`}},
		{"bad escape", `{"version": "v‸\1"}`, []string{`invalid escape \1 in string; use \\ for a backslash`}},
		{"control character", "{\"version\": \"v‸\t1\"}", []string{`control character U+0009 in string; write it as an escape such as \n`}},
		{"invalid utf-8", "{\"version\": \"v‸\xff\"}", []string{`invalid UTF-8 in string; save the file as UTF-8`}},
		{"problems before a syntax error stand", `{"version": ‸"v2", "repositories": [{"repository": "a", "tags": [‸"x-1"]}],‸,}`,
			[]string{
				`version "v2" is not supported; write "version": "v1"`,
				`tag "x-1" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "x" instead`,
				`unexpected ',' where a field name was expected`}},
		{"nesting too deep", `{"version": "v1", "x": ` + strings.Repeat("[", 63) + "‸[" + strings.Repeat("]", 64) + "}",
			[]string{`values are nested more than 64 deep`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, pos, _ := marked("policy.json", tt.input)
			if len(pos) != len(tt.want) {
				t.Fatalf("test has %d marks and %d messages", len(pos), len(tt.want))
			}
			p, _, err := Parse("policy.json", []byte(data))
			if err == nil {
				t.Fatalf("Parse accepted the policy: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with an error")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError: %v", err, err)
			}
			var want []string
			for i, m := range tt.want {
				want = append(want, pos[i].String()+": "+m)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
				t.Errorf("error:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestParseDefaultsAndValues(t *testing.T) {
	t.Parallel()
	p, _, err := Parse("p.json", []byte(`{"version": "v1", "tag-convention": "floating", "repositories": [
		{"repository": "team/app", "tags": ["1.0", "1.0-1000", "latest"], "enabled": false},
		{"repository": "escaped\u002fname", "tags": ["\u0031.2"]}]}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Policy{Version: "v1", TagConvention: Floating, Repositories: []Repository{
		{Name: "team/app", Tags: []string{"1.0", "1.0-1000", "latest"}, Enabled: false},
		{Name: "escaped/name", Tags: []string{"1.2"}, Enabled: true},
	}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("policy = %+v, want %+v", p, want)
	}
}

func TestCanonicalRoundTrips(t *testing.T) {
	t.Parallel()
	data, _, _ := marked("p.json", seedExample)
	p, _, err := Parse("p.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	back, warnings, err := Parse("canonical.json", c)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("canonical form does not parse cleanly: %v %v\n%s", err, warnings, c)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip = %+v, want %+v", back, p)
	}
	if !strings.Contains(string(c), `"tag-convention": "incremental"`) || !strings.Contains(string(c), `"enabled": true`) {
		t.Errorf("canonical form lacks defaults:\n%s", c)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	p := &Policy{Version: "v1", TagConvention: Floating, Repositories: []Repository{{Name: "a", Enabled: true}, {Name: "b"}}}
	if got, want := p.Summary(), "2 repositories (1 disabled), tag convention floating"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestParseConvention(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"incremental", "floating"} {
		c, err := ParseConvention(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseConvention(%q) = %q, %v", s, c, err)
		}
	}
	for _, s := range []string{"", "Incremental", "float"} {
		if _, err := ParseConvention(s); err == nil || err.Error() != fmt.Sprintf(`invalid tag convention %q: use "incremental" or "floating"`, s) {
			t.Errorf("ParseConvention(%q) error = %v", s, err)
		}
	}
	var c Convention
	if err := c.UnmarshalText([]byte("floating")); err != nil || c != Floating {
		t.Errorf("UnmarshalText = %q, %v", c, err)
	}
	if _, err := Convention("weekly").MarshalText(); err == nil {
		t.Error("MarshalText accepted an invalid convention")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	t.Run("valid file", func(t *testing.T) {
		data, _, _ := marked("", seedExample)
		path := write("ok.json", data)
		p, warnings, err := Load(path)
		if err != nil || len(p.Repositories) != 2 {
			t.Fatalf("Load = %+v, %v", p, err)
		}
		if len(warnings) != 1 || warnings[0].Pos.File != path {
			t.Errorf("warnings = %v, want one naming %s", warnings, path)
		}
	})
	t.Run("problems name the file", func(t *testing.T) {
		path := write("bad.json", "{\n  \"version\": \"v2\",\n  \"repositories\": [{\"repository\": \"a\", \"tags\": [\"*\"]}]\n}\n")
		_, _, err := Load(path)
		if err == nil || err.Error() != path+`:2:14: version "v2" is not supported; write "version": "v1"` {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		path := write("empty.json", "")
		_, _, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("policy file %q is empty; write a policy such as", path)) {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "nope.json")
		_, _, err := Load(path)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, _, err := Load(dir)
		if err == nil || err.Error() != fmt.Sprintf("policy file %q is a directory; give the path of a JSON file", dir) {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("over 10 MiB is rejected without reading", func(t *testing.T) {
		path := filepath.Join(dir, "huge.json")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		// A sparse file: 1 TiB that Load must not try to read.
		if err := f.Truncate(1 << 40); err != nil {
			t.Skipf("cannot make a sparse file here: %v", err)
		}
		f.Close()
		_, _, err = Load(path)
		if err == nil || err.Error() != fmt.Sprintf("policy file %q is %d bytes; the limit is 10 MiB", path, int64(1<<40)) {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("endless device stops at the limit", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("needs /dev/zero")
		}
		_, _, err := Load("/dev/zero")
		if err == nil || err.Error() != `policy file "/dev/zero" is over 10 MiB` {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("needs /proc/self/mem")
		}
		// Opening succeeds, reading at offset 0 fails with EIO, even as root.
		_, _, err := Load("/proc/self/mem")
		if err == nil || !strings.HasPrefix(err.Error(), `reading policy file "/proc/self/mem": read: `) {
			t.Errorf("Load error = %v", err)
		}
	})
	t.Run("exactly 10 MiB is read", func(t *testing.T) {
		head := `{"version": "v1", "repositories": [{"repository": "a", "tags": ["*"]}]}`
		path := write("big.json", head+strings.Repeat(" ", MaxFileSize-len(head)))
		if _, _, err := Load(path); err != nil {
			t.Errorf("Load: %v", err)
		}
		if _, _, err := Parse("x.json", []byte(head+strings.Repeat(" ", MaxFileSize+1-len(head)))); err == nil {
			t.Error("Parse accepted 10 MiB + 1 byte")
		}
	})
}

// FuzzParse checks Parse never panics, and that whatever it rejects is
// reported with positions inside the file.
func FuzzParse(f *testing.F) {
	data, _, _ := marked("", seedExample)
	f.Add([]byte(data))
	f.Add([]byte(`{"version": "v1", "repositories": [{"repository": "a", "tags": ["*", "x-1"], "enabled": 1}],}`))
	f.Add([]byte(`// c
{"version": "v\u00e9", "x": [1.5e3, null, {"y": "\ud83d\ude00"}] /* z */}`))
	f.Add([]byte(`[[[{`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, warnings, err := Parse("f.json", data)
		lines := strings.Count(string(data), "\n") + 1
		inside := func(pos Pos) bool {
			return pos.File == "f.json" && pos.Line >= 1 && pos.Line <= lines && pos.Col >= 1 && pos.Col <= utf8.RuneCount(data)+1
		}
		for _, w := range warnings {
			if !inside(w.Pos) || w.Message == "" {
				t.Errorf("warning outside the file: %v", w)
			}
		}
		if err == nil {
			if p == nil || p.Version != Version || len(p.Repositories) == 0 {
				t.Fatalf("accepted an invalid policy: %+v", p)
			}
			for _, r := range p.Repositories {
				if CheckRepository(r.Name) != nil || len(r.Tags) == 0 {
					t.Fatalf("accepted repository %+v", r)
				}
				for _, tag := range r.Tags {
					if tag != Wildcard && (!ValidTag(tag) || Reserved(tag)) {
						t.Fatalf("accepted tag %q", tag)
					}
				}
			}
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			if len(data) <= MaxFileSize {
				t.Fatalf("error is not a *ValidationError: %v", err)
			}
			return
		}
		if len(ve.Problems) == 0 {
			t.Fatal("ValidationError without problems")
		}
		for _, pr := range ve.Problems {
			if !inside(pr.Pos) || pr.Message == "" || strings.Contains(pr.Message, "\n") {
				t.Errorf("problem outside the file or malformed: %q", pr.String())
			}
		}
	})
}

func TestParseKeepsAtMostMaxProblems(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"version": "v1", "repositories": [{"repository": "a", "tags": [`)
	for i := range MaxProblems + 500 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"t%d-1"`, i)
	}
	b.WriteString(`]}]}`)
	_, _, err := Parse("p.json", []byte(b.String()))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error = %v", err)
	}
	if len(ve.Problems) != MaxProblems || !ve.Truncated {
		t.Errorf("kept %d problems, truncated %v; want %d and true", len(ve.Problems), ve.Truncated, MaxProblems)
	}
	if last := ve.Problems[MaxProblems-1].Message; last != `tag "t999-1" ends in a reserved patch suffix (-1…-999 or -patched); name the original tag "t999" instead` {
		t.Errorf("last problem %q", last)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != MaxProblems+1 || lines[MaxProblems] != "stopped after 1000 problems; fix these and check again" {
		t.Errorf("error has %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestParseHostileInputs(t *testing.T) {
	t.Parallel()
	deep := `{"x": ` + strings.Repeat("[", MaxFileSize-10)
	_, _, err := Parse("deep.json", []byte(deep))
	if err == nil || err.Error() != "deep.json:1:70: values are nested more than 64 deep" {
		t.Errorf("deep nesting: %v", err)
	}
	deepObject := `{"version": "v1", "x": ` + strings.Repeat(`{"a": `, 100000)
	_, _, err = Parse("deep.json", []byte(deepObject))
	if err == nil || !strings.HasSuffix(err.Error(), "values are nested more than 64 deep") {
		t.Errorf("deep objects: %v", err)
	}
	unclosed := `{"version": "` + strings.Repeat("x", MaxFileSize-20)
	_, _, err = Parse("long.json", []byte(unclosed))
	if err == nil || err.Error() != `long.json:1:13: string is not closed; end it with "` {
		t.Errorf("unclosed string: %v", err)
	}
}

func TestParseMemoryIsBoundedOnHostileInput(t *testing.T) {
	// Not parallel: it measures allocations. The worst case is a file of
	// distinct valid tags, all of which a valid policy keeps.
	var b strings.Builder
	b.WriteString(`{"version": "v1", "repositories": [{"repository": "a", "tags": [`)
	for i := 0; b.Len() < 2<<20; i++ { // 2 MiB keeps the test quick; cost is linear
		fmt.Fprintf(&b, `"%x",`, i)
	}
	b.WriteString(`"x"]}]}`)
	data := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, _, err := Parse("hostile.json", data)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d tags in %d MiB: %d MiB allocated", len(p.Repositories[0].Tags), len(data)>>20, allocated>>20)
	if allocated > 40*uint64(len(data)) {
		t.Errorf("allocated %d MiB for a %d MiB file", allocated>>20, len(data)>>20)
	}
}
