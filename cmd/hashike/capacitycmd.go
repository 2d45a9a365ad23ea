package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike/api"
)

func (a *app) capacityCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "capacity",
		Short: "Show the cluster autoscalers: instances per group, pending demand, recent decisions",
		Example: `  hashike capacity
  hashike capacity -o json`,
		Long: `Show the cluster autoscalers of the hashike server (HASHIKE_SERVER) as the leader last
observed them: per cluster its groups with their instances launching, active and draining,
every instance with the CPU and memory its tasks reserve, the tasks pending for capacity,
and the last decisions that acted or failed, each action with its reason.

Only the leader runs the autoscalers: a follower says so and shows no view.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("capacity")
			if err != nil {
				return err
			}
			st, err := cl.CapacityStatus(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, st)
			}
			if !st.Leader {
				fmt.Fprintln(a.stdout, "This replica does not lead: the autoscalers run on the leader; ask it.")
			}
			for i, cl := range st.Clusters {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				if err := a.printCluster(cl); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func (a *app) printCluster(c api.ClusterCapacity) error {
	fmt.Fprintf(a.stdout, "Cluster %s (policy %s)", c.Name, c.Policy)
	if c.ObservedAt != nil {
		fmt.Fprintf(a.stdout, ", observed %s", c.ObservedAt.Format(time.RFC3339))
	}
	fmt.Fprintln(a.stdout)
	if c.Error != "" {
		fmt.Fprintf(a.stdout, "The last observation failed: %s\n", c.Error)
	}
	fmt.Fprintf(a.stdout, "Pending tasks: %d (%d CPU units, %d MiB)", c.Pending, c.PendingCPU, c.PendingMemoryMiB)
	if c.OldestPendingAt != nil {
		fmt.Fprintf(a.stdout, ", the oldest since %s", c.OldestPendingAt.Format(time.RFC3339))
	}
	fmt.Fprintf(a.stdout, "; running: %d\n\n", c.Running)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTYPES\tMIN\tMAX\tLAUNCHING\tACTIVE\tDRAINING")
	for _, g := range c.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", g.Name, dash(strings.Join(g.InstanceTypes, ",")), g.Min, g.Max, g.Launching, g.Active, g.Draining)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(c.Instances) > 0 {
		fmt.Fprintln(a.stdout)
		tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tGROUP\tTYPE\tSTATE\tTASKS\tCPU\tMEMORY")
		for _, in := range c.Instances {
			typ := in.Type
			if in.Spot {
				typ += " (spot)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d\t%d/%d\n", in.ID, in.Group, typ, in.State, in.Tasks, in.CPUUsed, in.CPU, in.MemoryUsed, in.MemoryMiB)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(c.Decisions) > 0 {
		fmt.Fprintln(a.stdout, "\nRecent decisions (newest first):")
		for _, d := range c.Decisions {
			at := d.At.Format(time.RFC3339)
			if d.Error != "" {
				fmt.Fprintf(a.stdout, "%s  no decision: %s\n", at, d.Error)
			}
			for _, x := range d.Actions {
				line := fmt.Sprintf("%s  %s: %s", at, x.Action, x.Reason)
				if x.Error != "" {
					line += " (failed: " + x.Error + ")"
				}
				fmt.Fprintln(a.stdout, line)
			}
		}
	}
	return nil
}
