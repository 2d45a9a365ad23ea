package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

func (a *app) cancelCmd() *cobra.Command {
	var reason, output string
	c := &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel a run on the server: take it out of its queue, or stop its task",
		Example: `  hashike cancel 01JD3K
  hashike cancel --reason 'wrong payload' 01JD3K`,
		Long: `Cancel a run of the hashike server (HASHIKE_SERVER). A queued run is canceled at once;
a started one is stopped (SIGTERM, then SIGKILL after the containers' stopTimeout) and ends
canceled, exit 143, once its task has stopped. A canceled run is not retried.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("cancel")
			if err != nil {
				return err
			}
			run, err := cl.Cancel(cmd.Context(), args[0], api.CancelRequest{Reason: reason})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, run)
			}
			if run.State.Terminal() {
				fmt.Fprintf(a.stdout, "run %s %s\n", run.ID, run.State)
			} else {
				fmt.Fprintf(a.stdout, "run %s %s: stop requested; it ends %s once its task has stopped\n", run.ID, run.State, hashike.StateCanceled)
			}
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why, recorded in the run's history")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}
