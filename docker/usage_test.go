package docker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
)

// TestSampleUsage: the stats of a running task's containers, by container, with memory as
// `docker stats` counts it, CPU and throttled time as counters; nothing once it stopped.
func TestSampleUsage(t *testing.T) {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	main := hashike.ContainerDefinition{Name: "main", Image: dockertest.Image, Memory: intp(256), StopTimeout: intp(1),
		Command: []string{"alloc", "64", "burn", "1s", "sleep", "60s"}}
	side := hashike.ContainerDefinition{Name: "side", Image: dockertest.Image, Essential: boolp(false), Memory: intp(32), StopTimeout: intp(1),
		Command: []string{"sleep", "60s"}}
	ref, err := b.Start(ctx, hashike.StartRequest{RunID: newRunID(t),
		Spec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "usage", ContainerDefinitions: []hashike.ContainerDefinition{main, side}}}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Remove(context.Background(), ref) })
	waited := make(chan error, 1)
	go func() {
		_, err := b.Wait(ctx, ref)
		waited <- err
	}()

	other := hashike.UsageQuery{Task: hashike.TaskRef{ID: "not-a-run-of-this-engine"}}
	var got map[string]hashike.UsageSample
	for deadline := time.Now().Add(time.Minute); ; {
		usage, err := b.SampleUsage(ctx, []hashike.UsageQuery{{Task: ref}, other})
		if err != nil {
			t.Fatalf("SampleUsage: %v", err)
		}
		got = map[string]hashike.UsageSample{}
		for _, u := range usage {
			if u.TaskID != ref.ID {
				t.Fatalf("SampleUsage answered for task %q, which was not asked about or has no container", u.TaskID)
			}
			for _, s := range u.Samples {
				got[s.Container] = s
			}
		}
		if m := got["main"]; m.MemoryBytes >= 64*hashike.MiB && m.CPUSeconds >= 1 && got["side"].Container != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute the samples are %+v; want main at >= 64 MiB and >= 1 CPU second, and side", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	m, s := got["main"], got["side"]
	if m.MemoryBytes > 200*hashike.MiB || m.CPUSeconds > 30 || m.Period != 0 || m.ThrottledSeconds == nil || m.At.IsZero() {
		t.Errorf("main's sample %+v: want about 64 MiB, a CPU counter, throttled time and a time", m)
	}
	if s.Container != "side" || s.MemoryBytes <= 0 || s.MemoryBytes >= 32*hashike.MiB {
		t.Errorf("side's sample %+v: want a few MiB", s)
	}

	if err := b.Stop(ctx, ref, "test", 0); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	usage, err := b.SampleUsage(ctx, []hashike.UsageQuery{{Task: ref}})
	if err != nil || len(usage) != 0 {
		t.Errorf("SampleUsage of a stopped task = %+v, %v; want nothing", usage, err)
	}
}

// TestSampleUsageUnreachable: an engine that cannot be reached is EUnavailable, which the
// monitor reports and rides out.
func TestSampleUsageUnreachable(t *testing.T) {
	b, err := docker.New("unix://"+filepath.Join(t.TempDir(), "none.sock"), hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.SampleUsage(testCtx(t), []hashike.UsageQuery{{Task: hashike.TaskRef{ID: "r"}}})
	if hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Fatalf("SampleUsage with no engine = %v, want EUnavailable", err)
	}
}
