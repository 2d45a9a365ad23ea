package github_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/githubfake"
)

// The scale-set mode end to end on a GHES with a private CA: one scale set per pool, one
// listener per scale set, job events with their times, acquisition, a runner that takes the
// acquired job, removal rules.
func TestScaleSetListener(t *testing.T) {
	f := githubfake.New(githubfake.Options{GHES: true, TLS: true, PATs: []string{pat}, ScaleSetPollWait: 50 * time.Millisecond,
		RunnerGroups: []githubfake.RunnerGroup{{ID: 4, Name: "ci"}}})
	defer f.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, f.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ss, err := github.NewScaleSets(github.ScaleSetConfig{ConfigURL: f.ServerURL() + "/acme", CAFile: ca, Token: pat, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	set, err := ss.Ensure(ctx, "hk-medium-amd64", []string{"hk-medium-amd64", "self-hosted"}, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ss.Ensure(ctx, "hk-medium-amd64", nil, "ci"); err != nil || again.ID != set.ID || set.GroupID != 4 {
		t.Fatalf("ensure again = %+v, %v (first %+v)", again, err, set)
	}
	sess, err := ss.Listen(ctx, set.ID, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	if _, err := ss.Listen(ctx, set.ID, "replica-b"); !errors.Is(err, github.ErrSessionTaken) {
		t.Fatalf("second listener: %v, want ErrSessionTaken", err)
	}
	if _, ok, err := sess.Next(ctx, 10); ok || err != nil {
		t.Fatalf("empty poll: %v, %v", ok, err)
	}

	job := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "hk-medium-amd64"}})
	b, ok, err := sess.Next(ctx, 10)
	if err != nil || !ok || len(b.Available) != 1 || b.Available[0].RequestID != job.ID || b.Available[0].Repo != "acme/app" || b.Stats.Available != 1 {
		t.Fatalf("batch = %+v, %v, %v", b, ok, err)
	}
	if err := sess.Ack(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := sess.Acquire(ctx, []int64{job.ID}); err != nil || len(got) != 1 {
		t.Fatalf("acquire = %v, %v", got, err)
	}
	jit, err := ss.GenerateJITConfig(ctx, set.ID, "hk-medium-amd64-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Register(jit.Config.Reveal()); err != nil {
		t.Fatal(err)
	}
	b, ok, err = sess.Next(ctx, 10)
	if err != nil || !ok || len(b.Started) != 1 || b.Started[0].RunnerName != "hk-medium-amd64-1" || b.Stats.Busy != 1 || b.Stats.Assigned != 1 {
		t.Fatalf("batch = %+v, %v, %v", b, ok, err)
	}
	st := b.Started[0]
	if wait := st.RunnerAssignTime.Sub(st.QueueTime); st.QueueTime.IsZero() || wait < 0 {
		t.Fatalf("queued->assigned %v from %+v", wait, st)
	}
	_ = sess.Ack(ctx, b)

	if err := ss.RemoveRunner(ctx, jit.RunnerID); !errors.Is(err, github.ErrRunnerBusy) {
		t.Fatalf("remove busy: %v, want ErrRunnerBusy", err)
	}
	if err := f.Complete(jit.Config.Reveal(), "success"); err != nil {
		t.Fatal(err)
	}
	if err := ss.RemoveRunner(ctx, jit.RunnerID); err != nil {
		t.Fatalf("remove gone runner: %v, want success", err)
	}
	b, ok, err = sess.Next(ctx, 10)
	if err != nil || !ok || len(b.Completed) != 1 || b.Completed[0].Result != "success" {
		t.Fatalf("batch = %+v, %v, %v", b, ok, err)
	}
	if _, err := ss.Ensure(ctx, "x", nil, "no-such-group"); err == nil {
		t.Fatal("unknown runner group accepted")
	}
}

func TestScaleSetsWithApp(t *testing.T) {
	k, keyPEM := appKey(t)
	f := githubfake.New(githubfake.Options{GHES: true, AppID: 42, AppKey: &k.PublicKey, Installations: []int64{7}})
	defer f.Close()
	ss, err := github.NewScaleSets(github.ScaleSetConfig{ConfigURL: f.ServerURL() + "/acme", AppID: 42, InstallationID: 7, PrivateKey: keyPEM, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Ensure(context.Background(), "hk-small", nil, ""); err != nil {
		t.Fatal(err)
	}
	if f.TokensIssued() != 1 {
		t.Fatalf("installation tokens = %d, want 1", f.TokensIssued())
	}
}
