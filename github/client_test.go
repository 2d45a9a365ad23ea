package github_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/githubfake"
)

const pat = "ghp_test"

// fakeClock moves the fake GitHub's time forward when the adapter waits on it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

func newPAT(t *testing.T, opts githubfake.Options) (*githubfake.Fake, *github.Client) {
	t.Helper()
	opts.PATs = []string{pat}
	f := githubfake.New(opts)
	t.Cleanup(f.Close)
	c, err := github.New(github.Config{APIURL: f.URL(), Token: pat})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

var org = github.Scope{Kind: github.ScopeOrg, Name: "acme"}

func TestGenerateJITConfigAtEveryScope(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{RunnerGroups: []githubfake.RunnerGroup{{ID: 3, Name: "ci"}}})
	ctx := context.Background()
	for _, scope := range []github.Scope{
		{Kind: github.ScopeRepo, Name: "acme/app"},
		{Kind: github.ScopeOrg, Name: "acme"},
		{Kind: github.ScopeEnterprise, Name: "big"},
	} {
		jit, err := c.GenerateJITConfig(ctx, scope, github.JITRequest{Name: "hk-" + string(scope.Kind), Labels: []string{"self-hosted", "medium"}, RunnerGroupID: 3})
		if err != nil {
			t.Fatalf("%s: %v", scope, err)
		}
		r, ok := f.Runner(jit.RunnerID)
		if !ok || r.Name != "hk-"+string(scope.Kind) || string(r.Scope) != string(scope.Kind) || r.Owner != scope.Name || r.GroupID != 3 ||
			!slices.Equal(r.Labels, []string{"self-hosted", "medium"}) {
			t.Fatalf("%s: GitHub holds %+v", scope, r)
		}
		// The config registers exactly this runner.
		id, err := f.Register(jit.Config.Reveal())
		if err != nil || id != jit.RunnerID {
			t.Fatalf("%s: register = %d, %v; want %d", scope, id, err, jit.RunnerID)
		}
	}
	// A name already used at the scope is a conflict.
	_, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "hk-org", Labels: []string{"x"}})
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("duplicate name: %v, want conflict", err)
	}
	if n := f.Calls("POST /orgs/{org}/actions/runners/generate-jitconfig"); n != 2 {
		t.Fatalf("org JIT calls = %d, want 2 (one per runner)", n)
	}
}

func TestJITConfigNeverPrinted(t *testing.T) {
	_, c := newPAT(t, githubfake.Options{})
	jit, err := c.GenerateJITConfig(context.Background(), org, github.JITRequest{Name: "hk-1", Labels: []string{"small"}})
	if err != nil {
		t.Fatal(err)
	}
	secret := jit.Config.Reveal()
	if secret == "" {
		t.Fatal("no config")
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("runner", "jit", jit, "config", jit.Config)
	for _, s := range []string{fmt.Sprint(jit), fmt.Sprintf("%+v %#v", jit, jit), logs.String()} {
		if strings.Contains(s, secret) {
			t.Fatalf("config leaked: %s", s)
		}
	}
}

func TestEnterpriseRefusesInstallationTokens(t *testing.T) {
	f, c := newApp(t, githubfake.Options{})
	_, err := c.GenerateJITConfig(context.Background(), github.Scope{Kind: github.ScopeEnterprise, Name: "big"}, github.JITRequest{Name: "x", Labels: []string{"x"}})
	if err == nil || hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("enterprise with an App: %v, want a refusal", err)
	}
	if len(f.Runners()) != 0 {
		t.Fatal("a runner was created")
	}
}

func appKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func newApp(t *testing.T, opts githubfake.Options) (*githubfake.Fake, *github.Client) {
	t.Helper()
	k, keyPEM := appKey(t)
	opts.AppID, opts.AppKey, opts.Installations = 42, &k.PublicKey, []int64{7}
	f := githubfake.New(opts)
	t.Cleanup(f.Close)
	c, err := github.New(github.Config{APIURL: f.URL(), AppID: 42, InstallationID: 7, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestAppInstallationTokenCached(t *testing.T) {
	f, c := newApp(t, githubfake.Options{})
	for i := range 5 {
		if _, err := c.GenerateJITConfig(context.Background(), org, github.JITRequest{Name: fmt.Sprint("hk-", i), Labels: []string{"small"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.TokensIssued(); n != 1 {
		t.Fatalf("installation tokens issued = %d for 5 calls, want 1 (cached for its hour)", n)
	}
}

func TestAppInstallationTokenRefreshedNearExpiry(t *testing.T) {
	// Tokens that live 30 s are always within the refresh margin: every call needs a new one.
	f, c := newApp(t, githubfake.Options{TokenTTL: 30 * time.Second})
	for i := range 3 {
		if _, err := c.ListRunners(context.Background(), org, github.RunnerFilter{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := f.TokensIssued(); n != 3 {
		t.Fatalf("installation tokens issued = %d, want 3 (refreshed before expiry)", n)
	}
}

func TestAppWrongKeyRefused(t *testing.T) {
	k, _ := appKey(t)
	_, otherPEM := appKey(t)
	f := githubfake.New(githubfake.Options{AppID: 42, AppKey: &k.PublicKey, Installations: []int64{7}})
	defer f.Close()
	c, err := github.New(github.Config{APIURL: f.URL(), AppID: 42, InstallationID: 7, PrivateKey: otherPEM})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRunners(context.Background(), org, github.RunnerFilter{}); err == nil {
		t.Fatal("a JWT signed with another key was accepted")
	}
}

func TestGHESWithPrivateCA(t *testing.T) {
	f := githubfake.New(githubfake.Options{GHES: true, TLS: true, PATs: []string{pat}})
	defer f.Close()
	if !strings.HasSuffix(f.URL(), "/api/v3") {
		t.Fatalf("GHES URL %s", f.URL())
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, f.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := github.New(github.Config{APIURL: f.URL(), CAFile: ca, Token: pat})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jit, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "hk-1", Labels: []string{"small"}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ListRunners(ctx, org, github.RunnerFilter{NamePrefix: "hk-"})
	if err != nil || len(rs) != 1 || rs[0].ID != jit.RunnerID {
		t.Fatalf("list = %+v, %v", rs, err)
	}

	// Without the CA bundle the certificate is not trusted.
	plain, _ := github.New(github.Config{APIURL: f.URL(), Token: pat})
	if _, err := plain.ListRunners(ctx, org, github.RunnerFilter{}); err == nil || hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// GHES serves the API under /api/v3 only.
	root, _ := github.New(github.Config{APIURL: f.ServerURL(), CAFile: ca, Token: pat})
	if _, err := root.ListRunners(ctx, org, github.RunnerFilter{}); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("GHES without /api/v3: %v", err)
	}
}

func TestListRunnersFollowsPages(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{SecondaryPoints: 1 << 20})
	ctx := context.Background()
	for i := range 230 {
		if _, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: fmt.Sprintf("hk-%03d", i), Labels: []string{"small"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: fmt.Sprint("other-", i), Labels: []string{"hashike-pool-x"}}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := c.ListRunners(ctx, org, github.RunnerFilter{NamePrefix: "hk-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 230 || rs[0].Name != "hk-000" || rs[229].Name != "hk-229" {
		t.Fatalf("listed %d runners", len(rs))
	}
	if n := f.Calls("GET /orgs/{org}/actions/runners"); n != 3 {
		t.Fatalf("list calls = %d, want 3 pages of 100", n)
	}
	byLabel, err := c.ListRunners(ctx, org, github.RunnerFilter{Label: "HASHIKE-POOL-X"})
	if err != nil || len(byLabel) != 5 {
		t.Fatalf("by label: %d, %v", len(byLabel), err)
	}
	other, err := c.ListRunners(ctx, github.Scope{Kind: github.ScopeOrg, Name: "elsewhere"}, github.RunnerFilter{})
	if err != nil || len(other) != 0 {
		t.Fatalf("another org lists %d runners, %v", len(other), err)
	}
}

func TestGetRunnerStates(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{})
	ctx := context.Background()
	jit, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "hk-1", Labels: []string{"small"}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() github.Runner {
		t.Helper()
		r, err := c.GetRunner(ctx, org, jit.RunnerID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := get(); r.Online || r.Busy {
		t.Fatalf("before registering: %+v, want offline", r)
	}
	if _, err := f.Register(jit.Config.Reveal()); err != nil {
		t.Fatal(err)
	}
	if r := get(); !r.Idle() {
		t.Fatalf("registered: %+v, want idle", r)
	}
	f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"small"}})
	if r := get(); !r.Online || !r.Busy {
		t.Fatalf("with a job: %+v, want busy", r)
	}
	if err := f.Complete(jit.Config.Reveal(), "success"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRunner(ctx, org, jit.RunnerID); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("after its job: %v, want not found (ephemeral runners are removed)", err)
	}
}

func TestRemoveRunner(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{})
	ctx := context.Background()
	if err := c.RemoveRunner(ctx, org, 999999); err != nil {
		t.Fatalf("unknown runner: %v, want success (404 is success)", err)
	}
	idle, _ := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "idle", Labels: []string{"small"}})
	busy, _ := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "busy", Labels: []string{"large"}})
	for _, j := range []github.JIT{idle, busy} {
		if _, err := f.Register(j.Config.Reveal()); err != nil {
			t.Fatal(err)
		}
	}
	f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"large"}})

	err := c.RemoveRunner(ctx, org, busy.RunnerID)
	if !errors.Is(err, github.ErrRunnerBusy) || hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("busy runner: %v, want ErrRunnerBusy", err)
	}
	if r, ok := f.Runner(busy.RunnerID); !ok || !r.Busy {
		t.Fatal("the busy runner was removed")
	}
	if err := c.RemoveRunner(ctx, org, idle.RunnerID); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Runner(idle.RunnerID); ok {
		t.Fatal("idle runner still listed")
	}
	if err := c.RemoveRunner(ctx, org, idle.RunnerID); err != nil {
		t.Fatalf("second remove: %v, want success", err)
	}
}

func TestQueuedJobsRescan(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{})
	ctx := context.Background()
	a := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "small"}})
	b := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "large"}, RunID: a.RunID})
	d := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "arm64"}})
	f.QueueJob(githubfake.JobSpec{Repo: "acme/other", Labels: []string{"small"}})
	// One job of run a starts: the run is in progress and b still queued.
	jit, _ := c.GenerateJITConfig(ctx, github.Scope{Kind: github.ScopeRepo, Name: "acme/app"}, github.JITRequest{Name: "r", Labels: []string{"self-hosted", "small"}})
	if _, err := f.Register(jit.Config.Reveal()); err != nil {
		t.Fatal(err)
	}
	if j, _ := f.Job(a.ID); j.Status != "in_progress" {
		t.Fatalf("job a is %s", j.Status)
	}
	got, err := c.QueuedJobs(ctx, "acme/app")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64][]string{}
	for _, j := range got {
		ids[j.ID] = j.Labels
	}
	if len(got) != 2 || !slices.Equal(ids[b.ID], []string{"self-hosted", "large"}) || !slices.Equal(ids[d.ID], []string{"self-hosted", "arm64"}) {
		t.Fatalf("queued = %+v, want jobs %d and %d", got, b.ID, d.ID)
	}
}

func TestSecondaryRateLimitWaitsRetryAfter(t *testing.T) {
	for _, status := range []int{403, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			clk := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
			// 10 points a minute: two JIT configs, then Retry-After until the window ends.
			f := githubfake.New(githubfake.Options{PATs: []string{pat}, Now: clk.Now, SecondaryPoints: 10, SecondaryStatus: status})
			defer f.Close()
			c, err := github.New(github.Config{APIURL: f.URL(), Token: pat, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := c.GenerateJITConfig(context.Background(), org, github.JITRequest{Name: fmt.Sprint("hk-", i), Labels: []string{"x"}}); err != nil {
					t.Fatalf("JIT %d: %v", i, err)
				}
			}
			if w := clk.Waits(); !slices.Equal(w, []time.Duration{time.Minute}) {
				t.Fatalf("waits = %v, want one of 60s (the Retry-After)", w)
			}
			if n := f.Calls("POST /orgs/{org}/actions/runners/generate-jitconfig"); n != 4 {
				t.Fatalf("calls = %d, want 4 (one refused, retried once)", n)
			}
		})
	}
}

func TestSecondaryRateLimitBeyondBoundNotWaited(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := githubfake.New(githubfake.Options{PATs: []string{pat}, Now: clk.Now, SecondaryPoints: 5, SecondaryWindow: 10 * time.Minute})
	defer f.Close()
	c, _ := github.New(github.Config{APIURL: f.URL(), Token: pat, Clock: clk, MaxRetryWait: time.Minute})
	ctx := context.Background()
	if _, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "a", Labels: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "b", Labels: []string{"x"}})
	rl, ok := errors.AsType[*github.RateLimitedError](err)
	if !ok || !rl.Secondary || !rl.RetryAt.Equal(clk.Now().Add(10*time.Minute)) || hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Fatalf("err = %v, want a secondary RateLimitedError retrying at +10m", err)
	}
	if len(clk.Waits()) != 0 {
		t.Fatalf("waited %v", clk.Waits())
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{CoreLimit: 100})
	ctx := context.Background()
	if c.RateLimit().Known {
		t.Fatal("rate limit known before any call")
	}
	if _, err := c.ListRunners(ctx, org, github.RunnerFilter{}); err != nil {
		t.Fatal(err)
	}
	if rl := c.RateLimit(); rl.Limit != 100 || rl.Remaining != 99 || rl.Reset.IsZero() {
		t.Fatalf("rate limit = %+v, want 99 of 100 left", rl)
	}
	core, reg, err := c.FetchRateLimit(ctx)
	if err != nil || core.Limit != 100 || reg.Limit != 10000 {
		t.Fatalf("fetch = %+v %+v %v", core, reg, err)
	}
	f.SetCoreRemaining(0)
	_, err = c.ListRunners(ctx, org, github.RunnerFilter{})
	rl, ok := errors.AsType[*github.RateLimitedError](err)
	if !ok || rl.Secondary || rl.RetryAt.IsZero() {
		t.Fatalf("err = %v, want the primary RateLimitedError", err)
	}
	if c.RateLimit().Remaining != 0 {
		t.Fatalf("remaining = %d, want 0", c.RateLimit().Remaining)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]github.Config{
		"no credentials": {},
		"both":           {AppID: 1, InstallationID: 2, PrivateKey: []byte("x"), Token: "t"},
		"no key":         {AppID: 1, InstallationID: 2},
		"bad key":        {AppID: 1, InstallationID: 2, PrivateKey: []byte("not a key")},
		"missing CA":     {Token: "t", CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := github.New(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, s := range []github.Scope{{Kind: "repo", Name: "noslash"}, {Kind: "org", Name: ""}, {Kind: "team", Name: "x"}} {
		if s.Validate() == nil {
			t.Errorf("scope %v accepted", s)
		}
	}
}

func TestRunnerGroupID(t *testing.T) {
	groups := []githubfake.RunnerGroup{{ID: 5, Name: "ci"}}
	for i := range 120 {
		groups = append(groups, githubfake.RunnerGroup{ID: int64(100 + i), Name: fmt.Sprint("g", i)})
	}
	_, c := newPAT(t, githubfake.Options{RunnerGroups: groups})
	ctx := context.Background()
	for _, s := range []github.Scope{org, {Kind: github.ScopeEnterprise, Name: "big"}} {
		if id, err := c.RunnerGroupID(ctx, s, "ci"); err != nil || id != 5 {
			t.Fatalf("%s ci = %d, %v", s, id, err)
		}
		if id, err := c.RunnerGroupID(ctx, s, "g119"); err != nil || id != 219 {
			t.Fatalf("%s g119 (second page) = %d, %v", s, id, err)
		}
		if _, err := c.RunnerGroupID(ctx, s, "nope"); hashike.ErrorCodeOf(err) != hashike.ENotFound {
			t.Fatalf("%s unknown group: %v", s, err)
		}
	}
	if _, err := c.RunnerGroupID(ctx, github.Scope{Kind: github.ScopeRepo, Name: "acme/app"}, "ci"); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("repo scope: %v", err)
	}
	// A JIT config for a group GitHub does not know is refused.
	if _, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "x", Labels: []string{"x"}, RunnerGroupID: 99}); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("unknown group id: %v", err)
	}
}

// BenchmarkGenerateJITConfig is the control-plane cost of one runner's registration on the
// happy path (one API call) against the fake over loopback HTTP.
func BenchmarkGenerateJITConfig(b *testing.B) {
	f := githubfake.New(githubfake.Options{PATs: []string{pat}, SecondaryPoints: 1 << 30, CoreLimit: 1 << 30})
	defer f.Close()
	c, err := github.New(github.Config{APIURL: f.URL(), Token: pat})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: fmt.Sprint("hk-", i), Labels: []string{"self-hosted", "medium"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.TotalCalls())/float64(i), "calls/runner")
}

func TestGetJob(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := githubfake.New(githubfake.Options{PATs: []string{pat}, Now: clk.Now})
	defer f.Close()
	c, _ := github.New(github.Config{APIURL: f.URL(), Token: pat})
	ctx := context.Background()
	queued := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Name: "test", Labels: []string{"self-hosted", "small"}})
	j, err := c.GetJob(ctx, "acme/app", queued.ID)
	if err != nil || !j.Queued() || j.Name != "test" || !slices.Equal(j.Labels, []string{"self-hosted", "small"}) || !j.CreatedAt.Equal(clk.Now()) || j.RunnerName != "" {
		t.Fatalf("queued job = %+v, %v", j, err)
	}
	jit, _ := c.GenerateJITConfig(ctx, org, github.JITRequest{Name: "hk-1", Labels: []string{"self-hosted", "small"}})
	if _, err := f.Register(jit.Config.Reveal()); err != nil {
		t.Fatal(err)
	}
	if j, _ = c.GetJob(ctx, "acme/app", queued.ID); j.Queued() || j.Status != "in_progress" || j.RunnerName != "hk-1" || j.RunnerID != jit.RunnerID {
		t.Fatalf("started job = %+v", j)
	}
	// Never picked up for 24 h: GitHub fails it.
	stuck := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"gpu"}})
	clk.After(24 * time.Hour)
	if j, _ = c.GetJob(ctx, "acme/app", stuck.ID); j.Status != "completed" || j.Conclusion != "failure" {
		t.Fatalf("job queued 24 h = %+v", j)
	}
	if _, err := c.GetJob(ctx, "acme/other", queued.ID); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("job of another repo: %v", err)
	}
}

func TestGHESApp(t *testing.T) {
	f, c := newApp(t, githubfake.Options{GHES: true})
	if _, err := c.GenerateJITConfig(context.Background(), org, github.JITRequest{Name: "hk-1", Labels: []string{"small"}}); err != nil {
		t.Fatal(err)
	}
	if f.TokensIssued() != 1 || f.Calls("POST /app/installations/{id}/access_tokens") != 1 {
		t.Fatal("no installation token was fetched under /api/v3")
	}
}

func TestConcurrentJITConfigs(t *testing.T) {
	f, c := newApp(t, githubfake.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			_, err := c.GenerateJITConfig(context.Background(), org, github.JITRequest{Name: fmt.Sprint("hk-", i), Labels: []string{"small"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.Runners()); n != 50 {
		t.Fatalf("%d runners, want 50", n)
	}
	if n := f.TokensIssued(); n != 1 {
		t.Fatalf("%d installation tokens for 50 concurrent calls, want 1", n)
	}
}
