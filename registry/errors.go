package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinels that every error from this package wraps where they apply.
var (
	// ErrUnauthorized: the registry refused the credentials (401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the repository, tag or manifest does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrUnreachable: the registry could not be reached (dial, DNS,
	// timeout, or TLS to a plain-HTTP server).
	ErrUnreachable = errors.New("unreachable")
	// ErrUnavailable: the registry kept answering 429 or 5xx after retries.
	ErrUnavailable = errors.New("unavailable")
)

// Error is a failed registry operation. Its message names the registry, the
// repository when there is one, the operation and the cause, on one line,
// and never contains a credential.
type Error struct {
	Registry   string
	Repository string // empty for registry-wide operations such as the catalog
	Op         string // e.g. "listing tags"
	Status     int    // HTTP status, 0 when there was no response
	// Kind is one of the sentinels, or nil when the failure fits none.
	Kind error

	detail string // sanitized cause
	cause  error
}

var _ error = (*Error)(nil)

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "registry %s: ", e.Registry)
	if e.Repository != "" {
		fmt.Fprintf(&b, "repository %q: ", e.Repository)
	}
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		if e.Status != 0 {
			fmt.Fprintf(&b, " (%d)", e.Status)
		}
		if e.detail != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.detail)
	return b.String()
}

// Unwrap exposes the sentinel kind and the underlying cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// wrap turns err from go-containerregistry into an *Error for repo and op.
// It returns nil for nil and passes context cancellation through as is.
func (c *Client) wrap(err error, repo, op string) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Registry: c.Name(), Repository: repo, Op: op, cause: err}
	e.Kind, e.Status, e.detail = classify(err)
	e.detail = c.redact(e.detail)
	return e
}

// classify maps an error to a sentinel, an HTTP status and a short detail.
func classify(err error) (kind error, status int, detail string) {
	var terr *transport.Error
	if errors.As(err, &terr) {
		status = terr.StatusCode
		detail = diagnostics(terr)
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode:
				return ErrNotFound, status, detail
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return ErrUnauthorized, status, detail
			}
		}
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return ErrUnauthorized, status, detail
		case status == http.StatusNotFound:
			return ErrNotFound, status, detail
		case status == http.StatusTooManyRequests || status >= 500:
			return ErrUnavailable, status, detail
		}
		return nil, status, fmt.Sprintf("unexpected status %d: %s", status, detail)
	}
	if errors.Is(err, context.Canceled) {
		return nil, 0, "canceled"
	}
	var (
		nerr  net.Error
		operr *net.OpError
		dns   *net.DNSError
		rec   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &dns):
		return ErrUnreachable, 0, oneLine(dns.Error())
	case errors.As(err, &operr):
		return ErrUnreachable, 0, oneLine(operr.Error())
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return ErrUnreachable, 0, oneLine(err.Error())
	case errors.As(err, &rec):
		return ErrUnreachable, 0, "the registry does not speak HTTPS (plain HTTP needs --insecure)"
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return ErrUnreachable, 0, "the registry does not speak HTTPS (plain HTTP needs --insecure)"
	}
	return nil, 0, oneLine(err.Error())
}

// diagnostics renders the registry's error codes without the request URL.
func diagnostics(terr *transport.Error) string {
	var parts []string
	for _, d := range terr.Errors {
		s := string(d.Code)
		if d.Message != "" {
			s += " " + d.Message
		}
		parts = append(parts, s)
	}
	return oneLine(strings.Join(parts, "; "))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

// redact removes every known secret from s.
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}
