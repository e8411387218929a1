package registry_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
)

// fast is a retry schedule short enough for tests but with the same shape.
var fast = registry.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 4}

func newClient(t *testing.T, addr string, opts ...registry.Option) *registry.Client {
	t.Helper()
	opts = append([]registry.Option{registry.WithRetryBackoff(fast)}, opts...)
	c, err := registry.New(addr, opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// counter counts requests whose path contains a substring.
type counter struct {
	sub string
	n   atomic.Int64
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, c.sub) {
			c.n.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

func TestCatalogFollowsEveryPage(t *testing.T) {
	t.Parallel()
	cnt := &counter{sub: "/_catalog"}
	reg := testutil.StartRegistry(t, testutil.WithCatalogPageSize(5), testutil.WithHandlerWrap(cnt.wrap))
	var want []string
	for i := range 23 {
		repo := fmt.Sprintf("team/app%02d", i)
		reg.PushRandom(t, repo+":1.0")
		want = append(want, repo)
	}
	got, err := newClient(t, reg.Addr).Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("catalog = %v, want %v", got, want)
	}
	if n := cnt.n.Load(); n < 5 {
		t.Fatalf("catalog took %d requests, want at least 5 pages of 5", n)
	}
}

func TestTagsFollowEveryPage(t *testing.T) {
	t.Parallel()
	cnt := &counter{sub: "/tags/list"}
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(cnt.wrap))
	img, _ := random.Image(64, 1)
	var want []string
	for i := range 50 {
		tag := fmt.Sprintf("v%02d", i)
		reg.Push(t, "python:"+tag, img)
		want = append(want, tag)
	}
	got, err := newClient(t, reg.Addr, registry.WithPageSize(7)).Tags(context.Background(), "python")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("tags = %v, want %v", got, want)
	}
	if n := cnt.n.Load(); n < 8 {
		t.Fatalf("tag listing took %d requests, want 8 pages of 7", n)
	}
}

func TestInventoryLeavesOutMissingRepositories(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	reg.PushRandom(t, "python:3.11", "python:3.11-1", "library/nginx:1.25")
	inv, err := newClient(t, reg.Addr, registry.WithJobs(2)).Inventory(context.Background(), []string{"python", "library/nginx", "nope", "python"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 2 || strings.Join(inv["python"], ",") != "3.11,3.11-1" || strings.Join(inv["library/nginx"], ",") != "1.25" {
		t.Fatalf("inventory = %v", inv)
	}
	if _, ok := inv["nope"]; ok {
		t.Fatal("missing repository is in the inventory")
	}
}

// failing answers status for the first n requests matching path, then
// passes through.
func failing(pathSub string, n int64, status int, hits *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, pathSub) && hits.Add(1) <= n {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				code := "UNKNOWN"
				if status == http.StatusUnauthorized {
					code = "UNAUTHORIZED"
				}
				fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"injected"}]}`, code)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("retries get through 500s", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(failing("/tags/list", 2, 500, &hits)))
		reg.PushRandom(t, "python:3.11")
		tags, err := newClient(t, reg.Addr).Tags(ctx, "python")
		if err != nil || len(tags) != 1 {
			t.Fatalf("tags = %v, %v", tags, err)
		}
		if hits.Load() != 3 {
			t.Fatalf("%d requests, want 2 failures and 1 success", hits.Load())
		}
	})
	t.Run("429 is retried", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(failing("/tags/list", 1, 429, &hits)))
		reg.PushRandom(t, "python:3.11")
		if _, err := newClient(t, reg.Addr).Tags(ctx, "python"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("persistent 503 is unavailable after every attempt", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(failing("/tags/list", 1000, 503, &hits)))
		_, err := newClient(t, reg.Addr).Tags(ctx, "python")
		if !errors.Is(err, registry.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if hits.Load() != int64(fast.Steps) {
			t.Fatalf("%d attempts, want %d", hits.Load(), fast.Steps)
		}
	})
	t.Run("401 is unauthorized and names registry and repository", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(failing("/tags/list", 1, 401, &hits)))
		_, err := newClient(t, reg.Addr).Tags(ctx, "python")
		if !errors.Is(err, registry.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		want := fmt.Sprintf(`registry %s: repository "python": listing tags: unauthorized (401)`, reg.Addr)
		if !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("err = %q, want prefix %q", err, want)
		}
		if hits.Load() != 1 {
			t.Fatalf("401 was retried: %d requests", hits.Load())
		}
	})
	t.Run("403 is unauthorized", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(failing("/tags/list", 1, 403, &hits)))
		_, err := newClient(t, reg.Addr).Tags(ctx, "python")
		if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "(403)") {
			t.Fatalf("err = %v, want ErrUnauthorized (403)", err)
		}
	})
	t.Run("missing repository is not found", func(t *testing.T) {
		t.Parallel()
		reg := testutil.StartRegistry(t)
		_, err := newClient(t, reg.Addr).Tags(ctx, "python")
		if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), `repository "python"`) {
			t.Fatalf("err = %v, want ErrNotFound naming python", err)
		}
		var rerr *registry.Error
		if !errors.As(err, &rerr) || rerr.Status != 404 || rerr.Registry != reg.Addr {
			t.Fatalf("err = %#v", rerr)
		}
	})
	t.Run("down registry is unreachable", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		start := time.Now()
		_, err = newClient(t, addr).Tags(ctx, "python")
		if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), "registry "+addr) {
			t.Fatalf("err = %v, want ErrUnreachable naming %s", err, addr)
		}
		t.Log(err)
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error is not one line: %q", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v to notice a down registry", d)
		}
	})
	t.Run("canceled context stops", func(t *testing.T) {
		t.Parallel()
		reg := testutil.StartRegistry(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := newClient(t, reg.Addr).Inventory(cctx, []string{"a", "b"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// basicAuth requires user:pass on every /v2/ request, as a registry behind
// an authenticating proxy does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="patchloop-test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	const user, pass = "alice", "s3cret-Pa55word-xyzzy"
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(basicAuth(user, pass)))
	ctx := context.Background()

	if _, err := newClient(t, reg.Addr, registry.WithBasicAuth(user, pass)).PushPolicy(ctx, registry.PolicyTag, []byte(`{"version":"v1"}`)); err != nil {
		t.Fatalf("push with the right password: %v", err)
	}
	tags, err := newClient(t, reg.Addr, registry.WithBasicAuth(user, pass)).Tags(ctx, registry.PolicyRepository)
	if err != nil || len(tags) != 1 {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	for name, c := range map[string]*registry.Client{
		"wrong password": newClient(t, reg.Addr, registry.WithBasicAuth(user, "not-"+pass)),
		"no credentials": newClient(t, reg.Addr),
	} {
		_, err := c.Tags(ctx, registry.PolicyRepository)
		if !errors.Is(err, registry.ErrUnauthorized) {
			t.Fatalf("%s: err = %v, want ErrUnauthorized", name, err)
		}
		_, err2 := c.PushPolicy(ctx, registry.PolicyTag, []byte(`{}`))
		if !errors.Is(err2, registry.ErrUnauthorized) {
			t.Fatalf("%s: push err = %v, want ErrUnauthorized", name, err2)
		}
		for _, e := range []error{err, err2} {
			if s := fmt.Sprintf("%v %+v", e, e); strings.Contains(s, pass) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(user+":"+pass))) {
				t.Fatalf("%s: error shows a secret: %s", name, s)
			}
		}
	}
}

// tokenServer puts a bearer-token service in front of the registry: /token
// hands out token for user:pass, and /v2/ needs "Bearer token".
func tokenServer(user, pass, token string, addr *string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				u, p, ok := r.BasicAuth()
				if !ok || u != user || p != pass {
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`)
					return
				}
				fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, token)
				return
			}
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, *addr))
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestBearerTokenNeverShows(t *testing.T) {
	t.Parallel()
	const user, pass, token = "bob", "hunter2-pass-qwerty", "tok-9f8e7d6c5b4a"
	var addr string
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(tokenServer(user, pass, token, &addr)))
	addr = reg.Addr
	ctx := context.Background()
	good := newClient(t, reg.Addr, registry.WithBasicAuth(user, pass))
	if _, err := good.PushPolicy(ctx, registry.PolicyTag, []byte(`{"version":"v1"}`)); err != nil {
		t.Fatalf("push with a token: %v", err)
	}
	_, errMissing := good.Tags(ctx, "nothing/here")
	if !errors.Is(errMissing, registry.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", errMissing)
	}
	_, errBad := newClient(t, reg.Addr, registry.WithBasicAuth(user, "x"+pass)).Tags(ctx, "python")
	if !errors.Is(errBad, registry.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", errBad)
	}
	for _, e := range []error{errMissing, errBad} {
		if s := fmt.Sprintf("%v", e); strings.Contains(s, pass) || strings.Contains(s, token) {
			t.Fatalf("error shows a secret: %s", s)
		}
	}
}

func TestDefaultKeychainReadsDockerConfig(t *testing.T) {
	// Not parallel: DOCKER_CONFIG is process-wide.
	const user, pass = "carol", "dockerconfig-pw-123"
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(basicAuth(user, pass)))
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Addr, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	c, err := registry.New(reg.Addr, registry.WithRetryBackoff(fast))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushPolicy(context.Background(), registry.PolicyTag, []byte(`{}`)); err != nil {
		t.Fatalf("push with docker config credentials: %v", err)
	}
}

func TestInsecureFallsBackToPlainHTTP(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	reg.PushRandom(t, "python:3.11")
	// A name that is not loopback, so HTTPS is the default; every
	// connection still goes to the in-process registry.
	dialer := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, reg.Addr)
	}}
	const host = "registry.patchloop.test:5000"
	_, err := newClient(t, host, registry.WithTransport(tr)).Tags(context.Background(), "python")
	t.Log(err)
	if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("without --insecure: err = %v, want ErrUnreachable mentioning --insecure", err)
	}
	tags, err := newClient(t, host, registry.WithTransport(tr), registry.WithInsecure(true)).Tags(context.Background(), "python")
	if err != nil || len(tags) != 1 {
		t.Fatalf("with --insecure: tags = %v, %v", tags, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		reg  string
		opts []registry.Option
	}{
		"url not host":           {"http://example.com", nil},
		"repository in host":     {"example.com/python", nil},
		"empty":                  {"", nil},
		"basic and keychain":     {"example.com", []registry.Option{registry.WithBasicAuth("u", "p"), registry.WithKeychain(authn.DefaultKeychain)}},
		"basic without password": {"example.com", []registry.Option{registry.WithBasicAuth("u", "")}},
		"zero jobs":              {"example.com", []registry.Option{registry.WithJobs(0)}},
	} {
		if _, err := registry.New(tc.reg, tc.opts...); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestWriteImagePushesByDigestThenTags(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var puts []string
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				mu.Lock()
				puts = append(puts, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(record))
	c := newClient(t, reg.Addr)
	ctx := context.Background()
	img, _ := random.Image(512, 2)
	tag, err := c.Tag("python", "3.11-1")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Exists(ctx, tag); ok || err != nil {
		t.Fatalf("exists before push = %v, %v", ok, err)
	}
	h, err := c.WriteImage(ctx, tag, img)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if h != want {
		t.Fatalf("digest = %s, want %s", h, want)
	}
	if len(puts) != 2 || puts[0] != want.String() || puts[1] != "3.11-1" {
		t.Fatalf("manifest PUTs = %v, want digest then tag", puts)
	}
	d, err := c.Head(ctx, tag)
	if err != nil || d.Digest != want {
		t.Fatalf("head = %v, %v", d, err)
	}
	if ok, err := c.Exists(ctx, tag); !ok || err != nil {
		t.Fatalf("exists after push = %v, %v", ok, err)
	}
	got, err := c.Image(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != want {
		t.Fatalf("pulled digest = %s", gd)
	}
	layers, _ := got.Layers()
	if len(layers) != 2 {
		t.Fatalf("%d layers", len(layers))
	}

	idx, _ := random.Index(256, 1, 2)
	itag, _ := c.Tag("python", "multi")
	ih, err := c.WriteIndex(ctx, itag, idx)
	if err != nil {
		t.Fatal(err)
	}
	gi, err := c.Index(ctx, itag)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := gi.Digest(); gd != ih {
		t.Fatalf("index digest = %s, want %s", gd, ih)
	}
	if _, err := c.Head(ctx, reg.Ref(t, "python:nope")); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("head of missing tag: %v", err)
	}
}

func TestWriteImageFailingTagLeavesNoTag(t *testing.T) {
	t.Parallel()
	deny := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/3.11-1") {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(deny))
	c := newClient(t, reg.Addr)
	img, _ := random.Image(128, 1)
	tag, _ := c.Tag("python", "3.11-1")
	if _, err := c.WriteImage(context.Background(), tag, img); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	tags, err := c.Tags(context.Background(), "python")
	if len(tags) != 0 || (err != nil && !errors.Is(err, registry.ErrNotFound)) {
		t.Fatalf("tags after failed tagging = %v, %v", tags, err)
	}
	// The image itself was pushed, by digest.
	h, _ := img.Digest()
	if _, err := remote.Head(reg.Ref(t, "python@"+h.String())); err != nil {
		t.Fatalf("image by digest: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"docker.io":        "index.docker.io",
		"127.0.0.1:5000":   "127.0.0.1:5000",
		"Registry.Example": "Registry.Example",
		"ghcr.io":          "ghcr.io",
	} {
		got, err := registry.Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := registry.Normalize("http://x"); err == nil {
		t.Error("Normalize accepted a URL")
	}
}

// endless serves a tag list that never ends, as a hostile registry might.
func endless(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/huge/tags/list" {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"huge","tags":["x"`)
		chunk := []byte(strings.Repeat(`,"x"`, 16<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
}

func TestListingIsBounded(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(endless))
	_, err := newClient(t, reg.Addr).Tags(context.Background(), "huge")
	if !errors.Is(err, registry.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
