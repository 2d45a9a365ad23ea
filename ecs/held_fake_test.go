package ecs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

// A held secret (a runner's JIT config, which hashike keeps in memory only) reaches the
// container as its environment variable, through RunTask's containerOverrides: the registered
// task definition holds neither the value nor the hashike: reference (which ECS would reject),
// and the same revision serves every runner.
func TestHeldSecretReachesTheContainer(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	b := ecs.New(fastConfig(cloud))
	spec := job(64, "env", "ACTIONS_RUNNER_INPUT_JITCONFIG", "exit", "0")
	spec.TaskDefinition.ContainerDefinitions[0].Secrets = []hashike.Secret{{Name: "ACTIONS_RUNNER_INPUT_JITCONFIG", ValueFrom: hashike.HeldSecretPrefix + "runner-jit-config"}}

	var defs []string
	for _, jit := range []string{"jit-one", "jit-two"} {
		ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec,
			Secrets: map[string]string{"ACTIONS_RUNNER_INPUT_JITCONFIG": jit}})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		st, lines := waitRef(t, b, ref)
		if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != 0 {
			t.Fatalf("status %+v", st)
		}
		if want := "ACTIONS_RUNNER_INPUT_JITCONFIG=" + jit; !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Fatalf("container output %q, want %q", lines, want)
		}
		task, ok := cloud.Task(ref.ID)
		if !ok {
			t.Fatalf("task %s not found", ref.ID)
		}
		td, err := cloud.ECS().DescribeTaskDefinition(tctx(t), &awsecs.DescribeTaskDefinitionInput{TaskDefinition: task.TaskDefinitionArn})
		if err != nil {
			t.Fatalf("DescribeTaskDefinition: %v", err)
		}
		b, _ := json.Marshal(td.TaskDefinition)
		if strings.Contains(string(b), jit) || strings.Contains(string(b), hashike.HeldSecretPrefix) {
			t.Fatalf("the task definition holds the held secret: %s", b)
		}
		defs = append(defs, aws.ToString(task.TaskDefinitionArn))
	}
	if defs[0] != defs[1] {
		t.Errorf("each runner registered a revision: %v", defs)
	}
}

// A held secret whose value was not given (the replica holding it restarted) starts no task.
func TestHeldSecretWithoutValueStartsNothing(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	b := ecs.New(fastConfig(cloud))
	spec := job(64, "exit", "0")
	spec.TaskDefinition.ContainerDefinitions[0].Secrets = []hashike.Secret{{Name: "ACTIONS_RUNNER_INPUT_JITCONFIG", ValueFrom: hashike.HeldSecretPrefix + "runner-jit-config"}}
	_, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	if hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("Start without the held value: %v, want EInvalid", err)
	}
	if n := len(cloud.Tasks()); n != 0 {
		t.Fatalf("%d tasks started", n)
	}
}

// A held value too large for RunTask's overrides is refused before RunTask, naming the limit
// and not the value.
func TestHeldSecretTooLarge(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	b := ecs.New(fastConfig(cloud))
	spec := job(64, "exit", "0")
	spec.TaskDefinition.ContainerDefinitions[0].Secrets = []hashike.Secret{{Name: "J", ValueFrom: hashike.HeldSecretPrefix + "x"}}
	big := strings.Repeat("s", 9000)
	_, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec, Secrets: map[string]string{"J": big}})
	if hashike.ErrorCodeOf(err) != hashike.EInvalid || strings.Contains(err.Error(), "sss") {
		t.Fatalf("Start with a 9000-character held value: %v, want EInvalid without the value", err)
	}
	if n := len(cloud.Tasks()); n != 0 {
		t.Fatalf("%d tasks started", n)
	}
}
