package workflow

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Defaults for Config.
const (
	WorkersDefault          = 4
	JobTimeoutDefault       = 30 * time.Minute
	MaxAttemptsDefault      = 3
	RetryDelayDefault       = 2 * time.Second
	PollIntervalDefault     = 1 * time.Second
	SchedulerRefreshDefault = 1 * time.Minute
)

// Config configures an Engine.
type Config struct {
	// Selector, Scanner and Patcher do the work of the three tasks. Required.
	Selector Selector
	Scanner  Scanner
	Patcher  Patcher
	// Catalog lists the workflows to schedule. Nil runs no scheduler: only
	// RunImmediately starts cycles.
	Catalog Catalog

	// Workers is how many jobs this engine runs at once. Default WorkersDefault.
	Workers int
	// JobTimeout bounds one attempt of any task. Default JobTimeoutDefault.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River puts it
	// back in the queue as abandoned (its daemon was killed). It must be at
	// least JobTimeout. Default JobTimeout plus one minute.
	RescueAfter time.Duration
	// MaxAttempts is how many times a task is tried. Default MaxAttemptsDefault.
	MaxAttempts int
	// RetryDelay is the wait before attempt n+1, multiplied by n. Default RetryDelayDefault.
	RetryDelay time.Duration
	// PollInterval is how often the engine looks for new jobs and for
	// cancellations made by other engines. Default PollIntervalDefault.
	PollInterval time.Duration
	// SchedulerRefresh is how often the scheduler re-reads the catalog even
	// when not told to (Reschedule). Default SchedulerRefreshDefault.
	SchedulerRefresh time.Duration
	// Clock is the scheduler's clock. Default the system clock in UTC.
	Clock Clock
	// Logger receives the engine's and River's own logs. Default discards.
	Logger *slog.Logger
	// ID names this engine among several on one database. Default River's.
	ID string
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Workers == 0 {
		c.Workers = WorkersDefault
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = JobTimeoutDefault
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = c.JobTimeout + time.Minute
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = MaxAttemptsDefault
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = RetryDelayDefault
	}
	if c.PollInterval == 0 {
		c.PollInterval = PollIntervalDefault
	}
	if c.SchedulerRefresh == 0 {
		c.SchedulerRefresh = SchedulerRefreshDefault
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Validate reports the first field that breaks its rule.
func (c Config) Validate() error {
	switch {
	case c.Selector == nil:
		return errors.New("config: Selector is required")
	case c.Scanner == nil:
		return errors.New("config: Scanner is required")
	case c.Patcher == nil:
		return errors.New("config: Patcher is required")
	case c.Workers < 1 || c.Workers > 10_000:
		return fmt.Errorf("config: Workers must be 1 to 10000, got %d", c.Workers)
	case c.JobTimeout <= 0:
		return fmt.Errorf("config: JobTimeout must be positive, got %s", c.JobTimeout)
	case c.RescueAfter < c.JobTimeout:
		return fmt.Errorf("config: RescueAfter (%s) must be at least JobTimeout (%s)", c.RescueAfter, c.JobTimeout)
	case c.MaxAttempts < 1:
		return fmt.Errorf("config: MaxAttempts must be at least 1, got %d", c.MaxAttempts)
	case c.RetryDelay < 0:
		return fmt.Errorf("config: RetryDelay must not be negative, got %s", c.RetryDelay)
	case c.PollInterval < time.Millisecond:
		return fmt.Errorf("config: PollInterval must be at least 1ms, got %s", c.PollInterval)
	case c.SchedulerRefresh <= 0:
		return fmt.Errorf("config: SchedulerRefresh must be positive, got %s", c.SchedulerRefresh)
	case c.Clock == nil:
		return errors.New("config: Clock is required")
	case c.Logger == nil:
		return errors.New("config: Logger is required")
	}
	return nil
}
