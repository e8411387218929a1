package vulndb

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/patchloop/patchloop/version"
)

// changelogEntry is one entry of a Debian changelog: the version it
// describes and the vulnerability ids its text names.
type changelogEntry struct {
	Version    string
	CVEs       []ID // CVE ids, in order of first mention
	Advisories []ID // DSA, DLA and USN ids, in order of first mention
}

// maxChangelogEntries bounds the entries kept from one changelog; real
// changelogs have a few thousand at most.
const maxChangelogEntries = 100_000

var (
	cvePattern      = regexp.MustCompile(`\bCVE-[0-9]{4}-[0-9]{4,7}\b`)
	advisoryPattern = regexp.MustCompile(`\b(?:DSA|DLA|USN)-[0-9]{1,6}-[0-9]{1,3}\b`)
)

// parseChangelog reads the entries of a Debian changelog, newest first as
// written. A header line starts in column 0 and reads
// "name (version) distributions; urgency=…"; every other line belongs to the
// entry above it. Lines before the first header are ignored.
func parseChangelog(b []byte) ([]changelogEntry, error) {
	var out []changelogEntry
	for line := range bytes.Lines(b) {
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' && line[0] != '\n' && line[0] != '\r' {
			v, ok := headerVersion(line)
			if ok {
				if len(out) == maxChangelogEntries {
					return nil, fmt.Errorf("parsing changelog: more than %d entries", maxChangelogEntries)
				}
				out = append(out, changelogEntry{Version: v})
				continue
			}
		}
		if len(out) == 0 || !bytes.Contains(line, []byte("-")) {
			continue
		}
		e := &out[len(out)-1]
		for _, m := range cvePattern.FindAll(line, -1) {
			e.CVEs = appendID(e.CVEs, string(m))
		}
		for _, m := range advisoryPattern.FindAll(line, -1) {
			e.Advisories = appendID(e.Advisories, string(m))
		}
	}
	return out, nil
}

// headerVersion returns the version of a changelog header line.
func headerVersion(line []byte) (string, bool) {
	s := string(bytes.TrimRight(line, "\r\n"))
	name, rest, ok := strings.Cut(s, " (")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", false
	}
	v, rest, ok := strings.Cut(rest, ")")
	if !ok || v == "" || !strings.Contains(rest, ";") {
		return "", false
	}
	return v, true
}

func appendID(ids []ID, s string) []ID {
	id, err := ParseID(s)
	if err != nil {
		return ids
	}
	for _, have := range ids {
		if have == id {
			return ids
		}
	}
	return append(ids, id)
}

// newerEntries returns the entries above installed: those read before the
// first entry whose version is not newer than installed. Entries whose
// version does not parse are skipped.
func newerEntries(entries []changelogEntry, installed string, cmp version.Comparer) []changelogEntry {
	for i, e := range entries {
		c, err := cmp.Compare(e.Version, installed)
		if err != nil {
			continue
		}
		if c <= 0 {
			return entries[:i]
		}
	}
	return entries
}
