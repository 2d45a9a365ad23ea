package ecsscale

import (
	"context"
	"time"
)

// Interruption is an instance about to be taken away with tasks on it: an EC2 spot
// interruption warning (EC2 reclaims it two minutes after the notice) or a scale-in
// lifecycle hook whose heartbeats can no longer be extended.
type Interruption struct {
	// Instance is the EC2 instance ID; Pool the autoscale.Pool it belongs to.
	Instance string
	Pool     string
	// Tasks are the ARNs of the tasks running (or starting) there.
	Tasks []string
	// Deadline is when the instance goes away; the tasks must be stopped before.
	Deadline time.Time
	// Reason is one line for people: "EC2 Spot Instance Interruption Warning for i-0abc:
	// reclaimed at 2026-12-06T02:00:00Z".
	Reason string
}

// Interrupter stops the tasks of an interrupted instance before it goes away, so that
// their runs end as infrastructure failures (hashike.StopInterruption) and are retried
// elsewhere without using up an attempt. hashike server implements it over its run store:
// it records the stop on each run, and the replica that supervises the run stops its task.
// Without one (the standalone autoscaler next to `hashike run`), the adapter stops the
// tasks itself with ECS StopTask and Reason as the stopped reason.
type Interrupter interface {
	// Interrupt stops the tasks, or has them stopped, before n.Deadline. It is called again
	// for the same instance while its tasks run; it must be idempotent. Tasks it does not
	// know (not hashike's) it leaves to the caller, returning their ARNs.
	Interrupt(ctx context.Context, n Interruption) (unknown []string, err error)
}
