package main

import (
	"github.com/hashike/hashike/api"
	"github.com/spf13/cobra"
)

func (a *app) rerunCmd() *cobra.Command {
	var (
		payload      string
		latest, wait bool
		output       string
	)
	c := &cobra.Command{
		Use:   "rerun RUN_ID",
		Short: "Queue a new run like an ended one on the server, and print its run ID",
		Example: `  hashike rerun 01JD3K
  hashike rerun --wait 01JD3K`,
		Long: `Queue a new run of an ended run's job on the hashike server (HASHIKE_SERVER): the
same job version and payload unless --latest or --payload say otherwise. It is a new
enqueue, with its own tries and retries. --wait waits as enqueue --wait does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("rerun")
			if err != nil {
				return err
			}
			req := api.RerunRequest{Latest: latest}
			if payload != "" {
				p, err := a.readPayload("--payload", payload)
				if err != nil {
					return err
				}
				req.Payload = p
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			run, err := cl.Rerun(ctx, args[0], req)
			if err != nil {
				return err
			}
			return a.afterEnqueue(ctx, cl, run, wait, output)
		},
	}
	fl := c.Flags()
	fl.StringVar(&payload, "payload", "", "replace the payload: JSON, @FILE, or - for standard input")
	fl.BoolVar(&latest, "latest", false, "run the job's latest version, not the one the run used")
	fl.BoolVar(&wait, "wait", false, "show the output and exit with the final try's exit code")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	return c
}
