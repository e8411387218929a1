// Package regserver runs the CNCF distribution registry in-process on a
// loopback port, with filesystem storage. Tests and `patchloop demo` use it
// as a real OCI registry without any external process.
package regserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // storage backend
	"github.com/sirupsen/logrus"
)

// Server is a running in-process registry.
type Server struct {
	// Addr is host:port of the listener, e.g. "127.0.0.1:41234".
	Addr string
	// Dir is the filesystem storage root.
	Dir string

	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// Config configures Start. The zero value is usable except for Dir.
type Config struct {
	// Dir is the storage root directory. Required.
	Dir string
	// Addr is the listen address. Default "127.0.0.1:0" (a random port).
	Addr string
	// CatalogPageSize caps entries per /v2/_catalog page. Default 1000.
	CatalogPageSize int
	// Wrap, if set, wraps the registry handler (fault injection in tests).
	Wrap func(http.Handler) http.Handler
}

var quietOnce sync.Once

// Start starts a registry and returns once it accepts connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("regserver: storage directory is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry storage %s: %w", cfg.Dir, err)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.CatalogPageSize <= 0 {
		cfg.CatalogPageSize = 1000
	}
	quietOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
	})

	conf := &configuration.Configuration{}
	conf.Log.Level = "panic"
	conf.Log.AccessLog.Disabled = true
	conf.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": cfg.Dir},
		"delete":     configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{
			"enabled": false,
		}},
	}
	conf.Catalog.MaxEntries = cfg.CatalogPageSize
	conf.HTTP.Secret = "patchloop-in-process"

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	appCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	app := handlers.NewApp(appCtx, conf)
	var h http.Handler = app
	if cfg.Wrap != nil {
		h = cfg.Wrap(h)
	}
	s := &Server{
		Addr:   ln.Addr().String(),
		Dir:    cfg.Dir,
		srv:    &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second},
		ln:     ln,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	// Close, not Shutdown: Shutdown waits up to 5s for connections that
	// clients opened but never used.
	err := s.srv.Close()
	s.cancel()
	<-s.done
	return err
}
