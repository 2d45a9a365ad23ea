package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// Tags the backend puts on what it starts.
const (
	// TagRunID carries the run ID on the task (StartedBy carries it too, for ListTasks).
	TagRunID = "hashike:run-id"
	// TagCapacityTimeout carries the run's capacity timeout, so that any process waiting for
	// the task stops it when it stays PROVISIONING longer.
	TagCapacityTimeout = "hashike:capacity-timeout"
	// TagRemoved marks a task Remove was called for: Find no longer returns it. ECS itself
	// forgets a stopped task about an hour after it stopped; there is nothing to delete.
	TagRemoved = "hashike:removed"
)

// DefaultCluster is RunTask's cluster when the job names none.
const DefaultCluster = "default"

// Config is what New needs. ECS is required; AutoScaling only for jobs that name an
// autoScalingGroupName; Logs only for following awslogs output; SQS only for jobs that name an
// eventsQueueUrl (or for EventsQueueURL).
type Config struct {
	ECS         ECSAPI
	AutoScaling AutoScalingAPI
	Logs        LogsAPI
	SQS         SQSAPI
	// Insights reads Container Insights' performance events for per-task CPU and memory
	// (insights.go); nil: the backend measures nothing.
	Insights InsightsAPI
	// EventsQueueURL is the events queue (see events.go) of tasks whose job does not name one,
	// among them every task Wait is given without Start or Find having seen its job, as after a
	// restart. Empty: such tasks are only polled.
	EventsQueueURL string
	// EventsPoll is how often a task covered by a healthy events queue is still described, in
	// case an event is lost or late (default 4*PollMax).
	EventsPoll time.Duration
	// Clock drives every wait (default: the wall clock).
	Clock hashike.Clock
	// PollMin and PollMax bound the DescribeTasks backoff (defaults 1 s and 15 s). The shared
	// poller also spends at least PollMin per DescribeTasks call of a round, which keeps any
	// number of waiting runs at or below one call per PollMin. Capacity retries back off
	// between the same bounds.
	PollMin, PollMax time.Duration
	// LogPoll is how long a follower waits at the end of a log stream before reading again,
	// and between the empty pages that end a stopped task's stream (default 1 s).
	LogPoll time.Duration
	// Rand returns jitter in [0, 1) (default math/rand/v2).
	Rand func() float64
	// DefaultLogConfiguration, like ecspresso's, is given to containers that have none when the
	// task definition is registered, so their output can be followed.
	DefaultLogConfiguration *hashike.LogConfiguration
	Logger                  *slog.Logger
	// ManagedGroups are the Auto Scaling groups a cluster autoscaler owns (see capacity.go):
	// a run that names one waits for capacity and never sets its desired capacity.
	ManagedGroups map[string]bool
}

// Backend runs tasks on Amazon ECS. It is safe for concurrent use; one Backend per process
// shares one DescribeTasks poller between all waiting runs. It holds no state that another
// process could not rebuild from ECS: tasks are found by StartedBy and tags.
type Backend struct {
	ecs          ECSAPI
	autoscaling  AutoScalingAPI
	logs         LogsAPI
	sqs          SQSAPI
	insights     InsightsAPI
	clock        hashike.Clock
	pollMin      time.Duration
	pollMax      time.Duration
	eventsPoll   time.Duration
	defaultQueue string
	logPoll      time.Duration
	rand         func() float64
	defaultLog   *hashike.LogConfiguration
	log          *slog.Logger
	managed      map[string]bool

	poller *poller

	mu sync.Mutex
	// insightsOff holds the clusters found without Container Insights, until when.
	insightsOff map[string]time.Time
	// taskDefs caches described task definitions by ARN (revisions are immutable).
	taskDefs map[string]*types.TaskDefinition
	// registered caches the ARN registered or reused for a normalized definition.
	registered map[string]registration
	// queues holds the events queue of the tasks Start and Find saw a job with one for, until
	// Wait sees the task stop or Remove is called.
	queues map[watchKey]string
}

type registration struct {
	arn  string
	at   time.Time
	done chan struct{}
	err  error
}

var _ hashike.Backend = (*Backend)(nil)

// New returns a backend on the given clients.
func New(cfg Config) *Backend {
	b := &Backend{
		ecs: cfg.ECS, autoscaling: cfg.AutoScaling, logs: cfg.Logs, sqs: cfg.SQS, insights: cfg.Insights, clock: cfg.Clock,
		pollMin: cfg.PollMin, pollMax: cfg.PollMax, logPoll: cfg.LogPoll, rand: cfg.Rand,
		eventsPoll: cfg.EventsPoll, defaultQueue: cfg.EventsQueueURL,
		defaultLog: cfg.DefaultLogConfiguration, log: cfg.Logger, managed: cfg.ManagedGroups,
		taskDefs: map[string]*types.TaskDefinition{}, registered: map[string]registration{},
		queues: map[watchKey]string{}, insightsOff: map[string]time.Time{},
	}
	if b.clock == nil {
		b.clock = hashike.SystemClock{}
	}
	if b.pollMin <= 0 {
		b.pollMin = time.Second
	}
	if b.pollMax <= 0 {
		b.pollMax = 15 * time.Second
	}
	if b.pollMax < b.pollMin {
		b.pollMax = b.pollMin
	}
	if b.eventsPoll <= 0 {
		b.eventsPoll = 4 * b.pollMax
	}
	if b.logPoll <= 0 {
		b.logPoll = time.Second
	}
	if b.rand == nil {
		b.rand = rand.Float64
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.poller = newPoller(b)
	return b
}

// Name implements hashike.Backend.
func (b *Backend) Name() string { return "ecs" }

func options(spec *hashike.JobSpec) hashike.ECSOptions {
	var o hashike.ECSOptions
	if spec != nil && spec.ECS != nil {
		o = *spec.ECS
	}
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.CapacityTimeout <= 0 {
		o.CapacityTimeout = hashike.Duration(hashike.DefaultCapacityTimeout)
	}
	return o
}

func clusterOf(ref hashike.TaskRef) string {
	if ref.Cluster == "" {
		return DefaultCluster
	}
	return ref.Cluster
}

// StartedBy is the RunTask startedBy value of a run (at most 128 characters).
func StartedBy(runID string) string {
	s := "hashike/" + runID
	if len(s) > 128 {
		sum := sha256.Sum256([]byte(runID))
		s = "hashike/" + hex.EncodeToString(sum[:])
	}
	return s
}

// ClientToken is the RunTask clientToken of a run's attempt: the same run and attempt always
// give the same token, so a RunTask retried after a lost answer never starts a second task.
// A new attempt follows only an answer that says no task was started.
func ClientToken(runID string, attempt int) string {
	s := fmt.Sprintf("hashike-%s-%d", runID, attempt)
	if len(s) > 64 {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", runID, attempt)))
		s = "hashike-" + hex.EncodeToString(sum[:])[:56]
	}
	return s
}

// Start implements hashike.Backend. It registers the task definition when it differs from
// the family's latest ACTIVE revision, then calls RunTask. RunTask failures for lack of
// capacity (RESOURCE:*, AGENT, no container instances) are retried with backoff, raising the
// Auto Scaling group's desired capacity when the job names one; so are ECS server errors,
// throttling past the SDK's own retries and network errors, in any call Start makes. All of
// it, the SDK's retries included, ends by the capacity timeout: then Start returns a
// *hashike.StartError saying what it waited for (capacity, or ECS itself). ctx ending stops
// the wait at once. A task that goes to PROVISIONING is returned at once: Wait stops it if it
// is still PROVISIONING when the capacity timeout expires.
// ECS resolves the valueFrom references itself: of StartRequest.Secrets only the values of
// held secrets (hashike.HeldSecretPrefix) are used, passed as containerOverrides environment
// variables (held.go).
func (b *Backend) Start(ctx context.Context, req hashike.StartRequest) (_ hashike.TaskRef, err error) {
	o := options(&req.Spec)
	limit := time.Duration(o.CapacityTimeout)
	deadline := b.clock.Now().Add(limit)
	sctx, cancel := b.withDeadline(ctx, limit)
	defer cancel()
	defer func() {
		// Whatever was cut short by the capacity timeout: the run could not start in the
		// time its job gives it.
		var se *hashike.StartError
		if err != nil && ctx.Err() == nil && sctx.Err() != nil && !errors.As(err, &se) {
			err = &hashike.StartError{Reason: fmt.Sprintf("no task started within the capacity timeout (%s): %v", limit, err)}
		}
	}()
	var ref hashike.TaskRef
	err = b.ride(sctx, "list tasks", func() error {
		var err error
		ref, err = b.Find(sctx, req.RunID, &req.Spec)
		return err
	})
	if err == nil {
		return ref, nil
	} else if hashike.ErrorCodeOf(err) != hashike.ENotFound {
		return hashike.TaskRef{}, err
	}
	spec, held, err := splitHeld(&req.Spec, req.Secrets)
	if err != nil {
		return hashike.TaskRef{}, fmt.Errorf("start run %s: %w", req.RunID, err)
	}
	var tdArn string
	var overrides []types.ContainerOverride
	err = b.ride(sctx, "register task definition", func() error {
		var err error
		tdArn, overrides, err = b.ensureTaskDefinition(sctx, spec)
		return err
	})
	if err != nil {
		return hashike.TaskRef{}, err
	}
	if overrides, err = withHeld(overrides, held); err != nil {
		return hashike.TaskRef{}, fmt.Errorf("start run %s: %w", req.RunID, err)
	}
	in := runTaskInput(req.RunID, tdArn, o)
	if len(overrides) > 0 {
		in.Overrides = &types.TaskOverride{ContainerOverrides: overrides}
	}
	backoff := b.pollMin
	attempt := 0
	lastWhy := ""
	var outage error // set while the last answer was an ECS outage (a server error...), not a lack of room
	for {
		in.ClientToken = aws.String(ClientToken(req.RunID, attempt))
		var seen error // the last answer of an attempt, as the SDK's retryer saw it
		out, err := b.ecs.RunTask(sctx, in, observing(func(err error) { seen = err }))
		switch {
		case err != nil && ctx.Err() != nil:
			return hashike.TaskRef{}, fmt.Errorf("run task %s: %w", tdArn, ctx.Err())
		case err != nil && sctx.Err() != nil:
			// The capacity timeout ended the call while the SDK was retrying it: what ECS
			// answered last is why.
			if seen != nil && retryable(seen) {
				outage = seen
			}
		case err != nil && noInstances(err):
			lastWhy, outage = apiMessage(err), nil
			attempt++
		case err != nil && retryable(err):
			// The answer may have been lost: retry with the same token.
			outage = err
		case err != nil:
			return hashike.TaskRef{}, classify("run task "+tdArn, err)
		case len(out.Tasks) > 0:
			ref := taskRef(out.Tasks[0], o.Cluster)
			b.noteQueue(ref, o.EventsQueueURL)
			return ref, nil
		default:
			why := failureText(out.Failures)
			if !capacityFailure(out.Failures) {
				return hashike.TaskRef{}, &hashike.StartError{Reason: "RunTask: " + why}
			}
			lastWhy, outage = why, nil
			attempt++
		}
		if o.AutoScalingGroupName != "" && outage == nil && attempt > 0 && sctx.Err() == nil {
			if err := b.scaleOut(sctx, req.RunID, o.Cluster, o.AutoScalingGroupName, req.Spec.Resources()); err != nil {
				var se *hashike.StartError
				if errors.As(err, &se) || ctx.Err() != nil {
					return hashike.TaskRef{}, err
				}
				b.log.Warn("scale out", "group", o.AutoScalingGroupName, "err", err, "run", req.RunID)
			}
		}
		now := b.clock.Now()
		if !now.Before(deadline) || sctx.Err() != nil {
			if outage != nil {
				// An answer lost to the outage may have started the task after all.
				fctx, cancelFind := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				ref, ferr := b.Find(fctx, req.RunID, &req.Spec)
				cancelFind()
				if ferr == nil {
					return ref, nil
				}
				return hashike.TaskRef{}, &hashike.StartError{Reason: fmt.Sprintf("ECS %s: RunTask kept failing for the capacity timeout (%s), so no task was started; this is not a lack of capacity: %v",
					outageKind(outage), limit, outage)}
			}
			if lastWhy == "" {
				lastWhy = "no answer from RunTask in time"
			}
			return hashike.TaskRef{}, &hashike.StartError{Reason: fmt.Sprintf("capacity timeout: no room for the task in cluster %s within %s: %s",
				o.Cluster, limit, lastWhy)}
		}
		if outage != nil {
			b.log.Warn("ECS "+outageKind(outage)+", retrying RunTask", "cluster", o.Cluster, "err", outage, "gives up in", deadline.Sub(now).Round(time.Second), "run", req.RunID)
		} else {
			b.log.Info("waiting for capacity", "cluster", o.Cluster, "why", lastWhy, "gives up in", deadline.Sub(now).Round(time.Second), "run", req.RunID)
		}
		if err := b.sleep(sctx, min(b.jitter(backoff), deadline.Sub(now))); err != nil && ctx.Err() != nil {
			return hashike.TaskRef{}, fmt.Errorf("run task %s: waiting for capacity: %w", tdArn, ctx.Err())
		}
		backoff = min(backoff*2, b.pollMax)
		if req.Proceed != nil {
			if err := req.Proceed(ctx); err != nil {
				return hashike.TaskRef{}, err
			}
		}
	}
}

// withDeadline is ctx ending after d on the backend's clock.
func (b *Backend) withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	expired := b.clock.After(d)
	go func() {
		select {
		case <-expired:
			cancel()
		case <-c.Done():
		}
	}()
	return c, cancel
}

// ride calls fn until it succeeds, fails for good, or ctx ends: an EUnavailable error (an ECS
// server error, throttling or a network error the SDK's retries did not overcome) is logged
// and tried again after a backoff. Cut short by ctx, it returns the last error ECS gave.
func (b *Backend) ride(ctx context.Context, op string, fn func() error) error {
	backoff := b.pollMin
	var last error
	for {
		err := fn()
		if err != nil && ctx.Err() != nil && last != nil {
			return last
		}
		if err == nil || hashike.ErrorCodeOf(err) != hashike.EUnavailable || ctx.Err() != nil {
			return err
		}
		last = err
		b.log.Warn("ECS unavailable, retrying", "op", op, "err", err)
		if b.sleep(ctx, b.jitter(backoff)) != nil {
			return last
		}
		backoff = min(backoff*2, b.pollMax)
	}
}

func runTaskInput(runID, tdArn string, o hashike.ECSOptions) *ecs.RunTaskInput {
	in := &ecs.RunTaskInput{
		Cluster:              aws.String(o.Cluster),
		TaskDefinition:       aws.String(tdArn),
		Count:                aws.Int32(1),
		StartedBy:            aws.String(StartedBy(runID)),
		LaunchType:           types.LaunchType(o.LaunchType),
		EnableExecuteCommand: o.EnableExecuteCommand,
		PropagateTags:        types.PropagateTags(o.PropagateTags),
	}
	if o.PlatformVersion != "" {
		in.PlatformVersion = aws.String(o.PlatformVersion)
	}
	for _, s := range o.CapacityProviderStrategy {
		in.CapacityProviderStrategy = append(in.CapacityProviderStrategy, types.CapacityProviderStrategyItem{
			CapacityProvider: aws.String(s.CapacityProvider), Weight: int32(s.Weight), Base: int32(s.Base),
		})
	}
	if n := o.NetworkConfiguration; n != nil && n.AwsvpcConfiguration != nil {
		a := n.AwsvpcConfiguration
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: a.Subnets, SecurityGroups: a.SecurityGroups, AssignPublicIp: types.AssignPublicIp(a.AssignPublicIp),
		}}
	}
	for _, c := range o.PlacementConstraints {
		pc := types.PlacementConstraint{Type: types.PlacementConstraintType(c.Type)}
		if c.Expression != "" {
			pc.Expression = aws.String(c.Expression)
		}
		in.PlacementConstraints = append(in.PlacementConstraints, pc)
	}
	for _, s := range o.PlacementStrategy {
		ps := types.PlacementStrategy{Type: types.PlacementStrategyType(s.Type)}
		if s.Field != "" {
			ps.Field = aws.String(s.Field)
		}
		in.PlacementStrategy = append(in.PlacementStrategy, ps)
	}
	for _, t := range o.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	in.Tags = append(in.Tags,
		types.Tag{Key: aws.String(TagRunID), Value: aws.String(runID)},
		types.Tag{Key: aws.String(TagCapacityTimeout), Value: aws.String(time.Duration(o.CapacityTimeout).String())},
	)
	return in
}

// capacityFailure reports whether RunTask's failures say only that there is no room yet:
// RESOURCE:* and AGENT per instance, MISSING without an instance (an empty cluster, as an Auto
// Scaling group scaled to zero leaves it), Fargate's "Capacity is unavailable".
func capacityFailure(fs []types.Failure) bool {
	if len(fs) == 0 {
		return false
	}
	for _, f := range fs {
		r := aws.ToString(f.Reason)
		switch {
		case strings.HasPrefix(r, "RESOURCE:"), r == "AGENT":
		case r == "MISSING" && f.Arn == nil: // a cluster without container instances
		case strings.HasPrefix(r, "Capacity is unavailable"): // Fargate
		default:
			return false
		}
	}
	return true
}

func failureText(fs []types.Failure) string {
	if len(fs) == 0 {
		return "no task and no failure in the answer"
	}
	var parts []string
	seen := map[string]bool{}
	for _, f := range fs {
		s := aws.ToString(f.Reason)
		if d := aws.ToString(f.Detail); d != "" {
			s += " (" + d + ")"
		}
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func taskRef(t types.Task, cluster string) hashike.TaskRef {
	ref := hashike.TaskRef{ID: aws.ToString(t.TaskArn), Cluster: cluster}
	for _, c := range t.Containers {
		ref.Containers = append(ref.Containers, hashike.ContainerRef{Name: aws.ToString(c.Name), ID: aws.ToString(c.ContainerArn)})
	}
	return ref
}

// Find implements hashike.Backend: the task RunTask started with the run's startedBy, running
// or recently stopped (ECS forgets stopped tasks after about an hour), unless Remove marked it.
func (b *Backend) Find(ctx context.Context, runID string, spec *hashike.JobSpec) (hashike.TaskRef, error) {
	o := options(spec)
	var arns []string
	for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		var token *string
		for {
			out, err := b.ecs.ListTasks(ctx, &ecs.ListTasksInput{
				Cluster: aws.String(o.Cluster), StartedBy: aws.String(StartedBy(runID)), DesiredStatus: desired, NextToken: token,
			})
			if err != nil {
				return hashike.TaskRef{}, classify("list tasks of run "+runID+" in "+o.Cluster, err)
			}
			arns = append(arns, out.TaskArns...)
			if token = out.NextToken; token == nil {
				break
			}
		}
	}
	if len(arns) > 0 {
		tasks, _, err := b.describeTasks(ctx, o.Cluster, arns)
		if err != nil {
			return hashike.TaskRef{}, err
		}
		for _, t := range tasks {
			if tagValue(t.Tags, TagRemoved) == "" {
				ref := taskRef(t, o.Cluster)
				b.noteQueue(ref, o.EventsQueueURL)
				return ref, nil
			}
		}
	}
	return hashike.TaskRef{}, hashike.Errorf(hashike.ENotFound, "no task of run %s in cluster %s", runID, o.Cluster)
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// describeTasks calls DescribeTasks (with tags) in batches of 100, retrying throttling. It
// returns the tasks found and the ARNs ECS reported MISSING.
func (b *Backend) describeTasks(ctx context.Context, cluster string, arns []string) ([]types.Task, []string, error) {
	var tasks []types.Task
	var missing []string
	for start := 0; start < len(arns); start += 100 {
		batch := arns[start:min(start+100, len(arns))]
		out, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: batch, Include: []types.TaskField{types.TaskFieldTags}})
		if err != nil {
			return nil, nil, classify("describe tasks in "+cluster, err)
		}
		tasks = append(tasks, out.Tasks...)
		for _, f := range out.Failures {
			missing = append(missing, aws.ToString(f.Arn))
		}
	}
	return tasks, missing, nil
}

// Describe implements hashike.Backend with one DescribeTasks call.
func (b *Backend) Describe(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	tasks, _, err := b.describeTasks(ctx, clusterOf(ref), []string{ref.ID})
	if err != nil {
		return hashike.TaskStatus{}, err
	}
	if len(tasks) == 0 {
		return hashike.TaskStatus{}, notFound(ref)
	}
	return taskStatus(tasks[0]), nil
}

func notFound(ref hashike.TaskRef) error {
	return hashike.Errorf(hashike.ENotFound, "task %s not found in cluster %s (ECS forgets stopped tasks after about an hour)", ref.ID, clusterOf(ref))
}

// Stop implements hashike.Backend with StopTask. ECS gives every container its stopTimeout
// between SIGTERM and SIGKILL: grace cannot shorten it (a second Ctrl-C does not kill at
// once on ECS). Stopping a stopped or forgotten task is not an error.
func (b *Backend) Stop(ctx context.Context, ref hashike.TaskRef, reason string, grace time.Duration) error {
	if reason == "" {
		reason = "stopped by hashike"
	} else if !strings.HasPrefix(reason, "hashike") {
		reason = "hashike: " + reason
	}
	if len(reason) > 255 {
		reason = reason[:255]
	}
	_, err := b.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(clusterOf(ref)), Task: aws.String(ref.ID), Reason: aws.String(reason)})
	if err != nil && !taskNotFound(err) {
		return classify("stop task "+ref.ID, err)
	}
	return nil
}

// Remove implements hashike.Backend. ECS deletes nothing on request: a stopped task vanishes
// about an hour after it stopped. Remove tags the task hashike:removed so that Find no longer
// returns it; a task ECS already forgot is fine.
func (b *Backend) Remove(ctx context.Context, ref hashike.TaskRef) error {
	_, err := b.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(ref.ID), Tags: []types.Tag{{Key: aws.String(TagRemoved), Value: aws.String("true")}}})
	if err != nil && !taskNotFound(err) {
		return classify("tag task "+ref.ID+" removed", err)
	}
	b.forgetQueue(ref)
	return nil
}

// jitter spreads d over [0.75d, 1.25d).
func (b *Backend) jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + 0.5*b.rand()))
}

func (b *Backend) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.clock.After(d):
		return nil
	}
}
