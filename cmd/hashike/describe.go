package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

func (a *app) describeCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "describe RUN_ID",
		Short: "Show one run: state, exit, resources and what it used of them, containers and every state transition",
		Example: `  hashike describe 01JD3K
  hashike describe -o json 01JD3K | jq .exit`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.serverURL() != "" {
				return a.serverDescribe(cmd.Context(), args[0], output)
			}
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
				return writeJSON(a.stdout, api.RunView{Run: run}) // the server's shape
			}
			return a.writeRun(run, nil, nil)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// serverDescribe shows a run of the server, with every try of its enqueue.
func (a *app) serverDescribe(ctx context.Context, id, output string) error {
	cl, err := a.client("describe")
	if err != nil {
		return err
	}
	v, err := cl.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(a.stdout, v)
	}
	return a.writeRun(v.Run, v.Attempts, v.Objects)
}

// writeRun shows a run for people: its fields, the server's when it has them, the tries of
// its enqueue, and its history.
func (a *app) writeRun(run *hashike.Run, attempts []api.AttemptView, objects []hashike.RunObject) error {
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
	if run.ServerRun() {
		row("Job", "%s (version %d)", run.Job, run.JobVersion)
		row("Queue", "%s (priority %d)", run.Queue, run.Priority)
		row("Try", "%d (trigger %s)", run.Attempt, run.Trigger)
		if run.RetryOf != "" {
			row("Retry of", "%s", run.RetryOf)
		}
		if run.NotBefore != nil {
			row("Not before", "%s", ts(run.NotBefore))
		}
		if run.ScheduledAt != nil {
			row("Scheduled at", "%s", ts(run.ScheduledAt))
		}
		if run.Payload != nil {
			row("Payload", "%s", payloadText(run.Payload))
		}
		for _, o := range objects {
			switch o.Name {
			case hashike.RunObjectPayload:
				row("Payload", "%d bytes, by reference (object %s)", o.Size, o.Key)
			case hashike.RunObjectScript:
				row("Script", "%d bytes, by reference (object %s)", o.Size, o.Key)
			case hashike.RunObjectResult:
				if o.Error != "" {
					row("Result", "%s", o.Error)
				} else {
					row("Result", "%d bytes, %s (hashike result %s)", o.Size, o.ContentType, run.ID)
				}
			}
		}
	}
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
	if u := run.Usage; u != nil {
		memory, cpu := hashike.RightSizing(*u, run.Resources, run.Ran(a.clock.Now()))
		row("Memory", "%s", memory)
		row("CPU", "%s", cpu)
		row("Measured", "%s", u.Measured())
	}
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
	if len(attempts) > 0 {
		fmt.Fprintln(a.stdout, "Tries (* this run):")
		tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, t := range attempts {
			exit, reason := "-", ""
			if t.Exit != nil {
				exit, reason = fmt.Sprint(t.Exit.Code), t.Exit.Reason
			}
			mark := " "
			if t.ID == run.ID {
				mark = "*"
			}
			fmt.Fprintf(tw, " %s try %d\t%s\t%s\texit %s\t%s\t%s\n", mark, t.Attempt, t.ID, t.State, exit, ts(&t.CreatedAt), reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
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
}

// payloadText is a payload in one line, cut short.
func payloadText(p []byte) string {
	const max = 200
	if len(p) > max {
		return fmt.Sprintf("%s... (%d bytes)", p[:max], len(p))
	}
	return string(p)
}
