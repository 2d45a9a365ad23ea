package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

// mutating are the calls by which an autoscaler changes the cloud.
var mutating = []string{"SetDesiredCapacity", "UpdateContainerInstancesState", "TerminateInstanceInAutoScalingGroup", "SetInstanceProtection"}

// runAutoscaler runs `hashike autoscaler --config FILE [args]` against a fake cloud whose
// cluster jobs has three tasks waiting in PROVISIONING on an empty group, advancing the
// manual clock until done says so, then stops it as SIGTERM does and returns its log.
func runAutoscaler(t *testing.T, args []string, done func(cloud *awsfake.Cloud, log string) bool) (*awsfake.Cloud, string) {
	t.Helper()
	clock := awsfake.NewManualClock(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC))
	cloud := awsfake.New(awsfake.Options{Clock: clock, StepDelay: -1, LogStreamDelay: -1, LogDeliveryDelay: -1, Tick: time.Hour})
	t.Cleanup(cloud.Close)
	cloud.AddCluster("jobs")
	cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, 10, 0, 4096, 15742, 0)
	cloud.AddCapacityProvider("jobs", "jobs-cp", "jobs-asg")
	ecsAPI := cloud.ECS().(ecsscale.ECSAPI)
	asAPI := cloud.AutoScaling().(ecsscale.AutoScalingAPI)
	ctx := t.Context()
	if _, err := cloud.ECS().RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("report"), Cpu: aws.String("1024"), Memory: aws.String("2048"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("hashike-testjob:test"), Command: []string{"exit", "0"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cloud.ECS().RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String("jobs"), TaskDefinition: aws.String("report"), Count: aws.Int32(3),
		CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("jobs-cp"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hashike.yaml")
	os.WriteFile(file, []byte("autoscaler:\n  clusters:\n    - name: jobs\n      pools:\n        - name: jobs\n          autoScalingGroupName: jobs-asg\n          instanceTypes: [{name: m6i.xlarge}]\n"), 0o600)
	stderr := &lockedBuffer{}
	a := &app{stdin: strings.NewReader(""), stdout: &lockedBuffer{}, stderr: stderr, clock: clock,
		lookupEnv: func(string) (string, bool) { return "", false },
		scaleAPI:  func() scaleAPIs { return scaleAPIs{ECS: ecsAPI, AS: asAPI} }}
	root := a.rootCmd()
	root.SetArgs(append([]string{"autoscaler", "--config", file}, args...))
	runCtx, cancel := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- root.ExecuteContext(runCtx) }()
	for i := 0; !done(cloud, stderr.String()); i++ {
		if i == 200 {
			t.Fatalf("not done after %d decisions:\n%s", i, stderr.String())
		}
		// Wait for the controller to wait for its next decision, then let the interval pass.
		for clock.Waiters() == 0 {
			select {
			case err := <-exited:
				t.Fatalf("the autoscaler exited: %v\n%s", err, stderr.String())
			case <-time.After(time.Millisecond):
			}
		}
		clock.Advance(10 * time.Second)
	}
	cancel() // SIGTERM
	if err := <-exited; err != nil {
		t.Fatalf("stopped: %v", err)
	}
	return cloud, stderr.String()
}

// TestAutoscalerDryRunActsOnNothing: with --dry-run the autoscaler observes the tasks waiting
// for capacity and logs the launch it would make with its reason, and makes no mutating call.
func TestAutoscalerDryRunActsOnNothing(t *testing.T) {
	cloud, log := runAutoscaler(t, []string{"--dry-run"}, func(_ *awsfake.Cloud, log string) bool {
		return strings.Contains(log, "dry run: would launch")
	})
	for _, op := range mutating {
		if n := cloud.Calls(op); n != 0 {
			t.Errorf("%d %s calls in a dry run", n, op)
		}
	}
	if !strings.Contains(log, "reason=") || !strings.Contains(log, "autoscaler: stopped") {
		t.Errorf("log:\n%s", log)
	}
}

// TestAutoscalerScalesOut: without --dry-run the same decision raises the group's desired
// capacity (the dry run's zero calls are not for lack of a decision).
func TestAutoscalerScalesOut(t *testing.T) {
	runAutoscaler(t, nil, func(cloud *awsfake.Cloud, _ string) bool { return cloud.Calls("SetDesiredCapacity") > 0 })
}

// TestAutoscalerNeedsConfig: without a config file it is a usage error.
func TestAutoscalerNeedsConfig(t *testing.T) {
	var stderr strings.Builder
	if code := Main([]string{"autoscaler"}, &strings.Builder{}, &stderr, func(string) (string, bool) { return "", false }); code != 2 {
		t.Errorf("exit %d, want 2: %s", code, stderr.String())
	}
}

// TestAutoscalersFromConfig: one autoscaler per configured cluster, with the configured
// policy and hashike's queue as demand; a dry run wraps each in DryRun.
func TestAutoscalersFromConfig(t *testing.T) {
	cloud := awsfake.New(awsfake.Options{})
	t.Cleanup(cloud.Close)
	a := &app{clock: awsfake.NewManualClock(time.Unix(1e9, 0)), scaleAPI: func() scaleAPIs {
		return scaleAPIs{ECS: cloud.ECS().(ecsscale.ECSAPI), AS: cloud.AutoScaling().(ecsscale.AutoScalingAPI)}
	}}
	c, err := ParseConfig("c.yaml", []byte("autoscaler:\n  policy: {name: reactive}\n  clusters:\n    - {name: a, pools: [{name: p, instanceTypes: [{name: m6i.xlarge}]}]}\n    - {name: b, pools: [{name: q, instanceTypes: [{name: m6i.xlarge}]}]}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	queue := func(cluster string) ecsscale.Queue { asked = append(asked, cluster); return nil }
	for _, dry := range []bool{false, true} {
		asked = nil
		scalers, err := a.autoscalers(t.Context(), c.Autoscaler, autoscalerOpts{queue: queue, dryRun: dry, log: slog.New(slog.DiscardHandler)})
		if err != nil || len(scalers) != 2 || scalers[0].Name != "a" || scalers[1].Name != "b" || scalers[0].Policy.Name() != "reactive" {
			t.Fatalf("dry %v: %+v, %v", dry, scalers, err)
		}
		if _, isDry := scalers[0].Cluster.(*DryRun); isDry != dry {
			t.Errorf("dry %v: cluster %T", dry, scalers[0].Cluster)
		}
		if len(asked) != 2 {
			t.Errorf("dry %v: queues asked for %v, want both clusters'", dry, asked)
		}
	}
}
