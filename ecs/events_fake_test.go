package ecs_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

const eventsURL = "https://sqs.us-east-1.amazonaws.com/123456789012/hashike-events"

// eventsCloud is a cloud with room for tasks and an events queue.
func eventsCloud(t *testing.T) *awsfake.Cloud {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 16384, 65536)
	cloud.AddEventsQueue(eventsURL)
	return cloud
}

// eventsJob is job with the events queue named.
func eventsJob(cmd ...string) hashike.JobSpec {
	s := job(64, cmd...)
	s.ECS = &hashike.ECSOptions{EventsQueueURL: eventsURL}
	return s
}

func start(t *testing.T, b *ecs.Backend, spec hashike.JobSpec) hashike.TaskRef {
	t.Helper()
	ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return ref
}

type waitResult struct {
	st  hashike.TaskStatus
	err error
}

func waitAsync(t *testing.T, b *ecs.Backend, ref hashike.TaskRef) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		st, err := b.Wait(tctx(t), ref)
		ch <- waitResult{st, err}
	}()
	return ch
}

// eventually polls cond, which reads the fake's state, until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func exitCode(st hashike.TaskStatus) string {
	if c := st.Container("app").ExitCode; c != nil {
		return fmt.Sprint(*c)
	}
	return "none"
}

// TestEventsEndTheWait: with polling an hour apart, only events can tell Wait the task stopped.
func TestEventsEndTheWait(t *testing.T) {
	cloud := eventsCloud(t)
	cfg := fastConfig(cloud)
	cfg.SQS = cloud.SQS()
	cfg.PollMin, cfg.PollMax = time.Hour, time.Hour
	b := ecs.New(cfg)
	ref := start(t, b, eventsJob("sleep", "50ms", "exit", "3"))
	began := time.Now()
	st, err := b.Wait(tctx(t), ref)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.LastStatus != hashike.TaskStopped || exitCode(st) != "3" {
		t.Errorf("status %s, exit code %s; want STOPPED, 3", st.LastStatus, exitCode(st))
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("Wait took %s", d)
	}
	if n := cloud.Calls("DescribeTasks"); n > 1 {
		t.Errorf("DescribeTasks called %d times, want at most the first description", n)
	}
}

// TestPollingWhenEventsAreLost: events dropped, or a queue that cannot be read, leave polling
// to end the wait.
func TestPollingWhenEventsAreLost(t *testing.T) {
	t.Run("dropped", func(t *testing.T) {
		cloud := eventsCloud(t)
		cloud.SetEventDelivery(eventsURL, awsfake.EventDelivery{Drop: func(awsfake.Event) bool { return true }})
		cfg := fastConfig(cloud)
		cfg.SQS = cloud.SQS()
		cfg.EventsPoll = 200 * time.Millisecond
		b := ecs.New(cfg)
		st, err := b.Wait(tctx(t), start(t, b, eventsJob("sleep", "50ms", "exit", "4")))
		if err != nil || exitCode(st) != "4" {
			t.Fatalf("Wait = %s exit %s, %v; want exit 4", st.LastStatus, exitCode(st), err)
		}
		if cloud.Calls("ReceiveMessage") == 0 {
			t.Error("the queue was never read")
		}
	})
	t.Run("late", func(t *testing.T) {
		cloud := eventsCloud(t)
		cloud.SetEventDelivery(eventsURL, awsfake.EventDelivery{Delay: time.Hour})
		cfg := fastConfig(cloud)
		cfg.SQS = cloud.SQS()
		cfg.EventsPoll = 200 * time.Millisecond
		b := ecs.New(cfg)
		st, err := b.Wait(tctx(t), start(t, b, eventsJob("exit", "5")))
		if err != nil || exitCode(st) != "5" {
			t.Fatalf("Wait = %s exit %s, %v; want exit 5", st.LastStatus, exitCode(st), err)
		}
	})
	t.Run("queue failing", func(t *testing.T) {
		// EventsPoll of an hour: only the normal poll interval, used while the queue fails,
		// can end the wait.
		cloud := eventsCloud(t)
		cloud.SetEventDelivery(eventsURL, awsfake.EventDelivery{Drop: func(awsfake.Event) bool { return true }})
		cloud.SetThrottle("ReceiveMessage", awsfake.Rate{PerSecond: 1e-9})
		cfg := fastConfig(cloud)
		cfg.SQS = cloud.SQS()
		cfg.EventsPoll = time.Hour
		b := ecs.New(cfg)
		st, err := b.Wait(tctx(t), start(t, b, eventsJob("sleep", "100ms", "exit", "6")))
		if err != nil || exitCode(st) != "6" {
			t.Fatalf("Wait = %s exit %s, %v; want exit 6", st.LastStatus, exitCode(st), err)
		}
		if cloud.Throttled("ReceiveMessage") == 0 {
			t.Error("ReceiveMessage never failed")
		}
	})
}

// event is an "ECS Task State Change" event about the task of ref in cluster default.
func event(ref hashike.TaskRef, at time.Time, version int64, lastStatus string, exit *int) string {
	ctr := map[string]any{"name": "app", "lastStatus": lastStatus, "containerArn": ref.ID + "/app"}
	if exit != nil {
		ctr["exitCode"] = *exit
	}
	detail := map[string]any{
		"taskArn": ref.ID, "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
		"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/unit:1",
		"lastStatus":        lastStatus, "desiredStatus": "RUNNING", "version": version,
		"createdAt": at.UTC().Format(time.RFC3339Nano), "startedAt": at.UTC().Format(time.RFC3339Nano),
		"containers": []any{ctr},
	}
	if lastStatus == "STOPPED" {
		detail["desiredStatus"] = "STOPPED"
		detail["stopCode"] = "EssentialContainerExited"
		detail["stoppedReason"] = "Essential container in task exited"
		detail["stoppedAt"] = at.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": fmt.Sprintf("ev-%d", version), "detail-type": "ECS Task State Change", "source": "aws.ecs",
		"account": "123456789012", "time": at.UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{ref.ID}, "detail": detail,
	})
	return string(b)
}

// TestStaleEventsIgnored: detail.version orders events; older ones and duplicates change
// nothing, whichever source told the newer state.
func TestStaleEventsIgnored(t *testing.T) {
	cloud := eventsCloud(t)
	cloud.SetEventDelivery(eventsURL, awsfake.EventDelivery{Drop: func(awsfake.Event) bool { return true }})
	cfg := fastConfig(cloud)
	cfg.SQS = cloud.SQS()
	cfg.PollMin, cfg.PollMax = time.Hour, time.Hour
	b := ecs.New(cfg)
	ref := start(t, b, eventsJob("sleep", "1h"))
	done := waitAsync(t, b, ref)
	eventually(t, "the task is described", func() bool { return cloud.Calls("DescribeTasks") > 0 })

	now := time.Now()
	nine, seven := 9, 7
	cloud.SendMessage(eventsURL, event(ref, now, 1000, "RUNNING", nil))
	cloud.SendMessage(eventsURL, event(ref, now, 900, "STOPPED", &nine))  // older than 1000
	cloud.SendMessage(eventsURL, event(ref, now, 1, "STOPPED", &nine))    // older than DescribeTasks' version
	cloud.SendMessage(eventsURL, event(ref, now, 1000, "STOPPED", &nine)) // a duplicate version
	eventually(t, "the stale events are deleted", func() bool { return cloud.Messages(eventsURL) == 0 })
	select {
	case r := <-done:
		t.Fatalf("Wait returned on a stale event: %s exit %s, %v", r.st.LastStatus, exitCode(r.st), r.err)
	default:
	}
	cloud.SendMessage(eventsURL, event(ref, now, 1001, "STOPPED", &seven))
	r := <-done
	if r.err != nil || r.st.LastStatus != hashike.TaskStopped || exitCode(r.st) != "7" {
		t.Fatalf("Wait = %s exit %s, %v; want STOPPED, exit 7", r.st.LastStatus, exitCode(r.st), r.err)
	}
	if r.st.StopCode != hashike.StopCodeEssentialExited {
		t.Errorf("stop code %q", r.st.StopCode)
	}
}

// TestQueueHousekeeping: malformed messages and other events are deleted; an event about a
// task nobody here waits for is left for other processes unless it is old.
func TestQueueHousekeeping(t *testing.T) {
	cloud := eventsCloud(t)
	cfg := fastConfig(cloud)
	cfg.SQS = cloud.SQS()
	b := ecs.New(cfg)
	ref := start(t, b, eventsJob("sleep", "1h"))
	done := waitAsync(t, b, ref)

	other := hashike.TaskRef{ID: "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"}
	zero := 0
	cloud.SendMessage(eventsURL, "not json")
	cloud.SendMessage(eventsURL, `{"version":"0","id":"x","detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"lastStatus":"RUNNING"}}`)
	cloud.SendMessage(eventsURL, `{"version":"0","id":"y","detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"taskArn":"`+ref.ID+`","clusterArn":"default","lastStatus":"STOPPED"}}`)
	cloud.SendMessage(eventsURL, `{"version":"0","id":"z","detail-type":"ECS Container Instance State Change","source":"aws.ecs","detail":{}}`)
	cloud.SendMessage(eventsURL, event(other, time.Now().Add(-time.Hour), 3, "STOPPED", &zero))
	cloud.SendMessage(eventsURL, event(other, time.Now(), 2, "RUNNING", nil))
	eventually(t, "only the fresh event about the other task is left", func() bool { return cloud.Messages(eventsURL) == 1 })
	select {
	case r := <-done:
		t.Fatalf("Wait returned on a malformed event: %s, %v", r.st.LastStatus, r.err)
	default:
	}
	if err := b.Stop(tctx(t), ref, "test over", 0); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.st.LastStatus != hashike.TaskStopped {
		t.Fatalf("Wait = %+v, %v", r.st, r.err)
	}
}

// TestEventsSaveDescribeTasks: N concurrent runs cost fewer DescribeTasks calls with events.
func TestEventsSaveDescribeTasks(t *testing.T) {
	const n = 8
	calls := func(events bool) int {
		cloud := eventsCloud(t)
		cfg := fastConfig(cloud)
		spec := job(64, "sleep", "1500ms", "exit", "0")
		if events {
			cfg.SQS = cloud.SQS()
			spec = eventsJob("sleep", "1500ms", "exit", "0")
		}
		b := ecs.New(cfg)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := b.Wait(tctx(t), start(t, b, spec))
				if err != nil || exitCode(st) != "0" {
					t.Errorf("Wait = %s exit %s, %v", st.LastStatus, exitCode(st), err)
				}
			}()
		}
		wg.Wait()
		return cloud.Calls("DescribeTasks")
	}
	without, with := calls(false), calls(true)
	t.Logf("DescribeTasks calls for %d runs: %d polling, %d with events", n, without, with)
	if with >= without {
		t.Errorf("DescribeTasks: %d calls with events, %d without", with, without)
	}
}
