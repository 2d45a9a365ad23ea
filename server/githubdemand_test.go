package server

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

func jobEvent(action hashike.WorkflowJobAction, id int64, created time.Time, labels ...string) hashike.WorkflowJobEvent {
	return hashike.WorkflowJobEvent{Action: action, JobID: id, Labels: labels, CreatedAt: created, Repository: "o/r"}
}

func queuedIDs(js []QueuedGitHubJob) []int64 {
	ids := []int64{}
	for _, j := range js {
		ids = append(ids, j.ID)
	}
	return ids
}

func TestWebhookJobsFold(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	type delivery struct {
		ev hashike.WorkflowJobEvent
		at time.Time
	}
	q := func(id int64, created time.Time) hashike.WorkflowJobEvent {
		return jobEvent(hashike.WorkflowJobQueued, id, created, "self-hosted", "small")
	}
	tests := []struct {
		name string
		in   []delivery
		now  time.Time
		want []int64
	}{
		{"queued jobs, oldest first", []delivery{{q(3, t0.Add(2*time.Second)), t0}, {q(1, t0), t0}, {q(2, t0), t0}}, t0, []int64{1, 2, 3}},
		{"taken jobs leave", []delivery{{q(1, t0), t0}, {q(2, t0), t0},
			{jobEvent(hashike.WorkflowJobInProgress, 1, t0), t0}, {jobEvent(hashike.WorkflowJobCompleted, 2, t0), t0}}, t0, []int64{}},
		{"in progress before queued (deliveries out of order)", []delivery{
			{jobEvent(hashike.WorkflowJobInProgress, 1, t0), t0}, {q(1, t0), t0.Add(time.Second)}}, t0, []int64{}},
		{"completed before queued", []delivery{
			{jobEvent(hashike.WorkflowJobCompleted, 1, t0), t0}, {q(1, t0), t0.Add(time.Second)}}, t0, []int64{}},
		{"a duplicate queued is one job", []delivery{{q(1, t0), t0}, {q(1, t0), t0.Add(time.Second)}}, t0, []int64{1}},
		{"waiting is not demand yet", []delivery{{jobEvent(hashike.WorkflowJobWaiting, 1, t0), t0}}, t0, []int64{}},
		{"waiting then queued", []delivery{{jobEvent(hashike.WorkflowJobWaiting, 1, t0), t0}, {q(1, t0), t0}}, t0, []int64{1}},
		{"an unknown action changes nothing", []delivery{{q(1, t0), t0}, {jobEvent("requeued", 1, t0), t0}}, t0, []int64{1}},
		{"GitHub fails a job queued 24 h", []delivery{{q(1, t0), t0}, {q(2, t0.Add(time.Hour)), t0}},
			t0.Add(githubQueueLimit), []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWebhookJobs()
			for _, d := range tt.in {
				w.apply(d.ev, d.at)
			}
			if got := queuedIDs(w.queuedAt(tt.now)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("queued %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWebhookJobsQueuedAtFallsBackToDelivery(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	w := newWebhookJobs()
	w.apply(jobEvent(hashike.WorkflowJobQueued, 1, time.Time{}, "a"), t0)
	w.apply(jobEvent(hashike.WorkflowJobQueued, 2, t0.Add(-3*time.Second), "b"), t0)
	got := w.queuedAt(t0)
	want := []QueuedGitHubJob{
		{ID: 2, Labels: []string{"b"}, Repository: "o/r", QueuedAt: t0.Add(-3 * time.Second), DeliveredAt: t0},
		{ID: 1, Labels: []string{"a"}, Repository: "o/r", QueuedAt: t0, DeliveredAt: t0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestGitHubDemandFromDeliveries: what the endpoint stored is the controller's demand, each
// delivery consumed once, however many times the demand is read.
func TestGitHubDemandFromDeliveries(t *testing.T) {
	tc := newTestClock(time.Date(2026, 3, 2, 9, 1, 0, 0, time.UTC))
	e := newWebhookEnv(t, tc)
	ctx := context.Background()
	deliver := func(id string, action string, job int) {
		t.Helper()
		body := fmt.Appendf(nil, `{"action":%q,"workflow_job":{"id":%d,"labels":["self-hosted","medium"],"created_at":"2026-03-02T09:00:%02dZ"}}`,
			action, job, job)
		if _, err := e.s.ReceiveGitHubWebhook(ctx, signed(id, "workflow_job", body)); err != nil {
			t.Fatal(err)
		}
	}
	demand := func(d *GitHubDemand) []int64 {
		t.Helper()
		js, err := d.QueuedJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return queuedIDs(js)
	}
	d := e.s.GitHubDemand()
	deliver("a", "queued", 1)
	deliver("b", "queued", 2)
	deliver("c", "queued", 3)
	deliver("c", "queued", 3) // GitHub's duplicate
	deliver("d", "in_progress", 2)
	deliver("e", "completed", 4) // out of order: its queued comes after
	deliver("f", "queued", 4)
	if got, want := demand(d), []int64{1, 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("demand %v, want %v", got, want)
	}
	// Consumed: the inbox is empty, and reading again gives the same demand.
	if ds := stored(t, e); len(ds) != 0 {
		t.Errorf("%d deliveries left unacknowledged", len(ds))
	}
	if got, want := demand(d), []int64{1, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("second read %v, want %v", got, want)
	}
	deliver("g", "completed", 1)
	if got, want := demand(d), []int64{3}; !reflect.DeepEqual(got, want) {
		t.Errorf("after job 1 completed: %v, want %v", got, want)
	}
	// GitHub fails a job queued for 24 h: no runner for it after that.
	tc.set(time.Date(2026, 3, 3, 9, 0, 3, 0, time.UTC))
	if got := demand(d); len(got) != 0 {
		t.Errorf("a day later: %v, want none", got)
	}
	if newEnv(t, opts{noLoop: true}).s.GitHubDemand() != nil {
		t.Error("a server without a webhook has webhook demand")
	}
}

// BenchmarkGitHubDemandBurst500 times the intake's share of issue 14's burst target (500
// queued jobs -> every runner requested within 10 s): 500 deliveries received through
// ReceiveGitHubWebhook, then one QueuedJobs that claims, folds and acknowledges them all, on
// SQLite. burst-ms is the whole of it; read-ms the QueuedJobs call alone.
func BenchmarkGitHubDemandBurst500(b *testing.B) {
	ctx := context.Background()
	var total, read time.Duration
	for i := range b.N {
		s, _ := newBenchServer(b)
		d := s.GitHubDemand()
		start := time.Now()
		for j := range 500 {
			body := fmt.Appendf(nil, `{"action":"queued","workflow_job":{"id":%d,"labels":["self-hosted","medium"],"created_at":%q}}`,
				j+1, time.Now().UTC().Format(time.RFC3339))
			if _, err := s.ReceiveGitHubWebhook(ctx, signed(fmt.Sprintf("b%d-%d", i, j), "workflow_job", body)); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		js, err := d.QueuedJobs(ctx)
		if err != nil || len(js) != 500 {
			b.Fatal(len(js), err)
		}
		read += time.Since(mid)
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "burst-ms")
	b.ReportMetric(float64(read.Milliseconds())/float64(b.N), "read-ms")
}
