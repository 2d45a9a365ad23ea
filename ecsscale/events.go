package ecsscale

// The events loop: what Auto Scaling and EC2 announce about the instances of the
// configured groups, read from one SQS queue that an EventBridge rule fills:
//
//	{"source": ["aws.autoscaling", "aws.ec2"],
//	 "detail-type": ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action",
//	                 "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation"]}
//
// The groups need a hook on autoscaling:EC2_INSTANCE_TERMINATING (any heartbeat timeout;
// DefaultResult CONTINUE, so that an autoscaler that is down does not keep instances
// forever), and one on autoscaling:EC2_INSTANCE_LAUNCHING only when EventsConfig.Ready is
// used. The queue's policy lets events.amazonaws.com send to it. The loop's IAM
// permissions: sqs:ReceiveMessage and sqs:DeleteMessage on the queue;
// autoscaling:DescribeAutoScalingGroups, autoscaling:DescribeLifecycleHooks,
// autoscaling:RecordLifecycleActionHeartbeat and autoscaling:CompleteLifecycleAction;
// ecs:ListContainerInstances, ecs:DescribeContainerInstances,
// ecs:UpdateContainerInstancesState, ecs:ListTasks and ecs:StopTask.
//
// What it does with each:
//   - a terminate lifecycle action (the group scales in, or anyone terminates an instance,
//     through a hook on autoscaling:EC2_INSTANCE_TERMINATING): the instance is set DRAINING
//     so nothing new is placed there, the action is kept alive with heartbeats (at half the
//     hook's heartbeat timeout) while tasks run there, and completed with CONTINUE once none
//     does. After MaxWait (the longest job timeout) its remaining tasks are interrupted (the
//     Interrupter, or StopTask) and the action completed once they stopped, or Grace later.
//   - a launch lifecycle action: completed with CONTINUE once EventsConfig.Ready says the
//     instance is ready (at once without Ready), or after MaxWait.
//   - a spot interruption warning: the instance is reported with InterruptionAt (the
//     warning's time + 2 minutes) by the next Snapshot, so the policy replaces it and avoids
//     the pool's spot; it is set DRAINING at once and its tasks are interrupted at once: the
//     Interrupter is called (again every Poll while tasks run there, until the deadline), or
//     StopTask with a reason that names the warning. Two minutes is all there is: waiting for
//     the tasks to end is not an option.
//   - a rebalance recommendation: the instance is set DRAINING only; its tasks finish.
//   - anything else, an instance of a group not configured, a malformed or oversized body:
//     logged and deleted.
//
// A message is deleted only once handled: when an AWS call fails it stays in the queue and
// comes back after the queue's visibility timeout. A lifecycle action's message is deleted
// when the action is completed; until then it comes back every visibility timeout, which
// refreshes the receipt handle the loop deletes it with and lets a restarted loop take the
// action over (its MaxWait then starts again). A queue with a redrive policy needs a
// maxReceiveCount above MaxWait / visibility timeout. The held actions live in memory and
// are kept alive by the ticker whatever SQS does.
//
// API calls: per message at most one DescribeAutoScalingGroups (EC2 events: is the instance
// one of ours), one DescribeLifecycleHooks per hook (cached), a container instance lookup
// (ListContainerInstances and DescribeContainerInstances, cached ARN after the first), one
// UpdateContainerInstancesState, one ListTasks and one StopTask per task (spot), one
// DeleteMessage. Per Poll and held action: one DescribeContainerInstances, a
// RecordLifecycleActionHeartbeat every half heartbeat timeout, a CompleteLifecycleAction at
// the end. Per Poll and spot notice with tasks left: one ListTasks and one Interrupt call.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
)

// Event sources and detail types the loop reads.
const (
	SourceAutoScaling       = "aws.autoscaling"
	SourceEC2               = "aws.ec2"
	DetailLaunchAction      = "EC2 Instance-launch Lifecycle Action"
	DetailTerminateAction   = "EC2 Instance-terminate Lifecycle Action"
	DetailSpotInterruption  = "EC2 Spot Instance Interruption Warning"
	DetailRebalance         = "EC2 Instance Rebalance Recommendation"
	transitionLaunching     = "autoscaling:EC2_INSTANCE_LAUNCHING"
	transitionTerminating   = "autoscaling:EC2_INSTANCE_TERMINATING"
	spotNotice              = 2 * time.Minute
	maxEventBody            = 256 << 10 // SQS's own limit
	fallbackHeartbeatPeriod = 15 * time.Second
)

// EventsConfig configures the events loop.
type EventsConfig struct {
	// QueueURL is the SQS queue the EventBridge rule targets.
	QueueURL string
	// MaxWait bounds how long a terminating instance is held for its tasks (the longest
	// job timeout; default 1 h), and a launching one for Ready.
	MaxWait time.Duration
	// Grace is how long, once the tasks of an instance held MaxWait were interrupted, the
	// loop waits for them to stop before it lets the instance go (default 2 min).
	Grace time.Duration
	// Poll is how often held instances are checked (default 10 s).
	Poll time.Duration
	// WaitTime is ReceiveMessage's long poll (default 20 s; negative: none).
	WaitTime time.Duration
	// Ready, when set, says whether a launching instance may go in service (the extension
	// point of image warm-up); nil: at once.
	Ready func(ctx context.Context, instanceID string) bool
	// Log receives what the loop did and the errors it recovers from (default: discarded).
	Log *slog.Logger
}

// Events is the events loop of one Cluster. Run runs it.
type Events struct {
	c   *Cluster
	sqs SQSAPI
	cfg EventsConfig
	log *slog.Logger

	mu      sync.Mutex
	held    map[string]*heldAction // by lifecycle action token
	notices map[string]*notice     // spot interruptions by instance ID
	hooks   map[string]time.Duration
	arns    map[string]string // container instance ARN by EC2 instance ID
}

// heldAction is a lifecycle action the loop has not completed yet.
type heldAction struct {
	transition, group, hook, token, instance string
	receipt                                  string
	since, beatAt                            time.Time
	beatEvery                                time.Duration
	interruptedAt                            time.Time
}

// notice is a spot interruption being handled.
type notice struct {
	instance, pool, reason string
	deadline               time.Time
	receipt                string // "" once the message is deleted
	handled                bool
}

// Events returns the events loop over queue cfg.QueueURL.
func (c *Cluster) Events(sqsAPI SQSAPI, cfg EventsConfig) (*Events, error) {
	if cfg.QueueURL == "" {
		return nil, errors.New("events: queue URL: empty")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Hour
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 10 * time.Second
	}
	switch {
	case cfg.WaitTime == 0:
		cfg.WaitTime = 20 * time.Second
	case cfg.WaitTime < 0:
		cfg.WaitTime = 0
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Events{c: c, sqs: sqsAPI, cfg: cfg, log: log.With("queue", cfg.QueueURL),
		held: map[string]*heldAction{}, notices: map[string]*notice{},
		hooks: map[string]time.Duration{}, arns: map[string]string{}}, nil
}

// Run receives and handles events and keeps the held lifecycle actions alive until ctx is
// done. It recovers from every AWS error (backing off on the queue's) and returns nil when
// ctx ends.
func (e *Events) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.receiveLoop(ctx)
	}()
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.c.clock.After(e.interval()):
		}
		e.Tick(ctx)
	}
}

func (e *Events) receiveLoop(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		n, err := e.Receive(ctx)
		wait := time.Duration(0)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			e.log.Warn("events: receive", "err", err)
			wait, backoff = backoff, min(2*backoff, time.Minute)
		case n == 0 && e.cfg.WaitTime == 0:
			backoff = time.Second
			wait = e.cfg.Poll
		default:
			backoff = time.Second
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-e.c.clock.After(wait):
			}
		}
	}
}

// Receive takes one batch of messages (long-polling up to WaitTime) and handles it; it
// returns how many messages came.
func (e *Events) Receive(ctx context.Context) (int, error) {
	out, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.cfg.QueueURL),
		MaxNumberOfMessages: 10, WaitTimeSeconds: int32(e.cfg.WaitTime / time.Second)})
	if err != nil {
		return 0, wrap("receive messages from "+e.cfg.QueueURL, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range out.Messages {
		if e.handle(ctx, m) {
			e.deleteMessage(ctx, aws.ToString(m.ReceiptHandle))
		}
	}
	return len(out.Messages), nil
}

func (e *Events) deleteMessage(ctx context.Context, receipt string) {
	if _, err := e.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(e.cfg.QueueURL), ReceiptHandle: aws.String(receipt)}); err != nil {
		// It comes back after the visibility timeout and is handled again, harmlessly.
		e.log.Warn("events: delete message", "err", err)
	}
}

// event is an EventBridge event as the rule delivers it (the event itself is the body).
type event struct {
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	// Time is RFC 3339 as EventBridge writes it; a spot warning whose time cannot be read
	// is not dropped for that: its deadline is counted from when it was received.
	Time   string          `json:"time"`
	Detail json.RawMessage `json:"detail"`
}

type lifecycleDetail struct {
	Token      string `json:"LifecycleActionToken"`
	Group      string `json:"AutoScalingGroupName"`
	Hook       string `json:"LifecycleHookName"`
	Instance   string `json:"EC2InstanceId"`
	Transition string `json:"LifecycleTransition"`
}

type ec2Detail struct {
	Instance string `json:"instance-id"`
	Action   string `json:"instance-action"`
}

// parseEvent reads a message body, bounded in size; the structures are flat, so the depth
// the decoder walks is that of the body's unknown fields, which it skips.
func parseEvent(body string) (event, error) {
	var ev event
	if len(body) > maxEventBody {
		return ev, fmt.Errorf("body of %d bytes, over %d", len(body), maxEventBody)
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return ev, fmt.Errorf("parse event: %w", err)
	}
	return ev, nil
}

// handle handles one message (e.mu held) and reports whether to delete it now.
func (e *Events) handle(ctx context.Context, m sqstypes.Message) bool {
	id := aws.ToString(m.MessageId)
	ev, err := parseEvent(aws.ToString(m.Body))
	if err != nil {
		e.log.Warn("events: deleting a malformed message", "message", id, "err", err)
		return true
	}
	now := e.c.clock.Now()
	switch {
	case ev.Source == SourceAutoScaling && (ev.DetailType == DetailTerminateAction || ev.DetailType == DetailLaunchAction):
		var d lifecycleDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Token == "" || d.Group == "" || d.Hook == "" || d.Instance == "" {
			e.log.Warn("events: deleting a lifecycle action without token, group, hook or instance", "message", id, "err", err)
			return true
		}
		if _, ok := e.poolOfGroup(d.Group); !ok {
			return true
		}
		want := transitionTerminating
		if ev.DetailType == DetailLaunchAction {
			want = transitionLaunching
		}
		if d.Transition != want {
			e.log.Warn("events: deleting a lifecycle action whose transition does not match its type", "message", id, "transition", d.Transition)
			return true
		}
		if h := e.held[d.Token]; h != nil {
			h.receipt = aws.ToString(m.ReceiptHandle) // redelivered while held
			return false
		}
		// beatAt zero: the first heartbeat goes at once, as the action may have waited
		// (for a loop that went away, for the message's visibility timeout) since it began.
		h := &heldAction{transition: d.Transition, group: d.Group, hook: d.Hook, token: d.Token, instance: d.Instance,
			receipt: aws.ToString(m.ReceiptHandle), since: now}
		h.beatEvery = e.beatEvery(ctx, h)
		e.held[h.token] = h
		e.log.Info("events: lifecycle action", "transition", h.transition, "group", h.group, "hook", h.hook, "instance", h.instance)
		e.advance(ctx, h, now)
		return false // deleted when completed
	case ev.Source == SourceEC2 && (ev.DetailType == DetailSpotInterruption || ev.DetailType == DetailRebalance):
		var d ec2Detail
		if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Instance == "" {
			e.log.Warn("events: deleting an EC2 event without instance-id", "message", id, "err", err)
			return true
		}
		if n := e.notices[d.Instance]; n != nil && ev.DetailType == DetailSpotInterruption {
			if n.handled {
				return true
			}
			n.receipt = aws.ToString(m.ReceiptHandle)
			return false
		}
		pool, known, err := e.poolOfInstance(ctx, d.Instance)
		if err != nil {
			e.log.Warn("events: find the group of an instance", "instance", d.Instance, "err", err)
			return false // comes back
		}
		if !known {
			return true
		}
		if ev.DetailType == DetailRebalance {
			if _, _, err := e.drain(ctx, d.Instance); err != nil {
				e.log.Warn("events: drain on a rebalance recommendation", "instance", d.Instance, "err", err)
				return false
			}
			e.log.Info("events: rebalance recommendation: drained", "instance", d.Instance)
			return true
		}
		at, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			at = now
		}
		deadline := at.Add(spotNotice)
		n := &notice{instance: d.Instance, pool: pool, deadline: deadline, receipt: aws.ToString(m.ReceiptHandle),
			reason: fmt.Sprintf("EC2 Spot Instance Interruption Warning for %s: reclaimed at %s", d.Instance, deadline.UTC().Format(time.RFC3339))}
		e.notices[d.Instance] = n
		e.c.setInterruption(d.Instance, deadline, now)
		e.log.Info("events: spot interruption warning", "instance", d.Instance, "pool", pool, "deadline", deadline)
		e.interruptSpot(ctx, n, now)
		return false // deleted by interruptSpot once handled
	}
	return true // some other event: not ours
}

// setInterruption records when an instance is reclaimed, for Snapshot; it also forgets
// those long past (instances Snapshot never saw).
func (c *Cluster) setInterruption(id string, at, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for x, t := range c.interruptions {
		if now.Sub(t) > time.Hour {
			delete(c.interruptions, x)
		}
	}
	c.interruptions[id] = at
}

func (e *Events) poolOfGroup(group string) (string, bool) {
	for _, p := range e.c.pools {
		if p.Group == group {
			return p.Name, true
		}
	}
	return "", false
}

// poolOfInstance finds the configured pool whose group has the instance.
func (e *Events) poolOfInstance(ctx context.Context, id string) (string, bool, error) {
	groups, err := e.c.groups(ctx)
	if err != nil {
		return "", false, err
	}
	for name, g := range groups {
		for _, m := range g.Instances {
			if aws.ToString(m.InstanceId) == id {
				pool, ok := e.poolOfGroup(name)
				return pool, ok, nil
			}
		}
	}
	return "", false, nil
}

// beatEvery is how often a held action gets a heartbeat: half its hook's heartbeat timeout
// (DescribeLifecycleHooks, once per hook), at least every fallbackHeartbeatPeriod when the
// hook cannot be described (30 s is the shortest timeout a hook can have).
func (e *Events) beatEvery(ctx context.Context, h *heldAction) time.Duration {
	key := h.group + "/" + h.hook
	if d, ok := e.hooks[key]; ok {
		return d
	}
	out, err := e.c.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(h.group), LifecycleHookNames: []string{h.hook}})
	if err != nil || len(out.LifecycleHooks) == 0 || aws.ToInt32(out.LifecycleHooks[0].HeartbeatTimeout) <= 0 {
		e.log.Warn("events: describe lifecycle hook; heartbeats every 15 s", "group", h.group, "hook", h.hook, "err", err)
		return fallbackHeartbeatPeriod
	}
	d := time.Duration(aws.ToInt32(out.LifecycleHooks[0].HeartbeatTimeout)) * time.Second / 2
	e.hooks[key] = d
	return d
}

// Tick checks the held lifecycle actions and the spot notices: completes, heartbeats,
// interrupts. Run calls it every Poll; errors are logged and retried on the next tick.
func (e *Events) Tick(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.c.clock.Now()
	for _, h := range e.held {
		e.advance(ctx, h, now)
	}
	for _, n := range e.notices {
		e.interruptSpot(ctx, n, now)
	}
}

// interval is the time to the next tick: Poll, or less when a held action's hook needs
// heartbeats more often (a 30 s heartbeat timeout).
func (e *Events) interval() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.cfg.Poll
	for _, h := range e.held {
		d = min(d, h.beatEvery/2)
	}
	return max(d, time.Second)
}

// Held returns the EC2 instance IDs whose lifecycle actions the loop holds.
func (e *Events) Held() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.held))
	for _, h := range e.held {
		out = append(out, h.instance)
	}
	return out
}

// advance moves a held action on (e.mu held).
func (e *Events) advance(ctx context.Context, h *heldAction, now time.Time) {
	if h.transition == transitionLaunching {
		if e.cfg.Ready == nil || e.cfg.Ready(ctx, h.instance) || now.Sub(h.since) >= e.cfg.MaxWait {
			e.complete(ctx, h)
			return
		}
		e.heartbeat(ctx, h, now)
		return
	}
	tasks, registered, err := e.drain(ctx, h.instance)
	if err != nil {
		e.log.Warn("events: drain a terminating instance", "instance", h.instance, "err", err)
		e.heartbeat(ctx, h, now)
		return
	}
	switch {
	case !registered || tasks == 0:
		e.complete(ctx, h)
		return
	case !h.interruptedAt.IsZero() && now.Sub(h.interruptedAt) >= e.cfg.Grace:
		e.log.Warn("events: letting a terminating instance go with tasks still running", "instance", h.instance, "tasks", tasks)
		e.complete(ctx, h)
		return
	case h.interruptedAt.IsZero() && now.Sub(h.since) >= e.cfg.MaxWait:
		pool, _ := e.poolOfGroup(h.group)
		n := Interruption{Instance: h.instance, Pool: pool, Deadline: now.Add(e.cfg.Grace),
			Reason: fmt.Sprintf("Auto Scaling terminates %s (lifecycle hook %s of %s): tasks still running after %s", h.instance, h.hook, h.group, e.cfg.MaxWait)}
		if err := e.interrupt(ctx, n); err != nil {
			e.log.Warn("events: interrupt the tasks of a terminating instance", "instance", h.instance, "err", err)
		} else {
			h.interruptedAt = now
		}
	}
	e.heartbeat(ctx, h, now)
}

func (e *Events) heartbeat(ctx context.Context, h *heldAction, now time.Time) {
	if now.Sub(h.beatAt) < h.beatEvery {
		return
	}
	_, err := e.c.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: aws.String(h.group), LifecycleHookName: aws.String(h.hook), LifecycleActionToken: aws.String(h.token)})
	switch {
	case noAction(err):
		e.log.Warn("events: lifecycle action gone (timed out or completed elsewhere)", "instance", h.instance, "err", err)
		e.forget(ctx, h)
	case err != nil:
		e.log.Warn("events: lifecycle action heartbeat", "instance", h.instance, "err", err)
	default:
		h.beatAt = now
	}
}

func (e *Events) complete(ctx context.Context, h *heldAction) {
	_, err := e.c.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String(h.group), LifecycleHookName: aws.String(h.hook),
		LifecycleActionToken: aws.String(h.token), LifecycleActionResult: aws.String("CONTINUE")})
	if err != nil && !noAction(err) {
		e.log.Warn("events: complete lifecycle action", "instance", h.instance, "err", err)
		return // next tick
	}
	e.log.Info("events: lifecycle action completed", "transition", h.transition, "instance", h.instance)
	e.forget(ctx, h)
}

func (e *Events) forget(ctx context.Context, h *heldAction) {
	delete(e.held, h.token)
	if h.transition == transitionTerminating {
		delete(e.arns, h.instance)
	}
	e.deleteMessage(ctx, h.receipt)
}

// noAction: Auto Scaling no longer has the action (it timed out, or was completed).
func noAction(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "No active Lifecycle Action")
}

// interruptSpot drains a noticed instance and interrupts its tasks: the first time, then
// on every tick while tasks run there and the deadline is ahead (e.mu held).
func (e *Events) interruptSpot(ctx context.Context, n *notice, now time.Time) {
	if n.handled && !now.Before(n.deadline) {
		delete(e.notices, n.instance)
		return
	}
	tasks, registered, err := e.drain(ctx, n.instance)
	if err != nil {
		e.log.Warn("events: drain a spot instance", "instance", n.instance, "err", err)
		return
	}
	if registered && (tasks > 0 || !n.handled) {
		err = e.interrupt(ctx, Interruption{Instance: n.instance, Pool: n.pool, Deadline: n.deadline, Reason: n.reason})
		if err != nil {
			e.log.Warn("events: interrupt the tasks of a spot instance", "instance", n.instance, "err", err)
			return
		}
	}
	if !n.handled {
		n.handled = true
		e.deleteMessage(ctx, n.receipt)
		n.receipt = ""
	}
	if !registered || tasks == 0 {
		delete(e.notices, n.instance)
	}
}

// interrupt lists the instance's tasks and has them stopped: by the Interrupter, StopTask
// for those it does not know (all without one).
func (e *Events) interrupt(ctx context.Context, n Interruption) error {
	arn, err := e.arnOf(ctx, n.Instance)
	if err != nil || arn == "" {
		return err
	}
	in := &ecs.ListTasksInput{Cluster: aws.String(e.c.cfg.Cluster), ContainerInstance: aws.String(arn), DesiredStatus: ecstypes.DesiredStatusRunning}
	for {
		page, err := e.c.ecs.ListTasks(ctx, in)
		if err != nil {
			return wrap("list tasks on "+n.Instance, err)
		}
		n.Tasks = append(n.Tasks, page.TaskArns...)
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	if len(n.Tasks) == 0 {
		return nil
	}
	stop := n.Tasks
	if e.c.cfg.Interrupter != nil {
		if stop, err = e.c.cfg.Interrupter.Interrupt(ctx, n); err != nil {
			return fmt.Errorf("interrupt %d tasks on %s: %w", len(n.Tasks), n.Instance, err)
		}
	}
	// The prefix tells whoever supervises the task (hashike run, a server without this
	// Interrupter) that the platform stopped it: its run ends lost, not failed.
	reason := hashike.StoppedReasonInterruption + n.Reason
	if len(reason) > 255 {
		reason = reason[:255]
	}
	var errs []error
	for _, t := range stop {
		if _, err := e.c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(e.c.cfg.Cluster), Task: aws.String(t), Reason: aws.String(reason)}); err != nil {
			errs = append(errs, wrap("stop task "+t, err))
		}
	}
	if len(stop) > 0 {
		e.log.Info("events: stopped tasks", "instance", n.Instance, "tasks", len(stop), "reason", reason)
	}
	return errors.Join(errs...)
}

// arnOf returns the container instance ARN of an EC2 instance, "" when it is not
// registered in the cluster.
func (e *Events) arnOf(ctx context.Context, id string) (string, error) {
	if arn, ok := e.arns[id]; ok {
		return arn, nil
	}
	cis, err := e.c.containerInstances(ctx)
	if err != nil {
		return "", err
	}
	// The cluster's listing replaces the cache: one listing serves a burst of events.
	clear(e.arns)
	for ec2ID, ci := range cis {
		e.arns[ec2ID] = aws.ToString(ci.ContainerInstanceArn)
	}
	return e.arns[id], nil
}

// drain sets an instance DRAINING unless it is, and returns the tasks it runs or starts;
// registered is false when it is not (or no longer) a container instance of the cluster.
func (e *Events) drain(ctx context.Context, id string) (running int, registered bool, err error) {
	arn, err := e.arnOf(ctx, id)
	if err != nil || arn == "" {
		return 0, false, err
	}
	d, err := e.c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(e.c.cfg.Cluster), ContainerInstances: []string{arn}})
	if err != nil {
		return 0, false, wrap("describe container instance "+id, err)
	}
	ci, ok := byArn(d.ContainerInstances, arn)
	if !ok {
		delete(e.arns, id)
		return 0, false, nil // deregistered
	}
	if st := aws.ToString(ci.Status); st != string(ecstypes.ContainerInstanceStatusActive) {
		return tasks(ci), st == string(ecstypes.ContainerInstanceStatusDraining), nil
	}
	out, err := e.c.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String(e.c.cfg.Cluster), ContainerInstances: []string{arn}, Status: ecstypes.ContainerInstanceStatusDraining})
	if err != nil {
		return 0, false, wrap("drain "+id, err)
	}
	if ci, ok = byArn(out.ContainerInstances, arn); !ok {
		delete(e.arns, id)
		return 0, false, nil
	}
	e.log.Info("events: drained", "instance", id)
	return tasks(ci), true, nil
}

func byArn(cis []ecstypes.ContainerInstance, arn string) (ecstypes.ContainerInstance, bool) {
	for _, ci := range cis {
		if aws.ToString(ci.ContainerInstanceArn) == arn {
			return ci, true
		}
	}
	return ecstypes.ContainerInstance{}, false
}
