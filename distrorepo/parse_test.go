package distrorepo_test

import (
	"bytes"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/distrorepo"
)

func TestParseSourcesList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []distrorepo.Source
		wantErr bool
	}{
		{"debootstrap", "deb http://deb.debian.org/debian bookworm main\n",
			[]distrorepo.Source{{URI: "http://deb.debian.org/debian", Suite: "bookworm", Components: []string{"main"}, From: "f:1"}}, false},
		{"options, comments, deb-src and trailing slash",
			"# comment\n\ndeb-src http://x/debian bookworm main\ndeb [ arch=amd64,arm64 signed-by=/usr/share/keyrings/k.gpg ] http://x/debian/ bookworm-security main contrib # tail\n",
			[]distrorepo.Source{{URI: "http://x/debian", Suite: "bookworm-security", Components: []string{"main", "contrib"},
				Archs: []string{"amd64", "arm64"}, SignedBy: "/usr/share/keyrings/k.gpg", From: "f:4"}}, false},
		{"trusted=yes and flat repository", "deb [trusted=yes] https://r.example/repo ./\n",
			[]distrorepo.Source{{URI: "https://r.example/repo", Suite: "./", Trusted: true, From: "f:1"}}, false},
		{"bad lines are reported, good ones kept", "deb http://x/debian\ndeb http://x/debian sid main\nrpm http://x a b\n",
			[]distrorepo.Source{{URI: "http://x/debian", Suite: "sid", Components: []string{"main"}, From: "f:2"}}, true},
		{"suite without components", "deb http://x/debian sid\n", nil, true},
		{"path climbing out", "deb http://x/debian ../../etc main\n", nil, true},
		{"unclosed options", "deb [arch=amd64 http://x/debian sid main\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := distrorepo.ParseSourcesList("f", []byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseDeb822Sources(t *testing.T) {
	t.Parallel()
	in := `Types: deb deb-src
URIs: http://deb.debian.org/debian http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Enabled: no

Types: deb
URIs: https://repo.example/apt
Suites: stable
Components: main
Architectures: arm64
Trusted: yes
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ
 -----END PGP PUBLIC KEY BLOCK-----
`
	got, err := distrorepo.ParseDeb822Sources("/etc/apt/sources.list.d/debian.sources", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range got {
		lines = append(lines, s.String()+" from="+s.From+" archs="+strings.Join(s.Archs, ",")+" trusted="+map[bool]string{true: "yes", false: "no"}[s.Trusted])
	}
	want := []string{
		"deb http://deb.debian.org/debian bookworm main non-free-firmware from=/etc/apt/sources.list.d/debian.sources#1 archs= trusted=no",
		"deb http://deb.debian.org/debian bookworm-updates main non-free-firmware from=/etc/apt/sources.list.d/debian.sources#1 archs= trusted=no",
		"deb http://mirror.example/debian bookworm main non-free-firmware from=/etc/apt/sources.list.d/debian.sources#1 archs= trusted=no",
		"deb http://mirror.example/debian bookworm-updates main non-free-firmware from=/etc/apt/sources.list.d/debian.sources#1 archs= trusted=no",
		"deb https://repo.example/apt stable main from=/etc/apt/sources.list.d/debian.sources#4 archs=arm64 trusted=yes",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got[0].SignedBy != "/usr/share/keyrings/debian-archive-keyring.gpg" {
		t.Errorf("signed-by = %q", got[0].SignedBy)
	}
	if want := "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n"; got[4].SignedBy != want {
		t.Errorf("inline key = %q, want %q", got[4].SignedBy, want)
	}
}

func TestParseRelations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"libc6 (>= 2.34), libssl3 (>= 3.0.0)", "libc6 (>= 2.34), libssl3 (>= 3.0.0)", false},
		{"perl:any, debconf (>= 0.5) | debconf-2.0", "perl:any, debconf (>= 0.5) | debconf-2.0", false},
		{"foo (<< 2:1.0~rc1), bar (=1.0)", "foo (<< 2:1.0~rc1), bar (= 1.0)", false},
		{"old (< 1), older (> 2)", "old (<= 1), older (>= 2)", false},
		{"gcc [amd64] <!nocheck>, make (>= 4) [!arm64]", "gcc, make (>= 4)", false},
		{"a,\n b,", "a, b", false},
		{"", "", false},
		{"foo (>= )", "", true},
		{"foo (~ 1)", "", true},
		{"foo bar", "", true},
		{"foo (>= 1", "", true},
	}
	for _, tc := range tests {
		got, err := distrorepo.ParseRelations(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseRelations(%q) err = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got.String() != tc.want {
			t.Errorf("ParseRelations(%q) = %q, want %q", tc.in, got.String(), tc.want)
		}
	}
}

func TestParseRelease(t *testing.T) {
	t.Parallel()
	in := `Origin: Debian
Label: Debian-Security
Suite: oldstable-security
Codename: bookworm-security
Date: Wed, 25 Nov 2026 22:33:12 UTC
Valid-Until: Wed, 02 Dec 2026 22:33:12 UTC
Acquire-By-Hash: yes
Architectures: amd64 arm64
Components: updates/main
MD5Sum:
 d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages
SHA256:
 a9f82656420a291c0353c8bc3dde7dc0589e0a27546efde736b7fe887ba32300  2539062 main/binary-amd64/Packages
 0320b58c17c58ffa9ffc0583b924bb5be7c086da8c630428d5587d563a66972f   380972 main/binary-amd64/Packages.xz
`
	r, err := distrorepo.ParseRelease([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if r.Codename != "bookworm-security" || !r.AcquireByHash || r.ValidUntil.Format("2006-01-02 15:04") != "2026-12-02 22:33" ||
		r.Date.Format("2006-01-02") != "2026-11-25" || len(r.SHA256) != 2 ||
		r.SHA256["main/binary-amd64/Packages.xz"] != (distrorepo.FileSum{Size: 380972, SHA256: "0320b58c17c58ffa9ffc0583b924bb5be7c086da8c630428d5587d563a66972f"}) {
		t.Fatalf("release = %+v", r)
	}
	for _, bad := range []string{
		"Suite: x\nSHA256:\n short 1 f\n",
		"Suite: x\nDate: yesterday\n",
		"Suite: x\nSHA256:\n a9f82656420a291c0353c8bc3dde7dc0589e0a27546efde736b7fe887ba32300 -5 f\n",
		"",
	} {
		if _, err := distrorepo.ParseRelease([]byte(bad)); !errors.Is(err, distrorepo.ErrMalformed) {
			t.Errorf("ParseRelease(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestParsePackagesAgreesWithDpkg parses the host's own dpkg status file
// (the same deb822 grammar) and checks every package's version against
// dpkg-query, the real tool.
func TestParseParagraphsAgreesWithDpkgQuery(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Version}\n").Output()
	if err != nil {
		t.Skipf("dpkg-query: %v", err)
	}
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		n, v, _ := strings.Cut(l, " ")
		want[n] = v
	}
	status, err := exec.Command("cat", "/var/lib/dpkg/status").Output()
	if err != nil {
		t.Skip(err)
	}
	ps, err := distrorepo.ParseParagraphs(bytes.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range ps {
		if v, ok := p.Get("Version"); ok {
			got[p.Value("Package")] = v
		}
	}
	for n, v := range want {
		if got[n] != v && v != "" {
			t.Errorf("%s: parsed version %q, dpkg-query says %q", n, got[n], v)
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d packages from dpkg-query", len(want))
	}
}

func TestParsePackagesRejectsHostileEntries(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	tests := map[string]string{
		"filename leaves the repository": "Package: a\nVersion: 1\nArchitecture: all\nFilename: ../../etc/passwd\nSize: 1\nSHA256: " + sum + "\n",
		"absolute filename":              "Package: a\nVersion: 1\nArchitecture: all\nFilename: /etc/passwd\nSize: 1\nSHA256: " + sum + "\n",
		"no sha256":                      "Package: a\nVersion: 1\nArchitecture: all\nFilename: pool/a.deb\nSize: 1\n",
		"bad sha256":                     "Package: a\nVersion: 1\nArchitecture: all\nFilename: pool/a.deb\nSize: 1\nSHA256: " + strings.Repeat("zz", 32) + "\n",
		"no version":                     "Package: a\nArchitecture: all\nFilename: pool/a.deb\nSize: 1\nSHA256: " + sum + "\n",
		"huge line":                      "Package: a\nDescription: " + strings.Repeat("x", 2<<20) + "\n",
		"continuation first":             " oops\nPackage: a\n",
	}
	for name, in := range tests {
		if _, err := distrorepo.ParsePackages(strings.NewReader(in), nil, nil); !errors.Is(err, distrorepo.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzParsePackages(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= 1) | c, d:any\nFilename: pool/a.deb\nSize: 1\nSHA256: " + strings.Repeat("ab", 32) + "\n\nPackage: b\n"))
	f.Add([]byte("Package: a\n Description: x\n .\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := distrorepo.ParsePackages(bytes.NewReader(b), nil, nil)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Name == "" || len(p.SHA256) != 64 || strings.HasPrefix(p.Filename, "/") {
				t.Fatalf("accepted bad package %+v", p)
			}
			// What the parser accepts, it prints back in a form it reads
			// the same way.
			again, err := distrorepo.ParseRelations(p.Depends.String())
			if err != nil || again.String() != p.Depends.String() {
				t.Fatalf("depends %q round-trips to %q, %v", p.Depends, again, err)
			}
		}
	})
}

func FuzzParseRelease(f *testing.F) {
	f.Add([]byte("Suite: x\nDate: Wed, 25 Nov 2026 22:33:12 UTC\nSHA256:\n " + strings.Repeat("ab", 32) + " 12 main/binary-amd64/Packages\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := distrorepo.ParseRelease(b)
		if err != nil {
			return
		}
		for p, s := range r.SHA256 {
			if len(s.SHA256) != 64 || s.Size < 0 || p == "" {
				t.Fatalf("accepted bad entry %q %+v", p, s)
			}
		}
	})
}

func FuzzParseSources(f *testing.F) {
	f.Add([]byte("deb [arch=amd64 signed-by=/k.gpg] http://x/debian bookworm main\n"), false)
	f.Add([]byte("Types: deb\nURIs: http://x/debian\nSuites: a b\nComponents: main\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, deb822 bool) {
		parse := distrorepo.ParseSourcesList
		if deb822 {
			parse = distrorepo.ParseDeb822Sources
		}
		srcs, _ := parse("f", b)
		for _, s := range srcs {
			if s.URI == "" || s.Suite == "" || strings.Contains(s.Suite, "..") {
				t.Fatalf("accepted bad source %+v", s)
			}
			if !s.Flat() && len(s.Components) == 0 {
				t.Fatalf("accepted suite without components %+v", s)
			}
		}
	})
}
