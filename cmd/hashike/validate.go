package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/jobfile"
)

func (a *app) validateCmd() *cobra.Command {
	var checkAWS bool
	c := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a job file and report every problem at once, with file:line:col",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, err := jobfile.Load(args[0], a.lookupEnv)
			if err != nil {
				var he *hashike.Error
				if errors.As(err, &he) && len(he.Fields) > 0 {
					for _, f := range he.Fields {
						fmt.Fprintln(a.stderr, f)
					}
					return &exitStatusError{code: hashike.ExitUsage, msg: fmt.Sprintf("%s: %d problem(s)", args[0], len(hashike.Errors(he.Fields)))}
				}
				return err
			}
			backend, err := a.backend(cmd.Context(), file.Spec.Backend)
			if err != nil {
				return err
			}
			problems := append(append([]hashike.FieldError(nil), file.Warnings...), file.Annotate(backend.Check(&file.Spec))...)
			if checkAWS {
				found, err := a.checkAWS(cmd.Context(), &file.Spec)
				if err != nil {
					return err
				}
				problems = append(problems, file.Annotate(found)...)
			}
			for _, p := range problems {
				fmt.Fprintln(a.stderr, p)
			}
			if errs := hashike.Errors(problems); len(errs) > 0 {
				return &exitStatusError{code: hashike.ExitUsage, msg: fmt.Sprintf("%s: %d problem(s)", args[0], len(errs))}
			}
			fmt.Fprintf(a.stdout, "%s: ok (family %s, %d container(s), %s)\n", args[0], file.Spec.TaskDefinition.Family,
				len(file.Spec.TaskDefinition.ContainerDefinitions), file.Spec.Resources())
			return nil
		},
	}
	c.Flags().BoolVar(&checkAWS, "check-aws", false, "also verify in AWS that the referenced roles, secrets, SSM parameters and log groups exist (read-only calls)")
	return c
}
