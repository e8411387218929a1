package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/workflow"
)

// Client calls a daemon's API. It implements Runs and Workflows, so the CLI
// can work the same way against a daemon as against the store.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

var (
	_ Runs      = (*Client)(nil)
	_ Workflows = (*Client)(nil)
)

// NewClient returns a client of the daemon at baseURL (http://host:port).
// A nil hc means http.DefaultClient.
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port or https://host:port", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// APIError is an error answer from the daemon. It matches ErrInvalid (400),
// store.ErrNotFound and workflow.ErrNotFound (404) and store.ErrExists (409)
// with errors.Is.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
}

// Is implements errors.Is.
func (e *APIError) Is(target error) bool {
	switch e.Status {
	case http.StatusBadRequest:
		return target == ErrInvalid
	case http.StatusNotFound:
		return target == store.ErrNotFound || target == workflow.ErrNotFound
	case http.StatusConflict:
		return target == store.ErrExists
	}
	return false
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding answer to %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling %s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb ErrorBody
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(raw))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

func wfPath(registry string, rest ...string) string {
	return "/v1/workflows/" + url.PathEscape(registry) + strings.Join(rest, "")
}

func typeQuery(typ string) url.Values {
	if typ == "" || typ == workflow.WorkflowType {
		return nil
	}
	return url.Values{"type": {typ}}
}

// CreateWorkflow implements Workflows.
func (c *Client) CreateWorkflow(ctx context.Context, spec WorkflowSpec) (WorkflowInfo, error) {
	var info WorkflowInfo
	return info, c.do(ctx, http.MethodPost, "/v1/workflows", nil, spec, &info)
}

// GetWorkflow implements Workflows.
func (c *Client) GetWorkflow(ctx context.Context, registry, typ string) (WorkflowInfo, error) {
	var info WorkflowInfo
	return info, c.do(ctx, http.MethodGet, wfPath(registry), typeQuery(typ), nil, &info)
}

// ListWorkflows implements Workflows.
func (c *Client) ListWorkflows(ctx context.Context) ([]WorkflowInfo, error) {
	var list []WorkflowInfo
	return list, c.do(ctx, http.MethodGet, "/v1/workflows", nil, nil, &list)
}

// UpdateWorkflow implements Workflows.
func (c *Client) UpdateWorkflow(ctx context.Context, spec WorkflowSpec) (WorkflowInfo, error) {
	var info WorkflowInfo
	return info, c.do(ctx, http.MethodPatch, wfPath(spec.Registry), nil, spec, &info)
}

// DeleteWorkflow implements Workflows.
func (c *Client) DeleteWorkflow(ctx context.Context, registry, typ string) error {
	return c.do(ctx, http.MethodDelete, wfPath(registry), typeQuery(typ), nil, nil)
}

// RunImmediately implements Runs.
func (c *Client) RunImmediately(ctx context.Context, registry string) (workflow.Run, error) {
	var run workflow.Run
	return run, c.do(ctx, http.MethodPost, wfPath(registry, "/run"), nil, nil, &run)
}

// CancelCycle implements Runs.
func (c *Client) CancelCycle(ctx context.Context, registry string) ([]workflow.Run, error) {
	var res CancelResult
	return res.Canceled, c.do(ctx, http.MethodPost, wfPath(registry, "/cancel"), nil, nil, &res)
}

func statusQuery(q url.Values, statuses []workflow.Status) {
	for _, s := range statuses {
		q.Add("run-status", string(s))
	}
}

// ListImages implements Runs.
func (c *Client) ListImages(ctx context.Context, registry string, statuses ...workflow.Status) ([]workflow.ImageRow, error) {
	q := url.Values{}
	statusQuery(q, statuses)
	var rows []workflow.ImageRow
	return rows, c.do(ctx, http.MethodGet, wfPath(registry, "/images"), q, nil, &rows)
}

// ListRuns implements Runs.
func (c *Client) ListRuns(ctx context.Context, f workflow.RunFilter) ([]workflow.Run, error) {
	q := url.Values{}
	if f.Cycle != "" {
		q.Set("cycle", f.Cycle)
	}
	if f.Workflow != "" {
		q.Set("workflow", f.Workflow)
	}
	if f.Image != "" {
		q.Set("image", f.Image)
	}
	if f.Task != "" {
		q.Set("name", string(f.Task))
	}
	if f.Top > 0 {
		q.Set("top", strconv.Itoa(f.Top))
	}
	statusQuery(q, f.Statuses)
	var runs []workflow.Run
	return runs, c.do(ctx, http.MethodGet, "/v1/runs", q, nil, &runs)
}

// GetRun implements Runs.
func (c *Client) GetRun(ctx context.Context, id int64) (workflow.Run, error) {
	var run workflow.Run
	return run, c.do(ctx, http.MethodGet, "/v1/runs/"+strconv.FormatInt(id, 10), nil, nil, &run)
}

// CopyLog implements Runs.
func (c *Client) CopyLog(ctx context.Context, id int64, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/runs/"+strconv.FormatInt(id, 10)+"/logs", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading log of run %d: %w", id, err)
	}
	return nil
}
