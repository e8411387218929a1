package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
	_ "github.com/patchloop/patchloop/store/pgstore"     // the PostgreSQL backend of store.Open
	_ "github.com/patchloop/patchloop/store/sqlitestore" // the SQLite backend of store.Open
)

// env is everything the commands take from the process, so tests can run
// the CLI in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	getenv         func(string) string
	// interactive is true when stdin is a terminal a person can answer on.
	interactive bool
	// registryOptions are added to every registry client (tests shorten
	// retries here).
	registryOptions []registry.Option
}

// globals are the root's persistent flags.
type globals struct {
	output string
	store  string
	// server and tokenFile send run and workflow commands to a daemon.
	server    string
	tokenFile string
}

const (
	outputTable = "table"
	outputJSON  = "json"
)

// run executes the CLI with args and returns the process exit code.
func run(ctx context.Context, e *env, args []string) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if code, ok := err.(exitCode); ok {
			return int(code)
		}
		printError(e.stderr, err)
		return 1
	}
	return 0
}

func newRootCmd(e *env) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "patchloop",
		Short:         "Continuous patching of OS packages in container images on any OCI registry",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch g.output {
			case outputTable, outputJSON:
				return nil
			}
			return fmt.Errorf("--output %q: use table or json", g.output)
		},
	}
	root.PersistentFlags().StringVarP(&g.output, "output", "o", outputTable, "output format: table or json")
	root.PersistentFlags().StringVar(&g.store, "store", "", "state store: a SQLite path, sqlite:///path or postgres://user:pass@host/db (default $PATCHLOOP_STORE, else $XDG_DATA_HOME/patchloop/patchloop.db)")
	root.AddCommand(newPolicyCmd(e, g), newWorkflowCmd(e, g))
	root.AddCommand(newScanCmd(e, g))
	root.AddCommand(newPatchCmd(e, g))
	root.PersistentFlags().StringVar(&g.server, "server", "", "send workflow and task commands to the daemon at this URL (http://host:port) instead of the store")
	root.PersistentFlags().StringVar(&g.tokenFile, "token-file", "", "the daemon's API token file (default $PATCHLOOP_TOKEN, else api-token beside the store or in $XDG_CONFIG_HOME/patchloop)")
	root.AddCommand(newServeCmd(e, g), newTaskCmd(e, g), newDemoCmd(e, g))
	return root
}

// storeLocation is --store, else $PATCHLOOP_STORE, else the default path.
func (g *globals) storeLocation(e *env) (string, error) {
	if g.store != "" {
		return g.store, nil
	}
	if s := e.getenv("PATCHLOOP_STORE"); s != "" {
		return s, nil
	}
	return store.DefaultPath()
}

func (g *globals) openStore(ctx context.Context, e *env) (store.Store, error) {
	loc, err := g.storeLocation(e)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(ctx, loc, store.Config{Now: e.now})
	if err != nil {
		return nil, fmt.Errorf("%w (set --store or PATCHLOOP_STORE to a writable path)", err)
	}
	return s, nil
}

// usageError marks errors in how the command was called.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}
