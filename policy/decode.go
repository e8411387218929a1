package policy

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// decode applies the policy rules while reading the file, so every problem
// is found in one pass and carries the position of its key or value.
func decode(filename string, data []byte) (*Policy, []Warning, error) {
	r := newReader(data)
	p := &Policy{TagConvention: Incremental}
	r.space()
	switch k := r.peek(); {
	case r.failed():
	case k == kindNone && r.off >= len(data):
		if len(bytes.TrimSpace(data)) == 0 {
			r.problem(0, `file is empty; write a policy such as {"version": "v1", "repositories": [{"repository": "python", "tags": ["*"]}]}`)
		} else {
			r.problem(r.off, "file holds only comments; write the policy object after them")
		}
	case k == kindObject:
		decodeRoot(r, p)
		r.space()
		if !r.failed() && r.off < len(data) {
			r.fail(r.off, "unexpected %s after the policy object; a file holds one object", quoteRune(data[r.off:]))
		}
	case k == kindNone:
		r.badValue()
	default:
		// Nothing in another kind of value can be a policy: stop here.
		r.problem(r.off, "the policy must be a JSON object {...}, not %s %s", article(k), k)
	}
	return finish(filename, r, p)
}

// finish turns the reader's findings into the results of Parse.
func finish(filename string, r *reader, p *Policy) (*Policy, []Warning, error) {
	pos := func(off int) Pos {
		l, c := r.position(off)
		return Pos{File: filename, Line: l, Col: c}
	}
	byOffset := func(a, b located) int { return cmp.Compare(a.off, b.off) }
	slices.SortStableFunc(r.warnings, byOffset)
	var warnings []Warning
	for _, w := range r.warnings {
		warnings = append(warnings, Warning{Pos: pos(w.off), Message: w.msg})
	}
	if r.omittedWarnings > 0 {
		last := r.warnings[len(r.warnings)-1].off
		warnings = append(warnings, Warning{Pos: pos(last), Message: fmt.Sprintf("%d more warnings not shown", r.omittedWarnings)})
	}
	problems := r.problems
	if r.syntax != nil {
		// Problems found before the syntax error stand; nothing after it
		// was read, and no "missing" or "empty" problem is reported once
		// reading stopped.
		problems = append(problems, *r.syntax)
	}
	if len(problems) == 0 {
		return p, warnings, nil
	}
	slices.SortStableFunc(problems, byOffset)
	e := &ValidationError{Truncated: r.stopped}
	for _, pr := range problems {
		e.Problems = append(e.Problems, Problem{Pos: pos(pr.off), Message: pr.msg})
	}
	return nil, warnings, e
}

func article(k kind) string {
	if k == kindArray {
		return "an"
	}
	return "a"
}

// known field names, for "did you mean" hints.
var rootFields = []string{"version", "tag-convention", "repositories"}
var repoFields = []string{"repository", "tags", "enabled"}

func unknownField(r *reader, name string, off int, known []string) {
	msg := fmt.Sprintf("unknown field %s is ignored", strconv.Quote(name))
	fold := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(s))
	}
	for _, k := range known {
		if fold(k) == fold(name) || fold(k) == fold(name)+"s" || fold(k)+"s" == fold(name) {
			msg += fmt.Sprintf("; did you mean %q?", k)
			break
		}
	}
	r.warn(off, "%s", msg)
	r.skip()
}

// wrongType reads the value at the reader and reports it is not what the
// field needs. want is the rule, e.g. `"version" must be a string`.
func wrongType(r *reader, want, fix string) {
	off := r.off
	k, desc := r.describe()
	if r.failed() || k == kindNone {
		return
	}
	msg := fmt.Sprintf("%s, not %s", want, desc)
	if fix != "" {
		msg += "; " + fix
	}
	r.problem(off, "%s", msg)
}

func decodeRoot(r *reader, p *Policy) {
	open := r.off
	var haveVersion, haveRepos bool
	r.object(func(name string, nameOff int) {
		switch name {
		case "version":
			haveVersion = true
			if r.peek() != kindString {
				wrongType(r, `"version" must be a string`, `write "version": "v1"`)
				return
			}
			off := r.off
			v := r.str()
			if !r.failed() && v != Version {
				r.problem(off, "version %s is not supported; write \"version\": \"v1\"", strconv.Quote(v))
			}
			p.Version = v
		case "tag-convention":
			if r.peek() != kindString {
				wrongType(r, `"tag-convention" must be a string`, `write "incremental" or "floating"`)
				return
			}
			off := r.off
			v := r.str()
			if r.failed() {
				return
			}
			c, err := ParseConvention(v)
			if err != nil {
				hint := ""
				if lc, err := ParseConvention(strings.ToLower(strings.TrimSpace(v))); err == nil {
					hint = fmt.Sprintf(" (write %q)", lc)
				}
				r.problem(off, "tag-convention %s is not valid; use \"incremental\" or \"floating\"%s", strconv.Quote(v), hint)
				return
			}
			p.TagConvention = c
		case "repositories":
			haveRepos = true
			decodeRepositories(r, p)
		default:
			unknownField(r, name, nameOff, rootFields)
		}
	})
	if r.failed() {
		return
	}
	if !haveVersion {
		r.problem(open, `"version" is missing; add "version": "v1"`)
	}
	if !haveRepos {
		r.problem(open, `"repositories" is missing; add "repositories": [{"repository": "<name>", "tags": ["*"]}]`)
	}
}

func decodeRepositories(r *reader, p *Policy) {
	if r.peek() != kindArray {
		wrongType(r, `"repositories" must be an array of objects`, `write "repositories": [{"repository": "<name>", "tags": ["*"]}]`)
		return
	}
	open := r.off
	first := map[string]int{} // repository name → offset of its first entry
	p.Repositories = []Repository{}
	items := 0
	r.array(func(i, off int) {
		items++
		if r.peek() != kindObject {
			wrongType(r, fmt.Sprintf("repositories[%d] must be an object", i), `write {"repository": "<name>", "tags": ["*"]}`)
			return
		}
		repo, nameOff, ok := decodeRepository(r)
		if !ok {
			return
		}
		if at, dup := first[repo.Name]; dup {
			l, c := r.position(at)
			r.problem(nameOff, "repository %s is listed twice (first at %d:%d); merge the two entries into one", strconv.Quote(repo.Name), l, c)
			return
		}
		first[repo.Name] = nameOff
		p.Repositories = append(p.Repositories, repo)
	})
	if !r.failed() && items == 0 {
		r.problem(open, `"repositories" is empty; list at least one {"repository": "<name>", "tags": ["*"]}`)
	}
}

// decodeRepository reads one entry; ok is false if it has a problem.
func decodeRepository(r *reader) (repo Repository, nameOff int, ok bool) {
	open := r.off
	before := len(r.problems)
	repo.Enabled = true
	var haveName, haveTags bool
	r.object(func(name string, keyOff int) {
		switch name {
		case "repository":
			haveName = true
			if r.peek() != kindString {
				wrongType(r, `"repository" must be a string`, `write the repository path, such as "library/python"`)
				return
			}
			nameOff = r.off
			repo.Name = r.str()
			if r.failed() {
				return
			}
			if err := CheckRepository(repo.Name); err != nil {
				r.problem(nameOff, "%s", err.Error())
			}
		case "tags":
			haveTags = true
			repo.Tags = decodeTags(r)
		case "enabled":
			if r.peek() != kindBool {
				wrongType(r, `"enabled" must be true or false`, "")
				return
			}
			repo.Enabled = r.boolean()
		default:
			unknownField(r, name, keyOff, repoFields)
		}
	})
	if r.failed() {
		return repo, nameOff, false
	}
	if !haveName {
		r.problem(open, `repository entry has no "repository" field; add "repository": "<name>"`)
	}
	if !haveTags {
		what := "repository entry"
		if haveName {
			what = "repository " + strconv.Quote(repo.Name)
		}
		r.problem(open, `%s has no "tags" field; add "tags": ["*"] for every tag, or list the tags`, what)
	}
	return repo, nameOff, len(r.problems) == before && !r.failed()
}

func decodeTags(r *reader) []string {
	if r.peek() != kindArray {
		fix := `write "tags": ["*"] for every tag, or list the tags`
		if r.peek() == kindString {
			// Show the fix with the user's own string.
			save := r.off
			s := r.str()
			r.off = save
			if !r.failed() {
				fix = fmt.Sprintf(`write "tags": [%s]`, strconv.Quote(s))
			}
		}
		wrongType(r, `"tags" must be an array of strings`, fix)
		return nil
	}
	open := r.off
	tags := []string{}
	first := map[string]int{}
	wildcard := -1
	items := 0
	r.array(func(i, off int) {
		items++
		if r.peek() != kindString {
			wrongType(r, fmt.Sprintf("tags[%d] must be a string", i), "")
			return
		}
		t := r.str()
		if r.failed() {
			return
		}
		if at, dup := first[t]; dup {
			l, c := r.position(at)
			r.problem(off, "tag %s is listed twice (first at %d:%d); remove one", strconv.Quote(t), l, c)
			return
		}
		first[t] = off
		tags = append(tags, t)
		if t == Wildcard {
			wildcard = off
			return
		}
		if msg := checkTag(t); msg != "" {
			r.problem(off, "%s", msg)
		}
	})
	if r.failed() {
		return tags
	}
	if items == 0 {
		r.problem(open, `"tags" is empty; write ["*"] for every tag, or list the tags`)
	}
	if wildcard >= 0 && len(first) > 1 {
		r.problem(wildcard, `"*" selects every tag and cannot be combined with other tags; use ["*"] alone, or list tags without "*"`)
	}
	return tags
}
