package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func (a *app) resultCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "result RUN_ID",
		Short: "Print the result a run of the server wrote",
		Example: `  hashike result 01JD3K
  hashike result 01JD3K | jq .rows
  hashike result --output json 01JD3K   # what it is: size, content type, when`,
		Long: `Print the result of a run of the hashike server (HASHIKE_SERVER) as its container wrote it:
locally the file /hashike/result, on ECS an HTTP PUT to the URL in HASHIKE_RESULT_URL (README
"Payloads and results"). It exits 2, saying why, when the run wrote none, or when the one it
wrote was over the server's maxResultBytes and was not kept.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cl, err := a.client("result")
			if err != nil {
				return err
			}
			info, rc, err := cl.RunResult(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer rc.Close()
			if output == "json" {
				return writeJSON(a.stdout, info)
			}
			n, err := io.Copy(a.stdout, rc)
			if err != nil {
				return fmt.Errorf("read the result of run %s: %w", args[0], err)
			}
			if info.Size >= 0 && n != info.Size {
				return fmt.Errorf("the result of run %s broke off after %d of %d bytes", args[0], n, info.Size)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text (the result's bytes) or json (its size, content type and time)")
	return c
}
