package store_test

import (
	"path/filepath"
	"testing"

	"github.com/patchloop/patchloop/store"
)

func TestDefaultPath(t *testing.T) {
	// Not parallel: it sets the environment.
	t.Setenv("XDG_DATA_HOME", "/data/xdg")
	if p, err := store.DefaultPath(); err != nil || p != "/data/xdg/patchloop/patchloop.db" {
		t.Fatalf("with XDG_DATA_HOME: %q, %v", p, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if p, err := store.DefaultPath(); err != nil || p != "/home/someone/.local/share/patchloop/patchloop.db" {
		t.Fatalf("without XDG_DATA_HOME: %q, %v", p, err)
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	abs, _ := filepath.Abs("rel/p.db")
	for in, want := range map[string]string{
		"/var/lib/p.db":        "sqlite:///var/lib/p.db",
		"rel/p.db":             "sqlite://" + abs,
		"sqlite:///tmp/x.db":   "sqlite:///tmp/x.db",
		"postgres://h:5432/db": "postgres://h:5432/db",
	} {
		u, err := store.ParseURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	if got := store.Redact("postgres://u:pw@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Errorf("Redact = %q", got)
	}
}
