package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
)

func newWorkflowCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow",
		Short: "Create, preview, show, update and delete a registry's continuous-patching workflow",
	}
	cmd.AddCommand(
		newWorkflowScheduleCmd(e, g),
		newWorkflowCreateCmd(e, g),
		newWorkflowShowCmd(e, g),
		newWorkflowUpdateCmd(e, g),
		newWorkflowDeleteCmd(e, g),
		newWorkflowListCmd(e, g),
		newWorkflowCancelRunCmd(e, g),
	)
	return cmd
}

// target is the registry and workflow type a command acts on, and how to
// reach the registry.
type target struct {
	registry      string
	typ           string
	insecure      bool
	username      string
	passwordStdin bool
}

func (t *target) addFlags(cmd *cobra.Command, withCredentials bool) {
	cmd.Flags().StringVarP(&t.registry, "registry", "r", "", "registry host, e.g. myregistry.example.com or 127.0.0.1:5000 (required)")
	cmd.Flags().StringVarP(&t.typ, "type", "t", store.TypeContinuousPatchV1, "workflow type; only continuouspatchv1 exists")
	_ = cmd.MarkFlagRequired("registry")
	if withCredentials {
		cmd.Flags().BoolVar(&t.insecure, "insecure", false, "allow plain HTTP to the registry (loopback and localhost registries may use it anyway)")
		cmd.Flags().StringVar(&t.username, "username", "", "registry username (default: docker config and credential helpers)")
		cmd.Flags().BoolVar(&t.passwordStdin, "password-stdin", false, "read the registry password from stdin")
	}
}

// check validates the flags that need no I/O.
func (t *target) check() error {
	if t.typ != store.TypeContinuousPatchV1 {
		return usagef("--type %q: the only workflow type is %s", t.typ, store.TypeContinuousPatchV1)
	}
	if t.registry == "" {
		return usagef("--registry is empty: give the registry host, e.g. myregistry.example.com")
	}
	if t.passwordStdin && t.username == "" {
		return usagef("--password-stdin needs --username")
	}
	if t.username != "" && !t.passwordStdin {
		return usagef("--username needs --password-stdin (the password is never taken as a flag)")
	}
	return nil
}

// client builds the registry client, reading the password from stdin when
// asked to.
func (t *target) client(e *env) (*registry.Client, error) {
	opts := append([]registry.Option{registry.WithInsecure(t.insecure), registry.WithUserAgent("patchloop")}, e.registryOptions...)
	if t.passwordStdin {
		pw, err := readPassword(e.stdin)
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithBasicAuth(t.username, pw))
	}
	return registry.New(t.registry, opts...)
}

// readPassword reads stdin to its end (at most 64 KiB) and drops one
// trailing newline.
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", usagef("--password-stdin: stdin is empty; pipe the password in, e.g. echo \"$PASSWORD\" | patchloop …")
	}
	return pw, nil
}

// getWorkflow reads the stored workflow, with an error telling what to do
// when there is none.
func getWorkflow(ctx context.Context, st store.Store, registryName, typ string) (*store.Workflow, error) {
	w, err := st.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: registryName, Type: typ})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no %s workflow for registry %s: create one with patchloop workflow create", typ, registryName)
	}
	return w, err
}

// storedPolicy parses the canonical policy JSON a workflow keeps.
func storedPolicy(w *store.Workflow) (*policy.Policy, error) {
	p, _, err := policy.Parse("stored policy of "+w.Registry, w.Policy)
	if err != nil {
		return nil, fmt.Errorf("stored policy of %s does not parse (update it with --config): %w", w.Registry, err)
	}
	return p, nil
}

// loadPolicy reads and validates the policy file, printing its warnings,
// and returns it with its canonical JSON.
func loadPolicy(cmd *cobra.Command, path string) (*policy.Policy, []byte, error) {
	p, warnings, err := policy.Load(path)
	printWarnings(cmd, warnings)
	if err != nil {
		return nil, nil, err
	}
	canon, err := p.Canonical()
	if err != nil {
		return nil, nil, fmt.Errorf("encoding policy %s: %w", path, err)
	}
	return p, canon, nil
}

// repositoriesOf lists the enabled repositories a policy names.
func repositoriesOf(p *policy.Policy) []string {
	var repos []string
	for _, r := range p.Repositories {
		if r.Enabled {
			repos = append(repos, r.Name)
		}
	}
	return repos
}
