package distrorepo

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults for Config fields.
const (
	DefaultRetries         = 4
	DefaultRetryWait       = 500 * time.Millisecond
	DefaultRequestTimeout  = 5 * time.Minute
	DefaultMaxFutureDate   = time.Hour
	DefaultIndexTTL        = 10 * time.Minute
	DefaultMaxIndexSize    = 1 << 30 // decompressed Packages file
	DefaultMaxDownloadSize = 2 << 30 // any single download
)

// Mirror rewrites every URL that starts with From to start with To instead.
type Mirror struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Config configures a Client. The zero value plus CacheDir is usable after
// WithDefaults.
type Config struct {
	// CacheDir holds downloaded indexes and packages, by SHA-256, shared
	// by all runs. Required; DefaultCacheDir gives the usual place.
	CacheDir string
	// HTTPClient makes the requests. Default: a client with dial and
	// header timeouts and no overall timeout (RequestTimeout bounds each
	// attempt).
	HTTPClient *http.Client
	// Retries is how many times a request is retried after a transient
	// failure (network error, 5xx, 429). Default DefaultRetries; a negative
	// value means no retries.
	Retries int
	// RetryWait is the wait before the first retry, doubled for each
	// further one. Default DefaultRetryWait.
	RetryWait time.Duration
	// RequestTimeout bounds each request attempt. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Repositories are added to every source set, after the image's own.
	Repositories []Source
	// Keyrings are host paths of keyrings (binary or armored) trusted in
	// addition to the image's and the built-in ones.
	Keyrings []string
	// Mirrors rewrite URL prefixes, for air-gapped sites. The first
	// matching rule applies.
	Mirrors []Mirror
	// AllowUnsigned accepts repositories whose Release is unsigned or
	// signed by an unknown key (--allow-unsigned-repo). Index files and
	// packages are still checked against the Release checksums.
	AllowUnsigned bool
	// NoDefaultSources turns off the built-in distribution sources: only
	// the image's sources and Repositories are used.
	NoDefaultSources bool
	// MaxFutureDate is how far a Release Date may lie in the future.
	// Default DefaultMaxFutureDate.
	MaxFutureDate time.Duration
	// IndexTTL is how long a verified index is reused in memory before its
	// InRelease is fetched again. Default DefaultIndexTTL; negative: never.
	IndexTTL time.Duration
	// MaxIndexSize bounds a decompressed Packages file. Default DefaultMaxIndexSize.
	MaxIndexSize int64
	// MaxDownloadSize bounds any single download. Default DefaultMaxDownloadSize.
	MaxDownloadSize int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultCacheDir is $XDG_CACHE_HOME/patchloop (or the platform's user
// cache directory). Callers (the CLI) use it to fill CacheDir.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding user cache directory: %w", err)
	}
	return filepath.Join(d, "patchloop"), nil
}

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("invalid configuration")

// WithDefaults returns a copy of c with unset fields given their defaults.
func (c Config) WithDefaults() Config {
	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.RetryWait == 0 {
		c.RetryWait = DefaultRetryWait
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxFutureDate == 0 {
		c.MaxFutureDate = DefaultMaxFutureDate
	}
	if c.IndexTTL == 0 {
		c.IndexTTL = DefaultIndexTTL
	}
	if c.MaxIndexSize == 0 {
		c.MaxIndexSize = DefaultMaxIndexSize
	}
	if c.MaxDownloadSize == 0 {
		c.MaxDownloadSize = DefaultMaxDownloadSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks a Config after WithDefaults.
func (c Config) Validate() error {
	var errs []error
	if c.CacheDir == "" {
		errs = append(errs, errors.New("CacheDir is required"))
	}
	if c.RetryWait < 0 {
		errs = append(errs, errors.New("RetryWait must not be negative"))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("RequestTimeout must not be negative"))
	}
	if c.MaxIndexSize < 0 || c.MaxDownloadSize < 0 {
		errs = append(errs, errors.New("MaxIndexSize and MaxDownloadSize must not be negative"))
	}
	for i, m := range c.Mirrors {
		if !isHTTPURL(m.From) || !isHTTPURL(m.To) {
			errs = append(errs, fmt.Errorf("Mirrors[%d]: from %q and to %q must be http(s) URLs", i, m.From, m.To))
		}
	}
	for i, s := range c.Repositories {
		if err := s.check(); err != nil {
			errs = append(errs, fmt.Errorf("Repositories[%d] %q: %w", i, s.String(), err))
		}
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("distrorepo config: %s: %w", strings.Join(msgs, "; "), ErrConfig)
	}
	return nil
}

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// rewrite applies the first matching mirror rule to url.
func (c Config) rewrite(url string) string {
	for _, m := range c.Mirrors {
		from := strings.TrimSuffix(m.From, "/")
		if url == from || strings.HasPrefix(url, from+"/") {
			return strings.TrimSuffix(m.To, "/") + url[len(from):]
		}
	}
	return url
}
