package main_test

// End-to-end tests of the runner pools on the real Docker Engine: `hashike server` binaries
// with a runners section, the stateful fake GitHub (internal/githubfake, a GitHub Enterprise
// Server over TLS with a private CA) sending signed workflow_job webhooks to the server, and
// runners that are containers of the hashike-testjob image running its fake runner
// (`gh-runner`): they register with the JIT config the server passed them, take one job,
// run it and exit. The tests assert what an operator sees: every job completed, runners by
// state, no ghost registration left at GitHub, no busy runner removed.

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/internal/githubfake"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/server"
)

const (
	ghRepo        = "acme/app"
	ghToken       = "ghp_e2etoken"
	ghHookSecret  = "e2e-hook-secret"
	runnerJobBody = `taskDefinition:
  family: FAMILY
  networkMode: host
  memory: "24"
  containerDefinitions:
    - name: runner
      image: IMAGE
      stopTimeout: 2
      command: [COMMAND]
      environment:
        - {name: HASHIKE_FAKE_GITHUB_URL, value: "RUNNERURL"}
`
)

// ghWorld is the fake GitHub and what connects it to the servers under test.
type ghWorld struct {
	t    testing.TB
	fake *githubfake.Fake
	// hookTarget is the server URL the fake's webhooks are forwarded to (a replica may die).
	hookTarget atomic.Pointer[string]
	runnerURL  string // plain HTTP in front of the fake, for the runners in containers
	// failRegister is how many runner registrations the proxy refuses with 500 (the runner
	// crashes before it registered).
	failRegister atomic.Int32
	dir, jobs    string
	conf         string
}

// poolSpec is one pool of the config: its name, size label, max, warm settings (raw YAML
// appended to the pool) and the testjob command its runners run.
type poolSpec struct {
	name, size string
	max        int
	extra      string
	command    string // default: gh-runner
	viaProxy   bool   // the runners reach GitHub through the proxy that can refuse them
}

// newGHWorld starts the fake GitHub, a GHES front for the servers and the webhook forwarder,
// and writes the pools' jobs and the server config (timings: settings, raw YAML).
func newGHWorld(t testing.TB, settings string, pools ...poolSpec) *ghWorld {
	t.Helper()
	w := &ghWorld{t: t}
	hooks := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		dst := w.hookTarget.Load()
		if dst == nil {
			http.Error(rw, "no server yet", http.StatusServiceUnavailable)
			return
		}
		u, _ := url.Parse(*dst)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(rw, r)
	}))
	t.Cleanup(hooks.Close)
	// The fake speaks plain HTTP: the runners in containers (host networking, no CA in an
	// image FROM scratch) reach it on the host's loopback as the JIT config says.
	w.fake = githubfake.New(githubfake.Options{GHES: true, PATs: []string{ghToken},
		Webhook: githubfake.WebhookOptions{URL: hooks.URL + "/v1/github/webhook", Secret: ghHookSecret}})
	t.Cleanup(w.fake.Close)
	fakeURL, _ := url.Parse(w.fake.ServerURL())
	// The servers reach it as a GitHub Enterprise Server does: https with a private CA.
	ghes := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(fakeURL))
	t.Cleanup(ghes.Close)
	// A runner whose pool goes through this proxy crashes before it registers while
	// failRegister is above 0.
	proxy := httputil.NewSingleHostReverseProxy(fakeURL)
	proxy.FlushInterval = -1
	rp := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_fake/runner/register") {
			if n := w.failRegister.Add(-1); n >= 0 {
				http.Error(rw, "refused by the test: the runner crashes", http.StatusInternalServerError)
				return
			}
			w.failRegister.Store(0)
		}
		if strings.HasSuffix(r.URL.Path, "/_fake/runner/hold") {
			// The runner's long-held connection goes to the fake itself: through the
			// reverse proxy it broke now and then, and the fake then failed the job.
			http.Redirect(rw, r, w.fake.ServerURL()+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(rp.Close)
	w.runnerURL = rp.URL

	w.dir, w.jobs = newJobsDir(t)
	ca := filepath.Join(w.dir, "ghes-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ghes.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "runners:\n  github: {baseURL: %q, caFile: %q, tokenEnv: E2E_GH_TOKEN}\n%s  pools:\n", ghes.URL+"/api/v3", ca, settings)
	for _, p := range pools {
		cmd := p.command
		if cmd == "" {
			cmd = "gh-runner"
		}
		via := ""
		if p.viaProxy {
			via = rp.URL
		}
		body := strings.NewReplacer("FAMILY", "runner-"+p.name, "COMMAND", cmd, "RUNNERURL", via).Replace(runnerJobBody)
		writeJob(t, w.jobs, "runner-"+p.name, body)
		fmt.Fprintf(&conf, "    - name: %s\n      labels: [self-hosted, linux, %s]\n      job: runner-%s\n      arch: %s\n      max: %d\n      scope: {level: repo, name: %s}\n%s",
			p.name, p.size, p.name, runtime.GOARCH, p.max, ghRepo, p.extra)
	}
	w.conf = filepath.Join(w.dir, "hashike.yaml")
	if err := os.WriteFile(w.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// server starts a `hashike server` replica on db with the world's config and sends the
// fake's webhooks to it.
func (w *ghWorld) server(db string) *serverProc {
	w.t.Helper()
	p := startServer(w.t, []string{"E2E_GH_TOKEN=" + ghToken, "HASHIKE_GITHUB_WEBHOOK_SECRET=" + ghHookSecret},
		"--db", db, "--jobs", w.jobs, "--config", w.conf)
	w.hookTarget.Store(&p.url)
	return p
}

// queue queues n jobs with the given size label at the fake GitHub, each running for d.
func (w *ghWorld) queue(n int, size string, d time.Duration) []int64 {
	var ids []int64
	for range n {
		j := w.fake.QueueJob(githubfake.JobSpec{Repo: ghRepo, Labels: []string{"self-hosted", "linux", size}, Duration: d})
		ids = append(ids, j.ID)
	}
	return ids
}

// waitJobsDone waits for every job to complete and asserts each succeeded (a runner removed
// while busy would fail its job).
func (w *ghWorld) waitJobsDone(ids []int64, timeout time.Duration) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, id := range ids {
		j, err := w.fake.WaitJob(ctx, id, func(j githubfake.Job) bool { return j.Status == "completed" })
		if err != nil {
			w.t.Fatalf("job %d is still %s after %s: %v (%s)", id, j.Status, timeout, err, w.summary())
		}
		if j.Conclusion != "success" {
			w.t.Errorf("job %d ended %s on runner %q", id, j.Conclusion, j.RunnerName)
		}
	}
}

// waitNoGhosts waits until GitHub lists no offline runner hashike created: every
// registration left is an idle runner of a warm pool, online.
func (w *ghWorld) waitNoGhosts(timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ghosts []string
		for _, r := range w.fake.Runners() {
			if r.Status() != "online" {
				ghosts = append(ghosts, fmt.Sprintf("%s(registered=%v)", r.Name, r.Registered))
			}
		}
		if len(ghosts) == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d ghost runners left at GitHub after %s: %v", len(ghosts), timeout, ghosts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitNoRunners waits until GitHub lists no runner at all (no warm pool: surplus idle
// runners are scaled in).
func (w *ghWorld) waitNoRunners(timeout time.Duration) {
	w.t.Helper()
	for deadline := time.Now().Add(timeout); len(w.fake.Runners()) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			w.t.Fatalf("runners left at GitHub %s after the jobs: %s", timeout, w.summary())
		}
	}
}

func (w *ghWorld) summary() string {
	by := map[string]int{}
	for _, j := range w.fake.Jobs() {
		by[j.Status]++
	}
	var rs []string
	for _, r := range w.fake.Runners() {
		rs = append(rs, fmt.Sprintf("%s:%s/busy=%v", r.Name, r.Status(), r.Busy))
	}
	slices.Sort(rs)
	return fmt.Sprintf("jobs %v; runners %v", by, rs)
}

// TestRunnersBurstMixedSizes: 100 jobs of three sizes queued at once; each gets an ephemeral
// runner container of its pool on the Docker Engine (no pool above its max), every job
// completes successfully and GitHub is left with no runner registration.
func TestRunnersBurstMixedSizes(t *testing.T) {
	dockertest.Require(t)
	w := newGHWorld(t, "  interval: 500ms\n  minGap: 100ms\n  parallel: 16\n  scaleInAfter: 1s\n",
		poolSpec{name: "small", size: "small", max: 8}, poolSpec{name: "medium", size: "medium", max: 6}, poolSpec{name: "large", size: "large", max: 4})
	w.server(filepath.Join(w.dir, "server.db"))
	var ids []int64
	for i := range 100 {
		size := []string{"small", "small", "medium", "large"}[i%4]
		ids = append(ids, w.queue(1, size, 50*time.Millisecond)...)
	}
	start := time.Now()
	w.waitJobsDone(ids, 150*time.Second)
	t.Logf("100 jobs done in %s", time.Since(start).Round(time.Millisecond))
	w.waitNoGhosts(30 * time.Second)
	w.waitNoRunners(30 * time.Second)
	w.checkDeliveries()
}

// checkDeliveries asserts the server accepted every webhook the fake sent.
func (w *ghWorld) checkDeliveries() {
	w.t.Helper()
	sent := w.fake.SentDeliveries()
	if len(sent) == 0 {
		w.t.Error("the fake sent no webhook")
	}
	for _, d := range sent {
		if d.Status != http.StatusAccepted {
			w.t.Errorf("delivery %s (%s, job %d): status %d, %v", d.ID, d.Action, d.JobID, d.Status, d.Err)
		}
	}
}

// TestRunnersLostWebhook: the queued delivery of a job is lost; the server's rescan of GitHub
// finds the job, starts a runner for it and the job completes.
func TestRunnersLostWebhook(t *testing.T) {
	dockertest.Require(t)
	// lostAfter 1ms: a job the re-scan finds and no webhook announced is reported lost however
	// soon the first pass finds it (500ms made the report depend on that timing).
	w := newGHWorld(t, "  interval: 10s\n  minGap: 100ms\n  rescanInterval: 1s\n  lostAfter: 1ms\n  scaleInAfter: 1s\n",
		poolSpec{name: "small", size: "small", max: 2})
	var lost atomic.Int64
	w.fake.SetDeliveryPolicy(func(d githubfake.Delivery) githubfake.Fate {
		if d.Action == "queued" && lost.CompareAndSwap(0, d.JobID) {
			return githubfake.Lose
		}
		return githubfake.Deliver
	})
	srv := w.server(filepath.Join(w.dir, "server.db"))
	ids := w.queue(1, "small", 100*time.Millisecond)
	w.waitJobsDone(ids, 45*time.Second)
	if got := w.fake.LostDeliveries(); len(got) != 1 || got[0].JobID != ids[0] {
		t.Fatalf("lost deliveries %+v, want the queued one of job %d", got, ids[0])
	}
	w.waitNoGhosts(20 * time.Second)
	w.waitNoRunners(20 * time.Second)
	log, _ := os.ReadFile(srv.log)
	if !strings.Contains(string(log), "lost") {
		t.Errorf("the server's log does not report the lost webhook:\n%s", tail(string(log), 3000))
	}
}

// TestRunnersCrashBeforeRegistering: the first runner container exits before it registered
// (its registration refused, it fails at once); the controller replaces it within the start
// bound, the job completes and the never-registered runner is removed from GitHub.
func TestRunnersCrashBeforeRegistering(t *testing.T) {
	dockertest.Require(t)
	w := newGHWorld(t, "  interval: 500ms\n  minGap: 100ms\n  startBound: 5s\n  scaleInAfter: 1s\n",
		poolSpec{name: "small", size: "small", max: 2, viaProxy: true})
	w.failRegister.Store(1)
	w.server(filepath.Join(w.dir, "server.db"))
	queued := time.Now()
	ids := w.queue(1, "small", 100*time.Millisecond)
	w.waitJobsDone(ids, 45*time.Second)
	if w.failRegister.Load() > 0 {
		t.Fatal("no runner tried to register")
	}
	j, _ := w.fake.Job(ids[0])
	t.Logf("the job started %s after it was queued, past a crashed runner", j.StartedAt.Sub(queued).Round(time.Millisecond))
	if j.StartedAt.Sub(queued) > 5*time.Second+10*time.Second {
		t.Errorf("the crashed runner was replaced after %s, bound 5s", j.StartedAt.Sub(queued))
	}
	w.waitNoGhosts(20 * time.Second)
	w.waitNoRunners(20 * time.Second)
	w.checkDeliveries()
}

// TestRunnersReplicaKilled: two server replicas on PostgreSQL; the leader, which runs the
// runner controller, is killed with SIGKILL while jobs run; the other replica takes over the
// controller and every job, queued before and after the kill, completes, with no ghost
// runner left at GitHub.
func TestRunnersReplicaKilled(t *testing.T) {
	dockertest.Require(t)
	dsn := pgtest.DSN(t)
	w := newGHWorld(t, "  interval: 500ms\n  minGap: 100ms\n  rescanInterval: 2s\n  lostAfter: 1s\n  startBound: 10s\n  scaleInAfter: 1s\n",
		poolSpec{name: "small", size: "small", max: 6}, poolSpec{name: "medium", size: "medium", max: 4})
	a := w.server(dsn)
	b := w.server(dsn)
	var ids []int64
	for i := range 20 {
		ids = append(ids, w.queue(1, []string{"small", "medium"}[i%2], 1500*time.Millisecond)...)
	}
	ctx := context.Background()
	leader := func() int {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var holder string
		if err := conn.QueryRow(ctx, "SELECT holder FROM leases WHERE name = 'leader'").Scan(&holder); err != nil && err != pgx.ErrNoRows {
			t.Fatal(err)
		}
		parts := strings.Split(holder, "/")
		if len(parts) < 2 {
			return 0
		}
		n, _ := strconv.Atoi(parts[1])
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		done := 0
		for _, id := range ids {
			if j, _ := w.fake.Job(id); j.Status == "completed" {
				done++
			}
		}
		if done >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job completed before the kill: %s", w.summary())
		}
	}
	victim, survivor := a, b
	switch leader() {
	case b.cmd.Process.Pid:
		victim, survivor = b, a
	case a.cmd.Process.Pid:
	default:
		t.Fatalf("the leader is neither replica (%d, %d)", a.cmd.Process.Pid, b.cmd.Process.Pid)
	}
	w.hookTarget.Store(&survivor.url)
	victim.kill()
	killed := time.Now()
	ids = append(ids, w.queue(10, "small", 500*time.Millisecond)...)
	for leader() != survivor.cmd.Process.Pid {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("the surviving replica never took the lead")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the survivor leads %s after the kill", time.Since(killed).Round(time.Millisecond))
	defer func() {
		b, _ := os.ReadFile(survivor.log)
		os.WriteFile("/tmp/survivor.log", b, 0o644)
		b, _ = os.ReadFile(victim.log)
		os.WriteFile("/tmp/victim.log", b, 0o644)
	}() // DEBUG
	w.waitJobsDone(ids, 90*time.Second)
	// Every runner is a run the operator lists (through the API, checked against openapi.json).
	runnerRuns := 0
	for _, r := range allRuns(t, survivor.c, hashike.RunFilter{}) {
		if r.Trigger == server.TriggerRunner {
			runnerRuns++
		}
	}
	if runnerRuns < len(ids) {
		t.Errorf("%d runner runs listed for %d jobs", runnerRuns, len(ids))
	}
	t.Logf("all 30 jobs done %s after the kill", time.Since(killed).Round(time.Millisecond))
	w.waitNoGhosts(30 * time.Second)
	w.waitNoRunners(30 * time.Second)
}

// TestRunnersWarmScheduleWindow: a pool's warm schedule (minIdle 2 in a window that closes
// about 25 s after the server starts) keeps two idle runners registered at GitHub with no job
// queued; a job queued in the window is taken at once by a warm runner and the pool is
// refilled; when the window closes the idle runners are stopped and deregistered.
func TestRunnersWarmScheduleWindow(t *testing.T) {
	dockertest.Require(t)
	now := time.Now().UTC()
	open := now.Truncate(time.Minute)
	closes := now.Add(25 * time.Second).Truncate(time.Second)
	schedule := fmt.Sprintf("      schedules:\n        - {cron: \"%d * * * *\", duration: %s, timeZone: UTC, minIdle: 2}\n",
		open.Minute(), closes.Sub(open))
	w := newGHWorld(t, "  interval: 300ms\n  minGap: 100ms\n  scaleInAfter: 1s\n",
		poolSpec{name: "small", size: "small", max: 4, extra: schedule})
	w.server(filepath.Join(w.dir, "server.db"))
	idle := func() int {
		n := 0
		for _, r := range w.fake.Runners() {
			if r.Registered && r.Status() == "online" && !r.Busy {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(15 * time.Second); idle() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the window is open and GitHub has not 2 idle runners: %s", w.summary())
		}
	}
	t.Logf("2 idle runners %s after the test started, the window closes at %s", time.Since(now).Round(time.Millisecond), closes.Format(time.TimeOnly))
	queued := time.Now()
	ids := w.queue(1, "small", 200*time.Millisecond)
	w.waitJobsDone(ids, 15*time.Second)
	if j, _ := w.fake.Job(ids[0]); j.StartedAt.Sub(queued) > time.Second {
		t.Errorf("the job waited %s with warm runners idle", j.StartedAt.Sub(queued))
	}
	for deadline := time.Now().Add(10 * time.Second); idle() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pool was not refilled to 2 idle runners: %s", w.summary())
		}
	}
	if time.Now().After(closes) {
		t.Fatalf("too slow: the window closed (%s) before the checks in it", closes.Format(time.TimeOnly))
	}
	// The window closes: the idle runners go, and none is left at GitHub.
	for len(w.fake.Runners()) > 0 {
		if time.Now().Before(closes) && idle() < 2 {
			t.Fatalf("an idle runner went before the window closed: %s", w.summary())
		}
		if time.Since(closes) > 20*time.Second {
			t.Fatalf("the window closed %s ago and runners are left: %s", time.Since(closes).Round(time.Millisecond), w.summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if time.Now().Before(closes) {
		t.Fatalf("the runners went before the window closed at %s", closes.Format(time.TimeOnly))
	}
	t.Logf("no runner left %s after the window closed", time.Since(closes).Round(time.Millisecond))
	w.checkDeliveries()
}

// BenchmarkRunnersWarmQueuedToStarted measures, with a warm pool (minIdle 2) on the Docker
// Engine, a job's queued->started at GitHub against the runner's own start: each iteration
// waits for the pool to be refilled to 2 idle runners, queues a job and waits for it to start.
// Reported (ms, p50 and p95 over the iterations):
//   - queued-started: the job's wait (GitHub's assignment of a job to an idle runner; the
//     runner's start is already paid by the warm pool, so this is hashike's overhead on it);
//   - react: the job started -> the replacement runner requested (its JIT config generated):
//     the webhook, the controller's pass and one GitHub call;
//   - runner-start: the replacement requested -> registered with GitHub: the run's dispatch,
//     the container's creation and start on the engine, and the runner's registration.
func BenchmarkRunnersWarmQueuedToStarted(b *testing.B) {
	dockertest.Require(b)
	w := newGHWorld(b, "  interval: 300ms\n  minGap: 50ms\n  scaleInAfter: 1m\n",
		poolSpec{name: "small", size: "small", max: 6, extra: "      minIdle: 2\n"})
	w.server(filepath.Join(w.dir, "server.db"))
	idle := func() map[int64]bool {
		ids := map[int64]bool{}
		for _, r := range w.fake.Runners() {
			if r.Registered && r.Status() == "online" && !r.Busy {
				ids[r.ID] = true
			}
		}
		return ids
	}
	waitIdle := func() {
		for deadline := time.Now().Add(30 * time.Second); len(idle()) < 2; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("the warm pool has not 2 idle runners: %s", w.summary())
			}
		}
	}
	waitIdle()
	var waits, reacts, starts []time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b.ResetTimer()
	for range b.N {
		waitIdle()
		known := map[int64]bool{}
		for _, r := range w.fake.Runners() {
			known[r.ID] = true
		}
		j := w.fake.QueueJob(githubfake.JobSpec{Repo: ghRepo, Labels: []string{"self-hosted", "linux", "small"}, Duration: 10 * time.Millisecond})
		j, err := w.fake.WaitJob(ctx, j.ID, func(j githubfake.Job) bool { return !j.StartedAt.IsZero() })
		if err != nil {
			b.Fatal(err)
		}
		waits = append(waits, j.StartedAt.Sub(j.CreatedAt))
		var fresh githubfake.Runner
		// No new runner when one was already starting beyond the warm pool: no sample.
		for deadline := time.Now().Add(5 * time.Second); fresh.ID == 0 && time.Now().Before(deadline); {
			for _, r := range w.fake.Runners() {
				if !known[r.ID] {
					fresh = r
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		if fresh.ID == 0 {
			continue
		}
		reacts = append(reacts, fresh.CreatedAt.Sub(j.StartedAt))
		if _, err := w.fake.WaitRunner(ctx, fresh.ID, func(r githubfake.Runner, ok bool) bool { return !ok || r.Registered }); err != nil {
			b.Fatal(err)
		}
		starts = append(starts, time.Since(fresh.CreatedAt))
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"queued-started", waits}, {"react", reacts}, {"runner-start", starts}} {
		if len(m.d) == 0 {
			continue
		}
		slices.Sort(m.d)
		b.ReportMetric(ms(m.d[len(m.d)/2]), m.name+"-p50-ms")
		b.ReportMetric(ms(m.d[(len(m.d)*95+99)/100-1]), m.name+"-p95-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
