// Package pipeline adapts the scanner and the patch engine to the workflow
// engine's Selector, Scanner and Patcher: it reads the policy artifact from
// the registry, scans images, builds and pushes patched images stamped with
// their cycle.
package pipeline

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/vulndb"
)

// Annotations a patched image pushed by a workflow carries beside the patch
// engine's own (base name and digest), so that a retry recognises the push
// of an earlier attempt of the same cycle.
const (
	AnnotationWorkflow = "io.patchloop.workflow"
	AnnotationCycle    = "io.patchloop.workflow.cycle"
)

// Config configures the adapters.
type Config struct {
	// Registry returns the client of a registry host. Required.
	Registry func(host string) (*registry.Client, error)
	// Repos reaches the distributions' archives: the vulnerability source
	// (vulndb.Repos over it) and the packages a patch installs. Required.
	Repos *distrorepo.Client
	// Source overrides the vulnerability source. Default vulndb.NewRepos(Repos).
	Source vulndb.Source
	// Cache keeps per-layer extraction results. Nil reads layers afresh.
	Cache *image.Cache
	// ScratchDir is where patch layers are written before they are pushed.
	// Default os.TempDir().
	ScratchDir string
	// Writer returns the pusher of a registry host. Default: the host's
	// registry client's Pusher (the docker keychain, retries, classified
	// errors).
	Writer func(host string) (patch.Writer, error)
	// Now stamps patched images' history and scan reports. Default time.Now.
	Now func() time.Time
	// ScanReuse is how long a scan of one image digest is reused by later
	// scans of the same digest (tags sharing an image, retries). Default
	// ScanReuseDefault, the archive index's own reuse time; negative
	// scans every time.
	ScanReuse time.Duration
}

// The registry client's pusher is what patches are pushed through.
var _ patch.Writer = (*registry.Pusher)(nil)

// ScanReuseDefault is Config.ScanReuse's default.
const ScanReuseDefault = 10 * time.Minute

// Pipeline holds the adapters' shared parts. Selector, Scanner and
// Patcher return its three faces.
type Pipeline struct {
	cfg Config

	mu      sync.Mutex
	clients map[string]*registry.Client
	writers map[string]patch.Writer
	// scanners holds one scan.Scanner per registry (its memo shares scans
	// by digest), replaced when older than ScanReuse.
	scanners map[string]*scannerGen
}

type scannerGen struct {
	s  *scan.Scanner
	at time.Time
}

// New checks cfg and returns the pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Registry == nil {
		return nil, errors.New("pipeline config: Registry is required")
	}
	if cfg.Repos == nil && cfg.Source == nil {
		return nil, errors.New("pipeline config: Repos is required")
	}
	if cfg.Source == nil {
		cfg.Source = vulndb.NewRepos(cfg.Repos)
	}
	if cfg.ScratchDir == "" {
		cfg.ScratchDir = os.TempDir()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ScanReuse == 0 {
		cfg.ScanReuse = ScanReuseDefault
	}
	return &Pipeline{cfg: cfg, clients: map[string]*registry.Client{}, writers: map[string]patch.Writer{}, scanners: map[string]*scannerGen{}}, nil
}

// client returns the (cached) client of a registry host.
func (p *Pipeline) client(host string) (*registry.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[host]; ok {
		return c, nil
	}
	c, err := p.cfg.Registry(host)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	p.clients[host] = c
	return c, nil
}

// writer returns the (cached) pusher of a registry host.
func (p *Pipeline) writer(host string) (patch.Writer, error) {
	if p.cfg.Writer == nil {
		c, err := p.client(host)
		if err != nil {
			return nil, err
		}
		return c.Pusher(), nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.writers[host]; ok {
		return w, nil
	}
	w, err := p.cfg.Writer(host)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	p.writers[host] = w
	return w, nil
}

// Selector returns the workflow.Selector face.
func (p *Pipeline) Selector() *Selector { return &Selector{p: p} }

// Scanner returns the workflow.Scanner face.
func (p *Pipeline) Scanner() *Scanner { return &Scanner{p: p} }

// Patcher returns the workflow.Patcher face.
func (p *Pipeline) Patcher() *Patcher { return &Patcher{p: p} }
