package main_test

// Reliability tests of `hashike server`: the real binary as a subprocess, killed with SIGKILL,
// run as two replicas on PostgreSQL, and under a Docker daemon that is killed and restarted.
// They assert what a user would see: every run completes, none is lost, no attempt starts
// two containers (counted from the engine's own event stream), the queue's order holds.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/server"
)

// serverProc is a `hashike server` subprocess.
type serverProc struct {
	t   testing.TB
	cmd *exec.Cmd
	url string
	log string
	c   *httpapi.Client
}

// startServer starts `hashike server --no-auth` on a free loopback port with the given
// environment and arguments, and returns once it serves.
func startServer(t testing.TB, env []string, args ...string) *serverProc {
	t.Helper()
	return startServerAuth(t, false, env, args...)
}

// startServerAuth is startServer, requiring tokens when auth is set.
func startServerAuth(t testing.TB, auth bool, env []string, args ...string) *serverProc {
	t.Helper()
	if !auth {
		args = append([]string{"--no-auth"}, args...)
	}
	cmd := exec.Command(hashikeBin, append([]string{"server", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "HASHIKE_SECRETS_FILE="), env...)
	// A test binary killed at its timeout must not leave servers behind that go on
	// dispatching (and starting containers) on a shared Docker Engine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{t: t, cmd: cmd, log: logf.Name()}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("server %d log:\n%s", cmd.Process.Pid, tail(string(b), 6000))
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		_, addr, ok := strings.Cut(line, "listening on ")
		if !ok {
			t.Fatalf("server said %q", line)
		}
		p.url, _, _ = strings.Cut(addr, " ")
		p.url = checkedURL(t, p.url)
	case <-time.After(60 * time.Second):
		b, _ := os.ReadFile(p.log)
		t.Fatalf("the server did not start:\n%s", b)
	}
	if p.c, err = httpapi.NewClient(p.url, "", nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (p *serverProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *serverProc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		p.kill()
	}
}

// starts counts container starts per run, from the engine's event stream.
type starts struct {
	mu     sync.Mutex
	byRun  map[string]int
	cancel context.CancelFunc
}

func watchStarts(t *testing.T, dc *client.Client) *starts {
	ctx, cancel := context.WithCancel(context.Background())
	s := &starts{byRun: map[string]int{}, cancel: cancel}
	t.Cleanup(cancel)
	ev := dc.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", string(events.ContainerEventType)).Add("event", "start").Add("label", docker.LabelRunID)})
	ready := make(chan struct{})
	go func() {
		close(ready)
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-ev.Messages:
				s.mu.Lock()
				s.byRun[m.Actor.Attributes[docker.LabelRunID]]++
				s.mu.Unlock()
			case err := <-ev.Err:
				if err != nil && ctx.Err() == nil {
					t.Errorf("docker events: %v", err)
				}
				return
			}
		}
	}()
	<-ready
	return s
}

func (s *starts) of(runID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byRun[runID]
}

// settled is of once the engine's event for the run's start has had time to arrive: the
// stream can deliver a start after the run's end is recorded (it did under -race on a loaded
// machine), so a count of 0 is read again for up to 15 s before it is believed. A second
// start is counted as soon as it arrives.
func (s *starts) settled(runID string) int {
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := s.of(runID)
		if n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allRuns lists every run through the API, following the pages.
func allRuns(t *testing.T, c *httpapi.Client, q hashike.RunFilter) []*hashike.Run {
	t.Helper()
	var out []*hashike.Run
	q.Limit = 500
	for {
		page, err := c.ListRuns(context.Background(), q)
		if err != nil {
			t.Fatalf("list runs: %v", err)
		}
		for _, r := range page.Runs {
			out = append(out, r.Run)
		}
		if page.Next == "" {
			return out
		}
		q.Before = page.Next
	}
}

// finalTries returns, for each enqueue (root ID), its last try once every one is settled.
func waitSettled(t *testing.T, c func() *httpapi.Client, roots []string, timeout time.Duration) map[string][]*hashike.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		byRoot := map[string][]*hashike.Run{}
		for _, r := range allRuns(t, c(), hashike.RunFilter{Job: ""}) {
			byRoot[r.RootID] = append(byRoot[r.RootID], r)
		}
		done := 0
		for _, id := range roots {
			tries := byRoot[id]
			slices.SortFunc(tries, func(a, b *hashike.Run) int { return a.Attempt - b.Attempt })
			if len(tries) > 0 && tries[len(tries)-1].Settled {
				done++
			}
		}
		if done == len(roots) {
			return byRoot
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d of %d enqueues are settled", timeout, done, len(roots))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// output is a run's stored output so far.
func output(t *testing.T, c *httpapi.Client, id string) string {
	t.Helper()
	var out strings.Builder
	if err := c.FollowLogs(context.Background(), id, false, func(e hashike.LogEntry) error { out.Write(e.Data); return nil }); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// waitOutput waits until the run's output holds text.
func waitOutput(t *testing.T, c *httpapi.Client, id, text string, deadline time.Time) {
	t.Helper()
	for !strings.Contains(output(t, c, id), text) {
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not print %q", id, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newJobsDir returns a temporary directory and an empty jobs directory in it.
func newJobsDir(t testing.TB) (dir, jobs string) {
	t.Helper()
	dir = t.TempDir()
	jobs = filepath.Join(dir, "jobs")
	if err := os.Mkdir(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, jobs
}

// checkTries asserts that every enqueue's last try succeeded and that every try started one
// container and was dispatched once; it returns when each enqueue's first try was dispatched.
func checkTries(t *testing.T, c *httpapi.Client, st *starts, roots []string, byRoot map[string][]*hashike.Run) []time.Time {
	t.Helper()
	var firstDispatch []time.Time
	for i, id := range roots {
		tries := byRoot[id]
		if last := tries[len(tries)-1]; last.State != hashike.StateSucceeded {
			t.Errorf("run %d (%s): the last of %d tries ended %s: %+v", i, id, len(tries), last.State, last.Exit)
		}
		for _, try := range tries {
			if n := st.settled(try.ID); n != 1 {
				t.Errorf("run %d try %d (%s): %d container starts, want 1", i, try.Attempt, try.ID, n)
			}
			view, err := c.GetRun(context.Background(), try.ID)
			if err != nil {
				t.Fatal(err)
			}
			var dispatched []time.Time
			for _, tr := range view.History {
				if tr.From == hashike.StateQueued && tr.To == hashike.StatePending {
					dispatched = append(dispatched, tr.At)
				}
			}
			if len(dispatched) != 1 {
				t.Fatalf("run %d try %d (%s) was dispatched %d times", i, try.Attempt, try.ID, len(dispatched))
			}
			if try.ID == id {
				firstDispatch = append(firstDispatch, dispatched[0])
			}
		}
	}
	return firstDispatch
}

func writeJob(t testing.TB, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(strings.ReplaceAll(body, "IMAGE", dockertest.Image)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServerKill9 kills the server with SIGKILL while 100 runs are queued or running, then
// restarts it: every run completes, none is lost, no attempt starts a second container, and
// the queue dispatched in enqueue order.
func TestServerKill9(t *testing.T) {
	dc := dockertest.Require(t)
	dir, jobs := newJobsDir(t)
	writeJob(t, jobs, "work", `queue: work
taskDefinition:
  memory: "32"
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: [print, "1", started, sleep, 300ms, print, "1", done]
`)
	db := filepath.Join(dir, "server.db")
	st := watchStarts(t, dc)
	srv := startServer(t, nil, "--db", db, "--jobs", jobs)
	ctx := context.Background()
	if _, err := srv.c.PutQueue(ctx, hashike.QueueConfig{Name: "work", MaxConcurrency: 6}); err != nil {
		t.Fatal(err)
	}
	var roots []string
	for i := range 100 {
		run, _, err := srv.c.Enqueue(ctx, "work", api.EnqueueRequest{IdempotencyKey: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, run.ID)
	}
	// Kill it mid-flight: some runs done, some running, most queued.
	deadline := time.Now().Add(2 * time.Minute)
	for len(allRuns(t, srv.c, hashike.RunFilter{States: []hashike.RunState{hashike.StateSucceeded}})) < 15 {
		if time.Now().After(deadline) {
			t.Fatal("runs do not complete")
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.kill()
	// Enqueueing again with the same keys after the restart makes no new runs.
	srv = startServer(t, nil, "--db", db, "--jobs", jobs)
	for i := range 100 {
		run, created, err := srv.c.Enqueue(ctx, "work", api.EnqueueRequest{IdempotencyKey: strconv.Itoa(i)})
		if err != nil || created || run.ID != roots[i] {
			t.Fatalf("repeat enqueue %d after the restart: created=%v id=%s want %s err=%v", i, created, run.ID, roots[i], err)
		}
	}
	byRoot := waitSettled(t, func() *httpapi.Client { return srv.c }, roots, 4*time.Minute)

	dispatched := checkTries(t, srv.c, st, roots, byRoot)
	for i := 1; i < len(dispatched); i++ {
		if dispatched[i].Before(dispatched[i-1]) {
			t.Errorf("run %d was dispatched at %s, before run %d (%s): the queue lost its order", i, dispatched[i], i-1, dispatched[i-1])
		}
	}
}

// TestServerTwoReplicasPostgres runs two replicas on one PostgreSQL database, kills the leader
// with SIGKILL mid-dispatch, and checks that the other takes over the leader's loops within a
// bounded time and that no run is dispatched twice.
func TestServerTwoReplicasPostgres(t *testing.T) {
	dc := dockertest.Require(t)
	dsn := pgtest.DSN(t)
	_, jobs := newJobsDir(t)
	writeJob(t, jobs, "work", `queue: work
taskDefinition:
  memory: "32"
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: [sleep, 500ms, print, "1", done]
`)
	st := watchStarts(t, dc)
	a := startServer(t, nil, "--db", dsn, "--jobs", jobs)
	b := startServer(t, nil, "--db", dsn, "--jobs", jobs)
	ctx := context.Background()
	if _, err := a.c.PutQueue(ctx, hashike.QueueConfig{Name: "work", MaxConcurrency: 8}); err != nil {
		t.Fatal(err)
	}
	leader := func() (string, time.Time) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var holder string
		var expires time.Time
		err = conn.QueryRow(ctx, "SELECT holder, expires_at FROM leases WHERE name = 'leader'").Scan(&holder, &expires)
		if err != nil && err != pgx.ErrNoRows {
			t.Fatal(err)
		}
		return holder, expires
	}
	pidOf := func(holder string) int {
		parts := strings.Split(holder, "/")
		if len(parts) < 2 {
			return 0
		}
		n, _ := strconv.Atoi(parts[1])
		return n
	}
	var roots []string
	for i := range 60 {
		c := a.c
		if i%2 == 1 {
			c = b.c
		}
		run, _, err := c.Enqueue(ctx, "work", api.EnqueueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, run.ID)
	}
	for len(allRuns(t, a.c, hashike.RunFilter{States: []hashike.RunState{hashike.StateSucceeded}})) < 10 {
		time.Sleep(50 * time.Millisecond)
	}
	holder, _ := leader()
	victim, survivor := a, b
	if pidOf(holder) == b.cmd.Process.Pid {
		victim, survivor = b, a
	} else if pidOf(holder) != a.cmd.Process.Pid {
		t.Fatalf("leader %q is neither replica (%d, %d)", holder, a.cmd.Process.Pid, b.cmd.Process.Pid)
	}
	killedAt := time.Now()
	victim.kill()
	// The survivor takes the leader lease: at once here (the dead holder is a process of this
	// host), at most the lease's TTL (15 s) plus a renewal period (5 s) across hosts.
	for {
		h, _ := leader()
		if pidOf(h) == survivor.cmd.Process.Pid {
			t.Logf("leadership moved %s after the kill", time.Since(killedAt).Round(time.Millisecond))
			break
		}
		if time.Since(killedAt) > server.DefaultLeaseTTL+server.DefaultLeaseTTL/3+5*time.Second {
			t.Fatalf("no takeover %s after the leader was killed (leader %q)", time.Since(killedAt), h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	byRoot := waitSettled(t, func() *httpapi.Client { return survivor.c }, roots, 4*time.Minute)
	checkTries(t, survivor.c, st, roots, byRoot)
}

// privateDockerd is a Docker daemon of the test's own (its socket, data and exec roots, a
// bridge of its own, no iptables: it must not disturb the machine's daemon) over a containerd
// of its own, as a machine runs them: the test kills and restarts dockerd while containerd and
// the containers' shims live on. (Not --bridge=none: a daemon started so deletes the host's
// docker0, which the machine's daemon needs.)
type privateDockerd struct {
	t          *testing.T
	root, sock string
	bridge     string
	containerd *exec.Cmd
	cmd        *exec.Cmd
}

func startPrivateDockerd(t *testing.T) *privateDockerd {
	t.Helper()
	for _, bin := range []string{"dockerd", "containerd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("this test starts its own %s: %v", bin, err)
		}
	}
	root, err := os.MkdirTemp("/tmp", "hk-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &privateDockerd{t: t, root: root, sock: filepath.Join(root, "docker.sock"), bridge: "hkbr" + strconv.Itoa(os.Getpid()%100000)}
	for _, args := range [][]string{
		{"link", "add", d.bridge, "type", "bridge"},
		{"addr", "add", "172.31.254.1/24", "dev", d.bridge},
		{"link", "set", d.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "link", "del", d.bridge).Run()
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() {
		defer exec.Command("ip", "link", "del", d.bridge).Run()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(root, "daemon.log"))
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.Contains(l, "module=grpc") && !strings.Contains(l, "loading plugin") {
					keep = append(keep, l)
				}
			}
			t.Logf("private dockerd log:\n%s", tail(strings.Join(keep, "\n"), 5000))
		}
		d.kill()
		if d.containerd != nil {
			d.containerd.Process.Kill()
			d.containerd.Wait()
		}
		exec.Command("pkill", "-9", "-f", root).Run() // the shims
		out, _ := exec.Command("mount").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[2], root) {
				exec.Command("umount", "-l", f[2]).Run()
			}
		}
		os.RemoveAll(root)
	})
	log := d.logFile()
	d.containerd = exec.Command("containerd", "--address", filepath.Join(root, "containerd.sock"),
		"--root", filepath.Join(root, "containerd-root"), "--state", filepath.Join(root, "containerd-state"))
	d.containerd.Stdout, d.containerd.Stderr = log, log
	d.containerd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.containerd.Start(); err != nil {
		t.Fatal(err)
	}
	d.start()
	return d
}

func (d *privateDockerd) logFile() *os.File {
	log, err := os.OpenFile(filepath.Join(d.root, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	return log
}

func (d *privateDockerd) start() {
	d.t.Helper()
	pidfile := filepath.Join(d.root, "dockerd.pid")
	os.Remove(pidfile) // a killed daemon leaves it behind
	d.cmd = exec.Command("dockerd", "--host", "unix://"+d.sock, "--containerd", filepath.Join(d.root, "containerd.sock"),
		"--data-root", filepath.Join(d.root, "data"), "--exec-root", filepath.Join(d.root, "exec"),
		"--pidfile", pidfile, "--bridge", d.bridge, "--iptables=false", "--ip-masq=false")
	log := d.logFile()
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	dc, err := client.New(client.WithHost("unix://"+d.sock), client.WithAPIVersionNegotiation())
	if err != nil {
		d.t.Fatal(err)
	}
	defer dc.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := dc.Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(d.root, "daemon.log"))
			d.t.Fatalf("the private dockerd did not start: %v\n%s", err, tail(string(b), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill kills dockerd as a crash would. Without live-restore, the next dockerd stops the
// containers it finds running.
func (d *privateDockerd) kill() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
}

// TestServerDockerRestart kills and restarts the Docker daemon under running jobs: their runs
// end as infrastructure failures (lost) and are retried per the job's policy, and the server
// keeps serving meanwhile.
func TestServerDockerRestart(t *testing.T) {
	dockertest.Require(t) // the machine's daemon builds nothing here, but the rule is the same
	d := startPrivateDockerd(t)
	dc, err := client.New(client.WithHost("unix://"+d.sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := dockertest.BuildImage(ctx, dc, dockertest.Image); err != nil {
		t.Fatal(err)
	}
	dir, jobs := newJobsDir(t)
	// attempts 1: an application failure is final; infrastructure failures have their own
	// budget (3 by default).
	writeJob(t, jobs, "long", `retryStrategy:
  attempts: 1
taskDefinition:
  memory: "32"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: [print, "1", started, sleep, 4s, print, "1", done]
`)
	srv := startServer(t, []string{"DOCKER_HOST=unix://" + d.sock}, "--db", filepath.Join(dir, "server.db"), "--jobs", jobs)
	var roots []string
	for range 3 {
		run, _, err := srv.c.Enqueue(ctx, "long", api.EnqueueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, run.ID)
	}
	deadline := time.Now().Add(time.Minute)
	for len(allRuns(t, srv.c, hashike.RunFilter{States: []hashike.RunState{hashike.StateRunning}})) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the runs did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// "running" means the task exists; wait until every container has started and printed.
	for _, id := range roots {
		waitOutput(t, srv.c, id, "started", deadline)
	}
	d.kill()
	// The server keeps serving while the engine is gone.
	for range 5 {
		if _, err := srv.c.ListRuns(ctx, hashike.RunFilter{}); err != nil {
			t.Fatalf("the server stopped serving without the engine: %v", err)
		}
		if _, _, err := srv.c.Enqueue(ctx, "long", api.EnqueueRequest{IdempotencyKey: "during-outage"}); err != nil {
			t.Fatalf("enqueue without the engine: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.start()
	byRoot := waitSettled(t, func() *httpapi.Client { return srv.c }, roots, 3*time.Minute)
	for _, id := range roots {
		tries := byRoot[id]
		got := []string{}
		for _, tr := range tries {
			got = append(got, fmt.Sprintf("#%d %s", tr.Attempt, tr.State))
		}
		if len(tries) != 2 || tries[0].State != hashike.StateLost || tries[1].State != hashike.StateSucceeded {
			t.Errorf("run %s: tries %v, want [#1 lost #2 succeeded] (reason of #1: %+v)", id, got, tries[0].Exit)
		}
	}
}

// TestServerGracefulShutdown: SIGTERM stops the server at once without stopping its runs'
// tasks; the next server adopts them and they complete, each in its one container.
func TestServerGracefulShutdown(t *testing.T) {
	dc := dockertest.Require(t)
	dir, jobs := newJobsDir(t)
	writeJob(t, jobs, "steady", `taskDefinition:
  memory: "32"
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: [print, "1", started, sleep, 3s, print, "1", done]
`)
	db := filepath.Join(dir, "server.db")
	st := watchStarts(t, dc)
	srv := startServer(t, nil, "--db", db, "--jobs", jobs)
	ctx := context.Background()
	var roots []string
	for range 3 {
		run, _, err := srv.c.Enqueue(ctx, "steady", api.EnqueueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, run.ID)
	}
	deadline := time.Now().Add(time.Minute)
	for _, id := range roots {
		waitOutput(t, srv.c, id, "started", deadline)
	}
	stopped := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("the server did not exit 0 on SIGTERM: %v", err)
	}
	if took := time.Since(stopped); took > 10*time.Second {
		t.Errorf("a graceful shutdown took %s", took)
	}
	for _, id := range roots {
		res, err := dc.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", docker.LabelRunID+"="+id)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 {
			t.Errorf("run %s: %d running containers after the shutdown, want 1 (its task must keep running)", id, len(res.Items))
		}
	}
	srv = startServer(t, nil, "--db", db, "--jobs", jobs)
	byRoot := waitSettled(t, func() *httpapi.Client { return srv.c }, roots, 2*time.Minute)
	for _, id := range roots {
		tries := byRoot[id]
		if len(tries) != 1 || tries[0].State != hashike.StateSucceeded || st.of(id) != 1 {
			t.Errorf("run %s: %d tries, %s, %d container starts", id, len(tries), tries[len(tries)-1].State, st.of(id))
		}
		if out := output(t, srv.c, id); strings.Count(out, "started") != 1 || !strings.Contains(out, "done") {
			t.Errorf("run %s output across the restart: %q", id, out)
		}
	}
}
