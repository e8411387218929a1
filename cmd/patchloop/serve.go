package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/server"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/workflow"
)

func newServeCmd(e *env, g *globals) *cobra.Command {
	var (
		addr        string
		workers     int
		jobTimeout  time.Duration
		rescueAfter time.Duration
		cacheDir    string
		id          string
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--store URL] [--workers N]",
		Short: "Run the daemon: the scheduler, the task workers and the HTTP API",
		Long: `serve runs continuous patching: the scheduler starts a cycle of each
workflow at its schedule's slots (a slot missed while no daemon ran starts one
cycle at start-up), the workers run the cssc-trigger-workflow,
cssc-scan-image and cssc-patch-image tasks, and an HTTP JSON API serves
everything the CLI does, with Prometheus metrics on /metrics.

Every endpoint but /healthz needs "Authorization: Bearer TOKEN". The token is
generated on first start and kept with mode 0600 in the file serve prints:
api-token beside a SQLite store, else $XDG_CONFIG_HOME/patchloop/api-token
(or --token-file).

With --store postgres://…, several daemons on different machines share the
work. SIGINT or SIGTERM stops the daemon: running tasks may finish for 30 s,
then they are put back in the queue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if workers < 1 || workers > 10_000 {
				return usagef("--workers %d: use 1 to 10000", workers)
			}
			if jobTimeout <= 0 {
				return usagef("--job-timeout %s: must be positive", jobTimeout)
			}
			if rescueAfter != 0 && rescueAfter < jobTimeout {
				return usagef("--rescue-after %s must be at least --job-timeout %s", rescueAfter, jobTimeout)
			}
			if g.server != "" {
				return usagef("--server does not apply to serve")
			}
			st, err := g.openStore(ctx, e)
			if err != nil {
				return err
			}
			defer st.Close()
			tokPath, err := g.tokenPath(e)
			if err != nil {
				return err
			}
			tok, err := server.LoadOrCreateToken(tokPath)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			eng, db, err := g.openEngine(ctx, e, engineOptions{
				workers: workers, jobTimeout: jobTimeout, rescueAfter: rescueAfter, cacheDir: cacheDir,
				logger: logger, id: id,
				catalog: workflow.StoreCatalog{Store: st, OnSkip: func(reg string, err error) {
					logger.Warn("workflow skipped by the scheduler", "registry", reg, "err", err)
				}},
			})
			if err != nil {
				return err
			}
			defer db.Close()
			srv, err := server.New(server.Config{
				Runs:       eng,
				Workflows:  &workflowService{store: st, engine: eng, e: e},
				Token:      tok,
				Collectors: []prometheus.Collector{eng.Collector()},
				Logger:     logger,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			if err := eng.Start(ctx); err != nil {
				_ = ln.Close()
				return err
			}
			loc, _ := g.storeLocation(e)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "patchloop serve: listening on http://%s\n", ln.Addr())
			fmt.Fprintf(out, "store: %s\n", store.Redact(loc))
			fmt.Fprintf(out, "token file: %s\n", tokPath)
			fmt.Fprintf(out, "workers: %d\n", workers)
			serr := server.Serve(ctx, ln, srv)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveGrace)
			defer cancel()
			if err := eng.Stop(sctx); err != nil {
				return err
			}
			fmt.Fprintln(out, "patchloop serve: stopped")
			return serr
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8080", "address the API listens on")
	fl.IntVar(&workers, "workers", workflow.WorkersDefault, "tasks this daemon runs at once")
	fl.DurationVar(&jobTimeout, "job-timeout", workflow.JobTimeoutDefault, "time limit of one attempt of a task")
	fl.DurationVar(&rescueAfter, "rescue-after", 0, "requeue a task running this long on a daemon that died (default job timeout + 1m)")
	fl.StringVar(&cacheDir, "cache-dir", "", "cache for layers, packages and archive indexes (default $XDG_CACHE_HOME/patchloop)")
	fl.StringVar(&id, "id", "", "name of this daemon among several on one database (default generated)")
	return cmd
}
