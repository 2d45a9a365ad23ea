package main

import (
	"github.com/spf13/cobra"
)

func (a *app) logsCmd() *cobra.Command {
	var follow bool
	c := &cobra.Command{
		Use:   "logs RUN_ID",
		Short: "Show a run's stored output (stdout to stdout, stderr to stderr)",
		Long: `Show the output a run's containers wrote, from the run history, also long after the
containers are gone. With --follow, keep showing new output until the run ends.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
