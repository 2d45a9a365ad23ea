package ecs_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/usage"
)

// TestUsageFromContainerInsights: a task that holds 300 MiB and keeps a vCPU busy for 90 s
// is measured from its per-minute performance events, summed as the run's summary.
func TestUsageFromContainerInsights(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := awsfake.New(awsfake.Options{})
		defer cloud.Close()
		cloud.SetContainerInsights("default", true)
		cloud.AddInstance("default", 16384, 65536)
		cfg := fastConfig(cloud)
		cfg.Insights = cloud.Insights()
		b := ecs.New(cfg)
		ctx := context.Background()

		spec := job(512, "alloc", "300", "burn", "90s", "sleep", "100s")
		spec.TaskDefinition.Cpu = "1024"
		spec.TaskDefinition.Memory = "1024"
		ref, err := b.Start(ctx, hashike.StartRequest{RunID: newRunID(), Spec: spec})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		started := time.Now()
		st, err := b.Wait(ctx, ref)
		if err != nil || st.LastStatus != hashike.TaskStopped {
			t.Fatalf("Wait: %+v, %v", st, err)
		}
		time.Sleep(2 * time.Minute) // the last minute's event is written once it is over

		found, err := b.SampleUsage(ctx, []hashike.UsageQuery{{Task: ref, Since: started}})
		if err != nil {
			t.Fatalf("SampleUsage: %v", err)
		}
		if len(found) != 1 || found[0].TaskID != ref.ID || len(found[0].Samples) < 3 {
			t.Fatalf("SampleUsage = %+v; want the task's minutes", found)
		}
		sum := usage.NewSummary(b.UsageSource(), nil)
		sum.Add(found[0].Samples)
		u := sum.Usage()
		if u.PeakMemoryBytes < 300*hashike.MiB || u.PeakMemoryBytes > 320*hashike.MiB || u.CPUSeconds < 89 || u.CPUSeconds > 91 ||
			u.ThrottledSeconds != nil || u.Source != hashike.UsageSourceContainerInsights {
			t.Errorf("summary %+v; want a peak of about 304 MiB, 90 CPU seconds, no throttled time", u)
		}
		for _, s := range found[0].Samples {
			if s.Period != time.Minute || s.Container != "" || s.At.Second() != 0 {
				t.Errorf("sample %+v: want a whole task's minute", s)
			}
		}
		memory, cpu := hashike.RightSizing(*u, hashike.Resources{CPU: 1024, MemoryMiB: 1024}, 190*time.Second)
		if memory != "peak 304 MiB of 1024 MiB reserved (30%)" || cpu != "used 0.5 vCPU of 1 on average (90.0 CPU seconds in 3m10s)" {
			t.Errorf("hint %q, %q", memory, cpu)
		}

		// Asked again from the last sample, it returns that minute again at most (the
		// summary drops repeats), not the whole history.
		again, err := b.SampleUsage(ctx, []hashike.UsageQuery{{Task: ref, Since: *u.LastSampleAt}})
		if err != nil || len(again) != 1 || len(again[0].Samples) != 1 {
			t.Errorf("SampleUsage since the last sample = %+v, %v; want that minute only", again, err)
		}
	})
}

// TestUsageBatchedAndBounded: one FilterLogEvents per cluster and 18 tasks; a cluster
// without Container Insights is asked once, then left alone; throttling is EUnavailable.
func TestUsageBatchedAndBounded(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.SetContainerInsights("on", true)
	cloud.AddCluster("off")
	cfg := fastConfig(cloud)
	cfg.Insights = cloud.Insights()
	b := ecs.New(cfg)
	var queries []hashike.UsageQuery
	for i := range 20 {
		queries = append(queries, hashike.UsageQuery{Task: hashike.TaskRef{Cluster: "on",
			ID: fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/on/%032x", i)}, Since: time.Now()})
	}
	for i := range 3 {
		queries = append(queries, hashike.UsageQuery{Task: hashike.TaskRef{Cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/off",
			ID: fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/off/%032x", i)}, Since: time.Now()})
	}
	for range 2 {
		found, err := b.SampleUsage(tctx(t), queries)
		if err != nil || len(found) != 0 {
			t.Fatalf("SampleUsage of tasks without events = %+v, %v", found, err)
		}
	}
	if n := cloud.Calls("FilterLogEvents"); n != 2*2+1 {
		t.Errorf("two rounds over 20 tasks with Container Insights and 3 without made %d FilterLogEvents calls, want 5", n)
	}

	cloud.FailNext("FilterLogEvents", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"})
	_, err := b.SampleUsage(tctx(t), queries[:1])
	if hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Errorf("SampleUsage while CloudWatch Logs throttles = %v, want EUnavailable", err)
	}

	nothing := ecs.New(fastConfig(cloud)) // no Insights client
	if found, err := nothing.SampleUsage(tctx(t), queries); err != nil || found != nil {
		t.Errorf("SampleUsage without an Insights client = %+v, %v", found, err)
	}
}
