package awsfake

// EC2 Auto Scaling lifecycle hooks.
//
// A group's hooks hold its instances at a transition: a launched instance waits in
// Pending:Wait, one the group scales in (a lowered desired capacity,
// TerminateInstanceInAutoScalingGroup) in Terminating:Wait, until every hook of that
// transition is completed (CompleteLifecycleAction) or times out. Each hold is announced on
// EventBridge ("EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle
// Action", source aws.autoscaling) with the action's token. A hook times out HeartbeatTimeout
// after the hold began or after the last RecordLifecycleActionHeartbeat, and in any case at
// its global timeout (100 heartbeat timeouts or 48 hours, whichever is smaller); it then
// takes its DefaultResult (ABANDON unless set). An instance in Terminating:Wait keeps its
// container instance and its tasks until the hold ends: that is what the hook is for. It
// then terminates, with ABANDON as with CONTINUE; a launch ABANDONed terminates the instance
// (the group launches another). The Pending:Proceed and Terminating:Proceed states are not
// shown: the fake moves on from them at once. Timeouts are applied lazily, as the fake's other clocks are:
// by the next API call (or Housekeep) after they are due.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// Lifecycle transitions and results, as Auto Scaling spells them.
const (
	TransitionLaunching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
	TransitionTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"
	ResultContinue        = "CONTINUE"
	ResultAbandon         = "ABANDON"
)

// Detail types of the Auto Scaling lifecycle events (source aws.autoscaling).
const (
	DetailLaunchAction    = "EC2 Instance-launch Lifecycle Action"
	DetailTerminateAction = "EC2 Instance-terminate Lifecycle Action"
)

// defaultHeartbeat is a hook's HeartbeatTimeout when PutLifecycleHook gives none.
const defaultHeartbeat = time.Hour

// lifecycle is the fake's lifecycle hooks, their pending actions, the EventBridge rules and
// the spot reclaims to come (c.mu guards it).
type lifecycle struct {
	hooks   map[string][]*lifecycleHook // by group, in creation order
	actions []*lifecycleAction
	// leaving holds the instances in Terminating:Wait, by group: no longer members (they
	// do not count towards the desired capacity) and not yet terminated.
	leaving  map[string][]*asgInstance
	rules    []eventRule
	reclaims []reclaim
}

type lifecycleHook struct {
	name, group, transition string
	defaultResult, metadata string
	heartbeat               time.Duration
}

// global is the longest a hold of this hook can last, heartbeats or not.
func (h *lifecycleHook) global() time.Duration { return min(48*time.Hour, 100*h.heartbeat) }

type lifecycleAction struct {
	token    string
	hook     *lifecycleHook
	group    *asg
	member   *asgInstance
	started  time.Time
	deadline time.Time // the heartbeat timeout, extended by heartbeats
}

func (a *lifecycleAction) expiry() time.Time {
	return minTime(a.deadline, a.started.Add(a.hook.global()))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// lifecycleStateOf is the Auto Scaling lifecycle state of a member held by a launch hook,
// or "".
func (c *Cloud) lifecycleStateOf(m *asgInstance) astypes.LifecycleState {
	for _, a := range c.life.actions {
		if a.member == m && a.hook.transition == TransitionLaunching {
			return astypes.LifecycleStatePendingWait
		}
	}
	return ""
}

// leavingInstances are a group's instances in Terminating:Wait, as DescribeAutoScalingGroups
// lists them.
func (c *Cloud) leavingInstances(g *asg) []astypes.Instance {
	var out []astypes.Instance
	for _, m := range c.life.leaving[g.name] {
		inst := astypes.Instance{
			InstanceId:           ptr(m.id),
			LifecycleState:       astypes.LifecycleStateTerminatingWait,
			HealthStatus:         ptr("Healthy"),
			AvailabilityZone:     ptr(c.opts.Region + "a"),
			ProtectedFromScaleIn: ptr(m.protected),
		}
		if g.instanceType != "" {
			inst.InstanceType = ptr(g.instanceType)
		}
		out = append(out, inst)
	}
	return out
}

// launched starts the launch hooks of a new member (c.mu held).
func (c *Cloud) launched(g *asg, m *asgInstance) {
	c.hold(g, m, TransitionLaunching)
}

// retire takes a member out of its group (already removed from g.members): through the
// group's terminate hooks when it has some, at once otherwise (c.mu held).
func (c *Cloud) retire(g *asg, m *asgInstance) {
	c.dropActions(m)
	if c.hold(g, m, TransitionTerminating) {
		if c.life.leaving == nil {
			c.life.leaving = map[string][]*asgInstance{}
		}
		c.life.leaving[g.name] = append(c.life.leaving[g.name], m)
		return
	}
	c.ended(m)
}

// hold creates one action per hook of the transition and announces each; false when the
// group has no such hook.
func (c *Cloud) hold(g *asg, m *asgInstance, transition string) bool {
	now := c.clock.Now()
	held := false
	for _, h := range c.life.hooks[g.name] {
		if h.transition != transition {
			continue
		}
		a := &lifecycleAction{token: uuid(c), hook: h, group: g, member: m, started: now, deadline: now.Add(h.heartbeat)}
		c.life.actions = append(c.life.actions, a)
		c.publishLifecycle(a, now)
		held = true
	}
	return held
}

// dropActions forgets the actions of an instance that is going away anyway.
func (c *Cloud) dropActions(m *asgInstance) {
	c.life.actions = slices.DeleteFunc(c.life.actions, func(a *lifecycleAction) bool { return a.member == m })
}

// lifecycleDue applies the timeouts and reclaims that are due (c.mu held).
func (c *Cloud) lifecycleDue(now time.Time) {
	for {
		var due *lifecycleAction
		for _, a := range c.life.actions {
			if !now.Before(a.expiry()) {
				due = a
				break
			}
		}
		if due == nil {
			break
		}
		c.complete(due, due.hook.defaultResult)
	}
	c.reclaimDue(now)
}

// complete ends one action with result and, when it was the instance's last (or an
// ABANDON), lets the instance proceed.
func (c *Cloud) complete(a *lifecycleAction, result string) {
	c.life.actions = slices.DeleteFunc(c.life.actions, func(x *lifecycleAction) bool { return x == a })
	m, g := a.member, a.group
	if a.hook.transition == TransitionLaunching {
		if result == ResultAbandon {
			c.dropActions(m)
			if k := slices.Index(g.members, m); k >= 0 {
				g.members = slices.Delete(g.members, k, k+1)
			}
			c.ended(m)
			g.resize(c, g.desired) // a replacement
		}
		return
	}
	if result == ResultAbandon {
		c.dropActions(m)
	}
	for _, x := range c.life.actions {
		if x.member == m {
			return // another hook still holds it
		}
	}
	c.life.leaving[g.name] = slices.DeleteFunc(c.life.leaving[g.name], func(x *asgInstance) bool { return x == m })
	c.ended(m)
}

// findAction finds the pending action a heartbeat or completion names, or returns the
// ValidationError Auto Scaling gives.
func (c *Cloud) findAction(group, hook, token, instance *string) (*lifecycleAction, error) {
	if group == nil || hook == nil || (token == nil && instance == nil) {
		return nil, apiError("ValidationError", "1 validation error detected: AutoScalingGroupName, LifecycleHookName and one of LifecycleActionToken or InstanceId are required")
	}
	g := c.asgs[*group]
	if g == nil {
		return nil, apiError("ValidationError", "AutoScalingGroup name not found - %s", *group)
	}
	found := false
	for _, h := range c.life.hooks[g.name] {
		found = found || h.name == *hook
	}
	if !found {
		return nil, apiError("ValidationError", "No Lifecycle Hook found with name %s for group %s", *hook, *group)
	}
	for _, a := range c.life.actions {
		if a.group != g || a.hook.name != *hook {
			continue
		}
		if (token != nil && a.token == *token) || (token == nil && a.member.id == *instance) {
			return a, nil
		}
	}
	if token != nil {
		return nil, apiError("ValidationError", "No active Lifecycle Action found with token %s", *token)
	}
	return nil, apiError("ValidationError", "No active Lifecycle Action found with instance ID %s", *instance)
}

// PutLifecycleHook creates or updates a lifecycle hook of a group. It applies to the
// transitions that begin after it.
func (a asClient) PutLifecycleHook(ctx context.Context, in *autoscaling.PutLifecycleHookInput, _ ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "PutLifecycleHook"); err != nil {
		return nil, err
	}
	if in.AutoScalingGroupName == nil || in.LifecycleHookName == nil {
		return nil, apiError("ValidationError", "1 validation error detected: Value null at 'lifecycleHookName' failed to satisfy constraint: Member must not be null")
	}
	g := c.asgs[*in.AutoScalingGroupName]
	if g == nil {
		return nil, apiError("ValidationError", "AutoScalingGroup name not found - %s", *in.AutoScalingGroupName)
	}
	var h *lifecycleHook
	for _, x := range c.life.hooks[g.name] {
		if x.name == *in.LifecycleHookName {
			h = x
		}
	}
	if h == nil {
		if in.LifecycleTransition == nil {
			return nil, apiError("ValidationError", "Lifecycle Transition must be specified when creating a new Lifecycle Hook")
		}
		h = &lifecycleHook{name: *in.LifecycleHookName, group: g.name, defaultResult: ResultAbandon, heartbeat: defaultHeartbeat}
	}
	if t := in.LifecycleTransition; t != nil {
		if *t != TransitionLaunching && *t != TransitionTerminating {
			return nil, apiError("ValidationError", "Invalid Lifecycle Transition %s", *t)
		}
		h.transition = *t
	}
	if r := in.DefaultResult; r != nil {
		if *r != ResultContinue && *r != ResultAbandon {
			return nil, apiError("ValidationError", "Invalid value for DefaultResult: %s. Valid values are CONTINUE and ABANDON", *r)
		}
		h.defaultResult = *r
	}
	if hb := in.HeartbeatTimeout; hb != nil {
		if *hb < 30 || *hb > 7200 {
			return nil, apiError("ValidationError", "Heartbeat timeout %d must be between 30 and 7200 seconds", *hb)
		}
		h.heartbeat = time.Duration(*hb) * time.Second
	}
	if in.NotificationMetadata != nil {
		h.metadata = *in.NotificationMetadata
	}
	if !slices.Contains(c.life.hooks[g.name], h) {
		if c.life.hooks == nil {
			c.life.hooks = map[string][]*lifecycleHook{}
		}
		c.life.hooks[g.name] = append(c.life.hooks[g.name], h)
	}
	return &autoscaling.PutLifecycleHookOutput{}, nil
}

// DescribeLifecycleHooks lists a group's hooks (or those named).
func (a asClient) DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeLifecycleHooks"); err != nil {
		return nil, err
	}
	if in.AutoScalingGroupName == nil {
		return nil, apiError("ValidationError", "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	g := c.asgs[*in.AutoScalingGroupName]
	if g == nil {
		return nil, apiError("ValidationError", "AutoScalingGroup name not found - %s", *in.AutoScalingGroupName)
	}
	out := &autoscaling.DescribeLifecycleHooksOutput{LifecycleHooks: []astypes.LifecycleHook{}}
	for _, h := range c.life.hooks[g.name] {
		if len(in.LifecycleHookNames) > 0 && !slices.Contains(in.LifecycleHookNames, h.name) {
			continue
		}
		lh := astypes.LifecycleHook{
			AutoScalingGroupName: ptr(g.name), LifecycleHookName: ptr(h.name), LifecycleTransition: ptr(h.transition),
			DefaultResult: ptr(h.defaultResult), HeartbeatTimeout: ptr(int32(h.heartbeat / time.Second)),
			GlobalTimeout: ptr(int32(h.global() / time.Second)),
		}
		if h.metadata != "" {
			lh.NotificationMetadata = ptr(h.metadata)
		}
		out.LifecycleHooks = append(out.LifecycleHooks, lh)
	}
	return out, nil
}

// RecordLifecycleActionHeartbeat restarts a pending action's heartbeat timeout; the global
// timeout still applies.
func (a asClient) RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, _ ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "RecordLifecycleActionHeartbeat"); err != nil {
		return nil, err
	}
	act, err := c.findAction(in.AutoScalingGroupName, in.LifecycleHookName, in.LifecycleActionToken, in.InstanceId)
	if err != nil {
		return nil, err
	}
	act.deadline = c.clock.Now().Add(act.hook.heartbeat)
	return &autoscaling.RecordLifecycleActionHeartbeatOutput{}, nil
}

// CompleteLifecycleAction ends a pending action with CONTINUE or ABANDON.
func (a asClient) CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "CompleteLifecycleAction"); err != nil {
		return nil, err
	}
	r := in.LifecycleActionResult
	if r == nil || (*r != ResultContinue && *r != ResultAbandon) {
		return nil, apiError("ValidationError", "1 validation error detected: LifecycleActionResult must be CONTINUE or ABANDON")
	}
	act, err := c.findAction(in.AutoScalingGroupName, in.LifecycleHookName, in.LifecycleActionToken, in.InstanceId)
	if err != nil {
		return nil, err
	}
	c.complete(act, *r)
	return &autoscaling.CompleteLifecycleActionOutput{}, nil
}

// lifecycleDetail is the detail of a lifecycle action event.
type lifecycleDetail struct {
	LifecycleActionToken string `json:"LifecycleActionToken"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	LifecycleHookName    string `json:"LifecycleHookName"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	NotificationMetadata string `json:"NotificationMetadata,omitempty"`
	Origin               string `json:"Origin"`
	Destination          string `json:"Destination"`
}

func (c *Cloud) publishLifecycle(a *lifecycleAction, now time.Time) {
	d := lifecycleDetail{
		LifecycleActionToken: a.token, AutoScalingGroupName: a.group.name, LifecycleHookName: a.hook.name,
		EC2InstanceID: a.member.id, LifecycleTransition: a.hook.transition, NotificationMetadata: a.hook.metadata,
		Origin: "EC2", Destination: "AutoScalingGroup",
	}
	typ := DetailLaunchAction
	if a.hook.transition == TransitionTerminating {
		typ = DetailTerminateAction
		d.Origin, d.Destination = "AutoScalingGroup", "EC2"
	}
	detail, err := json.Marshal(d)
	if err != nil {
		panic(err) // strings only
	}
	group := c.arn("autoscaling", fmt.Sprintf("autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/%s", a.group.name))
	c.publish("aws.autoscaling", typ, []string{group}, detail, now)
}
