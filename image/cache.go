package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultCacheMaxBytes is the default bound on a Cache's total size: 1 GiB.
const DefaultCacheMaxBytes int64 = 1 << 30

// Cache is an on-disk, content-addressed store of extraction results: the
// selected entries of one layer for one selector, and the merged result of
// one image digest for one selector. Entries are written to a temporary
// file and renamed into place, so concurrent processes sharing a directory
// never see a partial entry. Total size is bounded; the least recently used
// entries are evicted first. A conventional directory is
// $XDG_CACHE_HOME/patchloop/layers; the caller chooses it.
type Cache struct {
	dir      string
	maxBytes int64

	mu      sync.Mutex
	written int64 // bytes written since the last size check
}

// NewCache opens (creating if needed) a cache in dir holding at most
// maxBytes; maxBytes <= 0 means DefaultCacheMaxBytes.
func NewCache(dir string, maxBytes int64) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("cache directory is empty")
	}
	if maxBytes <= 0 {
		maxBytes = DefaultCacheMaxBytes
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory %s: %w", dir, err)
	}
	return &Cache{dir: dir, maxBytes: maxBytes}, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(kind string, parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "patchloop-image-cache-v1\x00%s\x00%s", kind, strings.Join(parts, "\x00"))
	sum := hex.EncodeToString(h.Sum(nil))
	return filepath.Join(c.dir, sum[:2], sum+".tar")
}

// open returns the cached entry at p, marking it recently used, or
// fs.ErrNotExist.
func (c *Cache) open(p string) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // LRU order is by modification time
	return f, nil
}

// put writes an entry atomically: to a temporary file beside it, then
// renamed into place.
func (c *Cache) put(p string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing cache entry: %w", err)
	}
	st, err := tmp.Stat()
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		return fmt.Errorf("closing cache entry: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("renaming cache entry into place: %w", err)
	}
	c.mu.Lock()
	c.written += st.Size()
	check := c.written > c.maxBytes/16
	if check {
		c.written = 0
	}
	c.mu.Unlock()
	if check || st.Size() > c.maxBytes/16 {
		return c.Evict()
	}
	return nil
}

// Evict deletes the least recently used entries until the cache holds at
// most 90% of its bound. It is safe to run from several processes at once:
// an flock serializes them, and readers keep entries they have open.
func (c *Cache) Evict() error {
	lock, err := os.OpenFile(filepath.Join(c.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("opening cache lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	type item struct {
		path  string
		size  int64
		mtime time.Time
	}
	var items []item
	var total int64
	err = filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".tar") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		items = append(items, item{p, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing cache %s: %w", c.dir, err)
	}
	if total <= c.maxBytes {
		return nil
	}
	sort.Slice(items, func(i, j int) bool { return items[i].mtime.Before(items[j].mtime) })
	for _, it := range items {
		if total <= c.maxBytes*9/10 {
			break
		}
		if err := os.Remove(it.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("evicting cache entry: %w", err)
		}
		total -= it.size
	}
	return nil
}
