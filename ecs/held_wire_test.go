package ecs_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

// A runner pool's architecture, set in the task definition's Extra as runtimePlatform (as
// hashike server does for an ECS pool), reaches RegisterTaskDefinition's request through the
// real SDK client.
func TestWireRuntimePlatformFromExtra(t *testing.T) {
	td := &hashike.TaskDefinition{
		Family:               "runner-arm",
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "runner", Image: "ghcr.io/actions/actions-runner:2.330.0", Memory: intp(2048)}},
		Extra:                map[string]any{"runtimePlatform": map[string]any{"cpuArchitecture": "ARM64"}},
	}
	in, err := ecs.RegisterInput(td, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := wireServer(t, func(t *testing.T, r *http.Request, body []byte) {
		jsonRequest(ecsTarget+"RegisterTaskDefinition", "ecs", "")(t, r, body)
		var got struct {
			RuntimePlatform map[string]string `json:"runtimePlatform"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.RuntimePlatform["cpuArchitecture"] != "ARM64" {
			t.Errorf("RegisterTaskDefinition body %s: want runtimePlatform.cpuArchitecture ARM64", body)
		}
	}, wireReply{file: "RegisterTaskDefinition.response.json"})
	if _, err := newECS(srv).RegisterTaskDefinition(t.Context(), in); err != nil {
		t.Fatal(err)
	}
}
