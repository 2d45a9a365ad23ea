package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike/api"
)

func (a *app) runnersCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "runners",
		Short: "Show the GitHub Actions runner pools: counts, runners by state, queued jobs",
		Example: `  hashike runners
  hashike runners -o json`,
		Long: `Show the runner pools of the hashike server (HASHIKE_SERVER) as its runner controller
last saw them: per pool the jobs queued and the runners idle, starting, busy and desired
(with the minimum idle and why: base, a warm schedule or the SLO); the controller's
runners by state; the jobs queued now with how long they have waited; and the last jobs
runners took, with how long each waited (GitHub's queued -> started).

Only the leader runs the controller; any replica answers: a follower with the status the
leader published after its last pass, and says when that was. In the scale-set mode each
pool's scale set is shown: whether the leader holds its session, and GitHub's counts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("runners")
			if err != nil {
				return err
			}
			st, err := cl.RunnersStatus(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, st)
			}
			switch {
			case !st.Leader && st.SnapshotAt != nil:
				fmt.Fprintf(a.stdout, "This replica does not lead: the leader's status as of %s.\n", st.SnapshotAt.Format(time.RFC3339))
			case !st.Leader:
				fmt.Fprintln(a.stdout, "This replica does not lead, and the leader has published no status yet.")
			}
			if st.Mode != "" {
				fmt.Fprintf(a.stdout, "Demand: %s\n", st.Mode)
			}
			if st.DecidedAt != nil {
				fmt.Fprintf(a.stdout, "Last decision: %s\n", st.DecidedAt.Format(time.RFC3339))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POOL\tJOB\tQUEUED\tIDLE\tSTARTING\tBUSY\tDESIRED\tMAX\tMIN IDLE")
			for _, p := range st.Pools {
				minIdle := fmt.Sprint(p.MinIdle)
				if p.MinIdleReason != "" {
					minIdle += " (" + p.MinIdleReason + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Name, p.Job, p.Queued, p.Idle, p.Starting, p.Busy, p.Desired, p.Max, minIdle)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if slices.ContainsFunc(st.Pools, func(p api.RunnerPoolView) bool { return p.ScaleSet != nil }) {
				fmt.Fprintln(a.stdout)
				tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "POOL\tSCALE SET\tSESSION\tAVAILABLE\tASSIGNED\tRUNNING")
				for _, p := range st.Pools {
					if ss := p.ScaleSet; ss != nil {
						session := "held"
						if !ss.Session {
							session = "not held: " + dash(ss.Error)
						}
						fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\n", p.Name, ss.ID, session, ss.Available, ss.Assigned, ss.Running)
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			fmt.Fprintln(a.stdout)
			tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUNNER\tPOOL\tSTATE\tRUN")
			for _, r := range st.Runners {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Pool, r.State, dash(r.RunID))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tPOOL\tLABELS\tWAITING")
			for _, j := range st.Queued {
				wait := (time.Duration(j.WaitSeconds * float64(time.Second))).Round(time.Second)
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", j.ID, dash(j.Pool), strings.Join(j.Labels, ","), wait)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(st.Recent) > 0 {
				fmt.Fprintln(a.stdout)
				tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RECENT JOB\tPOOL\tRUNNER\tSTARTED\tWAITED")
				for _, j := range st.Recent {
					wait := (time.Duration(j.WaitSeconds * float64(time.Second))).Round(time.Second)
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", j.ID, dash(j.Pool), dash(j.Runner), j.StartedAt.Format(time.RFC3339), wait)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if st.LostWebhooks > 0 {
				fmt.Fprintf(a.stdout, "\n%d queued jobs were found by a re-scan of GitHub, not by their webhook (lost or late deliveries).\n", st.LostWebhooks)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
