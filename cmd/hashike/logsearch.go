package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
)

// logSearchFlags are `hashike logs search`'s options.
type logSearchFlags struct {
	family, container string
	since, until      string
	states            []string
	limit             int
	output            string
}

func (a *app) logSearchCmd() *cobra.Command {
	var f logSearchFlags
	c := &cobra.Command{
		Use:   "search PATTERN",
		Short: "Search the log archive with a regular expression",
		Long: `Search the archived output of runs for lines matching PATTERN, a regular expression
(RE2 syntax, as Go's regexp; (?i) makes it case-insensitive). The line is matched without its
newline.

The search runs where the archive is: on the server (HASHIKE_SERVER), or without a server over
this machine's server database and object store (--db, --objects). It reads only the archive's
partitions the query selects (--family, --container, the days of --since/--until) and decodes
segments in parallel. A run's output is searchable once it is archived: within seconds of its
end, and for a running run up to its last rolling segment.

Each match is printed as RUN_ID TIME CONTAINER STREAM: LINE; --output json prints one JSON
object per line (runId, family, container, time, stream, line).`,
		Example: `  hashike logs search --family nightly-etl 'ERROR|FATAL'
  hashike logs search --family web --container app --since 24h --state failed '(?i)timed? ?out'
  hashike logs search --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z -o json 'user=42\b'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := f.query(a.clock.Now(), args[0])
			if err != nil {
				return err
			}
			return a.searchLogs(cmd.Context(), q, f.output)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.family, "family", "", "only this task definition family")
	fl.StringVar(&f.container, "container", "", "only this container's lines")
	fl.StringVar(&f.since, "since", "", "only lines written after a time: a duration (10m, 24h) or an RFC 3339 time")
	fl.StringVar(&f.until, "until", "", "only lines written before a time: a duration ago or an RFC 3339 time")
	fl.StringSliceVar(&f.states, "state", nil, "only runs in these states (repeat, or comma-separated)")
	fl.IntVar(&f.limit, "limit", 0, "stop after this many matches (0: all)")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	return c
}

// query turns the flags into a query, naming every bad flag at once.
func (f logSearchFlags) query(now time.Time, pattern string) (hashike.LogQuery, error) {
	q := hashike.LogQuery{Family: f.family, Container: f.container, Pattern: pattern, Limit: f.limit}
	var fields []hashike.FieldError
	bad := func(flag, msg string, args ...any) {
		fields = append(fields, hashike.FieldError{Path: flag, Severity: hashike.SeverityError, Message: fmt.Sprintf(msg, args...)})
	}
	at := func(flag, s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return now.Add(-d)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			bad(flag, "%q: want a duration (10m, 24h) or an RFC 3339 time (2026-12-06T09:00:00Z)", s)
		}
		return t
	}
	q.Since, q.Until = at("--since", f.since), at("--until", f.until)
	for _, s := range f.states {
		q.States = append(q.States, hashike.RunState(strings.TrimSpace(s)))
	}
	if f.output != "text" && f.output != "json" {
		bad("--output", "%q: want text or json", f.output)
	}
	if err := q.Validate(); err != nil {
		var he *hashike.Error
		if errors.As(err, &he) {
			for _, fe := range he.Fields {
				fe.Path = map[string]string{"pattern": "PATTERN", "until": "--until", "state": "--state", "limit": "--limit"}[fe.Path]
				fields = append(fields, fe)
			}
		}
	}
	if len(fields) > 0 {
		return q, &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: fields}
	}
	return q, nil
}

// searchLogs runs the search on the server, or locally over the server's database and object
// store, and prints the matches as they come.
func (a *app) searchLogs(ctx context.Context, q hashike.LogQuery, output string) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	w := bufio.NewWriterSize(a.stdout, 64<<10)
	defer w.Flush()
	enc := json.NewEncoder(w)
	print := func(m hashike.LogMatch) error {
		if output == "json" {
			return enc.Encode(m)
		}
		_, err := fmt.Fprintf(w, "%s %s %s %s: %s\n", m.RunID, m.Time.UTC().Format(time.RFC3339Nano), m.Container, m.Stream, m.Line)
		return err
	}
	if a.serverURL() != "" {
		cl, err := a.client("logs search")
		if err != nil {
			return err
		}
		return cl.SearchLogs(ctx, q, print)
	}
	store, err := a.openServerStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	objects, _, err := a.serverObjects(ctx, ObjectStoreConfig{})
	if err != nil {
		return err
	}
	s := &archive.Searcher{Objects: objects, Runs: store}
	return s.SearchLogs(ctx, q, print)
}
