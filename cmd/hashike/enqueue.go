package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/httpapi"
)

type enqueueFlags struct {
	payload        string
	delay          time.Duration
	notBefore      string
	priority       int
	queue          string
	idempotencyKey string
	version        int
	wait           bool
	output         string
	// Per-run overrides, as hashike run's.
	env       []string
	cpu       int
	memory    int
	timeout   time.Duration
	container string
}

func (a *app) enqueueCmd() *cobra.Command {
	var f enqueueFlags
	c := &cobra.Command{
		Use:   "enqueue JOB [-- COMMAND ARGS...]",
		Short: "Queue a run of a registered job on the server and print its run ID",
		Example: `  hashike enqueue nightly-report
  hashike enqueue resize-images --payload '{"bucket":"photos"}' --wait
  hashike enqueue import --payload @payload.json --idempotency-key import-2026-12-06
  hashike enqueue -e DRY_RUN=1 --memory 2048 --timeout 30m report -- ./report --since yesterday`,
		Long: `Queue a run of JOB, a job registered on the hashike server (HASHIKE_SERVER), and
print its run ID (-o json: the run).

The payload is JSON, given to the run's containers as HASHIKE_PAYLOAD (and, locally, the
file /hashike/payload.json): --payload '{"n": 1}', --payload @file.json, or --payload - to
read it from standard input.

With --wait, show each try's output as it comes and exit with the final try's exit code,
as hashike run does: a failed try that the job's retryStrategy retries is followed by the
next one. Ctrl-C ends the waiting (exit 130), not the run: hashike cancel stops it.

A command after -- replaces the container's, and -e, --cpu, --memory, --timeout change
this run only (--container picks the container; default: the watched one), as hako's
oneshot CMD and hashike run do; the run's retries keep them. The server checks them against
the job's definition.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash > 1 || dash < 0 && len(args) > 1 {
				return argsError(cmd, args)
			}
			return a.enqueue(cmd, args[0], args[1:], f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.payload, "payload", "", "the run's JSON payload: JSON, @FILE, or - for standard input")
	fl.DurationVar(&f.delay, "delay", 0, "hold the run back this long (e.g. 10m)")
	fl.StringVar(&f.notBefore, "not-before", "", "hold the run back until this time (RFC 3339)")
	fl.IntVar(&f.priority, "priority", 0, "the run's priority in its queue, -100..100 (default: the job's)")
	fl.StringVar(&f.queue, "queue", "", "the queue to wait in (default: the job's)")
	fl.StringVar(&f.idempotencyKey, "idempotency-key", "", "a second enqueue with the same key returns the first run instead of queuing another")
	fl.IntVar(&f.version, "version", 0, "run this version of the job (default: the latest)")
	fl.BoolVar(&f.wait, "wait", false, "show the output and exit with the final try's exit code")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable for this run: NAME=VALUE, or NAME to pass this shell's (repeatable)")
	fl.IntVar(&f.cpu, "cpu", 0, "the container's CPU units for this run (1024 per vCPU)")
	fl.IntVar(&f.memory, "memory", 0, "the container's memory limit in MiB for this run")
	fl.DurationVar(&f.timeout, "timeout", 0, "this run's timeout (default: the job's)")
	fl.StringVar(&f.container, "container", "", "the container the overrides change (default: the watched one)")
	return c
}

// overrides turns the override flags into the request's Overrides (nil when none is set).
func (a *app) overrides(cmd *cobra.Command, command []string, f enqueueFlags) (*api.Overrides, error) {
	fl := cmd.Flags()
	if len(command) == 0 && !fl.Changed("env") && !fl.Changed("cpu") && !fl.Changed("memory") && !fl.Changed("timeout") && !fl.Changed("container") {
		return nil, nil
	}
	o := &api.Overrides{Container: f.container}
	if len(command) > 0 {
		o.Command = command
	}
	for _, e := range f.env {
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			value, ok = a.lookupEnv(name)
		}
		if name == "" {
			return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{Path: "--env", Severity: hashike.SeverityError, Message: fmt.Sprintf("%q must be NAME=VALUE", e)}}}
		}
		if ok {
			o.Environment = append(o.Environment, hashike.KeyValuePair{Name: name, Value: value})
		}
	}
	if fl.Changed("cpu") {
		o.Cpu = &f.cpu
	}
	if fl.Changed("memory") {
		o.Memory = &f.memory
	}
	if fl.Changed("timeout") {
		t := hashike.Duration(f.timeout)
		o.Timeout = &t
	}
	return o, nil
}

func (a *app) enqueue(cmd *cobra.Command, name string, command []string, f enqueueFlags) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	cl, err := a.client("enqueue")
	if err != nil {
		return err
	}
	req := api.EnqueueRequest{Queue: f.queue, IdempotencyKey: f.idempotencyKey, Version: f.version}
	if req.Overrides, err = a.overrides(cmd, command, f); err != nil {
		return err
	}
	if f.payload != "" {
		p, err := a.readPayload("--payload", f.payload)
		if err != nil {
			return err
		}
		req.Payload = p
	}
	var bad []hashike.FieldError
	if f.delay < 0 {
		bad = append(bad, hashike.FieldError{Path: "--delay", Severity: hashike.SeverityError, Message: "must not be negative"})
	}
	req.Delay = hashike.Duration(f.delay)
	if f.notBefore != "" {
		t, err := time.Parse(time.RFC3339, f.notBefore)
		if err != nil {
			bad = append(bad, hashike.FieldError{Path: "--not-before", Severity: hashike.SeverityError,
				Message: fmt.Sprintf("%q is not an RFC 3339 time (2025-01-02T15:04:05Z)", f.notBefore)})
		}
		req.NotBefore = &t
	}
	if f.delay > 0 && f.notBefore != "" {
		bad = append(bad, hashike.FieldError{Path: "--delay", Severity: hashike.SeverityError, Message: "give --delay or --not-before, not both"})
	}
	if cmd.Flags().Changed("priority") {
		req.Priority = &f.priority
	}
	if len(bad) > 0 {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: bad}
	}
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	run, created, err := cl.Enqueue(ctx, name, req)
	if err != nil {
		return err
	}
	if !created {
		fmt.Fprintf(a.stderr, "hashike: idempotency key %q: returning run %s (%s), enqueued before; nothing new was queued\n",
			f.idempotencyKey, run.ID, run.State)
	}
	return a.afterEnqueue(ctx, cl, run, f.wait, f.output)
}

// afterEnqueue prints a new run and, with wait, waits for its final outcome.
func (a *app) afterEnqueue(ctx context.Context, cl *httpapi.Client, run *hashike.Run, wait bool, output string) error {
	if !wait {
		if output == "json" {
			return writeJSON(a.stdout, run)
		}
		fmt.Fprintln(a.stdout, run.ID)
		return nil
	}
	if output == "text" {
		fmt.Fprintf(a.stderr, "hashike: run %s queued (job %s version %d, queue %s)\n", run.ID, run.Job, run.JobVersion, run.Queue)
	}
	return a.awaitFinal(ctx, cl, run, output)
}

// awaitFinal waits for the final try of the run's enqueue (showing the output in text mode),
// prints it in json mode, and ends with its exit code.
func (a *app) awaitFinal(ctx context.Context, cl *httpapi.Client, run *hashike.Run, output string) error {
	final, err := a.waitFinal(ctx, cl, run, output == "text")
	if err != nil {
		if ctx.Err() != nil {
			return &exitStatusError{code: hashike.ExitSIGINT,
				msg: "stopped waiting; run " + run.ID + " goes on (hashike cancel " + run.ID + " stops it)"}
		}
		return err
	}
	if output == "json" {
		if err := writeJSON(a.stdout, final); err != nil {
			return err
		}
	}
	return a.exitWith(final.Run)
}

// waitPoll is how often waitFinal asks whether an ended try was settled (its retry decided).
const waitPoll = 200 * time.Millisecond

// waitFinal follows an enqueue's tries until the last one has ended and the server has
// decided not to retry it, and returns that try. With show, each try's output goes to the
// CLI's stdout and stderr as it comes; otherwise the logs stream is only the signal that the
// try ended.
func (a *app) waitFinal(ctx context.Context, cl *httpapi.Client, run *hashike.Run, show bool) (api.RunView, error) {
	id := run.ID
	for {
		var p *printer
		fn := func(hashike.LogEntry) error { return nil }
		if show {
			p = newPrinter(a.stdout, a.stderr, &run.Spec)
			fn = func(e hashike.LogEntry) error { p.entry(e); return nil }
		}
		err := cl.FollowLogs(ctx, id, true, fn)
		if p != nil {
			p.Close()
		}
		if err != nil {
			return api.RunView{}, err
		}
		// The try has ended; the server settles it (decides the retry) right after.
		for {
			v, err := cl.GetRun(ctx, id)
			if err != nil {
				return api.RunView{}, err
			}
			if next := nextAttempt(v, id); next != "" {
				if show {
					fmt.Fprintf(a.stderr, "hashike: try %d (run %s) ended %s (%s); the job retries it: run %s\n",
						v.Attempt, v.ID, v.State, exitText(v.Exit), next)
				}
				id = next
				break
			}
			if v.State.Terminal() && v.Settled {
				return v, nil
			}
			select {
			case <-ctx.Done():
				return api.RunView{}, ctx.Err()
			case <-a.clock.After(waitPoll):
			}
		}
		next, err := cl.GetRun(ctx, id)
		if err != nil {
			return api.RunView{}, err
		}
		run = next.Run
	}
}

// nextAttempt is the ID of the try after id of the same enqueue, "" when there is none (yet).
func nextAttempt(v api.RunView, id string) string {
	for i, t := range v.Attempts {
		if t.ID == id && i+1 < len(v.Attempts) {
			return v.Attempts[i+1].ID
		}
	}
	return ""
}

func exitText(e *hashike.ExitStatus) string {
	if e == nil {
		return "no exit status"
	}
	if e.Reason == "" {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return fmt.Sprintf("%s, exit %d", e.Reason, e.Code)
}
