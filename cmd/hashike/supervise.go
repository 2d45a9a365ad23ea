package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runner"
)

// The detached supervisor: `hashike run --no-wait` and reconciliation start one per run, in
// its own session, so the run is followed, stored, timed out and cleaned up with nobody
// waiting for it.

const handoffEnv = "HASHIKE_HANDOFF_OWNER"

func (a *app) superviseCmd() *cobra.Command {
	var adopt bool
	c := &cobra.Command{
		Use:    "supervise RUN_ID",
		Short:  "Supervise a run in the background (started by hashike itself)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			run, closeAll, r, err := a.wireRun(ctx, args[0])
			if err != nil {
				return err
			}
			defer closeAll()
			opts := runner.Options{Adopt: adopt, Warn: a.warn}
			// Values for the start, and for masking; a process that adopts a run may not
			// resolve them all (a different environment), and then masks what it can.
			if vals, err := a.resolveSecrets(&run.Spec); err == nil {
				opts.Secrets = vals
			} else if !adopt {
				// The parent resolved them a moment ago; the environment changed under it.
				now := a.clock.Now()
				_, _ = r.Store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: now, State: hashike.StateStartFailed, Reason: err.Error(),
					Exit: &hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: err.Error()}, FinishedAt: &now, ClearOwner: true})
				return err
			}
			if h := a.env(handoffEnv); h != "" {
				var from hashike.Owner
				if json.Unmarshal([]byte(h), &from) == nil && run.Owner != nil && *run.Owner == from {
					// The parent that created the run hands it over, with no moment in which
					// the run has no owner.
					self := r.Self
					if _, err := r.Store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: a.clock.Now(), IfOwner: &hashike.OwnerMatch{Owner: &from}, SetOwner: &self}); err != nil {
						return err
					}
				}
			}
			_, err = r.Supervise(ctx, run.ID, opts)
			return err
		},
	}
	c.Flags().BoolVar(&adopt, "adopt", false, "take over a run another process started (never start its task)")
	return c
}

// spawnSupervisor starts `hashike supervise` for a run in a new session, detached from this
// terminal; its own errors go to supervisor.log beside the database.
func (a *app) spawnSupervisor(runID string, adopt bool, handoff *hashike.Owner) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the hashike executable: %w", err)
	}
	args := []string{"supervise", runID, "--db", a.database()}
	if adopt {
		args = append(args, "--adopt")
	}
	if f := a.secrets(); f != "" {
		args = append(args, "--secrets-file", f)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ()
	if a.pull != "" {
		cmd.Env = append(cmd.Env, "HASHIKE_PULL="+a.pull)
	}
	if handoff != nil {
		b, _ := json.Marshal(handoff)
		cmd.Env = append(cmd.Env, handoffEnv+"="+string(b))
	}
	logPath := filepath.Join(filepath.Dir(a.database()), "supervisor.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start a supervisor for run %s: %w", runID, err)
	}
	return cmd.Process.Release()
}

// reconcile gives every active run that no live process supervises a supervisor, so that no
// container runs unknown. Called by the commands that read or touch runs.
func (a *app) reconcile(ctx context.Context, r *runner.Runner) {
	orphans, err := r.Orphans(ctx)
	if err != nil {
		a.warn(fmt.Errorf("reconcile: %w", err))
		return
	}
	for _, run := range orphans {
		if err := a.spawnSupervisor(run.ID, true, nil); err != nil {
			a.warn(err)
		}
	}
}
