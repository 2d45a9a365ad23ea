package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
)

// Usage errors: every mistake in how a command is called (a missing or extra argument, an
// unknown command or flag) is a usage error, exit 2 (README "Exit codes"), that says what
// was wrong and how the command is called, instead of cobra's bare text and exit 1.

// usageErrors makes the argument checks of c and of every command under it usage errors. A
// command with subcommands and no action of its own shows its help when called alone and
// refuses an unknown subcommand.
func usageErrors(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
	if c.HasSubCommands() && !c.Runnable() {
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if c.Name() == "help" && c.HasParent() && !c.Parent().HasParent() {
		// cobra's help prints "Unknown help topic" and succeeds.
		c.Run, c.RunE = nil, func(cmd *cobra.Command, args []string) error {
			topic, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 && topic.HasSubCommands() {
				return &hashike.Error{Code: hashike.EInvalid, Message: fmt.Sprintf("unknown help topic %q (see 'hashike --help')", strings.Join(args, " "))}
			}
			return topic.Help()
		}
	}
	check := c.Args
	if check == nil {
		check = cobra.ArbitraryArgs
		if c.HasSubCommands() {
			check = cobra.NoArgs
		}
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			return nil
		}
		var he *hashike.Error
		if errors.As(err, &he) {
			return err // the command's own words
		}
		return argsError(cmd, args)
	}
}

// argsError says what is wrong with args, given the arguments cmd's Use names.
func argsError(cmd *cobra.Command, args []string) error {
	names, variadic := argNames(cmd.Use)
	var msg string
	switch {
	case cmd.HasSubCommands() && len(args) > 0:
		msg = fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's own default
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		var subs []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				subs = append(subs, sub.Name())
			}
		}
		msg += fmt.Sprintf(" (commands: %s)", strings.Join(subs, ", "))
	case len(args) < len(names):
		msg = fmt.Sprintf("%s needs %s", cmd.CommandPath(), strings.Join(names[len(args):], " "))
	case len(names) == 0:
		msg = fmt.Sprintf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	case !variadic:
		msg = fmt.Sprintf("%s takes %s, got the extra argument(s) %q", cmd.CommandPath(), strings.Join(names, " "), strings.Join(args[len(names):], " "))
	default:
		msg = fmt.Sprintf("%s: wrong arguments %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return &hashike.Error{Code: hashike.EInvalid, Message: msg + usageHint(cmd)}
}

// usageHint is " (usage: LINE; see 'PATH --help')"; for a command of commands that does
// nothing itself, only the pointer to its help, which lists them.
func usageHint(cmd *cobra.Command) string {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		return fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	return fmt.Sprintf(" (usage: %s; see '%s --help')", cmd.UseLine(), cmd.CommandPath())
}

// argNames are the positional arguments a Use line names: its upper-case words before the
// first flag or optional part ("validate FILE..." -> FILE..., variadic).
func argNames(use string) (names []string, variadic bool) {
	words := strings.Fields(use)
	for _, w := range words[min(1, len(words)):] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || w != strings.ToUpper(w) {
			break
		}
		names = append(names, w)
		variadic = variadic || strings.HasSuffix(w, "...")
	}
	return names, variadic
}
