package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/schedule"
	"github.com/patchloop/patchloop/server"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/workflow"
)

// workflowService is the daemon's server.Workflows: the store, the policy
// artifact in the registry, and the engine told of every change.
type workflowService struct {
	store  store.Store
	engine *workflow.Engine
	e      *env
}

var _ server.Workflows = (*workflowService)(nil)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), server.ErrInvalid)
}

func (s *workflowService) client(host string) (*registry.Client, error) {
	opts := append([]registry.Option{registry.WithUserAgent("patchloop")}, s.e.registryOptions...)
	c, err := registry.New(host, opts...)
	if err != nil {
		return nil, invalid("registry %q: %v", host, err)
	}
	return c, nil
}

func checkType(typ string) error {
	if typ != "" && typ != store.TypeContinuousPatchV1 {
		return invalid("type %q: the only workflow type is %s", typ, store.TypeContinuousPatchV1)
	}
	return nil
}

func (s *workflowService) info(w *store.Workflow) server.WorkflowInfo {
	info := server.WorkflowInfo{Registry: w.Registry, Type: w.Type, Schedule: w.Schedule, ScheduleSetAt: w.ScheduleSetAt,
		PolicyDigest: w.PolicyDigest, Policy: string(w.Policy)}
	if sch, err := schedule.Parse(w.Schedule); err == nil {
		info.NextRun = sch.Next(w.ScheduleSetAt, s.e.now())
	}
	return info
}

func parsePolicyText(text string) (*policy.Policy, []byte, []string, error) {
	p, warnings, err := policy.Parse("config", []byte(text))
	var ws []string
	for _, w := range warnings {
		ws = append(ws, fmt.Sprint(w))
	}
	if err != nil {
		return nil, nil, ws, invalid("%v", err)
	}
	canon, err := p.Canonical()
	if err != nil {
		return nil, nil, ws, fmt.Errorf("encoding policy: %w", err)
	}
	return p, canon, ws, nil
}

// CreateWorkflow implements server.Workflows.
func (s *workflowService) CreateWorkflow(ctx context.Context, spec server.WorkflowSpec) (server.WorkflowInfo, error) {
	if err := checkType(spec.Type); err != nil {
		return server.WorkflowInfo{}, err
	}
	sch, err := schedule.Parse(spec.Schedule)
	if err != nil {
		return server.WorkflowInfo{}, invalid("%v", err)
	}
	p, canon, warnings, err := parsePolicyText(spec.Config)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	c, err := s.client(spec.Registry)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	if spec.DryRun {
		inv, err := c.Inventory(ctx, repositoriesOf(p))
		if err != nil {
			return server.WorkflowInfo{}, err
		}
		sel := p.Select(inv)
		info := server.WorkflowInfo{Registry: c.Name(), Type: store.TypeContinuousPatchV1, Schedule: sch.String(), Warnings: warnings}
		for _, im := range sel.Images {
			info.Selected = append(info.Selected, im.Repository+": "+im.Tag)
		}
		for _, m := range sel.Missing {
			info.NotFound = append(info.NotFound, m.Repository+": "+m.Tag)
		}
		return info, nil
	}
	if _, err := s.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: c.Name(), Type: store.TypeContinuousPatchV1}); err == nil {
		return server.WorkflowInfo{}, fmt.Errorf("workflow of %s: %w", c.Name(), store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return server.WorkflowInfo{}, err
	}
	digest, err := c.PushPolicy(ctx, registry.PolicyTag, canon)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	w, err := s.store.WorkflowCreate(ctx, &store.WorkflowCreateParams{
		Registry: c.Name(), Type: store.TypeContinuousPatchV1, Schedule: sch.String(),
		ScheduleSetAt: s.e.now().UTC(), Policy: canon, PolicyDigest: digest.String(),
	})
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	s.engine.Reschedule()
	info := s.info(w)
	info.Warnings = warnings
	return info, nil
}

// GetWorkflow implements server.Workflows.
func (s *workflowService) GetWorkflow(ctx context.Context, reg, typ string) (server.WorkflowInfo, error) {
	if err := checkType(typ); err != nil {
		return server.WorkflowInfo{}, err
	}
	w, err := s.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: reg, Type: store.TypeContinuousPatchV1})
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	return s.info(w), nil
}

// ListWorkflows implements server.Workflows.
func (s *workflowService) ListWorkflows(ctx context.Context) ([]server.WorkflowInfo, error) {
	list, err := s.store.WorkflowList(ctx, &store.WorkflowListParams{})
	if err != nil {
		return nil, err
	}
	out := make([]server.WorkflowInfo, 0, len(list))
	for _, w := range list {
		out = append(out, s.info(w))
	}
	return out, nil
}

// UpdateWorkflow implements server.Workflows.
func (s *workflowService) UpdateWorkflow(ctx context.Context, spec server.WorkflowSpec) (server.WorkflowInfo, error) {
	if err := checkType(spec.Type); err != nil {
		return server.WorkflowInfo{}, err
	}
	params := &store.WorkflowUpdateParams{Registry: spec.Registry, Type: store.TypeContinuousPatchV1}
	if spec.Schedule != "" {
		sch, err := schedule.Parse(spec.Schedule)
		if err != nil {
			return server.WorkflowInfo{}, invalid("%v", err)
		}
		str, now := sch.String(), s.e.now().UTC()
		params.Schedule, params.ScheduleSetAt = &str, &now
	}
	var warnings []string
	if spec.Config != "" {
		_, canon, ws, err := parsePolicyText(spec.Config)
		if err != nil {
			return server.WorkflowInfo{}, err
		}
		params.Policy, warnings = canon, ws
	}
	w, err := s.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: spec.Registry, Type: store.TypeContinuousPatchV1})
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	c, err := s.client(w.Registry)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	canon := params.Policy
	if canon == nil {
		canon = w.Policy
	}
	digest, err := c.PushPolicy(ctx, registry.PolicyTag, canon)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	d := digest.String()
	params.PolicyDigest = &d
	w, err = s.store.WorkflowUpdate(ctx, params)
	if err != nil {
		return server.WorkflowInfo{}, err
	}
	s.engine.Reschedule()
	info := s.info(w)
	info.Warnings = warnings
	return info, nil
}

// DeleteWorkflow implements server.Workflows: the policy artifacts, the
// runs and jobs, then the stored workflow.
func (s *workflowService) DeleteWorkflow(ctx context.Context, reg, typ string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	w, err := s.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: reg, Type: store.TypeContinuousPatchV1})
	if err != nil {
		return err
	}
	return deleteWorkflowEverywhere(ctx, s.store, s.engine, w, s.e)
}

// deleteWorkflowEverywhere removes a workflow's policy artifacts from its
// registry, its runs and jobs, and its stored row.
func deleteWorkflowEverywhere(ctx context.Context, st store.Store, eng *workflow.Engine, w *store.Workflow, e *env) error {
	opts := append([]registry.Option{registry.WithUserAgent("patchloop")}, e.registryOptions...)
	c, err := registry.New(w.Registry, opts...)
	if err != nil {
		return err
	}
	if _, err := c.DeletePolicies(ctx); err != nil {
		return err
	}
	if err := eng.DeleteWorkflow(ctx, w.Registry); err != nil {
		return fmt.Errorf("deleting the runs of %s: %w", w.Registry, err)
	}
	if err := st.WorkflowDelete(ctx, &store.WorkflowDeleteParams{Registry: w.Registry, Type: w.Type}); err != nil {
		return fmt.Errorf("removing the stored workflow: %w", err)
	}
	return nil
}

// serveGrace bounds how long a stopping daemon lets running tasks finish
// before they are put back in the queue.
const serveGrace = 30 * time.Second
