package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
)

func (a *app) stopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop RUN_ID",
		Short: "Stop a run: SIGTERM, then SIGKILL after each container's stopTimeout",
		Long: `Stop a running run. Its containers get SIGTERM and, after their stopTimeout, SIGKILL,
as ECS StopTask does. The run ends canceled and 'hashike wait' exits 143.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
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
