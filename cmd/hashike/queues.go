package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
)

func (a *app) queuesCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "queues",
		Short: "List the server's queues with their caps and counts",
		Example: `  hashike queues
  hashike queues -o json`,
		Long: `List the queues of the hashike server (HASHIKE_SERVER): each one's concurrency cap
(MAX, "-" for none), whether it is paused, and how many runs wait in it and are active.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("queues")
			if err != nil {
				return err
			}
			qs, err := cl.ListQueues(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, orEmpty(qs))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMAX\tPAUSED\tQUEUED\tACTIVE")
			for _, q := range qs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", q.Name, maxText(q.MaxConcurrency), yesNo(q.Paused), q.Queued, q.Active)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.AddCommand(a.queueSetCmd(), a.queuePauseCmd("pause"), a.queuePauseCmd("resume"))
	return c
}

func (a *app) queueSetCmd() *cobra.Command {
	var (
		maxConcurrency int
		output         string
	)
	c := &cobra.Command{
		Use:   "set QUEUE --max-concurrency N",
		Short: "Set a queue's concurrency cap (0: none); it keeps its paused state",
		Example: `  hashike queues set batch --max-concurrency 20
  hashike queues set batch --max-concurrency 0   # no cap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if !cmd.Flags().Changed("max-concurrency") {
				return hashike.Errorf(hashike.EInvalid, "queues set needs --max-concurrency N (0: no cap)")
			}
			if maxConcurrency < 0 {
				return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{
					Path: "--max-concurrency", Severity: hashike.SeverityError, Message: "must not be negative (0: no cap)"}}}
			}
			cl, err := a.client("queues set")
			if err != nil {
				return err
			}
			// The API sets both settings at once: keep the queue's paused state as it is.
			qs, err := cl.ListQueues(cmd.Context())
			if err != nil {
				return err
			}
			cfg := hashike.QueueConfig{Name: args[0], MaxConcurrency: maxConcurrency}
			for _, q := range qs {
				if q.Name == args[0] {
					cfg.Paused = q.Paused
				}
			}
			q, err := cl.PutQueue(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return a.printQueue(q, output)
		},
	}
	c.Flags().IntVar(&maxConcurrency, "max-concurrency", 0, "at most this many active runs across every replica (0: no cap)")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// queuePauseCmd is "pause" or "resume".
func (a *app) queuePauseCmd(verb string) *cobra.Command {
	var output string
	short := "Stop dispatching a queue's runs (running ones go on; queued ones wait)"
	if verb == "resume" {
		short = "Dispatch a paused queue's runs again"
	}
	c := &cobra.Command{
		Use:     verb + " QUEUE",
		Short:   short,
		Example: "  hashike queues " + verb + " batch",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("queues " + verb)
			if err != nil {
				return err
			}
			set := cl.PauseQueue
			if verb == "resume" {
				set = cl.ResumeQueue
			}
			q, err := set(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printQueue(q, output)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func (a *app) printQueue(q hashike.QueueInfo, output string) error {
	if output == "json" {
		return writeJSON(a.stdout, q)
	}
	_, err := fmt.Fprintf(a.stdout, "queue %s: paused %s, max concurrency %s, %d queued, %d active\n",
		q.Name, yesNo(q.Paused), maxText(q.MaxConcurrency), q.Queued, q.Active)
	return err
}

func maxText(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
