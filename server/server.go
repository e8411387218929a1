// Package server serves the daemon's HTTP JSON API: workflows, runs, logs,
// cancel and run-now, with a bearer token on everything but /healthz, and
// Prometheus metrics on /metrics.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/workflow"
)

// MaxBodyBytes bounds a request body: a policy file may be 10 MiB.
const MaxBodyBytes = 11 << 20

// Config configures a Server.
type Config struct {
	// Runs answers run queries and commands. Required.
	Runs Runs
	// Workflows serves workflow CRUD. Nil answers 501 on those endpoints.
	Workflows Workflows
	// Token is the bearer token every endpoint but /healthz requires. Required.
	Token string
	// Collectors are registered for /metrics, beside Go and process metrics.
	Collectors []prometheus.Collector
	// Logger receives request errors. Default discards.
	Logger *slog.Logger
}

// Server is the API's HTTP handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	metrics http.Handler
}

var _ http.Handler = (*Server)(nil)

// New checks cfg and builds the handler.
func New(cfg Config) (*Server, error) {
	if cfg.Runs == nil {
		return nil, errors.New("server config: Runs is required")
	}
	if len(cfg.Token) < 16 {
		return nil, errors.New("server config: Token must be at least 16 characters")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range cfg.Collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /metrics", s.auth(s.metrics))
	s.handle("POST /v1/workflows", s.createWorkflow)
	s.handle("GET /v1/workflows", s.listWorkflows)
	s.handle("GET /v1/workflows/{registry}", s.getWorkflow)
	s.handle("PATCH /v1/workflows/{registry}", s.updateWorkflow)
	s.handle("DELETE /v1/workflows/{registry}", s.deleteWorkflow)
	s.handle("GET /v1/workflows/{registry}/images", s.listImages)
	s.handle("POST /v1/workflows/{registry}/run", s.runNow)
	s.handle("POST /v1/workflows/{registry}/cancel", s.cancelRun)
	s.handle("GET /v1/runs", s.listRuns)
	s.handle("GET /v1/runs/{id}", s.getRun)
	s.handle("GET /v1/runs/{id}/logs", s.runLogs)
	s.mux.Handle("/", s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiFunc handles one endpoint; a returned error becomes the answer.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, f apiFunc) {
	s.mux.Handle(pattern, s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if err := f(w, r); err != nil {
			code := statusOf(err)
			if code >= 500 {
				s.cfg.Logger.Error("api request", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, code, err.Error())
		}
	})))
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !tokenMatches(strings.TrimSpace(tok), s.cfg.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="patchloop"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errStatus carries an HTTP status with a message.
type errStatus struct {
	code int
	msg  string
}

func (e *errStatus) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &errStatus{code: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

func statusOf(err error) int {
	var es *errStatus
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &es):
		return es.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound), errors.Is(err, workflow.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorBody{Error: msg})
}

// decode reads a JSON body into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("decoding request body: %v", err)
	}
	if dec.More() {
		return badRequest("decoding request body: unexpected data after the JSON object")
	}
	return nil
}

func (s *Server) workflows() (Workflows, error) {
	if s.cfg.Workflows == nil {
		return nil, &errStatus{code: http.StatusNotImplemented, msg: "this server does not manage workflows"}
	}
	return s.cfg.Workflows, nil
}

func registryParam(r *http.Request) (string, error) {
	reg := r.PathValue("registry")
	if reg == "" || strings.ContainsAny(reg, "/ \t\n") {
		return "", badRequest("registry %q: want a registry host such as myregistry.example.com", reg)
	}
	return reg, nil
}

func typeParam(r *http.Request) string {
	if t := r.URL.Query().Get("type"); t != "" {
		return t
	}
	return workflow.WorkflowType
}

func (s *Server) createWorkflow(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.workflows()
	if err != nil {
		return err
	}
	var spec WorkflowSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if spec.Registry == "" || spec.Config == "" || spec.Schedule == "" {
		return badRequest("create needs registry, config and schedule")
	}
	if spec.DryRun && spec.RunImmediately {
		return badRequest("dry_run and run_immediately cannot be used together")
	}
	info, err := wf.CreateWorkflow(r.Context(), spec)
	if err != nil {
		return err
	}
	code := http.StatusCreated
	if spec.DryRun {
		code = http.StatusOK
	}
	if spec.RunImmediately {
		run, err := s.cfg.Runs.RunImmediately(r.Context(), spec.Registry)
		if err != nil {
			return fmt.Errorf("workflow created, but queueing its run: %w", err)
		}
		info.RunID = run.ID
	}
	writeJSON(w, code, info)
	return nil
}

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.workflows()
	if err != nil {
		return err
	}
	list, err := wf.ListWorkflows(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []WorkflowInfo{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.workflows()
	if err != nil {
		return err
	}
	reg, err := registryParam(r)
	if err != nil {
		return err
	}
	info, err := wf.GetWorkflow(r.Context(), reg, typeParam(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) updateWorkflow(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.workflows()
	if err != nil {
		return err
	}
	reg, err := registryParam(r)
	if err != nil {
		return err
	}
	var spec WorkflowSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if spec.Registry != "" && spec.Registry != reg {
		return badRequest("body names registry %q but the path %q", spec.Registry, reg)
	}
	spec.Registry = reg
	if spec.Config == "" && spec.Schedule == "" {
		return badRequest("update needs config, schedule or both")
	}
	if spec.DryRun {
		return badRequest("dry_run applies to create only")
	}
	info, err := wf.UpdateWorkflow(r.Context(), spec)
	if err != nil {
		return err
	}
	if spec.RunImmediately {
		run, err := s.cfg.Runs.RunImmediately(r.Context(), reg)
		if err != nil {
			return fmt.Errorf("workflow updated, but queueing its run: %w", err)
		}
		info.RunID = run.ID
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) deleteWorkflow(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.workflows()
	if err != nil {
		return err
	}
	reg, err := registryParam(r)
	if err != nil {
		return err
	}
	if err := wf.DeleteWorkflow(r.Context(), reg, typeParam(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// statusesParam parses run-status, which may repeat or hold a comma list.
func statusesParam(r *http.Request) ([]workflow.Status, error) {
	var out []workflow.Status
	for _, v := range r.URL.Query()["run-status"] {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			st, err := workflow.ParseStatus(part)
			if err != nil {
				return nil, badRequest("%v", err)
			}
			out = append(out, st)
		}
	}
	return out, nil
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	reg, err := registryParam(r)
	if err != nil {
		return err
	}
	statuses, err := statusesParam(r)
	if err != nil {
		return err
	}
	rows, err := s.cfg.Runs.ListImages(r.Context(), reg, statuses...)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []workflow.ImageRow{}
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func (s *Server) runNow(w http.ResponseWriter, r *http.Request) error {
	reg, err := registryParam(r)
	if err != nil {
		return err
	}
	if s.cfg.Workflows != nil {
		if _, err := s.cfg.Workflows.GetWorkflow(r.Context(), reg, typeParam(r)); err != nil {
			return err
		}
	}
	run, err := s.cfg.Runs.RunImmediately(r.Context(), reg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, run)
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	reg, err := registryParam(r)
	if err != nil {
		return err
	}
	runs, err := s.cfg.Runs.CancelCycle(r.Context(), reg)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []workflow.Run{}
	}
	writeJSON(w, http.StatusOK, CancelResult{Canceled: runs})
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := workflow.RunFilter{Workflow: q.Get("workflow"), Image: q.Get("image"), Cycle: q.Get("cycle")}
	if n := q.Get("name"); n != "" {
		t, err := workflow.ParseTask(n)
		if err != nil {
			return badRequest("%v", err)
		}
		f.Task = t
	}
	statuses, err := statusesParam(r)
	if err != nil {
		return err
	}
	f.Statuses = statuses
	if top := q.Get("top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 {
			return badRequest("top %q: want a whole number of at least 1", top)
		}
		f.Top = n
	}
	runs, err := s.cfg.Runs.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []workflow.Run{}
	}
	writeJSON(w, http.StatusOK, runs)
	return nil
}

func runID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("run id %q: want a positive whole number", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	run, err := s.cfg.Runs.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) runLogs(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	// Look the run up first so that a missing run is a clean 404.
	if _, err := s.cfg.Runs.GetRun(r.Context(), id); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if err := s.cfg.Runs.CopyLog(r.Context(), id, w); err != nil {
		// The status is sent; all that is left is to log it.
		s.cfg.Logger.Error("streaming run log", "run", id, "err", err)
	}
	return nil
}

// ListenAndServe serves h on addr until ctx is done, then shuts down,
// letting requests in flight finish for up to 10 seconds.
func ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return Serve(ctx, ln, h)
}

// Serve is ListenAndServe on an open listener.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down server on %s: %w", ln.Addr(), err)
	}
	return nil
}
