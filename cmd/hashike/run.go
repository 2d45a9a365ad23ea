package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/jobfile"
	"github.com/hashike/hashike/runner"
	"github.com/hashike/hashike/server"
)

type runFlags struct {
	env             []string
	cpu, memory     int
	container       string
	timeout         time.Duration
	noWait          bool
	output          string
	idempotencyKey  string
	dryRun          bool
	keep            bool
	backend         string
	eventsQueue     string
	capacityTimeout time.Duration
	jsonnet         jsonnetFlags
	script          string
	// which of the override flags were given
	cpuSet, memSet, timeoutSet bool
}

func (a *app) runCmd() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run FILE [-- COMMAND ARGS...]",
		Short: "Run a job once and exit with its watched container's exit code",
		Example: `  hashike run examples/hello.yaml
  hashike run -e GREETING=hi job.yaml -- sh -c 'echo $GREETING'
  hashike run --backend ecs --no-wait job.yaml
  hashike run --dry-run job.yaml`,
		Long: `Run the job defined in FILE once: start its task, stream every container's output,
and exit with the watched container's exit code (see README "Exit codes").

A COMMAND after -- replaces the command of the container chosen by --container
(default: the watched container), as an ECS containerOverride would.

--script FILE runs FILE with /bin/sh in that container instead (digdag's ecs_task.sh>; the
image needs /bin/sh), the words after -- as its arguments: the script travels in the
command, so it must fit one (128 KiB; 4 KiB on ECS, what RunTask's overrides leave room
for). A larger script on ECS goes through a server with an S3 object store:
hashike enqueue --script.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return hashike.Errorf(hashike.EInvalid, "run needs a job file: hashike run FILE [-- COMMAND ARGS...]")
			}
			if dash := cmd.ArgsLenAtDash(); dash > 1 || (dash < 0 && len(args) > 1) {
				return hashike.Errorf(hashike.EInvalid, "run takes one job file; put a command override after --")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.localOnly("run"); err != nil {
				return err
			}
			var command []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				command = args[dash:]
			}
			f.cpuSet, f.memSet, f.timeoutSet = cmd.Flags().Changed("cpu"), cmd.Flags().Changed("memory"), cmd.Flags().Changed("timeout")
			return a.run(cmd.Context(), args[0], command, f)
		},
	}
	fl := c.Flags()
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable NAME=VALUE in the container (NAME alone: take it from this environment); repeatable")
	fl.IntVar(&f.cpu, "cpu", 0, "override the container's cpu, in CPU units (1024 = 1 vCPU)")
	fl.IntVar(&f.memory, "memory", 0, "override the container's memory hard limit, in MiB")
	fl.StringVar(&f.container, "container", "", "the container the overrides apply to (default: the watched container)")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop the task after this long (e.g. 90s, 10m); overrides the file's timeout")
	fl.BoolVar(&f.noWait, "no-wait", false, "start the run, print its ID and return; a background supervisor follows it")
	fl.StringVarP(&f.output, "output", "o", "text", "with --no-wait: text or json")
	fl.StringVar(&f.idempotencyKey, "idempotency-key", "", "a second run with the same key returns the first run instead of starting another")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the resolved definition and what would be started; start and record nothing")
	fl.BoolVar(&f.keep, "keep", false, "keep the containers after the run is recorded")
	fl.StringVar(&a.pull, "pull", "", "local: when to pull images: missing (default), always or never (env HASHIKE_PULL)")
	fl.StringVar(&f.backend, "backend", "", "where to run: local (default) or ecs; overrides the file's backend")
	fl.DurationVar(&f.capacityTimeout, "capacity-timeout", 0, "ecs: how long to wait for capacity (RunTask RESOURCE:* failures, PROVISIONING); default the file's, else 10m")
	f.jsonnet.add(fl)
	fl.StringVar(&f.script, "script", "", "a shell script FILE the container runs with /bin/sh instead of its command; words after -- are its arguments")
	fl.StringVar(&f.eventsQueue, "events-queue", "", "ecs: SQS queue URL receiving EventBridge \"ECS Task State Change\" events, the primary status source (polling stays the fallback)")
	return c
}

// loadSpec reads a job file, applies the overrides and checks everything the backend will
// need. Every problem is reported at once; nothing is started or recorded.
func (a *app) loadSpec(ctx context.Context, path string, command []string, f runFlags) (*hashike.JobSpec, *jobfile.File, error) {
	opts, err := a.jobfileOptions(ctx, f.jsonnet, false)
	if err != nil {
		return nil, nil, err
	}
	file, err := jobfile.LoadWith(path, opts)
	if err != nil {
		return nil, nil, err
	}
	if f.backend != "" {
		file.Spec.Backend = f.backend
	}
	if f.eventsQueue != "" || f.capacityTimeout != 0 {
		if file.Spec.ECS == nil {
			file.Spec.ECS = &hashike.ECSOptions{}
		}
		if f.eventsQueue != "" {
			file.Spec.ECS.EventsQueueURL = f.eventsQueue
		}
		if f.capacityTimeout < 0 {
			return nil, nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{Path: "--capacity-timeout", Message: "must not be negative"}}}
		}
		if f.capacityTimeout > 0 {
			file.Spec.ECS.CapacityTimeout = hashike.Duration(f.capacityTimeout)
		}
	}
	backend, err := a.backend(ctx, file.Spec.Backend)
	if err != nil {
		return nil, nil, err
	}
	o := hashike.Overrides{Container: f.container, Command: command}
	if f.script != "" {
		if o.Command, err = scriptCommand(f.script, file.Spec.Backend, command); err != nil {
			return nil, nil, err
		}
	}
	for _, e := range f.env {
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			value, ok = a.lookupEnv(name)
		}
		if name == "" {
			return nil, nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid overrides", Fields: []hashike.FieldError{{Path: "--env", Message: fmt.Sprintf("%q must be NAME=VALUE", e)}}}
		}
		if ok {
			o.Environment = append(o.Environment, hashike.KeyValuePair{Name: name, Value: value})
		}
	}
	if f.cpuSet {
		o.Cpu = &f.cpu
	}
	if f.memSet {
		o.Memory = &f.memory
	}
	if f.timeoutSet {
		o.Timeout = &f.timeout
	}
	var flagErrs []hashike.FieldError
	if f.cpuSet && f.cpu < 0 {
		flagErrs = append(flagErrs, hashike.FieldError{Path: "--cpu", Message: "must not be negative"})
	}
	if f.memSet && f.memory < 6 {
		flagErrs = append(flagErrs, hashike.FieldError{Path: "--memory", Message: "must be at least 6 MiB"})
	}
	if f.timeoutSet && f.timeout < 0 {
		flagErrs = append(flagErrs, hashike.FieldError{Path: "--timeout", Message: "must not be negative"})
	}
	if len(flagErrs) > 0 {
		return nil, nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid overrides", Fields: flagErrs}
	}
	spec, err := o.Apply(file.Spec)
	if err != nil {
		return nil, nil, err
	}
	problems := spec.Validate()
	if len(problems) > 0 {
		return nil, nil, &hashike.Error{Code: hashike.EInvalid, Message: path + ": invalid job definition (after overrides)", Fields: file.Annotate(problems)}
	}
	checked := file.Annotate(backend.Check(&spec))
	for _, w := range append(append([]hashike.FieldError(nil), file.Warnings...), checked...) {
		if w.Severity == hashike.SeverityWarning {
			fmt.Fprintf(a.stderr, "hashike: %s\n", w)
		}
	}
	if errs := hashike.Errors(checked); len(errs) > 0 {
		return nil, nil, &hashike.Error{Code: hashike.EInvalid, Message: path + ": cannot run on the " + backend.Name() + " backend", Fields: errs}
	}
	return &spec, file, nil
}

func (a *app) run(ctx context.Context, path string, command []string, f runFlags) error {
	if f.output != "text" && f.output != "json" {
		return hashike.Errorf(hashike.EInvalid, "--output must be text or json")
	}
	if f.output == "json" && !f.noWait && !f.dryRun {
		return hashike.Errorf(hashike.EInvalid, "--output json goes with --no-wait or --dry-run (a waiting run prints the job's own output)")
	}
	spec, file, err := a.loadSpec(ctx, path, command, f)
	if err != nil {
		return err
	}
	secrets, err := a.resolveSecrets(spec)
	if err != nil {
		var he *hashike.Error
		if errors.As(err, &he) {
			he.Fields = file.Annotate(he.Fields)
		}
		return err
	}
	if f.dryRun {
		return a.dryRun(ctx, spec, f)
	}
	r, closeAll, err := a.wire(ctx, spec.Backend)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := checkEngine(ctx, r.Backend); err != nil {
		return err
	}
	a.reconcile(ctx, r)

	self := r.Self
	run, created, err := r.Create(ctx, *spec, f.idempotencyKey, &self)
	if err != nil {
		return err
	}
	if !created {
		fmt.Fprintf(a.stderr, "hashike: run %s already exists for idempotency key %q\n", run.ID, f.idempotencyKey)
		if f.noWait {
			return a.printStarted(run, f.output)
		}
		return a.follow(ctx, r, run.ID, true)
	}
	if f.noWait {
		return a.startDetached(ctx, r, run, f.output, a.spawnSupervisor)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stops := make(chan runner.StopRequest, 2)
	go func() {
		n := 0
		for s := range sigs {
			n++
			cause, grace := hashike.StopInterrupt, time.Duration(-1)
			if s == syscall.SIGTERM {
				cause = hashike.StopTerminate
			}
			if n > 1 {
				grace = 0 // a second signal: kill now
				fmt.Fprintf(a.stderr, "hashike: %s again: killing the task\n", s)
			} else {
				fmt.Fprintf(a.stderr, "hashike: %s: stopping the task (stopTimeout, then kill; again to kill now)\n", s)
			}
			stops <- runner.StopRequest{Cause: cause, Grace: grace}
		}
	}()
	p := newPrinter(a.stdout, a.stderr, spec)
	done, err := r.Supervise(ctx, run.ID, runner.Options{Secrets: secrets, Output: p.entry, Stop: stops, Keep: f.keep, Warn: a.warn})
	p.Close()
	if err != nil {
		return err
	}
	return a.exitWith(done)
}

// exitWith ends the command with the run's exit code and one line saying why.
func (a *app) exitWith(run *hashike.Run) error {
	if run.Exit == nil {
		return fmt.Errorf("run %s ended without an exit status", run.ID)
	}
	if run.Exit.Code == 0 {
		return nil
	}
	return &exitStatusError{code: run.Exit.Code, msg: fmt.Sprintf("run %s %s: %s (exit %d)", run.ID, run.State, run.Exit.Reason, run.Exit.Code)}
}

// startDetached hands the run to a background supervisor and prints its ID as soon as the
// supervisor has taken the run over: it does not wait for the task to start, which on ECS can
// take up to capacityTimeout. A start that failed by then is reported with its exit code.
func (a *app) startDetached(ctx context.Context, r *runner.Runner, run *hashike.Run, output string,
	spawn func(runID string, adopt bool, handoff *hashike.Owner) error) error {
	self := r.Self
	if err := spawn(run.ID, false, &self); err != nil {
		_, _ = r.Store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: a.clock.Now(), State: hashike.StateStartFailed, Reason: err.Error(),
			Exit: &hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: err.Error()}, ClearOwner: true})
		return err
	}
	deadline := a.clock.Now().Add(2 * time.Minute)
	for {
		cur, err := r.Store.GetRun(ctx, run.ID)
		if err != nil {
			return err
		}
		if cur.State != hashike.StatePending {
			if cur.State == hashike.StateStartFailed {
				if err := a.printStarted(cur, output); err != nil {
					return err
				}
				return a.exitWith(cur)
			}
			return a.printStarted(cur, output)
		}
		if cur.Owner != nil && *cur.Owner != self && r.Alive(*cur.Owner) {
			// The supervisor owns the run; the run is its to start.
			return a.printStarted(cur, output)
		}
		if cur.Owner != nil && *cur.Owner == self && a.clock.Now().After(deadline) {
			return fmt.Errorf("the supervisor of run %s did not start (see supervisor.log beside the database)", run.ID)
		}
		if cur.Owner != nil && *cur.Owner != self && !r.Alive(*cur.Owner) {
			return fmt.Errorf("the supervisor of run %s died (see supervisor.log beside the database)", run.ID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(20 * time.Millisecond):
		}
	}
}

func (a *app) printStarted(run *hashike.Run, output string) error {
	if output == "json" {
		return writeJSON(a.stdout, map[string]any{"runId": run.ID, "state": run.State, "family": run.Family})
	}
	_, err := fmt.Fprintln(a.stdout, run.ID)
	return err
}

// planner is a backend that can say, changing nothing, what it would do to start a spec.
type planner interface {
	Plan(ctx context.Context, spec *hashike.JobSpec) (map[string]any, error)
}

// dryRun prints the resolved definition and the plan. It opens no database and changes
// nothing: the local backend is not even contacted; the ecs backend only reads (whether the task
// definition would be registered or reused).
func (a *app) dryRun(ctx context.Context, spec *hashike.JobSpec, f runFlags) error {
	var plan map[string]any
	if backend, err := a.backend(ctx, spec.Backend); err != nil {
		return err
	} else if p, ok := backend.(planner); ok {
		if plan, err = p.Plan(ctx, spec); err != nil {
			return err
		}
	}
	if f.output == "json" {
		out := map[string]any{"dryRun": true, "definition": spec, "digest": spec.Digest()}
		if plan != nil {
			out["plan"] = plan
		}
		return writeJSON(a.stdout, out)
	}
	fmt.Fprintln(a.stdout, "# dry run: nothing is started or recorded")
	fmt.Fprintln(a.stdout, "# resolved definition:")
	if err := writeJSON(a.stdout, spec); err != nil {
		return err
	}
	td := &spec.TaskDefinition
	res := spec.Resources()
	backend := spec.Backend
	if backend == "" {
		backend = "local"
	}
	fmt.Fprintf(a.stdout, "# would start task %s on the %s backend (%s), digest %s\n", td.Family, backend, res.String(), spec.Digest())
	taskCPU, _ := td.Cpu.CPUUnits()
	taskMem, _ := td.Memory.MemoryMiB()
	for _, c := range td.ContainerDefinitions {
		cpu, mem := c.Cpu, taskMem
		if cpu == 0 {
			cpu = taskCPU
		}
		if c.Memory != nil {
			mem = *c.Memory
		}
		limits := []string{}
		if cpu > 0 {
			limits = append(limits, fmt.Sprintf("cpu %d units (%.2f CPU)", cpu, float64(cpu)/1024))
		}
		if mem > 0 {
			limits = append(limits, fmt.Sprintf("memory %d MiB hard limit", mem))
		}
		kind := "essential"
		if !c.IsEssential() {
			kind = "non-essential"
		}
		fmt.Fprintf(a.stdout, "#   container %s: image %s, %s, %s, stopTimeout %s\n", c.Name, c.Image, kind, strings.Join(limits, ", "), c.StopTimeoutOrDefault())
		if c.EntryPoint != nil {
			fmt.Fprintf(a.stdout, "#     entryPoint %q\n", c.EntryPoint)
		}
		if c.Command != nil {
			fmt.Fprintf(a.stdout, "#     command %q\n", c.Command)
		}
		for _, d := range c.DependsOn {
			fmt.Fprintf(a.stdout, "#     starts when %s is %s\n", d.ContainerName, d.Condition)
		}
		for _, s := range c.Secrets {
			fmt.Fprintf(a.stdout, "#     secret %s from %s (value resolved, not shown)\n", s.Name, s.ValueFrom)
		}
	}
	if plan != nil {
		fmt.Fprintln(a.stdout, "# plan (nothing was changed):")
		if err := writeJSON(a.stdout, plan); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "# watch container: %s\n", spec.Watched())
	if spec.Timeout > 0 {
		fmt.Fprintf(a.stdout, "# timeout: %s\n", time.Duration(spec.Timeout))
	} else {
		fmt.Fprintln(a.stdout, "# timeout: none")
	}
	return nil
}

// scriptCommand is the command that runs the script FILE with /bin/sh, args as its
// arguments: the script itself travels in the command, within what one argument (and, on
// ECS, RunTask's overrides) can carry.
func scriptCommand(file, backend string, args []string) ([]string, error) {
	bad := func(format string, a ...any) error {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{Path: "--script", Severity: hashike.SeverityError, Message: fmt.Sprintf(format, a...)}}}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, bad("%v", err)
	}
	limit, where := job.PayloadLimit, "one command argument"
	if backend == "ecs" {
		limit, where = server.ECSInlinePayloadBytes, "RunTask's overrides on ECS (a larger one: hashike enqueue --script on a server with an S3 object store)"
	}
	switch {
	case len(b) == 0:
		return nil, bad("%s is empty", file)
	case len(b) > limit:
		return nil, bad("%s is %d bytes, more than %s carries (%d)", file, len(b), where, limit)
	}
	return append([]string{"/bin/sh", "-c", string(b), "hashike-script"}, args...), nil
}
