package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON output: %w", err)
	}
	return nil
}

// rfc3339 formats t in UTC to the second, as every command prints times.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
