package awsfake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

const eventsURL = "https://sqs.us-east-1.amazonaws.com/123456789012/hashike-autoscaler"

type lifecycleAS interface {
	PutLifecycleHook(ctx context.Context, in *autoscaling.PutLifecycleHookInput, optFns ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error)
	DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error)
	RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, optFns ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error)
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
}

// hooked returns a cloud on a manual clock with group "asg" of desired instances
// (registered) in cluster "c", the rule sending Auto Scaling and EC2 events to eventsURL,
// and the group's hooks.
func hooked(t *testing.T, desired int, hooks ...autoscaling.PutLifecycleHookInput) (*Cloud, *ManualClock, lifecycleAS) {
	t.Helper()
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1, Tick: time.Hour})
	c.AddAutoScalingGroup("asg", "c", 0, 5, desired, 2048, 4096, time.Minute)
	clock.Advance(time.Minute)
	c.AddEventRule(eventsURL, EventRule{Sources: []string{"aws.autoscaling", "aws.ec2"}})
	as := c.AutoScaling().(lifecycleAS)
	for _, h := range hooks {
		h.AutoScalingGroupName = s("asg")
		if _, err := as.PutLifecycleHook(bg, &h); err != nil {
			t.Fatalf("PutLifecycleHook: %v", err)
		}
	}
	return c, clock, as
}

func terminateHook(name string, heartbeat int32, def string) autoscaling.PutLifecycleHookInput {
	return autoscaling.PutLifecycleHookInput{LifecycleHookName: s(name), LifecycleTransition: s(TransitionTerminating), HeartbeatTimeout: i32(heartbeat), DefaultResult: s(def)}
}

// members returns the group's instances by ID with their lifecycle states.
func members(t *testing.T, as lifecycleAS) map[string]astypes.LifecycleState {
	t.Helper()
	g, err := as.DescribeAutoScalingGroups(bg, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"asg"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]astypes.LifecycleState{}
	for _, m := range g.AutoScalingGroups[0].Instances {
		out[*m.InstanceId] = m.LifecycleState
	}
	return out
}

// receive takes every visible message of the events queue, deleting them, as parsed JSON.
func receive(t *testing.T, c *Cloud) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		r, err := c.SQS().ReceiveMessage(bg, &sqs.ReceiveMessageInput{QueueUrl: s(eventsURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			var ev map[string]any
			if err := json.Unmarshal([]byte(*m.Body), &ev); err != nil {
				t.Fatalf("event body %s: %v", *m.Body, err)
			}
			out = append(out, ev)
			if _, err := c.SQS().(interface {
				DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
			}).DeleteMessage(bg, &sqs.DeleteMessageInput{QueueUrl: s(eventsURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func detail(ev map[string]any, key string) string {
	d, _ := ev["detail"].(map[string]any)
	v, _ := d[key].(string)
	return v
}

// busyInstance runs a one-hour task and returns it with its instance's EC2 ID.
func busyInstance(t *testing.T, c *Cloud) (types.Task, string) {
	t.Helper()
	register(t, c, "job", app("app", 512, "sleep", "1h"))
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")})
	tk = waitStatus(t, c, *tk.TaskArn, "RUNNING")
	d, err := c.ECS().DescribeContainerInstances(bg, &awsecs.DescribeContainerInstancesInput{Cluster: s("c"), ContainerInstances: []string{*tk.ContainerInstanceArn}})
	if err != nil {
		t.Fatal(err)
	}
	return tk, *d.ContainerInstances[0].Ec2InstanceId
}

// TestScaleInThroughTerminateHook: a lowered desired capacity picks the newest instance;
// with a terminate hook it waits in Terminating:Wait (not counted in the group, listed
// with that state), its task keeps running, an event with the action's token is sent; the
// action completed by token, the instance terminates and its task stops as on any
// terminated host. Completing it again is the error Auto Scaling gives.
func TestScaleInThroughTerminateHook(t *testing.T) {
	c, _, as := hooked(t, 1, terminateHook("drain", 300, ResultContinue))
	tk, id := busyInstance(t, c)
	if _, err := as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("asg"), DesiredCapacity: i32(0)}); err != nil {
		t.Fatal(err)
	}
	if got := members(t, as); len(got) != 1 || got[id] != astypes.LifecycleStateTerminatingWait {
		t.Fatalf("group members %v, want %s in Terminating:Wait", got, id)
	}
	if got := describe(t, c, *tk.TaskArn); *got.LastStatus != "RUNNING" {
		t.Fatalf("task on the held instance: %s", *got.LastStatus)
	}
	evs := receive(t, c)
	if len(evs) != 1 || evs[0]["detail-type"] != DetailTerminateAction || detail(evs[0], "EC2InstanceId") != id || detail(evs[0], "LifecycleHookName") != "drain" {
		t.Fatalf("events %v", evs)
	}
	token := detail(evs[0], "LifecycleActionToken")
	_, err := as.CompleteLifecycleAction(bg, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("drain"), LifecycleActionToken: s("00000000-0000-0000-0000-000000000000"), LifecycleActionResult: s(ResultContinue)})
	if code(err) != "ValidationError" || !strings.Contains(err.Error(), "No active Lifecycle Action found with token") {
		t.Fatalf("complete with a wrong token: %v", err)
	}
	if _, err := as.CompleteLifecycleAction(bg, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("drain"), LifecycleActionToken: s(token), LifecycleActionResult: s(ResultContinue)}); err != nil {
		t.Fatal(err)
	}
	if got := members(t, as); len(got) != 0 {
		t.Fatalf("members after completion: %v", got)
	}
	if got := describe(t, c, *tk.TaskArn); *got.LastStatus != "STOPPED" || got.StopCode != types.TaskStopCodeTerminationNotice || *got.StoppedReason != fmt.Sprintf("Host EC2 (instance %s) terminated.", id) {
		t.Fatalf("task after the instance terminated: %s %s %q", *got.LastStatus, got.StopCode, aws.ToString(got.StoppedReason))
	}
	_, err = as.CompleteLifecycleAction(bg, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("drain"), InstanceId: s(id), LifecycleActionResult: s(ResultContinue)})
	if code(err) != "ValidationError" || err.Error() == "" || !strings.Contains(err.Error(), "No active Lifecycle Action found with instance ID "+id) {
		t.Fatalf("complete twice: %v", err)
	}
}

// TestTerminateInstanceThroughHook: TerminateInstanceInAutoScalingGroup goes through the
// hook too, and ABANDON terminates the instance as CONTINUE does.
func TestTerminateInstanceThroughHook(t *testing.T) {
	c, _, as := hooked(t, 1, terminateHook("drain", 300, ResultContinue))
	tk, id := busyInstance(t, c)
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: s(id), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if got := members(t, as); got[id] != astypes.LifecycleStateTerminatingWait {
		t.Fatalf("members %v", got)
	}
	if got := describe(t, c, *tk.TaskArn); *got.LastStatus != "RUNNING" {
		t.Fatalf("task: %s", *got.LastStatus)
	}
	if _, err := as.CompleteLifecycleAction(bg, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("drain"), InstanceId: s(id), LifecycleActionResult: s(ResultAbandon)}); err != nil {
		t.Fatal(err)
	}
	if got := members(t, as); len(got) != 0 {
		t.Fatalf("members after ABANDON: %v", got)
	}
}

// TestHeartbeatsAndTimeouts: a held instance takes its hook's default result once the
// heartbeat timeout passes with no heartbeat; each heartbeat restarts it; the global
// timeout (100 heartbeat timeouts) ends the hold however many heartbeats come.
func TestHeartbeatsAndTimeouts(t *testing.T) {
	c, clock, as := hooked(t, 2, terminateHook("drain", 30, ResultContinue))
	_, id := busyInstance(t, c)
	// The newest member is scaled in first; make sure it is the busy one.
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: s(id), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(29 * time.Second)
	if got := members(t, as); got[id] != astypes.LifecycleStateTerminatingWait {
		t.Fatalf("at 29 s: %v", got)
	}
	beat := func() {
		t.Helper()
		if _, err := as.RecordLifecycleActionHeartbeat(bg, &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("drain"), InstanceId: s(id)}); err != nil {
			t.Fatalf("heartbeat at %s: %v", clock.Now(), err)
		}
	}
	beat()
	clock.Advance(29 * time.Second)
	if got := members(t, as); got[id] != astypes.LifecycleStateTerminatingWait {
		t.Fatalf("29 s after a heartbeat: %v", got)
	}
	clock.Advance(time.Second)
	if got := members(t, as); got[id] != "" {
		t.Fatalf("30 s after the last heartbeat: %v, want it terminated (CONTINUE)", got)
	}

	// Global timeout: 100 x 30 s.
	_, id2 := busyInstance(t, c)
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: s(id2), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	id = id2
	for elapsed := time.Duration(0); elapsed < 3000*time.Second-20*time.Second; elapsed += 20 * time.Second {
		clock.Advance(20 * time.Second)
		beat()
	}
	clock.Advance(20 * time.Second)
	if got := members(t, as); got[id2] != "" {
		t.Fatalf("past the global timeout: %v", got)
	}
	_, err := as.RecordLifecycleActionHeartbeat(bg, &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("drain"), InstanceId: s(id2)})
	if code(err) != "ValidationError" || !strings.Contains(err.Error(), "No active Lifecycle Action found with instance ID") {
		t.Fatalf("heartbeat after the timeout: %v", err)
	}
}

// TestLaunchHookAndDefaults: a hook's defaults are those of Auto Scaling (one hour,
// ABANDON, a global timeout of 48 h); a launched instance waits in Pending:Wait, registers
// meanwhile, and on ABANDON (here by timeout) is terminated and replaced.
func TestLaunchHookAndDefaults(t *testing.T) {
	c, clock, as := hooked(t, 0, autoscaling.PutLifecycleHookInput{LifecycleHookName: s("warm"), LifecycleTransition: s(TransitionLaunching)})
	d, err := as.DescribeLifecycleHooks(bg, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: s("asg")})
	if err != nil {
		t.Fatal(err)
	}
	h := d.LifecycleHooks[0]
	if *h.HeartbeatTimeout != 3600 || *h.GlobalTimeout != 172800 || *h.DefaultResult != ResultAbandon || *h.LifecycleTransition != TransitionLaunching {
		t.Fatalf("hook %+v", h)
	}
	if _, err := as.PutLifecycleHook(bg, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: s("asg"), LifecycleHookName: s("bad"), LifecycleTransition: s(TransitionLaunching), HeartbeatTimeout: i32(10)}); code(err) != "ValidationError" {
		t.Fatalf("heartbeat timeout 10 s: %v", err)
	}
	if _, err := as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("asg"), DesiredCapacity: i32(1)}); err != nil {
		t.Fatal(err)
	}
	var first string
	for id, st := range members(t, as) {
		first = id
		if st != astypes.LifecycleStatePendingWait {
			t.Fatalf("launched instance %s: %s", id, st)
		}
	}
	evs := receive(t, c)
	if len(evs) != 1 || evs[0]["detail-type"] != DetailLaunchAction || detail(evs[0], "EC2InstanceId") != first {
		t.Fatalf("events %v", evs)
	}
	clock.Advance(time.Hour)
	got := members(t, as)
	if _, ok := got[first]; ok || len(got) != 1 {
		t.Fatalf("after the heartbeat timeout with ABANDON: %v, want %s replaced", got, first)
	}
	if evs := receive(t, c); len(evs) != 1 || detail(evs[0], "EC2InstanceId") == first {
		t.Fatalf("the replacement's launch event: %v", evs)
	}
}

// TestSpotReclaim: the warning comes at once; EC2 reclaims the instance two minutes later:
// its task runs until then and stops as on any terminated host; the group replaces it.
// A rebalance recommendation only sends its event.
func TestSpotReclaim(t *testing.T) {
	c, clock, as := hooked(t, 1)
	tk, id := busyInstance(t, c)
	c.RecommendRebalance(id)
	c.InterruptSpot(id)
	evs := receive(t, c)
	if len(evs) != 2 || evs[0]["detail-type"] != DetailRebalance || evs[1]["detail-type"] != DetailSpotInterruption || detail(evs[1], "instance-id") != id {
		t.Fatalf("events %v", evs)
	}
	clock.Advance(SpotNotice - time.Second)
	if got := describe(t, c, *tk.TaskArn); *got.LastStatus != "RUNNING" {
		t.Fatalf("1 s before the reclaim: %s", *got.LastStatus)
	}
	clock.Advance(time.Second)
	got := describe(t, c, *tk.TaskArn)
	if *got.LastStatus != "STOPPED" || got.StopCode != types.TaskStopCodeTerminationNotice || *got.StoppedReason != fmt.Sprintf("Host EC2 (instance %s) terminated.", id) {
		t.Fatalf("at the reclaim: %s %s %q", *got.LastStatus, got.StopCode, aws.ToString(got.StoppedReason))
	}
	if m := members(t, as); len(m) != 1 || m[id] != "" {
		t.Fatalf("group after the reclaim: %v, want a replacement", m)
	}
}

// TestEventShapes: the events the fake sends have the shape AWS documents (testdata/events:
// the documentation's samples): the same keys at every level, the same JSON types, and the
// same constant values.
func TestEventShapes(t *testing.T) {
	c, _, as := hooked(t, 1,
		autoscaling.PutLifecycleHookInput{LifecycleHookName: s("warm"), LifecycleTransition: s(TransitionLaunching), NotificationMetadata: s("additional-info")},
		autoscaling.PutLifecycleHookInput{LifecycleHookName: s("drain"), LifecycleTransition: s(TransitionTerminating), NotificationMetadata: s("additional-info")})
	var id string
	for m := range members(t, as) {
		id = m
	}
	c.InterruptSpot(id)
	c.RecommendRebalance(id)
	if _, err := as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("asg"), DesiredCapacity: i32(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: s(id), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	byType := map[string]map[string]any{}
	for _, ev := range receive(t, c) {
		byType[ev["detail-type"].(string)] = ev
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if len(files) != 4 {
		t.Fatalf("samples %v", files)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got := byType[want["detail-type"].(string)]
		if got == nil {
			t.Errorf("%s: no %q event sent", f, want["detail-type"])
			continue
		}
		if diff := shapeDiff("", want, got); diff != "" {
			t.Errorf("%s: %s", f, diff)
		}
		for _, k := range []string{"version", "source", "account"} {
			if got[k] != want[k] {
				t.Errorf("%s: %s %v, want %v", f, k, got[k], want[k])
			}
		}
		for _, k := range []string{"LifecycleTransition", "Origin", "Destination", "instance-action", "NotificationMetadata"} {
			if detail(got, k) != detail(want, k) {
				t.Errorf("%s: detail.%s %q, want %q", f, k, detail(got, k), detail(want, k))
			}
		}
		if _, err := time.Parse(time.RFC3339, got["time"].(string)); err != nil {
			t.Errorf("%s: time %v", f, got["time"])
		}
	}
}

// shapeDiff compares two decoded JSON values by keys and types, not values.
func shapeDiff(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %T, want an object", path, got)
		}
		var keys []string
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s.%s: not in the sample", path, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := g[k]; !ok {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if d := shapeDiff(path+"."+k, w[k], g[k]); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, want %d elements", path, got, len(w))
		}
		for i := range w {
			if d := shapeDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return fmt.Sprintf("%s: %T, want %T", path, got, want)
		}
	}
	return ""
}

// TestDeleteMessage: DeleteMessage deletes by the latest receipt handle; an older handle of
// a message received again succeeds without deleting it (as SQS documents); a handle never
// issued is ReceiptHandleIsInvalid.
func TestDeleteMessage(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock})
	c.AddQueue(eventsURL)
	c.SendMessage(eventsURL, "hello")
	sq := c.SQS().(interface {
		ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
		DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	})
	recv := func() string {
		t.Helper()
		r, err := sq.ReceiveMessage(bg, &sqs.ReceiveMessageInput{QueueUrl: s(eventsURL)})
		if err != nil || len(r.Messages) != 1 {
			t.Fatalf("receive: %v %v", r, err)
		}
		return *r.Messages[0].ReceiptHandle
	}
	old := recv()
	clock.Advance(31 * time.Second) // the visibility timeout
	latest := recv()
	if _, err := sq.DeleteMessage(bg, &sqs.DeleteMessageInput{QueueUrl: s(eventsURL), ReceiptHandle: s(old)}); err != nil || c.Messages(eventsURL) != 1 {
		t.Fatalf("delete by an old handle: %v, %d messages", err, c.Messages(eventsURL))
	}
	if _, err := sq.DeleteMessage(bg, &sqs.DeleteMessageInput{QueueUrl: s(eventsURL), ReceiptHandle: s("nope")}); code(err) != "ReceiptHandleIsInvalid" {
		t.Fatalf("delete by an unknown handle: %v", err)
	}
	if _, err := sq.DeleteMessage(bg, &sqs.DeleteMessageInput{QueueUrl: s(eventsURL), ReceiptHandle: s(latest)}); err != nil || c.Messages(eventsURL) != 0 {
		t.Fatalf("delete: %v, %d messages", err, c.Messages(eventsURL))
	}
}
