package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/pipeline"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/server"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/workflow"
)

// engineOptions are the daemon's tuning knobs.
type engineOptions struct {
	workers     int
	jobTimeout  time.Duration
	rescueAfter time.Duration
	cacheDir    string
	logger      *slog.Logger
	id          string
	catalog     workflow.Catalog
	// pipeline, when set, is used instead of a new one on cacheDir.
	pipeline *pipeline.Pipeline
}

// newPipeline builds the real scan and patch adapters: registries through
// the docker keychain (plain HTTP for loopback hosts), the distributions'
// archives through a verified cache.
func newPipeline(e *env, cacheDir string) (*pipeline.Pipeline, error) {
	cacheDir, repos, err := newRepos(cacheDir)
	if err != nil {
		return nil, err
	}
	return newPipelineWith(e, cacheDir, repos)
}

// newRepos is the archive client on cacheDir (default the XDG cache).
func newRepos(cacheDir string) (string, *distrorepo.Client, error) {
	if cacheDir == "" {
		d, err := distrorepo.DefaultCacheDir()
		if err != nil {
			return "", nil, fmt.Errorf("%w (set --cache-dir)", err)
		}
		cacheDir = d
	}
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: cacheDir})
	if err != nil {
		return "", nil, err
	}
	return cacheDir, repos, nil
}

func newPipelineWith(e *env, cacheDir string, repos *distrorepo.Client) (*pipeline.Pipeline, error) {
	cache, err := image.NewCache(filepath.Join(cacheDir, "layers"), 0)
	if err != nil {
		return nil, fmt.Errorf("%w (set --cache-dir to a writable directory)", err)
	}
	scratch := filepath.Join(cacheDir, "scratch")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	return pipeline.New(pipeline.Config{
		Registry: func(host string) (*registry.Client, error) {
			opts := append([]registry.Option{registry.WithUserAgent("patchloop")}, e.registryOptions...)
			return registry.New(host, opts...)
		},
		Repos:      repos,
		Cache:      cache,
		ScratchDir: scratch,
		Now:        e.now,
	})
}

// openEngine opens the run database at the store's location and an engine
// on it, not started: the CLI queues and reads through it; serve starts it.
func (g *globals) openEngine(ctx context.Context, e *env, o engineOptions) (*workflow.Engine, workflow.Database, error) {
	loc, err := g.storeLocation(e)
	if err != nil {
		return nil, workflow.Database{}, err
	}
	db, err := workflow.OpenDatabase(ctx, loc)
	if err != nil {
		return nil, workflow.Database{}, fmt.Errorf("%w (set --store or PATCHLOOP_STORE)", err)
	}
	p := o.pipeline
	if p == nil {
		if p, err = newPipeline(e, o.cacheDir); err != nil {
			_ = db.Close()
			return nil, workflow.Database{}, err
		}
	}
	eng, err := workflow.New(ctx, db, workflow.Config{
		Selector:    p.Selector(),
		Scanner:     p.Scanner(),
		Patcher:     p.Patcher(),
		Catalog:     o.catalog,
		Workers:     o.workers,
		JobTimeout:  o.jobTimeout,
		RescueAfter: o.rescueAfter,
		Logger:      o.logger,
		ID:          o.id,
	})
	if err != nil {
		_ = db.Close()
		return nil, workflow.Database{}, err
	}
	return eng, db, nil
}

// runsClient is what run commands talk to: a daemon with --server, else
// the store's database through an engine that is not started (a running
// daemon on the same database picks up what it queues).
func (g *globals) runsClient(ctx context.Context, e *env) (server.Runs, func(), error) {
	if g.server != "" {
		c, err := g.apiClient(e)
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	}
	// Open the store first: it creates the directory and says clearly
	// what is wrong with a bad location.
	st, err := g.openStore(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	_ = st.Close()
	eng, db, err := g.openEngine(ctx, e, engineOptions{})
	if err != nil {
		return nil, nil, err
	}
	return eng, func() { _ = db.Close() }, nil
}

// apiClient is the client of the daemon at --server, with the token from
// --token-file, else $PATCHLOOP_TOKEN, else the daemon's default token file.
func (g *globals) apiClient(e *env) (*server.Client, error) {
	tok := ""
	switch {
	case g.tokenFile != "":
		b, err := readTokenFile(g.tokenFile)
		if err != nil {
			return nil, err
		}
		tok = b
	case e.getenv("PATCHLOOP_TOKEN") != "":
		tok = strings.TrimSpace(e.getenv("PATCHLOOP_TOKEN"))
	default:
		p, err := g.tokenPath(e)
		if err != nil {
			return nil, err
		}
		if tok, err = readTokenFile(p); err != nil {
			return nil, fmt.Errorf("%w (give --token-file or PATCHLOOP_TOKEN)", err)
		}
	}
	return server.NewClient(g.server, tok, nil)
}

func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// tokenPath is --token-file, else api-token beside a SQLite store, else
// $XDG_CONFIG_HOME/patchloop/api-token (~/.config/patchloop/api-token).
func (g *globals) tokenPath(e *env) (string, error) {
	if g.tokenFile != "" {
		return g.tokenFile, nil
	}
	loc, err := g.storeLocation(e)
	if err != nil {
		return "", err
	}
	if u, err := store.ParseURL(loc); err == nil && u.Scheme == "sqlite" && u.Path != "" {
		return filepath.Join(filepath.Dir(u.Path), "api-token"), nil
	}
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "patchloop", "api-token"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the token file: %w (set --token-file)", err)
	}
	return filepath.Join(home, ".config", "patchloop", "api-token"), nil
}
