package ecs_test

import (
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

// TestWireFilterLogEvents: the Container Insights sampler's FilterLogEvents as the SDK sends
// it (the cluster's performance log group, a JSON filter pattern naming the batch's task IDs,
// the start of the earliest Since's minute) and the performance events as CloudWatch Logs
// answers them (a message of JSON text each; Container events are skipped).
func TestWireFilterLogEvents(t *testing.T) {
	srv, calls := wireServer(t, jsonRequest(logsTarget+"FilterLogEvents", "logs", "FilterLogEvents.insights.request.json"),
		wireReply{file: "FilterLogEvents.insights.response.json"})
	b := ecs.New(ecs.Config{Insights: newLogs(srv).(ecs.InsightsAPI)})
	since := time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC)
	cluster := "arn:aws:ecs:us-east-1:123456789012:cluster/hashike"
	found, err := b.SampleUsage(t.Context(), []hashike.UsageQuery{
		{Task: hashike.TaskRef{ID: taskArn1, Cluster: cluster}, Since: since},
		{Task: hashike.TaskRef{ID: taskArn2, Cluster: cluster}, Since: since.Add(time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests, want 1", calls.Load())
	}
	minute := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	want := map[string][]hashike.UsageSample{
		taskArn1: {
			{At: minute, MemoryBytes: 300 * hashike.MiB, CPUSeconds: 24, Period: time.Minute},
			{At: minute.Add(time.Minute), MemoryBytes: 310 * hashike.MiB, CPUSeconds: 12, Period: time.Minute},
		},
		// Asked since 9:01:30: the minute of 9:00 is before it.
	}
	if len(found) != 1 || found[0].TaskID != taskArn1 {
		t.Fatalf("found %+v, want the samples of task 1 only", found)
	}
	got := found[0].Samples
	if len(got) != len(want[taskArn1]) {
		t.Fatalf("samples %+v, want %+v", got, want[taskArn1])
	}
	for i, w := range want[taskArn1] {
		g := got[i]
		if !g.At.Equal(w.At) || g.MemoryBytes != w.MemoryBytes || g.CPUSeconds < w.CPUSeconds-1e-9 || g.CPUSeconds > w.CPUSeconds+1e-9 ||
			g.Period != w.Period || g.Container != "" || g.ThrottledSeconds != nil {
			t.Errorf("sample %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestWireFilterLogEventsNoInsights: a cluster whose performance log group does not exist
// (Container Insights off) gives no samples and no error, and is not asked again soon.
func TestWireFilterLogEventsNoInsights(t *testing.T) {
	srv, calls := wireServer(t, jsonRequest(logsTarget+"FilterLogEvents", "logs", ""),
		wireReply{status: 400, file: "error.ResourceNotFoundException.loggroup.json"})
	b := ecs.New(ecs.Config{Insights: newLogs(srv).(ecs.InsightsAPI)})
	q := []hashike.UsageQuery{{Task: hashike.TaskRef{ID: taskArn1, Cluster: "hashike"}, Since: time.Now()}}
	for range 2 {
		found, err := b.SampleUsage(t.Context(), q)
		if err != nil || len(found) != 0 {
			t.Fatalf("SampleUsage = %+v, %v; want nothing and no error", found, err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests, want 1 (the cluster is known to lack Container Insights)", calls.Load())
	}
}
