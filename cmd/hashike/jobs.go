package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
)

func (a *app) jobsCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs registered on the server (latest versions)",
		Example: `  hashike jobs
  hashike jobs -o json`,
		Long: `List the jobs registered on the hashike server (HASHIKE_SERVER), each at its latest
version. The subcommands show a job, register a new version from a file, and list a job's
versions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("jobs")
			if err != nil {
				return err
			}
			jobs, err := cl.ListJobs(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, orEmpty(jobs))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tQUEUE\tSCHEDULE\tDESCRIPTION")
			for _, j := range jobs {
				queue, sched, desc := "-", "-", ""
				if d := j.Definition; d != nil {
					queue, sched, desc = d.QueueName(), scheduleText(d.Schedule), oneLine(d.Description)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", j.Name, j.Version, queue, sched, desc)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.AddCommand(a.jobsShowCmd(), a.jobsRegisterCmd(), a.jobsVersionsCmd())
	return c
}

func (a *app) jobsShowCmd() *cobra.Command {
	var (
		version int
		output  string
	)
	c := &cobra.Command{
		Use:   "show JOB",
		Short: "Show a job's definition (its latest version, or --version N)",
		Example: `  hashike jobs show nightly-report
  hashike jobs show nightly-report --version 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("jobs show")
			if err != nil {
				return err
			}
			j, err := cl.GetJob(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, j)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			row := func(k, format string, v ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, v...)...) }
			row("Job", "%s", j.Name)
			row("Version", "%d", j.Version)
			row("Digest", "%s", j.Digest)
			row("Registered", "%s", j.CreatedAt.Local().Format(time.RFC3339))
			if j.Source != "" {
				row("Source", "%s", j.Source)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			doc, err := json.Marshal(j.Definition)
			if err == nil {
				doc, err = yaml.JSONToYAML(doc)
			}
			if err != nil {
				return fmt.Errorf("show job %s's definition: %w", j.Name, err)
			}
			fmt.Fprintln(a.stdout, "Definition:")
			for _, line := range strings.SplitAfter(strings.TrimRight(string(doc), "\n"), "\n") {
				fmt.Fprintf(a.stdout, "  %s", line)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	c.Flags().IntVar(&version, "version", 0, "this version (default: the latest)")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func (a *app) jobsRegisterCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "register JOB FILE",
		Short:   "Register FILE (YAML or JSON) as the job's next version",
		Example: `  hashike jobs register nightly-report jobs/nightly-report.yaml`,
		Long: `Send FILE, a job definition (a job file of hashike run plus queue, priority,
retryStrategy, schedule, notifications...), to the server as JOB's next version. A file
equal to the latest version registers nothing. The server refuses templates ({{ env }})
and task definition files named by path: what it registers must not read its machine.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("jobs register")
			if err != nil {
				return err
			}
			doc, err := os.ReadFile(args[1])
			if err != nil {
				return &hashike.Error{Code: hashike.EInvalid, Message: "read the job definition", Err: err}
			}
			ct := ""
			switch strings.ToLower(filepath.Ext(args[1])) {
			case ".json":
				ct = "application/json"
			case ".yaml", ".yml":
				ct = "application/yaml"
			}
			v, created, err := cl.PutJob(cmd.Context(), args[0], doc, ct)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, v)
			}
			if created {
				fmt.Fprintf(a.stdout, "job %s version %d registered (%s)\n", v.Name, v.Version, v.Digest)
			} else {
				fmt.Fprintf(a.stdout, "job %s unchanged: version %d is the same definition\n", v.Name, v.Version)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func (a *app) jobsVersionsCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "versions JOB",
		Short:   "List a job's versions, newest first",
		Example: `  hashike jobs versions nightly-report`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("jobs versions")
			if err != nil {
				return err
			}
			vs, err := cl.ListJobVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, orEmpty(vs))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tREGISTERED\tDIGEST\tSOURCE")
			for _, v := range vs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.Version, v.CreatedAt.Local().Format(time.DateTime), v.Digest, v.Source)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// scheduleText is a schedule in one cell: its expressions, "-" for none.
func scheduleText(s cron.Spec) string {
	if len(s.Expressions) == 0 {
		return "-"
	}
	var parts []string
	for _, e := range s.Expressions {
		p := e.Cron
		if e.TimeZone != "" {
			p += " (" + e.TimeZone + ")"
		}
		parts = append(parts, p)
	}
	text := strings.Join(parts, "; ")
	if s.Suspended {
		text += " [suspended]"
	}
	return text
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// orEmpty makes a nil list print as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
