// Package registry is patchloop's client for OCI registries: listing
// repositories and tags, reading and writing manifests, and storing the
// workflow's policy artifact, with credentials, retries and errors that name
// the registry and repository.
package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Defaults for the client's options.
const (
	// DefaultJobs is how many repositories Inventory lists at once.
	DefaultJobs = 16
	// DefaultPageSize is the n parameter of catalog and tag list requests.
	DefaultPageSize = 1000
)

// DefaultBackoff is the retry schedule for 408, 429, 5xx and transient
// network errors: five attempts, waiting 0.2s, 0.4s, 0.8s and 1.6s between.
var DefaultBackoff = Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}

// Backoff is an exponential retry schedule. Steps is the number of attempts.
type Backoff = remote.Backoff

// retryStatusCodes are the HTTP statuses retried with backoff.
var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// Option configures New.
type Option func(*options) error

type options struct {
	insecure  bool
	username  string
	password  string
	basicSet  bool
	keychain  authn.Keychain
	transport http.RoundTripper
	backoff   Backoff
	jobs      int
	pageSize  int
	userAgent string
}

// WithInsecure lets the client fall back to plain HTTP when the registry
// does not speak HTTPS. Certificates are always verified when HTTPS is used.
// Loopback, localhost and private-network registries may use HTTP already.
func WithInsecure(insecure bool) Option {
	return func(o *options) error { o.insecure = insecure; return nil }
}

// WithBasicAuth authenticates with a username and password instead of the
// docker keychain. It conflicts with WithKeychain.
func WithBasicAuth(username, password string) Option {
	return func(o *options) error {
		if username == "" {
			return errors.New("basic auth needs a username")
		}
		if password == "" {
			return errors.New("basic auth needs a password")
		}
		o.username, o.password, o.basicSet = username, password, true
		return nil
	}
}

// WithKeychain finds credentials in kc. The default is
// authn.DefaultKeychain (docker config and credential helpers).
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			return errors.New("keychain is nil")
		}
		o.keychain = kc
		return nil
	}
}

// WithTransport sets the HTTP transport under retries and authentication.
// The default is remote.DefaultTransport.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error {
		if t == nil {
			return errors.New("transport is nil")
		}
		o.transport = t
		return nil
	}
}

// WithRetryBackoff sets the retry schedule. The default is DefaultBackoff.
func WithRetryBackoff(b Backoff) Option {
	return func(o *options) error {
		if b.Steps < 1 {
			return fmt.Errorf("retry backoff needs at least 1 step, got %d", b.Steps)
		}
		o.backoff = b
		return nil
	}
}

// WithJobs sets how many repositories Inventory lists at once. The default
// is DefaultJobs.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jobs must be at least 1, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithPageSize sets the n parameter of catalog and tag list requests. The
// default is DefaultPageSize.
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("page size must be at least 1, got %d", n)
		}
		o.pageSize = n
		return nil
	}
}

// WithUserAgent adds ua to the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// Client talks to one registry. It is safe for concurrent use; it caches
// authenticated transports per repository.
type Client struct {
	reg      name.Registry
	nameOpts []name.Option
	puller   *remote.Puller
	pusher   *remote.Pusher
	jobs     int
	secrets  []string
	ropts    []remote.Option
}

// New returns a client for registry, a host with an optional port such as
// "ghcr.io" or "127.0.0.1:5000".
func New(registry string, opts ...Option) (*Client, error) {
	o := options{backoff: DefaultBackoff, jobs: DefaultJobs, pageSize: DefaultPageSize}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("registry %s: %w", registry, err)
		}
	}
	if o.basicSet && o.keychain != nil {
		return nil, fmt.Errorf("registry %s: basic auth and a keychain are exclusive", registry)
	}
	if registry == "" || strings.ContainsAny(registry, "/@ ") || strings.Contains(registry, "://") {
		return nil, fmt.Errorf("registry %q: not a registry host (want e.g. myregistry.example.com or 127.0.0.1:5000)", registry)
	}
	var nameOpts []name.Option
	nameOpts = append(nameOpts, name.StrictValidation)
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w", registry, err)
	}

	ropts := []remote.Option{
		remote.WithRetryBackoff(o.backoff),
		remote.WithRetryStatusCodes(retryStatusCodes...),
		remote.WithPageSize(o.pageSize),
		remote.WithJobs(4),
	}
	base := o.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	ropts = append(ropts, remote.WithTransport(&boundedTransport{inner: base, max: MaxListPageBytes}))
	if o.userAgent != "" {
		ropts = append(ropts, remote.WithUserAgent(o.userAgent))
	}
	c := &Client{reg: reg, nameOpts: nameOpts, jobs: o.jobs}
	switch {
	case o.basicSet:
		ropts = append(ropts, remote.WithAuth(&authn.Basic{Username: o.username, Password: o.password}))
		c.secrets = append(c.secrets, o.password)
	case o.keychain != nil:
		ropts = append(ropts, remote.WithAuthFromKeychain(o.keychain))
	default:
		ropts = append(ropts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	c.ropts = ropts
	if c.puller, err = remote.NewPuller(ropts...); err != nil {
		return nil, fmt.Errorf("registry %s: %w", registry, err)
	}
	if c.pusher, err = remote.NewPusher(ropts...); err != nil {
		return nil, fmt.Errorf("registry %s: %w", registry, err)
	}
	return c, nil
}

// Normalize returns the canonical form of a registry host, as Client.Name
// gives it (e.g. docker.io becomes index.docker.io), so a workflow is
// found under the same key whichever spelling the user typed.
func Normalize(registry string) (string, error) {
	c, err := New(registry, WithKeychain(anonymousKeychain{}))
	if err != nil {
		return "", err
	}
	return c.Name(), nil
}

type anonymousKeychain struct{}

func (anonymousKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.Anonymous, nil
}

// Name is the registry host in canonical form.
func (c *Client) Name() string { return c.reg.RegistryStr() }

// Repository parses a repository name in this registry.
func (c *Client) Repository(repo string) (name.Repository, error) {
	r, err := name.NewRepository(c.reg.RegistryStr()+"/"+repo, c.nameOpts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("registry %s: repository %q: invalid name: %w", c.Name(), repo, err)
	}
	return r, nil
}

// Tag names repo:tag in this registry.
func (c *Client) Tag(repo, tag string) (name.Tag, error) {
	r, err := c.Repository(repo)
	if err != nil {
		return name.Tag{}, err
	}
	t, err := name.NewTag(r.Name()+":"+tag, c.nameOpts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("registry %s: repository %q: tag %q: invalid tag: %w", c.Name(), repo, tag, err)
	}
	return t, nil
}

// Digest names repo@digest in this registry.
func (c *Client) Digest(repo string, h v1.Hash) (name.Digest, error) {
	r, err := c.Repository(repo)
	if err != nil {
		return name.Digest{}, err
	}
	return r.Digest(h.String()), nil
}
