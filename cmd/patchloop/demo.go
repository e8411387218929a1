package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDemoCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Patch a real vulnerable Debian image end to end on an in-process registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("demo: not built yet")
		},
	}
}
