package githubfake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/actions/scaleset"

	"github.com/hashike/hashike/internal/githubfake"
)

// The scale-set API through GitHub's own client: a scale set, its single message session,
// job messages with statistics, acquisition, a scale-set runner taking the acquired job.
func TestScaleSetSessionAndMessages(t *testing.T) {
	f := githubfake.New(githubfake.Options{GHES: true, PATs: []string{"pat"}, ScaleSetPollWait: 50 * time.Millisecond})
	defer f.Close()
	ctx := context.Background()
	c, err := scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{
		GitHubConfigURL: f.ServerURL() + "/acme", PersonalAccessToken: "pat"}, scaleset.WithRetryMax(0))
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{Name: "hk-medium", RunnerGroupID: 1,
		Labels: []scaleset.Label{{Name: "hk-medium"}, {Name: "self-hosted"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetRunnerScaleSet(ctx, 1, "hk-medium"); err != nil || got.ID != set.ID {
		t.Fatalf("get scale set: %+v, %v", got, err)
	}
	sess, err := c.MessageSessionClient(ctx, set.ID, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	// One listener per scale set: a second session is refused with 409.
	if _, err := c.MessageSessionClient(ctx, set.ID, "replica-b"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second session: %v, want 409", err)
	}
	// No job: the long poll ends with no message.
	if m, err := sess.GetMessage(ctx, 0, 10); err != nil || m != nil {
		t.Fatalf("empty queue: %+v, %v", m, err)
	}

	other := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"hk-large"}})
	job := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "hk-medium"}, Duration: time.Second})
	m, err := sess.GetMessage(ctx, 0, 10)
	if err != nil || m == nil {
		t.Fatalf("message: %+v, %v", m, err)
	}
	if len(m.JobAvailableMessages) != 1 || m.JobAvailableMessages[0].RunnerRequestID != job.ID || m.Statistics.TotalAvailableJobs != 1 {
		t.Fatalf("message %+v stats %+v: want job %d available (not %d)", m, m.Statistics, job.ID, other.ID)
	}
	// Not deleted: the same message comes again.
	if again, _ := sess.GetMessage(ctx, 0, 10); again == nil || again.MessageID != m.MessageID {
		t.Fatal("an undeleted message was not returned again")
	}
	if err := sess.DeleteMessage(ctx, m.MessageID); err != nil {
		t.Fatal(err)
	}
	got, err := sess.AcquireJobs(ctx, []int64{job.ID})
	if err != nil || len(got) != 1 || got[0] != job.ID {
		t.Fatalf("acquire = %v, %v", got, err)
	}

	jit, err := c.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: "hk-medium-1"}, set.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Register(jit.EncodedJITConfig); err != nil {
		t.Fatal(err)
	}
	if j, _ := f.Job(job.ID); j.Status != "in_progress" || j.RunnerName != "hk-medium-1" {
		t.Fatalf("job = %+v, want it on the scale set's runner", j)
	}
	m, err = sess.GetMessage(ctx, m.MessageID, 10)
	if err != nil || m == nil || len(m.JobAssignedMessages) != 1 || len(m.JobStartedMessages) != 1 ||
		m.JobStartedMessages[0].RunnerName != "hk-medium-1" || m.Statistics.TotalAssignedJobs != 1 || m.Statistics.TotalBusyRunners != 1 {
		t.Fatalf("after acquire and start: %+v, %v", m, err)
	}
	started := m.JobStartedMessages[0]
	if started.QueueTime.IsZero() || started.ScaleSetAssignTime.IsZero() || started.RunnerAssignTime.IsZero() {
		t.Fatalf("times missing: %+v", started)
	}
	_ = sess.DeleteMessage(ctx, m.MessageID)
	if err := f.Complete(jit.EncodedJITConfig, "success"); err != nil {
		t.Fatal(err)
	}
	m, err = sess.GetMessage(ctx, m.MessageID, 10)
	if err != nil || m == nil || len(m.JobCompletedMessages) != 1 || m.JobCompletedMessages[0].Result != "success" || m.Statistics.TotalAssignedJobs != 0 {
		t.Fatalf("after completion: %+v, %v", m, err)
	}

	// Closing the session lets another replica take over.
	if err := sess.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s2, err := c.MessageSessionClient(ctx, set.ID, "replica-b"); err != nil {
		t.Fatalf("session after close: %v", err)
	} else {
		_ = s2.Close(ctx)
	}
}

// A scale set's runner does not take a job the scale set did not acquire, and a plain runner
// does not take one a scale set acquired.
func TestScaleSetRunnersTakeOnlyAcquiredJobs(t *testing.T) {
	f := githubfake.New(githubfake.Options{GHES: true, PATs: []string{"pat"}, ScaleSetPollWait: 50 * time.Millisecond})
	defer f.Close()
	ctx := context.Background()
	c, err := scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{
		GitHubConfigURL: f.ServerURL() + "/acme", PersonalAccessToken: "pat"}, scaleset.WithRetryMax(0))
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{Name: "hk", RunnerGroupID: 1, Labels: []scaleset.Label{{Name: "hk"}}})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.MessageSessionClient(ctx, set.ID, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	jit, err := c.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: "hk-1"}, set.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Register(jit.EncodedJITConfig); err != nil {
		t.Fatal(err)
	}
	job := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"hk"}})
	if j, _ := f.Job(job.ID); j.Status != "queued" {
		t.Fatalf("unacquired job went to %s", j.RunnerName)
	}
	if _, err := sess.AcquireJobs(ctx, []int64{job.ID}); err != nil {
		t.Fatal(err)
	}
	if j, _ := f.Job(job.ID); j.Status != "in_progress" || j.RunnerName != "hk-1" {
		t.Fatalf("acquired job = %+v", j)
	}
}
