package awsfake

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

var bg = context.Background()

func s(v string) *string { return &v }
func i32(v int32) *int32 { return &v }

// newCloud returns a cloud with cluster "c" and one 2048/4096 instance.
func newCloud(t *testing.T, opts Options) *Cloud {
	t.Helper()
	c := New(opts)
	t.Cleanup(c.Close)
	c.AddCluster("c")
	return c
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// app is a test-image container running script, logging to awslogs.
func app(name string, mem int32, script ...string) types.ContainerDefinition {
	return types.ContainerDefinition{
		Name: s(name), Image: s("hashike-testjob:test"), Memory: i32(mem), Command: script,
		StopTimeout: i32(1),
		LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/hashike", "awslogs-stream-prefix": "run", "awslogs-region": "us-east-1",
		}},
	}
}

func register(t *testing.T, c *Cloud, family string, defs ...types.ContainerDefinition) *types.TaskDefinition {
	t.Helper()
	out, err := c.ECS().RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: s(family), ContainerDefinitions: defs})
	if err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	return out.TaskDefinition
}

func run(t *testing.T, c *Cloud, in *awsecs.RunTaskInput) types.Task {
	t.Helper()
	if in.Cluster == nil {
		in.Cluster = s("c")
	}
	out, err := c.ECS().RunTask(bg, in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	return out.Tasks[0]
}

func describe(t *testing.T, c *Cloud, arn string) types.Task {
	t.Helper()
	out, err := c.ECS().DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: s("c"), Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks: failures %+v", out.Failures)
	}
	return out.Tasks[0]
}

// waitStatus polls until the task reaches status (real clock).
func waitStatus(t *testing.T, c *Cloud, arn, status string) types.Task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tk := describe(t, c, arn)
		if *tk.LastStatus == status {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s, want %s", arn, *tk.LastStatus, status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ctr(tk types.Task, name string) types.Container {
	for _, c := range tk.Containers {
		if *c.Name == name {
			return c
		}
	}
	return types.Container{}
}

func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// logLines reads the whole stream from the head.
func logLines(t *testing.T, c *Cloud, stream string) []string {
	t.Helper()
	var lines []string
	var token *string
	for {
		out, err := c.Logs().GetLogEvents(bg, &cloudwatchlogs.GetLogEventsInput{LogGroupName: s("/hashike"), LogStreamName: s(stream), StartFromHead: ptr(true), NextToken: token})
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		for _, e := range out.Events {
			lines = append(lines, *e.Message)
		}
		if token != nil && *out.NextForwardToken == *token {
			return lines
		}
		token = out.NextForwardToken
	}
}

func TestRunToCompletion(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 2048, 4096)
	register(t, c, "job", app("app", 64, "print", "2", "out", "stderr", "1", "err", "partial", "tail", "exit", "3"))
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job"), StartedBy: s("hashike"), Tags: []types.Tag{{Key: s("hashike:run"), Value: s("r1")}}})
	if *tk.LastStatus != "PROVISIONING" || *tk.DesiredStatus != "RUNNING" || tk.ContainerInstanceArn == nil {
		t.Fatalf("RunTask returned %s/%s on %v", *tk.LastStatus, *tk.DesiredStatus, tk.ContainerInstanceArn)
	}
	done := waitStatus(t, c, *tk.TaskArn, "STOPPED")
	a := ctr(done, "app")
	if a.ExitCode == nil || *a.ExitCode != 3 {
		t.Fatalf("exit code %v", a.ExitCode)
	}
	if done.StopCode != types.TaskStopCodeEssentialContainerExited || *done.StoppedReason != "Essential container in task exited" {
		t.Fatalf("stop %s %q", done.StopCode, *done.StoppedReason)
	}
	for name, ts := range map[string]*time.Time{"createdAt": done.CreatedAt, "pullStartedAt": done.PullStartedAt, "startedAt": done.StartedAt, "stoppingAt": done.StoppingAt, "stoppedAt": done.StoppedAt} {
		if ts == nil {
			t.Errorf("%s not set", name)
		}
	}
	if !done.CreatedAt.After(time.Time{}) || done.StoppedAt.Before(*done.StartedAt) || done.StartedAt.Before(*done.CreatedAt) {
		t.Errorf("timestamps out of order: %v %v %v", done.CreatedAt, done.StartedAt, done.StoppedAt)
	}
	if len(done.Tags) != 1 || *done.StartedBy != "hashike" {
		t.Errorf("tags %v startedBy %v", done.Tags, done.StartedBy)
	}
	time.Sleep(100 * time.Millisecond) // late delivery
	got := strings.Join(logLines(t, c, "run/app/"+taskID(*tk.TaskArn)), "|")
	if got != "out 1|out 2|err 1|tail" {
		t.Fatalf("log lines %q", got)
	}
}
