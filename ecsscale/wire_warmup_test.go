package ecsscale_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
)

// TestWireWarmup: the warm-up's requests through the real SDK client. The active instance
// registered 23 minutes before the snapshot (within the hour-long timeout set here) is new
// to the adapter: the image its tasks use most gets a warm-up task definition (ECS answers
// ClientException for the family not yet there, so it is registered: entry point true,
// 16 MiB) and one StartTask on that container instance, started by hashike-warmup. The
// instance runs a job, so it stays active. The next snapshot, which no longer lists the
// warm-up task (it ended), starts none.
func TestWireWarmup(t *testing.T) {
	w := newWire(t)
	c := w.adapter(t, func(cfg *ecsscale.Config) { cfg.Warmup = ecsscale.Warmup{Images: 1, Timeout: time.Hour} })
	w.errs["DescribeTaskDefinition"] = wireError{status: 400, header: "ClientException", body: `{"__type":"ClientException","message":"Unable to describe task definition."}`}
	s, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	expectCalls(t, "Snapshot with a warm-up", w.take(), "DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances",
		"ListTasks", "DescribeTasks", "DescribeScalingActivities",
		"DescribeTaskDefinition", "RegisterTaskDefinition", "StartTask", "TerminateInstanceInAutoScalingGroup", "SetInstanceProtection")
	if in := s.Instances[0]; in.ID != "i-0123456789abcdef0" || in.State != autoscale.InstanceActive || in.Tasks != 1 || s.Running != 1 {
		t.Fatalf("%+v, running %d: want the busy instance active with its one task", in, s.Running)
	}
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The next snapshot describes only the task it has not seen placed: the one waiting in
	// PROVISIONING.
	calls := w.take()
	want := []string{"DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances",
		"ListTasks", "DescribeTasks", "DescribeScalingActivities", "TerminateInstanceInAutoScalingGroup", "SetInstanceProtection"}
	if got := ops(calls); !slices.Equal(got, want) {
		t.Fatalf("the next Snapshot: calls %v, want %v", got, want)
	}
	for _, c := range calls {
		if c.op != "DescribeTasks" {
			checkBody(t, c)
			continue
		}
		var body struct{ Tasks []string }
		if err := json.Unmarshal(c.body, &body); err != nil || len(body.Tasks) != 1 || !strings.HasSuffix(body.Tasks[0], "/7a6b5c4d3e2f4a1b9c8d7e6f5a4b3c2d") {
			t.Errorf("the next DescribeTasks: %s; want only the task not seen placed", c.body)
		}
	}
}
