package version

// Real version strings from the Debian and Ubuntu archives' Packages
// indexes, fetched at test time and cached for the day.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/ulikunitz/xz"
)

// archiveIndexes are the Packages indexes the oracle tests sample: stable,
// its security, updates and backports pockets, testing-era trixie, and
// Ubuntu jammy with its updates and security pockets.
var archiveIndexes = []struct{ name, url string }{
	{"bookworm", "http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz"},
	{"bookworm-updates", "http://deb.debian.org/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz"},
	{"bookworm-backports", "http://deb.debian.org/debian/dists/bookworm-backports/main/binary-amd64/Packages.xz"},
	{"bookworm-security", "http://deb.debian.org/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"},
	{"trixie", "http://deb.debian.org/debian/dists/trixie/main/binary-amd64/Packages.xz"},
	{"trixie-backports", "http://deb.debian.org/debian/dists/trixie-backports/main/binary-amd64/Packages.xz"},
	{"jammy", "http://archive.ubuntu.com/ubuntu/dists/jammy/main/binary-amd64/Packages.xz"},
	{"jammy-updates", "http://archive.ubuntu.com/ubuntu/dists/jammy-updates/main/binary-amd64/Packages.xz"},
	{"jammy-security", "http://security.ubuntu.com/ubuntu/dists/jammy-security/main/binary-amd64/Packages.xz"},
}

// archiveVersions maps each package name to its distinct versions across
// all archiveIndexes, in index order.
func archiveVersions(t testing.TB) map[string][]string {
	t.Helper()
	testutil.RequireSlow(t)
	archiveMu.Lock()
	defer archiveMu.Unlock()
	if archiveCache == nil {
		archiveCache = readArchiveVersions(t)
	}
	return archiveCache
}

// archiveCache holds the indexes once read, for the rest of the test binary.
var (
	archiveMu    sync.Mutex
	archiveCache map[string][]string
)

func readArchiveVersions(t testing.TB) map[string][]string {
	t.Helper()
	dir := filepath.Join(testutil.CacheDir(), "archive-indexes-"+time.Now().UTC().Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	byName := map[string][]string{}
	for _, idx := range archiveIndexes {
		path := filepath.Join(dir, idx.name+"-Packages.xz")
		if err := fetchOnce(ctx, idx.url, path); err != nil {
			t.Fatal(err)
		}
		n, err := readPackagesXZ(path, func(name, version string) {
			if !slices.Contains(byName[name], version) {
				byName[name] = append(byName[name], version)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s lists no packages", idx.url)
		}
	}
	return byName
}

// fetchOnce downloads url to path unless path exists; the file appears
// whole or not at all.
func fetchOnce(ctx context.Context, url, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readPackagesXZ streams an xz-compressed Packages index and calls fn with
// each stanza's Package and Version. It returns the number of stanzas.
func readPackagesXZ(path string, fn func(name, version string)) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	n := 0
	var name, version string
	flush := func() {
		if name != "" && version != "" {
			fn(name, version)
			n++
		}
		name, version = "", ""
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "Package: "):
			name = strings.TrimSpace(line[len("Package: "):])
		case strings.HasPrefix(line, "Version: "):
			version = strings.TrimSpace(line[len("Version: "):])
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, nil
}

// pairSet collects distinct pairs, each in a random orientation.
type pairSet struct {
	rng   *rand.Rand
	seen  map[pair]bool
	pairs []pair
}

func newPairSet(seed uint64) *pairSet {
	return &pairSet{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), seen: map[pair]bool{}}
}

func (s *pairSet) add(a, b string) {
	if s.rng.IntN(2) == 0 {
		a, b = b, a
	}
	p := pair{a, b}
	if s.seen[p] || s.seen[pair{b, a}] {
		return
	}
	s.seen[p] = true
	s.pairs = append(s.pairs, p)
}

// addSample adds up to n pairs drawn from pool.
func (s *pairSet) addSample(pool []pair, n int) {
	for _, i := range s.rng.Perm(len(pool))[:min(n, len(pool))] {
		s.add(pool[i].a, pool[i].b)
	}
}

// neighbours are the adjacent pairs of vs after sorting with less.
func neighbours(vs []string, cmp func(a, b string) int) []pair {
	sorted := slices.Clone(vs)
	slices.SortStableFunc(sorted, cmp)
	var out []pair
	for i := 1; i < len(sorted); i++ {
		out = append(out, pair{sorted[i-1], sorted[i]})
	}
	return out
}

// sameName are pairs of versions of one package across the suites: all of
// them for packages with few versions, a sample for the rest.
func sameName(rng *rand.Rand, byName map[string][]string) []pair {
	names := sortedKeys(byName)
	var out []pair
	for _, n := range names {
		vs := byName[n]
		for i := range vs {
			for j := i + 1; j < len(vs); j++ {
				if len(vs) <= 4 || rng.IntN(len(vs)) < 2 {
					out = append(out, pair{vs[i], vs[j]})
				}
			}
		}
	}
	return out
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// distinctVersions is every version once, in string order.
func distinctVersions(byName map[string][]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, vs := range byName {
		for _, v := range vs {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

// debMutation derives a version from v that is close to it, equal in value
// or just around it: the comparisons most likely to go wrong.
func debMutation(rng *rand.Rand, v string) string {
	switch rng.IntN(8) {
	case 0:
		if !strings.Contains(v, ":") {
			return "0:" + v
		}
		return v[strings.IndexByte(v, ':')+1:]
	case 1:
		return v + "~1"
	case 2:
		return v + "+b1"
	case 3:
		return v + ".0"
	case 4: // a leading zero before some digit run
		idx := digitRunStarts(v)
		if len(idx) == 0 {
			return v + "0"
		}
		i := idx[rng.IntN(len(idx))]
		return v[:i] + "0" + v[i:]
	case 5: // bump one digit
		idx := digitRunStarts(v)
		if len(idx) == 0 {
			return v + "1"
		}
		i := idx[rng.IntN(len(idx))]
		return v[:i] + string('1'+(v[i]-'0')%9) + v[i+1:]
	case 6:
		if h := strings.LastIndexByte(v, '-'); h > 0 {
			return v[:h] + "~deb12u1" + v[h:]
		}
		return v + "-1"
	default:
		return v + "a"
	}
}

func digitRunStarts(v string) []int {
	var idx []int
	for i := 0; i < len(v); i++ {
		if isDigit(v[i]) && (i == 0 || !isDigit(v[i-1])) {
			idx = append(idx, i)
		}
	}
	return idx
}

// debArchivePairs draws the deb oracle's pairs: same package across suites,
// neighbours in dpkg order and in string order, close variants, and random
// pairs.
func debArchivePairs(t testing.TB) []pair {
	t.Helper()
	byName := archiveVersions(t)
	all := distinctVersions(byName)
	s := newPairSet(1)
	s.addSample(sameName(s.rng, byName), 5000)
	s.addSample(neighbours(all, func(a, b string) int {
		va, _ := ParseDeb(a)
		vb, _ := ParseDeb(b)
		return va.Compare(vb)
	}), 2500)
	s.addSample(neighbours(all, strings.Compare), 1500)
	for range 1500 {
		s.add(all[s.rng.IntN(len(all))], all[s.rng.IntN(len(all))])
	}
	for range 1200 {
		v := all[s.rng.IntN(len(all))]
		s.add(v, debMutation(s.rng, v))
	}
	t.Logf("%d packages, %d distinct versions, %d pairs", len(byName), len(all), len(s.pairs))
	return s.pairs
}
