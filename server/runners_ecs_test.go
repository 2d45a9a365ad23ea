package server

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
)

// ecsRunnerEnv is a server whose "ecs" backend is the ECS backend on the stateful fake, with
// an arm64 pool "arm" on ECS and a local pool "medium", the controller idle (no demand).
func ecsRunnerEnv(t *testing.T, path string, log *syncBuf) (*env, *awsfake.Cloud) {
	t.Helper()
	cloud := awsfake.New(awsfake.Options{})
	t.Cleanup(cloud.Close)
	cloud.AddCluster("default")
	cloud.AddInstance("default", 4096, 8192)
	var w io.Writer // the server's and the backend's log (nil: the default)
	if log != nil {
		w = log
	}
	b := ecs.New(ecs.Config{ECS: cloud.ECS(), Logs: cloud.Logs(), Logger: testLogger(w),
		PollMin: 10 * time.Millisecond, PollMax: 50 * time.Millisecond, LogPoll: 20 * time.Millisecond,
		DefaultLogConfiguration: &hashike.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
			"awslogs-group": "/hashike/test", "awslogs-stream-prefix": "hashike", "awslogs-region": "us-east-1"}}})
	plan, err := runners.Compile([]runners.Pool{
		{Name: "arm", Labels: []string{"self-hosted", "arm64"}, Job: "runner-arm", Max: 2, Arch: runners.ArchARM64, Backend: "ecs",
			Scope: runners.Scope{Level: runners.ScopeOrg, Name: "octo-org"}},
		{Name: "medium", Labels: mediumLabels, Job: "runner-medium", Max: 2, Arch: runtime.GOARCH,
			Scope: runners.Scope{Level: runners.ScopeOrg, Name: "octo-org"}},
	}, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, opts{path: path, ecs: b, logger: testLogger(w),
		runners: &RunnerPools{Plan: plan, GitHub: runnerstest.New(time.Now), Interval: time.Hour}})
	return e, cloud
}

// ecsRunnerJob is a runner job on ECS whose container prints the JIT config it got.
func ecsRunnerJob(mod func(*job.Definition)) *job.Definition {
	return definition(func(d *job.Definition) {
		d.Backend = "ecs"
		c := &d.TaskDefinition.ContainerDefinitions[0]
		c.Image = "hashike-testjob:test"
		c.Command = []string{"env", EnvRunnerJITConfig, "exit", "0"}
		if mod != nil {
			mod(d)
		}
	})
}

// A runner of an arm64 pool on ECS: its container gets the JIT config as
// ACTIONS_RUNNER_INPUT_JITCONFIG, its task definition asks for ARM64, and neither the task
// definition, the database nor the server's log holds the JIT config.
func TestRunnerOnECSGetsItsJITConfig(t *testing.T) {
	const jit = "jit-config-ecs-s3cr3t-41b2"
	path := filepath.Join(t.TempDir(), "server.db")
	var log syncBuf
	e, cloud := ecsRunnerEnv(t, path, &log)
	e.register("runner-arm", ecsRunnerJob(nil))
	ctx := context.Background()
	id, err := e.s.StartRunner(ctx, runners.StartRequest{Pool: "arm", Job: "runner-arm", Name: "hashike-arm-0001",
		Labels: []string{"self-hosted", "arm64"}, JITConfig: jit})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("the runner run to end", func() bool { return e.get(id).State.Terminal() })
	run := e.get(id)
	if run.State != hashike.StateSucceeded || run.Task == nil {
		t.Fatalf("runner run ended %s (%+v); want succeeded on ECS", run.State, run.Exit)
	}
	out := strings.Join(cloud.Output(run.Task.ID, "app"), "\n")
	if !strings.Contains(out, EnvRunnerJITConfig+"="+jit) {
		t.Fatalf("the container printed %q; want %s=%s", out, EnvRunnerJITConfig, jit)
	}
	task, _ := cloud.Task(run.Task.ID)
	td, err := cloud.ECS().DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: task.TaskDefinitionArn})
	if err != nil {
		t.Fatal(err)
	}
	if rp := td.TaskDefinition.RuntimePlatform; rp == nil || rp.CpuArchitecture != types.CPUArchitectureArm64 {
		t.Errorf("task definition runtimePlatform %+v; want cpuArchitecture ARM64", rp)
	}
	for _, c := range td.TaskDefinition.ContainerDefinitions {
		for _, s := range c.Secrets {
			t.Errorf("the task definition declares the secret %s from %s; want none", *s.Name, *s.ValueFrom)
		}
		for _, kv := range c.Environment {
			if strings.Contains(*kv.Value, jit) {
				t.Errorf("the task definition holds the JIT config in %s", *kv.Name)
			}
		}
	}
	e.eventually("the run to settle", func() bool { return e.get(id).Settled })
	if dbHolds(t, path, jit) {
		t.Error("the database holds the JIT config")
	}
	if strings.Contains(log.String(), jit) {
		t.Error("the server's log holds the JIT config")
	}
}

// A pool and its job must agree on the backend (the pool's architecture was checked against
// it), and an ECS job's own cpuArchitecture must be the pool's.
func TestRunnerPoolAndJobMustAgree(t *testing.T) {
	e, cloud := ecsRunnerEnv(t, "", nil)
	e.register("runner-medium", ecsRunnerJob(nil)) // pool medium is local
	e.register("runner-arm", ecsRunnerJob(func(d *job.Definition) {
		d.TaskDefinition.Extra = map[string]any{"runtimePlatform": map[string]any{"cpuArchitecture": "X86_64"}}
	}))
	ctx := context.Background()
	for _, req := range []runners.StartRequest{
		{Pool: "medium", Job: "runner-medium", Name: "hashike-medium-0001", JITConfig: "j"},
		{Pool: "arm", Job: "runner-arm", Name: "hashike-arm-0001", JITConfig: "j"},
	} {
		if _, err := e.s.StartRunner(ctx, req); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("StartRunner of pool %s: %v; want EInvalid", req.Pool, err)
		} else {
			t.Logf("pool %s: %v", req.Pool, err)
		}
	}
	if n := len(cloud.Tasks()); n != 0 {
		t.Errorf("%d ECS tasks started", n)
	}
}
