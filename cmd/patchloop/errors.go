package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
)

// printError writes err for a person: policy problems one per line as
// file:line:col: message, anything else as one line with what to do.
func printError(w io.Writer, err error) {
	var verr *policy.ValidationError
	if errors.As(err, &verr) {
		// One problem per line, file:line:col: message.
		fmt.Fprintln(w, verr.Error())
		fmt.Fprintf(w, "patchloop: the policy file is invalid: fix the %s above\n", plural(len(verr.Problems), "problem"))
		return
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if h := hint(err); h != "" {
		msg += ": " + h
	}
	fmt.Fprintln(w, "patchloop: "+msg)
}

// hint says what the user can do about err, or "".
func hint(err error) string {
	switch {
	case errors.Is(err, registry.ErrUnauthorized):
		return "check --username/--password-stdin or docker login"
	case errors.Is(err, registry.ErrUnreachable):
		return "check the registry address and that it is up"
	case errors.Is(err, registry.ErrUnavailable):
		return "the registry kept failing after retries; try again later"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return ""
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
