package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) describeCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "describe RUN_ID",
		Short: "Show one run: state, exit, resources, containers and every state transition",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, closeAll, err := a.wireStore()
			if err != nil {
				return err
			}
			defer closeAll()
			a.reconcile(cmd.Context(), r)
			run, err := r.Store.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, run)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			row := func(k, format string, v ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, v...)...) }
			ts := func(t *time.Time) string {
				if t == nil {
					return "-"
				}
				return t.Local().Format(time.RFC3339Nano)
			}
			row("Run", "%s", run.ID)
			row("Family", "%s", run.Family)
			row("Backend", "%s", run.Backend)
			row("State", "%s", run.State)
			if run.Exit != nil {
				row("Exit code", "%d", run.Exit.Code)
				if run.Exit.ContainerExitCode != nil {
					row("Container exit code", "%d", *run.Exit.ContainerExitCode)
				}
				if run.Exit.OOMKilled {
					row("OOM-killed", "yes")
				}
				row("Reason", "%s", run.Exit.Reason)
			}
			if run.Exit != nil && run.Exit.StopCode != "" {
				row("Stop code", "%s", run.Exit.StopCode)
			}
			if run.Exit != nil && run.Exit.StoppedReason != "" && run.Exit.StoppedReason != run.Exit.Reason {
				row("Stopped reason", "%s", run.Exit.StoppedReason)
			}
			if run.StopCause != "" {
				row("Stop cause", "%s", run.StopCause)
			}
			row("Watch container", "%s", run.Spec.Watched())
			row("Resources", "%s", run.Resources)
			row("Digest", "%s", run.Digest)
			if run.IdempotencyKey != "" {
				row("Idempotency key", "%s", run.IdempotencyKey)
			}
			row("Created", "%s", ts(&run.CreatedAt))
			row("Started", "%s", ts(run.StartedAt))
			row("Finished", "%s", ts(run.FinishedAt))
			row("Duration", "%s", duration(run, a.clock.Now()))
			if run.Owner != nil {
				row("Supervised by", "pid %d on %s", run.Owner.PID, run.Owner.Host)
			}
			if run.Task != nil {
				row("Task", "%s", run.Task.ID)
				if run.Task.Cluster != "" {
					row("Cluster", "%s", run.Task.Cluster)
				}
				if run.Task.ContainerInstance != "" {
					row("Container instance", "%s", run.Task.ContainerInstance)
				}
				for _, c := range run.Task.Containers {
					row("  container "+c.Name, "%s", c.ID)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "History:")
			tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, t := range run.History {
				from := "-"
				if t.From != "" {
					from = string(t.From)
				}
				fmt.Fprintf(tw, "  %s\t%s -> %s\t%s\n", t.At.Local().Format(time.RFC3339Nano), from, t.To, t.Reason)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}
