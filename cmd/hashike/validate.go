package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/jobfile"
)

// validation is one file's result, as `validate -o json` prints it.
type validation struct {
	File string `json:"file"`
	// OK: no problem of error severity (warnings may remain).
	OK bool `json:"ok"`
	// Kind is "job" (a job file of hashike run) or "server-job" (a job definition of
	// hashike server, read as `hashike server --jobs` reads its files).
	Kind       string               `json:"kind"`
	Family     string               `json:"family,omitempty"`
	Backend    string               `json:"backend"`
	Containers int                  `json:"containers"`
	Resources  string               `json:"resources,omitempty"`
	Queue      string               `json:"queue,omitempty"`
	Problems   []hashike.FieldError `json:"problems"`
	errs       []hashike.FieldError // Problems of error severity
}

func (a *app) validateCmd() *cobra.Command {
	var (
		checkAWS bool
		output   string
		jsonnet  jsonnetFlags
	)
	c := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check job files and report every problem at once, in line order, with file:line:col",
		Example: `  hashike validate job.yaml
  hashike validate jobs/ -o json
  cat job.yaml | hashike validate -`,
		Long: `Check job files without running anything and without contacting Docker or AWS: every
problem of each file at once, errors and warnings in line order, each with file:line:col.
A file with the fields of a job definition of hashike server (queue, priority,
retryStrategy, schedule, ...) is checked as hashike server --jobs reads it; any other as
hashike run reads it. FILE - reads standard input. A directory is checked as
hashike server --jobs DIR reads it: each job file as a job definition named by its file.

--check-aws also asks AWS (read-only calls) whether the roles, secrets, SSM parameters and
log groups an ecs job names exist; it refuses a job that does not run on ecs. Without it,
the template functions ssm and secretsmanager_arn, and tfstate of a state in S3, render
placeholders (and what only a placeholder causes is not reported); with it, they are
looked up in AWS and their failures reported at their calls. A *.jsonnet file is evaluated
with the --ext-str and --ext-code variables first.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var results []*validation
			bad := 0
			for _, name := range args {
				vs, err := a.validatePath(cmd.Context(), name, checkAWS, jsonnet)
				if err != nil {
					return err
				}
				for _, v := range vs {
					results = append(results, v)
					if !v.OK {
						bad++
					}
				}
			}
			if output == "json" {
				if err := writeJSON(a.stdout, map[string]any{"ok": bad == 0, "files": results}); err != nil {
					return err
				}
			} else {
				for _, v := range results {
					for _, p := range v.Problems {
						fmt.Fprintln(a.stderr, p)
					}
					if v.OK {
						fmt.Fprintln(a.stdout, v.okLine())
					}
				}
			}
			switch {
			case bad == 0:
				return nil
			case len(results) == 1:
				return &exitStatusError{code: hashike.ExitUsage, msg: fmt.Sprintf("%s: %d problem(s)", results[0].File, len(results[0].errs))}
			}
			n := 0
			for _, v := range results {
				n += len(v.errs)
			}
			return &exitStatusError{code: hashike.ExitUsage, msg: fmt.Sprintf("%d problem(s) in %d of %d files", n, bad, len(results))}
		},
	}
	c.Flags().BoolVar(&checkAWS, "check-aws", false, "also verify in AWS that the roles, secrets, SSM parameters and log groups an ecs job refers to exist (read-only calls)")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	jsonnet.add(c.Flags())
	return c
}

// validatePath checks one file ("-": standard input), or the job files of a directory as
// hashike server --jobs reads them. Its error is for what stops the whole command (AWS not
// configured for --check-aws); the files' problems are in the results.
func (a *app) validatePath(ctx context.Context, name string, checkAWS bool, jsonnet jsonnetFlags) ([]*validation, error) {
	var (
		data []byte
		err  error
	)
	var awsErr error
	opts := a.inspectOptions(ctx, checkAWS, &awsErr)
	// Offline, ssm, secretsmanager_arn and states in S3 are placeholders; --check-aws looks
	// them up.
	fopts, err := a.jobfileOptions(ctx, jsonnet, !checkAWS)
	if err != nil {
		return nil, err
	}
	opts.Lookups, opts.ExtVars = fopts.Lookups, fopts.ExtVars
	if st, statErr := os.Stat(name); statErr == nil && st.IsDir() {
		entries, err := jobfile.InspectDir(name, opts)
		if err != nil {
			return nil, err
		}
		if awsErr != nil {
			return nil, awsErr
		}
		var out []*validation
		for _, e := range entries {
			out = append(out, newValidation(e.File, e.Inspection))
		}
		return out, nil
	}
	if name == "-" {
		// A little more than jobfile reads, so that it can say the text is too long.
		data, err = io.ReadAll(io.LimitReader(a.stdin, 1<<20))
		name, opts.Unnamed = "<stdin>", true
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "cannot read job file", Err: err}
	}
	in := jobfile.Inspect(name, data, opts)
	if awsErr != nil {
		return nil, awsErr
	}
	return []*validation{newValidation(name, in)}, nil
}

// inspectOptions checks a spec offline, and in AWS with checkAWS; an error of the AWS
// configuration goes to *awsErr.
func (a *app) inspectOptions(ctx context.Context, checkAWS bool, awsErr *error) jobfile.InspectOptions {
	return jobfile.InspectOptions{LookupEnv: a.lookupEnv, Check: func(spec *hashike.JobSpec) []hashike.FieldError {
		found := checkBackend(spec)
		if checkAWS {
			if spec.Backend != "ecs" {
				return append(found, hashike.FieldError{Path: "backend", Severity: hashike.SeverityError,
					Message: "--check-aws checks the AWS resources of an ecs job, and this job runs on the local backend: set backend: ecs, or leave out --check-aws"})
			}
			more, err := a.checkAWS(ctx, spec)
			if err != nil {
				*awsErr = err
			}
			found = append(found, more...)
		}
		return found
	}}
}

func newValidation(name string, in *jobfile.Inspection) *validation {
	v := &validation{File: name, Kind: "job", Backend: in.Job.Backend, Problems: in.Problems,
		Family: in.Job.TaskDefinition.Family, Containers: len(in.Job.TaskDefinition.ContainerDefinitions)}
	if v.Backend == "" {
		v.Backend = "local"
	}
	if in.Server {
		v.Kind, v.Queue = "server-job", in.Job.Queue
		if v.Queue == "" {
			v.Queue = "default"
		}
	}
	v.errs = hashike.Errors(in.Problems)
	v.OK = len(v.errs) == 0
	if v.OK {
		v.Resources = in.Job.Resources().String()
	}
	if v.Problems == nil {
		v.Problems = []hashike.FieldError{}
	}
	return v
}

func (v *validation) okLine() string {
	what := ""
	if v.Kind == "server-job" {
		what = fmt.Sprintf("job definition of hashike server, queue %s; ", v.Queue)
	}
	family := v.Family
	if family == "" {
		family = "the job's name"
	}
	return fmt.Sprintf("%s: ok (%sfamily %s, %d container(s), %s, backend %s)", v.File, what, family, v.Containers, v.Resources, v.Backend)
}

// checkBackend is what the named backend refuses or warns about in spec, found offline:
// neither Docker nor AWS is contacted. An unknown backend is JobSpec.Validate's to report.
func checkBackend(spec *hashike.JobSpec) []hashike.FieldError {
	switch spec.Backend {
	case "", "local":
		return (&docker.Backend{}).Check(spec)
	case "ecs":
		return (&ecs.Backend{}).Check(spec)
	}
	return nil
}
