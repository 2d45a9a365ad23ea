package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashike/hashike/api"
	"github.com/spf13/cobra"
)

func (a *app) schedulesCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "schedules",
		Short:   "List the server's job schedules with their next fire times",
		Example: `  hashike schedules`,
		Long: `List the schedule of every job on the hashike server (HASHIKE_SERVER) that has one.
The subcommands show a schedule's next five fire times, suspend and resume a schedule
(a new version of the job), and trigger a job now.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("schedules")
			if err != nil {
				return err
			}
			ss, err := cl.ListSchedules(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, orEmpty(ss))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tCRON\tTZ\tSUSPENDED\tNEXT")
			for _, s := range ss {
				next := "-"
				if len(s.Next) > 0 {
					next = s.Next[0].Local().Format(time.DateTime)
				}
				// One row per expression: a job fires on any of them.
				for i, e := range s.Schedule.Expressions {
					job, suspended := s.Job, yesNo(s.Schedule.Suspended)
					if i > 0 {
						job, suspended, next = "", "", ""
					}
					tz := e.TimeZone
					if tz == "" {
						tz = "UTC"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", job, e.Cron, tz, suspended, next)
				}
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.AddCommand(a.scheduleShowCmd(), a.scheduleSetCmd("suspend"), a.scheduleSetCmd("resume"), a.triggerCmd())
	return c
}

func (a *app) scheduleShowCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "show JOB",
		Short:   "Show a job's schedule and its next five fire times",
		Example: `  hashike schedules show nightly-report`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("schedules show")
			if err != nil {
				return err
			}
			s, err := cl.GetSchedule(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, s)
			}
			return a.writeSchedule(s)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// scheduleSetCmd is "suspend" or "resume".
func (a *app) scheduleSetCmd(verb string) *cobra.Command {
	var output string
	short := "Hold back a job's scheduled fires until resume (fires meanwhile are dropped)"
	if verb == "resume" {
		short = "Resume a suspended job's schedule"
	}
	c := &cobra.Command{
		Use:     verb + " JOB",
		Short:   short,
		Example: "  hashike schedules " + verb + " nightly-report",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("schedules " + verb)
			if err != nil {
				return err
			}
			set := cl.Suspend
			if verb == "resume" {
				set = cl.Resume
			}
			s, err := set(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, s)
			}
			state := "resumed"
			if s.Schedule.Suspended {
				state = "suspended"
			}
			fmt.Fprintf(a.stdout, "schedule of job %s %s (job version %d)\n", s.Job, state, s.Version)
			if len(s.Next) > 0 {
				fmt.Fprintf(a.stdout, "next fire: %s\n", s.Next[0].Local().Format(time.RFC3339))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func (a *app) triggerCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "trigger JOB",
		Short:   "Queue a run of a job now, whatever its schedule says, and print its run ID",
		Example: `  hashike schedules trigger nightly-report`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("schedules trigger")
			if err != nil {
				return err
			}
			run, err := cl.Trigger(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, run)
			}
			fmt.Fprintln(a.stdout, run.ID)
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func (a *app) writeSchedule(s api.ScheduleView) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	row := func(k, format string, v ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, v...)...) }
	row("Job", "%s (version %d)", s.Job, s.Version)
	for _, e := range s.Schedule.Expressions {
		tz := e.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		row("Cron", "%s (%s)", e.Cron, tz)
	}
	for _, w := range s.Schedule.SuspendWindows {
		tz := w.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		d := "1m"
		if w.Duration > 0 {
			d = time.Duration(w.Duration).String()
		}
		row("Suspend window", "%s for %s (%s)", w.Cron, d, tz)
	}
	row("Suspended", "%s", yesNo(s.Schedule.Suspended))
	if s.Schedule.Overlap != "" {
		row("Overlap", "%s", s.Schedule.Overlap)
	}
	if m := s.Schedule.CatchUp.Mode; m != "" {
		row("Catch-up", "%s", m)
	}
	if s.LastTick != nil {
		row("Last tick", "%s", s.LastTick.Local().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Next) == 0 {
		fmt.Fprintln(a.stdout, "Next: none")
		return nil
	}
	var b strings.Builder
	b.WriteString("Next:\n")
	for _, t := range s.Next {
		fmt.Fprintf(&b, "  %s\n", t.Local().Format(time.RFC3339))
	}
	_, err := fmt.Fprint(a.stdout, b.String())
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
