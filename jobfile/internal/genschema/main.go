// Command genschema writes the JSON Schemas of hashike's job files (jobfile.Schemas) into
// the directory it is given: `go generate ./jobfile` (or `make schema`) runs it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashike/hashike/jobfile"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genschema DIR")
		os.Exit(2)
	}
	root, err := jobfile.ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
	for _, s := range jobfile.Schemas {
		b, err := jobfile.GenerateSchema(s.File, s.Title, s.Type, root)
		if err == nil {
			err = os.WriteFile(filepath.Join(os.Args[1], s.File), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "genschema:", err)
			os.Exit(1)
		}
	}
}
