package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/server"
)

func (a *app) pruneCmd() *cobra.Command {
	var (
		dryRun bool
		output string
		config string
	)
	c := &cobra.Command{
		Use:   "prune",
		Short: "Delete the logs and runs past their retention (--dry-run: only say what)",
		Example: `  hashike prune --dry-run
  hashike prune -o json
  hashike prune --config hashike.yaml            # this machine's history, with the config's retention`,
		Long: `Make one retention pass now (README "Retention"): the logs of runs that ended before
their logs retention are deleted from the database (archived first when there is a log
archive), and runs that ended before their runs retention are deleted with their history,
logs and notifications. Runs that have not ended, and tries of an enqueue still in progress,
are never deleted. Nothing is deleted unless a retention says so.

With a server (HASHIKE_SERVER or --server), the server makes the pass with its config's
retention section and each job's own retention (an admin token). Without, the pass runs on
this machine's database (--db) with the retention section of --config (env HASHIKE_CONFIG)
and the retention of the jobs registered in it.

--dry-run deletes nothing and prints what a pass would delete.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var rep hashike.PruneReport
			var err error
			if a.serverURL() != "" {
				if config != "" {
					return hashike.Errorf(hashike.EInvalid, "prune --config is for this machine's database: a server prunes with its own config (unset HASHIKE_SERVER, or --server=, to prune here)")
				}
				cl, cerr := a.client("prune")
				if cerr != nil {
					return cerr
				}
				rep, err = cl.Prune(cmd.Context(), api.PruneRequest{DryRun: dryRun})
			} else {
				rep, err = a.pruneLocal(cmd.Context(), config, dryRun)
			}
			if output == "json" {
				if rep.Scopes == nil {
					rep.Scopes = []hashike.PruneScope{}
				}
				if werr := writeJSON(a.stdout, rep); werr != nil {
					return werr
				}
			} else if !rep.At.IsZero() {
				writePruneReport(a.stdout, rep)
			}
			return err
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "delete nothing; print what would be deleted")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().StringVar(&config, "config", "", "the config file whose retention section applies (env HASHIKE_CONFIG; local mode)")
	return c
}

// pruneLocal makes the pass on this machine's database.
func (a *app) pruneLocal(ctx context.Context, config string, dryRun bool) (hashike.PruneReport, error) {
	conf, err := a.readConfig(config)
	if err != nil {
		return hashike.PruneReport{}, err
	}
	store, err := a.openStore()
	if err != nil {
		return hashike.PruneReport{}, err
	}
	defer store.Close()
	srvStore, ok := store.(hashike.ServerStore)
	if !ok {
		return hashike.PruneReport{}, fmt.Errorf("prune: the store %T has no job registry", store)
	}
	// `hashike run`'s history has no log archive: its output is deleted, not archived.
	pruner, err := a.pruner(store, conf.Retention, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		return hashike.PruneReport{}, err
	}
	policy, err := server.RetentionPolicy(ctx, srvStore, conf.Retention.Default())
	if err != nil {
		return hashike.PruneReport{}, err
	}
	return pruner.Prune(ctx, policy, dryRun)
}

// writePruneReport prints a report for people: a line per scope, then the totals.
func writePruneReport(w io.Writer, rep hashike.PruneReport) {
	verb := "Deleted"
	if rep.DryRun {
		verb = "Would delete"
	}
	if len(rep.Scopes) == 0 {
		fmt.Fprintln(w, "No retention is configured: nothing is deleted (README \"Retention\").")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCOPE\tLOGS BEFORE\tRUNS BEFORE\tLOGS\tRUNS")
		when := func(t *time.Time) string {
			if t == nil {
				return "forever"
			}
			return t.UTC().Format(time.RFC3339)
		}
		for _, s := range rep.Scopes {
			scope := "default"
			if s.Job != "" {
				scope = "job " + s.Job
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", scope, when(s.LogsBefore), when(s.RunsBefore), s.Logs, s.Runs)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%s: the logs of %d runs, %d runs, %d archived log objects (%d bytes).\n",
		verb, rep.Logs, rep.Runs, rep.ArchiveObjects, rep.ArchiveBytes)
	if rep.Kept > 0 {
		fmt.Fprintf(w, "Kept %d runs whose logs could not be archived; the next pass tries again.\n", rep.Kept)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
