package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSchemaMatchesGoRules keeps schema.json and the Go constants equal.
func TestSchemaMatchesGoRules(t *testing.T) {
	t.Parallel()
	var s struct {
		Schema     string `json:"$schema"`
		Required   []string
		Properties struct {
			Version struct {
				Const string
			}
			TagConvention struct {
				Enum    []string
				Default string
			} `json:"tag-convention"`
			Repositories struct {
				MinItems int
			}
		}
		Defs struct {
			Repository struct {
				Required   []string
				Properties struct {
					Repository struct {
						Pattern   string
						MaxLength int
					}
					Tags struct {
						MinItems    int
						UniqueItems bool
					}
					Enabled struct {
						Default bool
					}
				}
			}
			Tag struct {
				AnyOf []struct {
					Const   string
					Pattern string
					Not     struct{ Pattern string }
				}
			}
		} `json:"$defs"`
	}
	dec := json.NewDecoder(bytes.NewReader(Schema))
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("schema.json does not parse: %v", err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("schema %s = %v, Go has %v", what, got, want)
		}
	}
	check("$schema", s.Schema, "https://json-schema.org/draft/2020-12/schema")
	check("required", s.Required, []string{"version", "repositories"})
	check("version", s.Properties.Version.Const, Version)
	check("tag-convention enum", s.Properties.TagConvention.Enum, []string{string(Incremental), string(Floating)})
	check("tag-convention default", s.Properties.TagConvention.Default, string(Incremental))
	check("repositories minItems", s.Properties.Repositories.MinItems, 1)
	check("repository required", s.Defs.Repository.Required, []string{"repository", "tags"})
	check("repository pattern", s.Defs.Repository.Properties.Repository.Pattern, RepositoryPattern)
	check("repository maxLength", s.Defs.Repository.Properties.Repository.MaxLength, MaxRepositoryLength)
	check("tags minItems", s.Defs.Repository.Properties.Tags.MinItems, 1)
	check("tags uniqueItems", s.Defs.Repository.Properties.Tags.UniqueItems, true)
	check("enabled default", s.Defs.Repository.Properties.Enabled.Default, true)
	if len(s.Defs.Tag.AnyOf) != 2 {
		t.Fatalf("schema tag anyOf has %d branches, want 2", len(s.Defs.Tag.AnyOf))
	}
	check("wildcard", s.Defs.Tag.AnyOf[0].Const, Wildcard)
	check("tag pattern", s.Defs.Tag.AnyOf[1].Pattern, TagPattern)
	check("reserved suffix pattern", s.Defs.Tag.AnyOf[1].Not.Pattern, ReservedSuffixPattern)
}

// TestSchemaAgreesWithParse validates many documents with the reference
// python-jsonschema implementation and checks Parse accepts exactly the
// same ones. Parse is stricter in one way the schema cannot say (two
// entries for one repository), which the documents avoid.
func TestSchemaAgreesWithParse(t *testing.T) {
	t.Parallel()
	if err := exec.Command("python3", "-c", "import jsonschema").Run(); err != nil {
		t.Skipf("python3 with jsonschema is not installed (apt-get install python3-jsonschema): %v", err)
	}
	docs := schemaCorpus()
	dir := t.TempDir()
	docsPath := filepath.Join(dir, "docs.json")
	schemaPath := filepath.Join(dir, "schema.json")
	raw, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docsPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(schemaPath, Schema, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "testdata/validate_schema.py", schemaPath, docsPath).Output()
	if err != nil {
		t.Fatalf("validate_schema.py: %v", err)
	}
	var verdicts []bool
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(docs) {
		t.Fatalf("validate_schema.py printed %q (%v)", out, err)
	}
	accepted := 0
	for i, d := range docs {
		b, _ := json.Marshal(d)
		_, _, err := Parse("doc.json", b)
		if (err == nil) != verdicts[i] {
			t.Errorf("schema says valid=%v, Parse says %v, for %s", verdicts[i], err, b)
		}
		if verdicts[i] {
			accepted++
		}
	}
	if accepted == 0 || accepted == len(docs) {
		t.Errorf("corpus is one-sided: %d of %d valid", accepted, len(docs))
	}
}

// schemaCorpus builds documents that vary one field at a time around a
// valid policy.
func schemaCorpus() []any {
	type obj = map[string]any
	repo := func(name any, tags any) obj { return obj{"repository": name, "tags": tags} }
	base := func(repos ...any) obj { return obj{"version": "v1", "repositories": repos} }
	var docs []any
	tags := []any{
		"3.11", "latest", "jammy-20240111", "3.12-1000", "x-0", "x-01", "_a", "A.b-C", "1", "a-1a",
		"3.11-1", "3.11-999", "3.11-patched", "x-patched-1", "-a", ".a", "a b", "", "é", "a/b", "a:b",
		"*", "a" + strings.Repeat("b", 127), "a" + strings.Repeat("b", 128),
		7, true, nil,
	}
	for _, tg := range tags {
		docs = append(docs, base(repo("app", []any{tg})))
		docs = append(docs, base(repo("app", []any{"base", tg})))
	}
	names := []any{
		"python", "library/python", "a/b/c", "a.b", "a_b", "a__b", "a---b", "a-b.c_d__e/f",
		"Python", "a//b", "/a", "a/", "-a", "a-", "a..b", "a___b", "a.-b", "", "a b", "python:3.11", "é",
		string(bytes.Repeat([]byte("a"), 255)), string(bytes.Repeat([]byte("a"), 256)), 3, nil,
	}
	for _, n := range names {
		docs = append(docs, base(repo(n, []any{"*"})))
	}
	docs = append(docs,
		base(repo("app", []any{})),
		base(repo("app", []any{"a", "a"})),
		base(repo("app", []any{"*", "*"})),
		base(repo("app", "*")),
		base(repo("app", nil)),
		base(obj{"repository": "app"}),
		base(obj{"tags": []any{"*"}}),
		base(obj{"repository": "app", "tags": []any{"*"}, "enabled": false}),
		base(obj{"repository": "app", "tags": []any{"*"}, "enabled": "true"}),
		base(obj{"repository": "app", "tags": []any{"*"}, "extra": 1}),
		base(repo("a", []any{"*"}), repo("b", []any{"1", "2"})),
		base("app"),
		base(),
		obj{"version": "v1", "repositories": []any{}},
		obj{"version": "v1"},
		obj{"repositories": []any{repo("a", []any{"*"})}},
		obj{"version": "v2", "repositories": []any{repo("a", []any{"*"})}},
		obj{"version": 1, "repositories": []any{repo("a", []any{"*"})}},
		obj{"version": "v1", "tag-convention": "floating", "repositories": []any{repo("a", []any{"*"})}},
		obj{"version": "v1", "tag-convention": "incremental", "repositories": []any{repo("a", []any{"*"})}},
		obj{"version": "v1", "tag-convention": "Floating", "repositories": []any{repo("a", []any{"*"})}},
		obj{"version": "v1", "tag-convention": nil, "repositories": []any{repo("a", []any{"*"})}},
		obj{"version": "v1", "repositories": []any{repo("a", []any{"*"})}, "other": true},
		obj{"version": "v1", "repositories": repo("a", []any{"*"})},
		[]any{base(repo("a", []any{"*"}))},
		"v1",
	)
	return docs
}
