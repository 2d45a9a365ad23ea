package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

func (a *app) runsCmd() *cobra.Command {
	var (
		states []string
		family string
		since  string
		limit  int
		output string
		// server mode only
		job, queue, cursor string
	)
	c := &cobra.Command{
		Use:   "runs",
		Short: "List runs from the run history (or the server's), newest first",
		Example: `  hashike runs
  hashike runs --state failed --since 24h
  hashike runs -o wide --limit 10`,
		Long: `List runs, newest first: those of the local run history, or with a server
(HASHIKE_SERVER) the server's. With a server, --job and --queue select runs, and a page
ends with its next --cursor on stderr (in -o json, the page's "next").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			srv := a.serverURL() != ""
			if err := checkModeFlags(cmd.Flags(), srv, []string{"family", "since"}, []string{"job", "queue", "cursor"}); err != nil {
				return err
			}
			f := hashike.RunFilter{Family: family, Limit: limit}
			var bad []hashike.FieldError
			for _, s := range states {
				for _, one := range strings.Split(s, ",") {
					st := hashike.RunState(strings.TrimSpace(one))
					if !st.Valid() {
						bad = append(bad, hashike.FieldError{Path: "--state", Message: fmt.Sprintf("%q is not a run state (%s)", one, stateNames())})
					}
					f.States = append(f.States, st)
				}
			}
			if since != "" {
				t, err := parseSince(since, a.clock.Now())
				if err != nil {
					bad = append(bad, hashike.FieldError{Path: "--since", Message: err.Error()})
				}
				f.Since = t
			}
			if output != "text" && output != "json" && output != "wide" {
				bad = append(bad, hashike.FieldError{Path: "--output", Message: "must be text, wide or json"})
			}
			if len(bad) > 0 {
				return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: bad}
			}
			if srv {
				return a.serverRuns(cmd.Context(), hashike.RunFilter{States: f.States, Job: job, Queue: queue, Limit: limit, Before: cursor}, output)
			}
			r, closeAll, err := a.wireStore()
			if err != nil {
				return err
			}
			defer closeAll()
			a.reconcile(cmd.Context(), r)
			runs, err := r.Store.ListRuns(cmd.Context(), f)
			if err != nil {
				return err
			}
			if output == "json" {
				// The server's shape (GET /v1/runs), so that a script reads both alike.
				views := make([]api.RunView, len(runs))
				for i, run := range runs {
					views[i] = api.RunView{Run: run}
				}
				return writeJSON(a.stdout, api.RunPage{Runs: views})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			wide := output == "wide"
			fmt.Fprintln(tw, "RUN ID\tFAMILY\tSTATE\tEXIT\tCREATED\tDURATION"+wideHeader(wide)+"\tREASON")
			for _, run := range runs {
				exit, reason := "-", ""
				if run.Exit != nil {
					exit, reason = fmt.Sprint(run.Exit.Code), run.Exit.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s%s\t%s\n", run.ID, run.Family, run.State, exit,
					run.CreatedAt.Local().Format("2006-01-02 15:04:05"), duration(run, a.clock.Now()), wideColumns(wide, run), reason)
			}
			return tw.Flush()
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&states, "state", nil, "only runs in these states (repeatable or comma-separated): "+stateNames())
	fl.StringVar(&family, "family", "", "only runs of this task definition family")
	fl.StringVar(&since, "since", "", "only runs created since a duration ago (1h) or a time (RFC 3339)")
	fl.IntVar(&limit, "limit", 50, "at most this many runs (0: all; with a server, a page of at most 500)")
	fl.StringVarP(&output, "output", "o", "text", "text, wide (adds backend, cpu, memory, task and instance) or json")
	fl.StringVar(&job, "job", "", "with a server: only runs of this job")
	fl.StringVar(&queue, "queue", "", "with a server: only runs of this queue")
	fl.StringVar(&cursor, "cursor", "", "with a server: the page after this cursor (printed after the previous page)")
	return c
}

// serverRuns lists a page of the server's runs.
func (a *app) serverRuns(ctx context.Context, q hashike.RunFilter, output string) error {
	cl, err := a.client("runs")
	if err != nil {
		return err
	}
	page, err := cl.ListRuns(ctx, q)
	if err != nil {
		return err
	}
	if output == "json" {
		page.Runs = orEmpty(page.Runs)
		return writeJSON(a.stdout, page)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	wide := output == "wide"
	fmt.Fprintln(tw, "RUN ID\tJOB\tQUEUE\tTRY\tSTATE\tEXIT\tCREATED\tDURATION"+wideHeader(wide)+"\tREASON")
	for _, run := range page.Runs {
		exit, reason := "-", ""
		if run.Exit != nil {
			exit, reason = fmt.Sprint(run.Exit.Code), run.Exit.Reason
		}
		job := run.Job
		if job == "" {
			job = "-"
		} else {
			job += fmt.Sprintf(" v%d", run.JobVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\t%s\n", run.ID, job, orDash(run.Queue), orDash(attemptText(run.Attempt)),
			run.State, exit, run.CreatedAt.Local().Format("2006-01-02 15:04:05"), duration(run.Run, a.clock.Now()), wideColumns(wide, run.Run), reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(a.stderr, "hashike: more runs: --cursor %s\n", page.Next)
	}
	return nil
}

func attemptText(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stateNames() string {
	var s []string
	for _, st := range hashike.RunStates {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (1h) nor an RFC 3339 time", s)
}

func duration(run *hashike.Run, now time.Time) string {
	if run.StartedAt == nil {
		return "-"
	}
	end := now
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	return end.Sub(*run.StartedAt).Round(time.Millisecond).String()
}

// wideHeader and wideColumns are what --output wide adds, as kubectl's wide adds the node:
// where the run ran and at what size.
func wideHeader(wide bool) string {
	if !wide {
		return ""
	}
	return "\tBACKEND\tCPU\tMEMORY\tTASK\tINSTANCE"
}

func wideColumns(wide bool, run *hashike.Run) string {
	if !wide {
		return ""
	}
	res := run.Spec.Resources()
	task, instance := "-", "-"
	if run.Task != nil {
		task = orDash(run.Task.ID)
		instance = orDash(run.Task.ContainerInstance)
	}
	backend := run.Spec.Backend
	if backend == "" {
		backend = "local"
	}
	return fmt.Sprintf("\t%s\t%d\t%d\t%s\t%s", backend, res.CPU, res.MemoryMiB, task, instance)
}
