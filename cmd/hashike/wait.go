package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runner"
)

func (a *app) waitCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "wait RUN_ID",
		Short:   "Follow a run's output until it ends and exit with its exit code",
		Example: `  hashike wait 01JD3K`,
		Long: `Reattach to a run from any process: show its output from the start, follow it until
the run ends, and exit with the run's exit code. RUN_ID may be a unique prefix.

wait only watches: Ctrl-C ends the wait (exit 130), not the run; use hashike stop for that.
If the process supervising the run died, a new supervisor takes it over.

With a server (HASHIKE_SERVER), wait follows the run's tries as the job retries them and
exits with the final try's exit code, as enqueue --wait does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.serverURL() != "" {
				return a.serverWait(cmd.Context(), args[0])
			}
			r, closeAll, err := a.wireStore()
			if err != nil {
				return err
			}
			defer closeAll()
			return a.follow(cmd.Context(), r, args[0], true)
		},
	}
}

// follow shows a run's output (following it when wait is set) and ends with its exit code.
func (a *app) follow(ctx context.Context, r *runner.Runner, id string, wait bool) error {
	run, err := r.Store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := newPrinter(a.stdout, a.stderr, &run.Spec)
	run, err = r.Follow(ctx, run.ID, true, p.entry, func(orphan *hashike.Run) {
		if err := a.spawnSupervisor(orphan.ID, true, nil); err != nil {
			a.warn(err)
		}
	})
	p.Close()
	if err != nil {
		if ctx.Err() != nil {
			return &exitStatusError{code: hashike.ExitSIGINT, msg: "stopped waiting; run " + run.ID + " goes on (hashike stop " + run.ID + " stops it)"}
		}
		return err
	}
	if !wait {
		return nil
	}
	return a.exitWith(run)
}

// serverWait waits for a server run's final try, showing each try's output.
func (a *app) serverWait(ctx context.Context, id string) error {
	cl, err := a.client("wait")
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	v, err := cl.GetRun(ctx, id)
	if err != nil {
		return err
	}
	return a.awaitFinal(ctx, cl, v.Run, "text")
}
