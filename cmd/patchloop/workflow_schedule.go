package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/schedule"
)

// DefaultScheduleCount is how many run times workflow schedule prints.
const DefaultScheduleCount = 5

func newWorkflowScheduleCmd(e *env, g *globals) *cobra.Command {
	var (
		scheduleFlag string
		from         string
		count        int
	)
	cmd := &cobra.Command{
		Use:   "schedule --schedule Nd [--from RFC3339] [--count N]",
		Short: "Preview when a schedule runs",
		Long: `Print the next run times of a schedule set at --from (default now), one
RFC 3339 UTC time per line.

In the month the schedule is set, runs fall on the days that are multiples of
N after that moment; in every later month on day 1 and every N days after it.
Every run is at the UTC hour and minute the schedule was set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sched, err := parseSchedule(scheduleFlag)
			if err != nil {
				return err
			}
			set := e.now().UTC()
			if from != "" {
				if set, err = time.Parse(time.RFC3339, from); err != nil {
					return usagef("--from %q: want an RFC 3339 time such as 2026-01-03T10:00:00Z", from)
				}
				set = set.UTC()
			}
			if count < 1 || count > 1000 {
				return usagef("--count %d: want 1 to 1000", count)
			}
			runs := sched.Upcoming(set, set, count)
			out := make([]string, 0, len(runs))
			for _, r := range runs {
				out = append(out, rfc3339(r))
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			for _, s := range out {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&scheduleFlag, "schedule", "", "run every N days, 1d to 30d (required)")
	cmd.Flags().StringVar(&from, "from", "", "when the schedule is set, RFC 3339 (default now)")
	cmd.Flags().IntVar(&count, "count", DefaultScheduleCount, "how many run times to print")
	_ = cmd.MarkFlagRequired("schedule")
	return cmd
}

// parseSchedule parses --schedule, naming the flag in the error.
func parseSchedule(s string) (schedule.Schedule, error) {
	sched, err := schedule.Parse(s)
	if err != nil {
		return schedule.Schedule{}, fmt.Errorf("--schedule: %w", err)
	}
	return sched, nil
}
