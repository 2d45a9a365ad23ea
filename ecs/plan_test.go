package ecs_test

import (
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

func TestPlanReadsOnlyAndSaysRegisterOrReuse(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	spec := job(64, "exit", "0")
	spec.ECS = &hashike.ECSOptions{LaunchType: "EC2", Tags: []hashike.Tag{{Key: "team", Value: "data"}}}
	b := ecs.New(fastConfig(cloud))

	plan, err := b.Plan(tctx(t), &spec)
	if err != nil {
		t.Fatal(err)
	}
	td := plan["taskDefinition"].(map[string]any)
	rt := plan["runTask"].(map[string]any)
	if td["action"] != "register a new revision" || rt["taskDefinition"] != "unit:<new revision>" || rt["launchType"] != "EC2" ||
		rt["startedBy"] != "hashike/<run id>" || rt["clientToken"] == nil {
		t.Fatalf("plan for a new family: %v", plan)
	}
	if n := cloud.Calls("RegisterTaskDefinition") + cloud.Calls("RunTask"); n != 0 {
		t.Fatalf("a plan made %d mutating calls", n)
	}

	runToEnd(t, b, spec) // registers the definition
	plan, err = ecs.New(fastConfig(cloud)).Plan(tctx(t), &spec)
	if err != nil {
		t.Fatal(err)
	}
	td = plan["taskDefinition"].(map[string]any)
	if td["action"] != "reuse" || td["taskDefinitionArn"] == nil || plan["runTask"].(map[string]any)["taskDefinition"] != td["taskDefinitionArn"] {
		t.Fatalf("plan after registration: %v", plan)
	}
	if got := cloud.Calls("RegisterTaskDefinition"); got != 1 {
		t.Fatalf("%d registrations, want 1", got)
	}
}
