package distrorepo_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/pkgdb"
)

func TestSourcesMergeImageAndDefaults(t *testing.T) {
	t.Parallel()
	bookworm := pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm"}
	tests := []struct {
		name   string
		files  fstest.MapFS
		osr    pkgdb.OS
		arch   string
		cfg    distrorepo.Config
		want   []string
		warned string
	}{
		{"debootstrap image gets updates and security", fstest.MapFS{
			"etc/apt/sources.list": {Data: []byte("deb http://deb.debian.org/debian bookworm main contrib\n")},
		}, bookworm, "amd64", distrorepo.Config{}, []string{
			"deb http://deb.debian.org/debian bookworm main contrib",
			"deb http://deb.debian.org/debian bookworm-updates main contrib",
			"deb http://deb.debian.org/debian-security bookworm-security main contrib",
		}, ""},
		{"suites the image lists are not added again", fstest.MapFS{
			"etc/apt/sources.list.d/debian.sources": {Data: []byte("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n")},
		}, bookworm, "amd64", distrorepo.Config{}, []string{
			"deb http://mirror.example/debian bookworm main",
			"deb http://mirror.example/debian bookworm-updates main",
			"deb http://mirror.example/debian-security bookworm-security main",
		}, ""},
		{"distroless debian gets every default from VERSION_ID", nil,
			pkgdb.OS{ID: "debian", VersionID: "11"}, "arm64", distrorepo.Config{}, []string{
				"deb http://deb.debian.org/debian bullseye main",
				"deb http://deb.debian.org/debian bullseye-updates main",
				"deb http://deb.debian.org/debian-security bullseye-security main",
			}, ""},
		{"ubuntu arm64 uses ports", nil,
			pkgdb.OS{ID: "ubuntu", VersionID: "22.04"}, "arm64", distrorepo.Config{}, []string{
				"deb http://ports.ubuntu.com/ubuntu-ports jammy main universe",
				"deb http://ports.ubuntu.com/ubuntu-ports jammy-updates main universe",
				"deb http://ports.ubuntu.com/ubuntu-ports jammy-security main universe",
			}, ""},
		{"ubuntu amd64 security host", fstest.MapFS{
			"etc/apt/sources.list": {Data: []byte("deb http://archive.ubuntu.com/ubuntu jammy main\n")},
		}, pkgdb.OS{ID: "ubuntu", VersionID: "22.04", Codename: "jammy"}, "amd64", distrorepo.Config{}, []string{
			"deb http://archive.ubuntu.com/ubuntu jammy main",
			"deb http://archive.ubuntu.com/ubuntu jammy-updates main",
			"deb http://security.ubuntu.com/ubuntu jammy-security main",
		}, ""},
		{"arch option, unsupported scheme, no defaults, configured repo", fstest.MapFS{
			"etc/apt/sources.list": {Data: []byte("deb [arch=arm64] http://deb.debian.org/debian bookworm main\ndeb file:/srv/repo ./\ndeb http://deb.debian.org/debian bookworm main\n")},
		}, bookworm, "amd64", distrorepo.Config{NoDefaultSources: true, Repositories: []distrorepo.Source{
			{URI: "https://extra.example/apt", Suite: "stable", Components: []string{"main"}},
		}}, []string{
			"deb http://deb.debian.org/debian bookworm main",
			"deb https://extra.example/apt stable main",
		}, "only http and https"},
		{"unknown distribution gets image sources only", fstest.MapFS{
			"etc/apt/sources.list": {Data: []byte("deb http://repo.example/x y main\nnot a line\n")},
		}, pkgdb.OS{ID: "someos"}, "amd64", distrorepo.Config{}, []string{
			"deb http://repo.example/x y main",
		}, "unknown type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.CacheDir = t.TempDir()
			c, err := distrorepo.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var set *distrorepo.SourceSet
			if tc.files == nil {
				set, err = c.Sources(nil, tc.osr, tc.arch)
			} else {
				set, err = c.Sources(tc.files, tc.osr, tc.arch)
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range set.Sources() {
				got = append(got, s.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("sources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			warnings := strings.Join(set.Warnings, "\n")
			if (tc.warned == "") != (warnings == "") || !strings.Contains(warnings, tc.warned) {
				t.Fatalf("warnings %q, want one saying %q", warnings, tc.warned)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := []distrorepo.Config{
		{},
		{CacheDir: "/c", Mirrors: []distrorepo.Mirror{{From: "deb.debian.org", To: "http://m"}}},
		{CacheDir: "/c", Repositories: []distrorepo.Source{{URI: "http://x", Suite: "s"}}},
		{CacheDir: "/c", RetryWait: -1},
	}
	for i, cfg := range bad {
		if _, err := distrorepo.New(cfg); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("config %d: err = %v, want a one-line error", i, err)
		}
	}
	good := distrorepo.Config{CacheDir: "/c"}.WithDefaults()
	if good.Retries != distrorepo.DefaultRetries || good.IndexTTL != distrorepo.DefaultIndexTTL || good.HTTPClient == nil || good.Validate() != nil {
		t.Fatalf("defaults = %+v", good)
	}
}
