package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

func (a *app) stopCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "stop RUN_ID",
		Short:   "Stop a run: SIGTERM, then SIGKILL after each container's stopTimeout",
		Example: `  hashike stop 01JD3K`,
		Long: `Stop a running run. Its containers get SIGTERM and, after their stopTimeout, SIGKILL,
as ECS StopTask does. The run ends canceled and 'hashike wait' exits 143.

With a server (HASHIKE_SERVER), stop is hashike cancel: a queued run never starts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if a.serverURL() != "" {
				return a.serverStop(ctx, args[0])
			}
			run, closeAll, r, err := a.wireRun(ctx, args[0])
			if err != nil {
				return err
			}
			defer closeAll()
			if run.State.Terminal() {
				fmt.Fprintf(a.stdout, "run %s already ended %s\n", run.ID, run.State)
				return nil
			}
			u := hashike.RunUpdate{At: a.clock.Now(), StopCause: hashike.StopUser, Reason: "stop requested: hashike stop"}
			if hashike.CanTransition(run.State, hashike.StateStopping) {
				u.State = hashike.StateStopping
			}
			if _, err := r.Store.UpdateRun(ctx, run.ID, u); err != nil {
				return err
			}
			ref := run.Task
			if ref == nil {
				found, err := r.Backend.Find(ctx, run.ID, &run.Spec)
				if err != nil && hashike.ErrorCodeOf(err) != hashike.ENotFound {
					return err
				}
				ref = &found
			}
			if ref.ID != "" {
				if err := r.Backend.Stop(ctx, *ref, "hashike stop", -1); err != nil {
					return err
				}
			}
			a.reconcile(ctx, r)
			fmt.Fprintf(a.stdout, "run %s stopping\n", run.ID)
			return nil
		},
	}
}

// serverStop cancels a server run, as hashike cancel does.
func (a *app) serverStop(ctx context.Context, id string) error {
	cl, err := a.client("stop")
	if err != nil {
		return err
	}
	run, err := cl.Cancel(ctx, id, api.CancelRequest{Reason: "hashike stop"})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "run %s %s\n", run.ID, run.State)
	return nil
}
