package server

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateToken(t *testing.T) {
	t.Parallel()

	t.Run("CreatesA0600FileAndReadsItBack", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "sub", "token")
		tok, err := LoadOrCreateToken(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 2*tokenBytes {
			t.Fatalf("token %q has %d characters", tok, len(tok))
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode = %04o, want 0600", fi.Mode().Perm())
		}
		again, err := LoadOrCreateToken(path)
		if err != nil || again != tok {
			t.Fatalf("second load = %q, %v; want the same token", again, err)
		}
		other, err := LoadOrCreateToken(filepath.Join(t.TempDir(), "token"))
		if err != nil || other == tok {
			t.Fatalf("another file's token = %q, %v; want a different token", other, err)
		}
	})

	t.Run("RefusesAFileOthersCanRead", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(path, []byte("0123456789abcdef0123\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateToken(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("err = %v, want a refusal naming chmod 600", err)
		}
	})

	t.Run("RefusesAnEmptyFile", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateToken(path); err == nil {
			t.Fatal("empty token file accepted")
		}
	})

	t.Run("ConcurrentFirstStartsAgree", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "token")
		toks := make([]string, 8)
		var wg sync.WaitGroup
		for i := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := LoadOrCreateToken(path)
				if err != nil {
					t.Error(err)
				}
				toks[i] = tok
			}()
		}
		wg.Wait()
		for _, tok := range toks {
			if tok != toks[0] {
				t.Fatalf("tokens differ: %v", toks)
			}
		}
	})
}
