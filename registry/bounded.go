package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Limits on what a registry may send in listings, so a hostile or broken
// registry cannot exhaust memory. Manifests are capped by
// go-containerregistry itself.
const (
	// MaxListPageBytes caps one page of a tag list or of the catalog.
	MaxListPageBytes = 32 << 20
	// MaxListEntries caps the tags of one repository, or the repositories
	// of the catalog, across all pages.
	MaxListEntries = 1_000_000
)

// ErrTooLarge: a registry response went over one of the limits above.
var ErrTooLarge = errors.New("response too large")

// boundedTransport caps the bodies of listing responses.
type boundedTransport struct {
	inner http.RoundTripper
	max   int64
}

var _ http.RoundTripper = (*boundedTransport)(nil)

func (b *boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.inner.RoundTrip(r)
	if err != nil || resp == nil {
		return resp, err
	}
	if strings.HasSuffix(r.URL.Path, "/tags/list") || r.URL.Path == "/v2/_catalog" {
		resp.Body = &cappedBody{rc: resp.Body, left: b.max}
	}
	return resp, nil
}

// cappedBody fails once more than left bytes have been read.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, fmt.Errorf("listing page over %d bytes: %w", MaxListPageBytes, ErrTooLarge)
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, fmt.Errorf("listing page over %d bytes: %w", MaxListPageBytes, ErrTooLarge)
	}
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }
