// Package store keeps patchloop's durable state (workflows for now) behind
// a small interface; each database backend lives in a sibling package
// (sqlitestore) and registers itself for Open.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sentinels that every backend maps its errors to.
var (
	// ErrNotFound: no row with that key.
	ErrNotFound = errors.New("not found")
	// ErrExists: a row with that key already exists.
	ErrExists = errors.New("already exists")
)

// TypeContinuousPatchV1 is the only workflow type so far.
const TypeContinuousPatchV1 = "continuouspatchv1"

// Workflow is one registry's patching workflow of one type.
type Workflow struct {
	Registry string // registry host, e.g. "myregistry.example.com"
	Type     string // TypeContinuousPatchV1
	Schedule string // e.g. "7d"
	// ScheduleSetAt is when the schedule was set; its UTC hour and minute
	// are the workflow's time of day.
	ScheduleSetAt time.Time
	Policy        []byte // normalized policy JSON
	PolicyDigest  string // digest of the policy artifact, e.g. "sha256:…"
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// WorkflowCreateParams creates a workflow. CreatedAt and UpdatedAt come
// from the store's clock.
type WorkflowCreateParams struct {
	Registry      string
	Type          string
	Schedule      string
	ScheduleSetAt time.Time
	Policy        []byte
	PolicyDigest  string
}

// WorkflowGetParams names one workflow.
type WorkflowGetParams struct {
	Registry string
	Type     string
}

// WorkflowListParams filters the list; empty fields match everything.
type WorkflowListParams struct {
	Registry string
	Type     string
}

// WorkflowUpdateParams changes the set fields of one workflow; nil fields
// are kept. UpdatedAt comes from the store's clock.
type WorkflowUpdateParams struct {
	Registry      string
	Type          string
	Schedule      *string
	ScheduleSetAt *time.Time
	Policy        []byte // nil keeps the policy
	PolicyDigest  *string
}

// WorkflowDeleteParams names one workflow.
type WorkflowDeleteParams struct {
	Registry string
	Type     string
}

// Store is the state patchloop keeps between runs. Missing rows give
// ErrNotFound and duplicate keys ErrExists.
type Store interface {
	WorkflowCreate(ctx context.Context, p *WorkflowCreateParams) (*Workflow, error)
	WorkflowGet(ctx context.Context, p *WorkflowGetParams) (*Workflow, error)
	// WorkflowList returns workflows ordered by registry, then type.
	WorkflowList(ctx context.Context, p *WorkflowListParams) ([]*Workflow, error)
	WorkflowUpdate(ctx context.Context, p *WorkflowUpdateParams) (*Workflow, error)
	WorkflowDelete(ctx context.Context, p *WorkflowDeleteParams) error
	Close() error
}

// Config configures a backend.
type Config struct {
	// Now is the clock for CreatedAt and UpdatedAt. Default time.Now.
	Now func() time.Time
	// BusyTimeout is how long a backend waits for a lock held by another
	// process. Default DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// DefaultBusyTimeout is Config.BusyTimeout's default.
const DefaultBusyTimeout = 5 * time.Second

// WithDefaults returns a copy of c with every unset field defaulted.
func (c Config) WithDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	return c
}

// Opener opens a backend at the parsed URL.
type Opener func(ctx context.Context, u *url.URL, cfg Config) (Store, error)

var (
	backendsMu sync.RWMutex
	backends   = map[string]Opener{}
)

// Register makes a backend available to Open under a URL scheme. Backend
// packages call it from init; registering a scheme twice panics.
func Register(scheme string, open Opener) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := backends[scheme]; dup {
		panic("store: backend registered twice: " + scheme)
	}
	backends[scheme] = open
}

// Open opens the store at location: a file path or sqlite:///path for
// SQLite, postgres://… for PostgreSQL. The backend's package must be imported
// (store/sqlitestore, store/pgstore).
func Open(ctx context.Context, location string, cfg Config) (Store, error) {
	u, err := ParseURL(location)
	if err != nil {
		return nil, err
	}
	backendsMu.RLock()
	open, ok := backends[u.Scheme]
	backendsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("store %s: no %q backend (known: %s)", Redact(location), u.Scheme, strings.Join(known(), ", "))
	}
	s, err := open(ctx, u, cfg.WithDefaults())
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", Redact(location), err)
	}
	return s, nil
}

func known() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	var names []string
	for k := range backends {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ParseURL turns a store location into a URL: a bare path becomes
// sqlite:///abs/path.
func ParseURL(location string) (*url.URL, error) {
	if location == "" {
		return nil, errors.New("store location is empty")
	}
	if !strings.Contains(location, "://") {
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", location, err)
		}
		return &url.URL{Scheme: "sqlite", Path: abs}, nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("store %s: not a URL or path", Redact(location))
	}
	return u, nil
}

// Redact hides the password of a store URL for messages.
func Redact(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(location, "@") {
			return "<unparsable store URL>"
		}
		return location
	}
	return u.Redacted()
}

// DefaultPath is the SQLite file used when no store is given:
// $XDG_DATA_HOME/patchloop/patchloop.db, else
// ~/.local/share/patchloop/patchloop.db.
func DefaultPath() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "patchloop", "patchloop.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the default store: %w (set --store or PATCHLOOP_STORE)", err)
	}
	return filepath.Join(home, ".local", "share", "patchloop", "patchloop.db"), nil
}
