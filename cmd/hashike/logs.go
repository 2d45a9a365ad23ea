package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
)

func (a *app) logsCmd() *cobra.Command {
	var follow bool
	c := &cobra.Command{
		Use:   "logs RUN_ID",
		Short: "Show a run's stored output (stdout to stdout, stderr to stderr)",
		Long: `Show the output a run's containers wrote, from the run history, also long after the
containers are gone. With --follow, keep showing new output until the run ends.

With a server (HASHIKE_SERVER), the output comes from the server; --follow streams it live.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.serverURL() != "" {
				return a.serverLogs(cmd.Context(), args[0], follow)
			}
			r, closeAll, err := a.wireStore()
			if err != nil {
				return err
			}
			defer closeAll()
			if !follow {
				run, err := r.Store.GetRun(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				p := newPrinter(a.stdout, a.stderr, &run.Spec)
				_, err = r.Follow(cmd.Context(), run.ID, false, p.entry, nil)
				p.Close()
				return err
			}
			return a.follow(cmd.Context(), r, args[0], false)
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep showing output until the run ends")
	return c
}

// serverLogs shows a run's output from the server: stdout entries on stdout, stderr entries on
// stderr, their bytes unchanged (prefixed with the container's name when the task has
// several, as locally).
func (a *app) serverLogs(ctx context.Context, id string, follow bool) error {
	cl, err := a.client("logs")
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	// The run's containers decide the prefixes.
	v, err := cl.GetRun(ctx, id)
	if err != nil {
		return err
	}
	p := newPrinter(a.stdout, a.stderr, &v.Spec)
	err = cl.Logs(ctx, v.ID, follow, func(e hashike.LogEntry) error { p.entry(e); return nil })
	p.Close()
	if err != nil && ctx.Err() != nil {
		return &exitStatusError{code: hashike.ExitSIGINT, msg: "stopped following; run " + v.ID + " goes on"}
	}
	return err
}
