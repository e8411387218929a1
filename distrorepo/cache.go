package distrorepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// ErrChecksum marks downloaded content whose SHA-256 or size differs from
// what the signed index promises.
var ErrChecksum = errors.New("checksum mismatch")

// blobPath is where content with this SHA-256 lives in the cache:
// CacheDir/sha256/ab/abcdef….
func (c *Client) blobPath(sum string) string {
	return filepath.Join(c.cfg.CacheDir, "sha256", sum[:2], sum)
}

// openVerified opens a cached blob and checks its size and SHA-256. A blob
// that fails the check is removed and reported as missing.
func (c *Client) openVerified(sum string, size int64) (*os.File, bool, error) {
	p := c.blobPath(sum)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("opening cached %s: %w", p, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("reading cached %s: %w", p, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum || (size >= 0 && n != size) {
		f.Close()
		_ = os.Remove(p)
		return nil, false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("rewinding cached %s: %w", p, err)
	}
	return f, true, nil
}

// fetchBlob returns the content at url whose SHA-256 is sum and size is
// size, from the cache or downloaded into it. Nothing that fails the check
// is ever stored. The returned file is open at offset 0.
func (c *Client) fetchBlob(ctx context.Context, url, sum string, size int64) (*os.File, error) {
	if len(sum) != 64 {
		return nil, fmt.Errorf("fetching %s: bad sha256 %q: %w", url, sum, ErrMalformed)
	}
	if f, ok, err := c.openVerified(sum, size); err != nil || ok {
		return f, err
	}
	tmp, err := c.tempFile()
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	var h hash.Hash = sha256.New()
	w := io.MultiWriter(tmp, h)
	reset := func() error {
		h.Reset()
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return tmp.Truncate(0)
	}
	max := size
	if max < 0 || max > c.cfg.MaxDownloadSize {
		max = c.cfg.MaxDownloadSize
	}
	if err := c.get(ctx, url, max, w, reset); err != nil {
		return nil, err
	}
	got := hex.EncodeToString(h.Sum(nil))
	st, err := tmp.Stat()
	if err != nil {
		return nil, fmt.Errorf("checking download of %s: %w", url, err)
	}
	if got != sum || (size >= 0 && st.Size() != size) {
		return nil, fmt.Errorf("%s: got sha256 %s size %d, index says %s size %d: %w", url, got, st.Size(), sum, size, ErrChecksum)
	}
	if err := c.commitBlob(tmp, sum); err != nil {
		return nil, fmt.Errorf("storing %s: %w", url, err)
	}
	keep = true
	dst := c.blobPath(sum)
	// Reopen by the cache path, so the caller's f.Name() is where it lives.
	f, err := os.Open(dst)
	if err != nil {
		return nil, fmt.Errorf("opening cached %s: %w", dst, err)
	}
	return f, nil
}

// tempFile creates a file in the cache's tmp directory, on the same file
// system as the blobs so that commitBlob can rename it.
func (c *Client) tempFile() (*os.File, error) {
	tmpDir := filepath.Join(c.cfg.CacheDir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(tmpDir, "dl-*")
	if err != nil {
		return nil, fmt.Errorf("creating cache temp file: %w", err)
	}
	return tmp, nil
}

// commitBlob syncs and closes tmp, whose content has SHA-256 sum, and
// renames it into the cache. Concurrent commits of the same content are
// harmless: rename is atomic and both files are identical.
func (c *Client) commitBlob(tmp *os.File, sum string) error {
	dst := c.blobPath(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("renaming into cache: %w", err)
	}
	return nil
}
