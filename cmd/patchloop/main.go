// Command patchloop patches OS-package vulnerabilities in container images
// on any OCI registry, the way Azure Container Registry's continuous
// patching does. This package is the CLI shell: it parses flags, calls the
// packages that do the work and prints their results.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		now:         time.Now,
		getenv:      os.Getenv,
		interactive: isTerminal(os.Stdin),
	}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device, i.e. a person can
// answer a prompt on it.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
