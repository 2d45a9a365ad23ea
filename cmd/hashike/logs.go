package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runner"
)

// logsFlags are docker logs' options, with its names.
type logsFlags struct {
	follow     bool
	tail       string
	since      string
	timestamps bool
	container  string
}

func (a *app) logsCmd() *cobra.Command {
	var f logsFlags
	c := &cobra.Command{
		Use:   "logs RUN_ID",
		Short: "Show a run's stored output (stdout to stdout, stderr to stderr)",
		Long: `Show the output a run's containers wrote, from the run history, also long after the
containers are gone. With --follow, keep showing new output until the run ends.

--tail N shows only the last N lines (with --follow: then the new ones), --since shows the
lines written after a time (a duration such as 10m, or an RFC 3339 time), --container only
one container's lines, and --timestamps starts each line with the time hashike received it
(RFC 3339, UTC), as docker logs does.

With a server (HASHIKE_SERVER), the output comes from the server; --follow streams it live.`,
		Example: `  hashike logs 01JD3K
  hashike logs -f --tail 20 01JD3K
  hashike logs --since 10m --timestamps --container app 01JD3K`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := f.filter(a.clock.Now())
			if err != nil {
				return err
			}
			if a.serverURL() != "" {
				return a.serverLogs(cmd.Context(), args[0], f.follow, filter)
			}
			r, closeAll, err := a.wireStore()
			if err != nil {
				return err
			}
			defer closeAll()
			run, err := r.Store.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !f.follow {
				return a.showLogs(&run.Spec, filter, func(follow bool, out func(hashike.LogEntry)) error {
					_, err := r.Follow(cmd.Context(), run.ID, false, out, nil)
					return err
				})
			}
			return a.followLogs(cmd.Context(), r, run, filter)
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&f.follow, "follow", "f", false, "keep showing output until the run ends")
	fl.StringVarP(&f.tail, "tail", "n", "all", "show only the last N lines (all: every line)")
	fl.StringVar(&f.since, "since", "", "show the lines written after a time: a duration (10m, 2h) or an RFC 3339 time")
	fl.BoolVarP(&f.timestamps, "timestamps", "t", false, "start each line with the time it was received (RFC 3339, UTC)")
	fl.StringVar(&f.container, "container", "", "show only this container's lines")
	return c
}

// logFilter is what the logs flags select.
type logFilter struct {
	tail       int // -1: all
	since      time.Time
	timestamps bool
	container  string
}

func (f logsFlags) filter(now time.Time) (logFilter, error) {
	lf := logFilter{tail: -1, timestamps: f.timestamps, container: f.container}
	bad := func(flag, msg string, args ...any) error {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags",
			Fields: []hashike.FieldError{{Path: flag, Severity: hashike.SeverityError, Message: fmt.Sprintf(msg, args...)}}}
	}
	if f.tail != "all" {
		n, err := parseCount(f.tail)
		if err != nil {
			return lf, bad("--tail", "%q: want a number of lines >= 0, or all", f.tail)
		}
		lf.tail = n
	}
	if f.since != "" {
		if d, err := time.ParseDuration(f.since); err == nil && d >= 0 {
			lf.since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, f.since); err == nil {
			lf.since = t
		} else {
			return lf, bad("--since", "%q: want a duration (10m, 2h) or an RFC 3339 time (2026-12-06T09:00:00Z)", f.since)
		}
	}
	return lf, nil
}

func parseCount(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("not a count: %q", s)
	}
	return n, nil
}

// check refuses a --container the run does not have.
func (lf logFilter) check(spec *hashike.JobSpec) error {
	if lf.container == "" {
		return nil
	}
	var names []string
	for _, c := range spec.TaskDefinition.ContainerDefinitions {
		names = append(names, c.Name)
	}
	if slices.Contains(names, lf.container) {
		return nil
	}
	return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{Path: "--container",
		Severity: hashike.SeverityError, Message: fmt.Sprintf("%q: the run has no such container (it has %s)", lf.container, strings.Join(names, ", "))}}}
}

// keep reports whether an entry passes the container and time filters.
func (lf logFilter) keep(e hashike.LogEntry) bool {
	return (lf.container == "" || e.Container == lf.container) && (lf.since.IsZero() || !e.Time.Before(lf.since))
}

// logSource sends a run's output to out: the stored output, then with follow the new
// output until the run ends. Each call starts from the run's first line.
type logSource func(follow bool, out func(hashike.LogEntry)) error

// showLogs prints the stored output through the filter (no follow).
func (a *app) showLogs(spec *hashike.JobSpec, lf logFilter, src logSource) error {
	if err := lf.check(spec); err != nil {
		return err
	}
	p := newPrinter(a.stdout, a.stderr, spec)
	p.timestamps = lf.timestamps
	defer p.Close()
	return lf.emit(src, false, p.entry)
}

// emit sends the entries the filter selects to out; with follow, until the run ends.
func (lf logFilter) emit(src logSource, follow bool, out func(hashike.LogEntry)) error {
	if lf.tail < 0 {
		return src(follow, func(e hashike.LogEntry) {
			if lf.keep(e) {
				out(e)
			}
		})
	}
	return tailThenFollow(lf, src, follow, out)
}

// tailThenFollow shows the last lf.tail kept entries of the stored output and, with follow,
// every kept entry after them: a first pass reads the stored output and keeps its last
// lines; the second, following, skips the entries the first pass saw (stored output only
// grows, and each pass starts from the first line).
func tailThenFollow(lf logFilter, src logSource, follow bool, out func(hashike.LogEntry)) error {
	var ring []hashike.LogEntry
	seen := 0
	err := src(false, func(e hashike.LogEntry) {
		if !lf.keep(e) {
			return
		}
		seen++
		if lf.tail == 0 {
			return
		}
		e.Data = slices.Clone(e.Data)
		if len(ring) == lf.tail {
			ring = slices.Delete(ring, 0, 1)
		}
		ring = append(ring, e)
	})
	if err != nil {
		return err
	}
	for _, e := range ring {
		out(e)
	}
	if !follow {
		return nil
	}
	skip := seen
	return src(true, func(e hashike.LogEntry) {
		if !lf.keep(e) {
			return
		}
		if skip > 0 {
			skip--
			return
		}
		out(e)
	})
}

// followLogs follows a local run's output through the filter until the run ends; an orphan
// run gets a supervisor, as hashike wait does.
func (a *app) followLogs(ctx context.Context, r *runner.Runner, run *hashike.Run, lf logFilter) error {
	if err := lf.check(&run.Spec); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := newPrinter(a.stdout, a.stderr, &run.Spec)
	p.timestamps = lf.timestamps
	src := func(follow bool, out func(hashike.LogEntry)) error {
		_, err := r.Follow(ctx, run.ID, follow, out, func(orphan *hashike.Run) {
			if err := a.spawnSupervisor(orphan.ID, true, nil); err != nil {
				a.warn(err)
			}
		})
		return err
	}
	err := lf.emit(src, true, p.entry)
	p.Close()
	if err != nil && ctx.Err() != nil {
		return &exitStatusError{code: hashike.ExitSIGINT, msg: "stopped following; run " + run.ID + " goes on (hashike stop " + run.ID + " stops it)"}
	}
	return err
}

// serverLogs shows a run's output from the server: stdout entries on stdout, stderr entries on
// stderr, their bytes unchanged (prefixed with the container's name when the task has
// several, as locally).
func (a *app) serverLogs(ctx context.Context, id string, follow bool, lf logFilter) error {
	cl, err := a.client("logs")
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	// The run's containers decide the prefixes.
	v, err := cl.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if err := lf.check(&v.Spec); err != nil {
		return err
	}
	p := newPrinter(a.stdout, a.stderr, &v.Spec)
	p.timestamps = lf.timestamps
	src := func(follow bool, out func(hashike.LogEntry)) error {
		return cl.FollowLogs(ctx, v.ID, follow, func(e hashike.LogEntry) error { out(e); return nil })
	}
	err = lf.emit(src, follow, p.entry)
	p.Close()
	if err != nil && ctx.Err() != nil {
		return &exitStatusError{code: hashike.ExitSIGINT, msg: "stopped following; run " + v.ID + " goes on"}
	}
	return err
}
