package distrorepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ErrNotFound is returned when the server answers 404 or 410.
var ErrNotFound = errors.New("not found")

// ErrTooLarge marks a download over its size limit.
var ErrTooLarge = errors.New("too large")

func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}}
}

// statusError is a non-2xx HTTP answer.
type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d", e.url, e.code)
}

func (e *statusError) Unwrap() error {
	if e.code == http.StatusNotFound || e.code == http.StatusGone {
		return ErrNotFound
	}
	return nil
}

// get downloads url (after mirror rewrites) into w, retrying transient
// failures. reset is called before each retry so the caller can discard a
// partial body. At most max bytes are accepted.
func (c *Client) get(ctx context.Context, url string, max int64, w io.Writer, reset func() error) error {
	real := c.cfg.rewrite(url)
	wait := c.cfg.RetryWait
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if reset != nil {
				if err := reset(); err != nil {
					return err
				}
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("GET %s: %w (last: %v)", real, ctx.Err(), last)
			case <-t.C:
			}
			wait *= 2
		}
		retry, err := c.getOnce(ctx, real, max, w)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt >= c.cfg.Retries || ctx.Err() != nil {
			if attempt > 0 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt+1)
			}
			return err
		}
	}
}

// getOnce makes one attempt and says whether a failure is worth a retry.
func (c *Client) getOnce(ctx context.Context, url string, max int64, w io.Writer) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "patchloop-distrorepo")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return true, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
		return retry, &statusError{url: url, code: resp.StatusCode}
	}
	if resp.ContentLength > max {
		return false, fmt.Errorf("GET %s: %s bytes over limit %d: %w", url, strconv.FormatInt(resp.ContentLength, 10), max, ErrTooLarge)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return true, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	if n > max {
		return false, fmt.Errorf("GET %s: body over limit %d: %w", url, max, ErrTooLarge)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return true, fmt.Errorf("GET %s: body is %d bytes, header said %d: %w", url, n, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	return false, nil
}
