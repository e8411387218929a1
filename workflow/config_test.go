package workflow

import (
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	base := Config{Selector: &fakeSelector{}, Scanner: newFakeScanner(), Patcher: newFakePatcher()}

	t.Run("WithDefaultsFillsZerosAndValidates", func(t *testing.T) {
		t.Parallel()
		c := base.WithDefaults()
		if c.Workers != WorkersDefault || c.JobTimeout != JobTimeoutDefault || c.MaxAttempts != MaxAttemptsDefault ||
			c.RescueAfter != JobTimeoutDefault+time.Minute || c.Clock == nil || c.Logger == nil {
			t.Fatalf("defaults = %+v", c)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if base.Workers != 0 {
			t.Fatal("WithDefaults changed its receiver")
		}
	})

	t.Run("ValidateNamesTheField", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			edit func(*Config)
			want string
		}{
			{func(c *Config) { c.Selector = nil }, "Selector"},
			{func(c *Config) { c.Scanner = nil }, "Scanner"},
			{func(c *Config) { c.Patcher = nil }, "Patcher"},
			{func(c *Config) { c.Workers = -1 }, "Workers"},
			{func(c *Config) { c.JobTimeout = -time.Second }, "JobTimeout"},
			{func(c *Config) { c.RescueAfter = time.Second }, "RescueAfter"},
			{func(c *Config) { c.MaxAttempts = -2 }, "MaxAttempts"},
			{func(c *Config) { c.PollInterval = time.Microsecond }, "PollInterval"},
		} {
			cfg := base.WithDefaults()
			c.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %v, want an error naming %s", err, c.want)
			}
		}
	})

	t.Run("NewRefusesABadDatabase", func(t *testing.T) {
		t.Parallel()
		if _, err := New(t.Context(), Database{}, base); err == nil || !strings.Contains(err.Error(), "database") {
			t.Fatalf("New with no database: err = %v", err)
		}
	})
}

func TestParseStatusAndTask(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"failed", "FAILED", " Failed "} {
		if st, err := ParseStatus(s); err != nil || st != StatusFailed {
			t.Errorf("ParseStatus(%q) = %q, %v", s, st, err)
		}
	}
	if _, err := ParseStatus("done"); err == nil {
		t.Error("ParseStatus accepted done")
	}
	if tk, err := ParseTask("CSSC-Patch-Image"); err != nil || tk != TaskPatch {
		t.Errorf("ParseTask = %q, %v", tk, err)
	}
	if _, err := ParseTask("cssc-other"); err == nil {
		t.Error("ParseTask accepted cssc-other")
	}
}
