package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/httpapi"
)

// Shell completion (hashike completion bash|zsh|fish|powershell) of the names a command
// takes: run IDs, job names and queue names, from the server when one is set and from the
// local run history otherwise, each with a short description. A completion never fails the
// shell: on any error it offers nothing, and it gives up after two seconds.

const completionTimeout = 2 * time.Second

// completionsFor attaches completions to every command that takes a RUN_ID, JOB or QUEUE
// (by its Use line) and to the --job, --queue, --state and --output flags.
func (a *app) completionsFor(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		names, _ := argNames(c.Use)
		if len(names) > 0 && c.ValidArgsFunction == nil {
			kinds := names
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) >= len(kinds) {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				switch strings.TrimSuffix(kinds[len(args)], "...") {
				case "RUN_ID":
					return a.completeRuns(cmd.Context(), prefix), cobra.ShellCompDirectiveNoFileComp
				case "JOB":
					return a.completeJobs(cmd.Context(), prefix), cobra.ShellCompDirectiveNoFileComp
				case "QUEUE":
					return a.completeQueues(cmd.Context(), prefix), cobra.ShellCompDirectiveNoFileComp
				}
				return nil, cobra.ShellCompDirectiveDefault // FILE, DIR: the shell's files
			}
		}
		fl := c.Flags()
		if fl.Lookup("job") != nil {
			_ = c.RegisterFlagCompletionFunc("job", func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return a.completeJobs(cmd.Context(), prefix), cobra.ShellCompDirectiveNoFileComp
			})
		}
		if fl.Lookup("queue") != nil {
			_ = c.RegisterFlagCompletionFunc("queue", func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return a.completeQueues(cmd.Context(), prefix), cobra.ShellCompDirectiveNoFileComp
			})
		}
		if fl.Lookup("state") != nil {
			var states []cobra.Completion
			for _, s := range hashike.RunStates {
				states = append(states, string(s))
			}
			_ = c.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(states, cobra.ShellCompDirectiveNoFileComp))
		}
		if f := fl.Lookup("output"); f != nil {
			values := []cobra.Completion{"text", "json"}
			if strings.Contains(f.Usage, "wide") {
				values = append(values, "wide")
			}
			_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	walk(root)
}

func completionContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

// completeRuns offers the newest run IDs starting with prefix, described by family and
// state.
func (a *app) completeRuns(ctx context.Context, prefix string) []cobra.Completion {
	ctx, cancel := completionContext(ctx)
	defer cancel()
	var runs []*hashike.Run
	if a.serverURL() != "" {
		cl, err := a.client("completion")
		if err != nil {
			return nil
		}
		page, err := cl.ListRuns(ctx, hashike.RunFilter{Limit: 100})
		if err != nil {
			return nil
		}
		for _, v := range page.Runs {
			runs = append(runs, v.Run)
		}
	} else {
		if _, err := os.Stat(a.database()); err != nil {
			return nil // no history yet: do not create one to complete a word
		}
		store, err := a.openStore()
		if err != nil {
			return nil
		}
		defer store.Close()
		if runs, err = store.ListRuns(ctx, hashike.RunFilter{Limit: 100}); err != nil {
			return nil
		}
	}
	var out []cobra.Completion
	for _, r := range runs {
		family := r.Family
		if family == "" {
			family = r.Spec.TaskDefinition.Family
		}
		if strings.HasPrefix(r.ID, strings.ToLower(prefix)) {
			out = append(out, cobra.CompletionWithDesc(r.ID, fmt.Sprintf("%s %s", family, r.State)))
		}
	}
	return out
}

// completeJobs offers the server's job names (none without a server).
func (a *app) completeJobs(ctx context.Context, prefix string) []cobra.Completion {
	return a.completeFromServer(ctx, func(ctx context.Context, cl *httpapi.Client) ([]cobra.Completion, error) {
		jobs, err := cl.ListJobs(ctx)
		var out []cobra.Completion
		for _, j := range jobs {
			if strings.HasPrefix(j.Name, prefix) {
				out = append(out, cobra.CompletionWithDesc(j.Name, fmt.Sprintf("v%d", j.Version)))
			}
		}
		return out, err
	})
}

// completeQueues offers the server's queue names (none without a server).
func (a *app) completeQueues(ctx context.Context, prefix string) []cobra.Completion {
	return a.completeFromServer(ctx, func(ctx context.Context, cl *httpapi.Client) ([]cobra.Completion, error) {
		qs, err := cl.ListQueues(ctx)
		var out []cobra.Completion
		for _, q := range qs {
			if strings.HasPrefix(q.Name, prefix) {
				out = append(out, q.Name)
			}
		}
		return out, err
	})
}

// completeFromServer asks the server for completions with list; it offers nothing without a
// server or on any error.
func (a *app) completeFromServer(ctx context.Context, list func(context.Context, *httpapi.Client) ([]cobra.Completion, error)) []cobra.Completion {
	if a.serverURL() == "" {
		return nil
	}
	ctx, cancel := completionContext(ctx)
	defer cancel()
	cl, err := a.client("completion")
	if err != nil {
		return nil
	}
	out, err := list(ctx, cl)
	if err != nil {
		return nil
	}
	return out
}
