package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestEveryCommandHasWorkingExamples: every command a user can call shows examples in its
// --help, and every example is a call the command accepts: its flags exist and take the
// values given, and its arguments are the ones the command wants (a renamed flag breaks
// this test, not a reader's copy-paste).
func TestEveryCommandHasWorkingExamples(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, lookupEnv: func(string) (string, bool) { return "", false }}
	root := a.rootCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Hidden || !c.Runnable() || c.HasSubCommands() || c.Name() == "help" || strings.HasPrefix(c.CommandPath(), "hashike completion") || c == root {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no examples in --help", c.CommandPath())
			return
		}
		for _, line := range strings.Split(c.Example, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			words := shellWords(t, line)
			if i := indexOf(words, "|"); i >= 0 {
				words = words[:i] // a pipe to another program
			}
			if words[0] == "cat" {
				continue // input for the example's next command
			}
			if j := indexOf(words, "#"); j >= 0 {
				words = words[:j]
			}
			if len(words) < 2 || words[0] != "hashike" {
				t.Errorf("%s: example %q does not call hashike", c.CommandPath(), line)
				continue
			}
			found, rest, err := root.Find(words[1:])
			if err != nil || found != c {
				t.Errorf("%s: example %q calls %v (%v)", c.CommandPath(), line, found.CommandPath(), err)
				continue
			}
			found.InitDefaultHelpFlag()
			if err := found.ParseFlags(rest); err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
				continue
			}
			if err := found.ValidateArgs(found.Flags().Args()); err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
			}
			found.Flags().VisitAll(func(f *pflag.Flag) { f.Changed = false })
		}
	}
	walk(root)
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

// shellWords splits an example line as a POSIX shell would: spaces separate words, single
// and double quotes group them.
func shellWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
