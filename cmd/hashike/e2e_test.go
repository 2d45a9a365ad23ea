package main_test

// End-to-end tests: the real hashike binary as a subprocess, against a real Docker Engine
// (DOCKER_HOST) and a real SQLite history in a temp dir. They assert what a user sees: exit
// codes, output, the history, and the engine left clean.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/internal/pgtest"
)

var hashikeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hashike-e2e")
	if err != nil {
		panic(err)
	}
	hashikeBin = filepath.Join(dir, "hashike")
	out, err := exec.Command("go", "build", "-o", hashikeBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hashike: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Main(m) // runs the tests, then stops the PostgreSQL cluster they may have started
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	t     *testing.T
	dir   string
	db    string
	extra []string
	dc    *client.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dc := dockertest.Require(t)
	dir := t.TempDir()
	return &env{t: t, dir: dir, db: filepath.Join(dir, "state", "hashike.db"), dc: dc}
}

// job writes a job file whose single container runs the test workload with cmd.
func (e *env) job(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "IMAGE", dockertest.Image)), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) simpleJob(family string, cmd ...string) string {
	q, _ := json.Marshal(cmd)
	return e.job(family+".yaml", fmt.Sprintf(`taskDefinition:
  family: %s
  memory: "64"
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: %s
`, family, q))
}

func (e *env) cmd(args ...string) *exec.Cmd {
	c := exec.Command(hashikeBin, args...)
	// HASHIKE_SERVER from the developer's shell would send the local commands to a server.
	c.Env = append(os.Environ(), "HASHIKE_DB="+e.db, "HASHIKE_SECRETS_FILE=", "HASHIKE_SERVER=", "HASHIKE_TOKEN=")
	c.Env = append(c.Env, e.extra...)
	return c
}

// run runs hashike to completion and returns its stdout, stderr and exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.t.Helper()
	c := e.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("hashike %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (e *env) runs() []hashike.Run {
	e.t.Helper()
	out, errs, code := e.run("runs", "--output", "json", "--limit", "0")
	if code != 0 {
		e.t.Fatalf("runs: exit %d: %s", code, errs)
	}
	var page struct {
		Runs []hashike.Run `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		e.t.Fatalf("runs output %q: %v", out, err)
	}
	return page.Runs
}

func (e *env) describe(id string) hashike.Run {
	e.t.Helper()
	out, errs, code := e.run("describe", "--output", "json", id)
	if code != 0 {
		e.t.Fatalf("describe: exit %d: %s", code, errs)
	}
	var run hashike.Run
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		e.t.Fatalf("describe output %q: %v", out, err)
	}
	return run
}

// containers lists the engine's containers of a run (all states).
func (e *env) containers(runID string) []string {
	e.t.Helper()
	res, err := e.dc.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "hashike.run-id="+runID)})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

func (e *env) onlyRun() hashike.Run {
	e.t.Helper()
	runs := e.runs()
	if len(runs) != 1 {
		e.t.Fatalf("%d runs recorded, want 1", len(runs))
	}
	return runs[0]
}

// background starts hashike and returns once its stdout shows want.
type bg struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
}

func (e *env) background(want string, args ...string) *bg {
	e.t.Helper()
	c := e.cmd(args...)
	b := &bg{cmd: c, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	c.Stdout, c.Stderr = b.stdout, b.stderr
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Process.Kill(); _, _ = c.Process.Wait() })
	e.waitFor(func() bool { return strings.Contains(b.stdout.String(), want) }, "output %q (stdout %q, stderr %q)", want, b.stdout, b.stderr)
	return b
}

func (b *bg) exit(t *testing.T) int {
	t.Helper()
	err := b.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// waitFor polls cond: the thing awaited is another process, which sends no signal we can await.
func (e *env) waitFor(cond func() bool, format string, args ...any) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) waitTerminal(id string) hashike.Run {
	e.t.Helper()
	var run hashike.Run
	e.waitFor(func() bool { run = e.describe(id); return run.State.Terminal() }, "run %s to finish", id)
	return run
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestRunExitCodeOutputAndHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.simpleJob("exit3", "print", "2", "hi", "stderr", "1", "oops", "exit", "3")
	out, errs, code := e.run("run", job)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (stderr %q)", code, errs)
	}
	if out != "hi 1\nhi 2\n" {
		t.Fatalf("stdout %q", out)
	}
	if !strings.Contains(errs, "oops 1\n") || !strings.Contains(errs, "container app exited 3 (exit 3)") {
		t.Fatalf("stderr %q lacks the job's stderr or the one-line reason", errs)
	}
	run := e.onlyRun()
	if run.State != hashike.StateFailed || run.Exit == nil || run.Exit.Code != 3 || *run.Exit.ContainerExitCode != 3 {
		t.Fatalf("recorded %+v", run)
	}
	if got := e.containers(run.ID); len(got) != 0 {
		t.Fatalf("containers left behind: %v", got)
	}
	// The history outlives the containers.
	lout, lerr, code := e.run("logs", run.ID)
	if code != 0 || lout != "hi 1\nhi 2\n" || lerr != "oops 1\n" {
		t.Fatalf("logs: exit %d, stdout %q, stderr %q", code, lout, lerr)
	}
	d := e.describe(run.ID[:10]) // a unique prefix works
	var path []string
	for _, tr := range d.History {
		path = append(path, string(tr.To))
	}
	if strings.Join(path, ",") != "pending,running,failed" {
		t.Fatalf("history %v", path)
	}
	text, _, _ := e.run("describe", run.ID)
	for _, want := range []string{"State:", "failed", "Exit code:", "container app exited 3", "Stop code:", "EssentialContainerExited", "History:", "running -> failed"} {
		if !strings.Contains(text, want) {
			t.Fatalf("describe lacks %q:\n%s", want, text)
		}
	}
	table, _, _ := e.run("runs", "--state", "failed", "--family", "exit3")
	if !strings.Contains(table, run.ID) || !strings.Contains(table, "RUN ID") {
		t.Fatalf("runs table:\n%s", table)
	}
	if other, _, _ := e.run("runs", "--state", "succeeded"); strings.Contains(other, run.ID) {
		t.Fatalf("--state succeeded listed a failed run:\n%s", other)
	}
}

func TestBadInputExit2NothingStarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	valid := e.simpleJob("valid", "exit", "0")
	cases := []struct {
		name, body string
		args       []string
		want       []string // substrings of stderr
	}{
		{name: "bad yaml", body: "taskDefinition:\n  family: [x\n", want: []string{"bad_yaml.yaml:"}},
		{name: "unknown field", body: "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: IMAGE\n      comand: [x]\n",
			want: []string{"unknown_field.yaml:7:7", "comand", "did you mean \"command\""}},
		{name: "missing image", body: "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n",
			want: []string{"missing_image.yaml:5:", "image", "is required"}},
		{name: "cpu lots", body: "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: IMAGE\n      cpu: \"lots\"\n",
			want: []string{"cpu_lots.yaml:7:12", "containerDefinitions[0].cpu"}},
		{name: "memory below sum", body: "taskDefinition:\n  family: f\n  memory: \"64\"\n  containerDefinitions:\n    - name: a\n      image: IMAGE\n      memory: 48\n    - name: b\n      image: IMAGE\n      memory: 48\n",
			want: []string{"memory_below_sum.yaml:3:", "below the sum"}},
		{name: "must_env unset", body: "taskDefinition:\n  family: '{{ must_env \"HASHIKE_TEST_NOPE\" }}'\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: IMAGE\n",
			want: []string{"must_env_unset.yaml:2:", "HASHIKE_TEST_NOPE"}},
		{name: "dependsOn cycle", body: "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: a\n      image: IMAGE\n      dependsOn: [{containerName: b, condition: START}]\n    - name: b\n      image: IMAGE\n      dependsOn: [{containerName: a, condition: START}]\n",
			want: []string{"dependsOn_cycle.yaml:", "cycle"}},
		{name: "unsupported locally", body: "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: IMAGE\n      privileged: true\n",
			want: []string{"unsupported_locally.yaml:7:", "not supported by the local backend"}},
		{name: "missing file", args: []string{"run", "/nonexistent/job.yaml"}, want: []string{"/nonexistent/job.yaml"}},
		{name: "unknown override container", args: []string{"run", "--container", "nope", valid}, want: []string{"--container", "nope"}},
		{name: "bad cpu flag", args: []string{"run", "--cpu", "lots", valid}, want: []string{"--cpu"}},
		{name: "memory override below task", args: []string{"run", "--memory", "100", valid}, want: []string{"below the sum"}},
		{name: "no file", args: []string{"run"}, want: []string{"needs a job file"}},
		{name: "unknown flag", args: []string{"run", "--frobnicate", valid}, want: []string{"frobnicate"}},
	}
	for _, tc := range cases {
		args := tc.args
		if args == nil {
			args = []string{"run", e.job(strings.ReplaceAll(tc.name, " ", "_")+".yaml", tc.body)}
		}
		out, errs, code := e.run(args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (stdout %q, stderr %q)", tc.name, code, out, errs)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, errs)
			}
		}
	}
	// Nothing was started or recorded: not even the database was created.
	if _, err := os.Stat(e.db); !os.IsNotExist(err) {
		t.Fatalf("bad input created the run history (%v)", err)
	}
}

func TestValidateReportsEverythingAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := e.job("bad.yaml", "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n      cpu: lots\n      comand: [x]\n")
	_, errs, code := e.run("validate", bad)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, w := range []string{"bad.yaml:6:", "bad.yaml:7:", "bad.yaml:5:"} {
		if !strings.Contains(errs, w) {
			t.Errorf("validate output lacks %q:\n%s", w, errs)
		}
	}
	out, errs, code := e.run("validate", e.simpleJob("ok", "exit", "0"))
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("valid file: exit %d, %q %q", code, out, errs)
	}
}

func TestTimeoutStopsTheTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, errs, code := e.run("run", "--timeout", "1s", e.simpleJob("slow", "print", "1", "started", "sleep", "60s"))
	if code != hashike.ExitTimeout {
		t.Fatalf("exit %d, want 124 (stderr %q)", code, errs)
	}
	if !strings.Contains(errs, "timeout of 1s reached") {
		t.Fatalf("stderr %q lacks the reason", errs)
	}
	run := e.onlyRun()
	if run.State != hashike.StateTimedOut || len(e.containers(run.ID)) != 0 {
		t.Fatalf("state %s, containers %v", run.State, e.containers(run.ID))
	}
	lout, _, _ := e.run("logs", run.ID)
	if lout != "started 1\n" {
		t.Fatalf("stored logs %q", lout)
	}
}

func TestSignalsStopTheTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			// The job ignores SIGTERM, so only the kill after stopTimeout (2 s) ends it.
			p := e.background("ready 1", "run", e.simpleJob("sig", "ignore-term", "print", "1", "ready", "sleep", "120s"))
			start := time.Now()
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := p.exit(t); code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, p.stderr)
			}
			if waited := time.Since(start); waited < 2*time.Second {
				t.Fatalf("stopped after %s: the container did not get its stopTimeout of 2s", waited)
			}
			run := e.onlyRun()
			if run.State != hashike.StateCanceled || run.Exit.ContainerExitCode == nil || *run.Exit.ContainerExitCode != 137 {
				t.Fatalf("recorded %s %+v", run.State, run.Exit)
			}
			if got := e.containers(run.ID); len(got) != 0 {
				t.Fatalf("containers left: %v", got)
			}
		})
	}
}

func TestOOMKilledReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, errs, code := e.run("run", "--memory", "32", e.simpleJob("oom", "sleep", "300ms", "alloc", "300"))
	if code != hashike.ExitOOM || !strings.Contains(errs, "OOM-killed") {
		t.Fatalf("exit %d, stderr %q; want 137 and OOM-killed", code, errs)
	}
	if run := e.onlyRun(); !run.Exit.OOMKilled {
		t.Fatalf("not recorded as OOM-killed: %+v", run.Exit)
	}
}

func TestFailedToStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := e.job("missing.yaml", "taskDefinition:\n  family: missing\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: hashike-no-such-image:1\n")
	_, errs, code := e.run("run", missing)
	if code != hashike.ExitStartFailed || !strings.Contains(errs, "CannotPullContainerError") {
		t.Fatalf("missing image: exit %d, stderr %q", code, errs)
	}
	badEP := e.job("badep.yaml", "taskDefinition:\n  family: badep\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: IMAGE\n      entryPoint: [/not/there]\n")
	_, errs, code = e.run("run", badEP)
	if code != hashike.ExitStartFailed || !strings.Contains(errs, "CannotStartContainerError") {
		t.Fatalf("bad entrypoint: exit %d, stderr %q", code, errs)
	}
	for _, run := range e.runs() {
		if run.State != hashike.StateStartFailed {
			t.Fatalf("run %s recorded %s, want start_failed", run.Family, run.State)
		}
		if got := e.containers(run.ID); len(got) != 0 {
			t.Fatalf("containers left: %v", got)
		}
	}
}

func TestNoWaitThenWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out, errs, code := e.run("run", "--no-wait", "--output", "json", e.simpleJob("detached", "print", "2", "bg", "sleep", "1s", "print", "1", "late", "exit", "6"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var started struct {
		RunID string `json:"runId"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.RunID == "" {
		t.Fatalf("--output json gave %q (%v)", out, err)
	}
	wout, werr, code := e.run("wait", started.RunID)
	if code != 6 || wout != "bg 1\nbg 2\nlate 1\n" {
		t.Fatalf("wait: exit %d, stdout %q, stderr %q", code, wout, werr)
	}
	// Waiting again on a finished run replays it.
	wout, _, code = e.run("wait", started.RunID)
	if code != 6 || wout != "bg 1\nbg 2\nlate 1\n" {
		t.Fatalf("second wait: exit %d, stdout %q", code, wout)
	}
	e.waitFor(func() bool { return len(e.containers(started.RunID)) == 0 }, "the supervisor to remove the containers")
}

func TestWaitReattachesAfterSIGKILL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.background("before 3", "run", e.simpleJob("killed", "print", "3", "before", "sleep", "2s", "print", "2", "after", "exit", "4"))
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.exit(t)
	run := e.onlyRun()
	if run.State.Terminal() {
		t.Fatalf("run already %s", run.State)
	}
	out, errs, code := e.run("wait", run.ID)
	if code != 4 {
		t.Fatalf("wait: exit %d, want 4 (stderr %q)", code, errs)
	}
	if out != "before 1\nbefore 2\nbefore 3\nafter 1\nafter 2\n" {
		t.Fatalf("wait output %q: output lost across the kill", out)
	}
	e.waitFor(func() bool { return len(e.containers(run.ID)) == 0 }, "the containers to be removed")
}

func TestNextCommandReconcilesOrphans(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.background("before 1", "run", e.simpleJob("orphan", "print", "1", "before", "sleep", "1s", "print", "1", "after", "exit", "9"))
	_ = p.cmd.Process.Kill()
	p.exit(t)
	id := e.onlyRun().ID // `runs` reconciles: a supervisor adopts the run
	run := e.waitTerminal(id)
	if run.State != hashike.StateFailed || run.Exit.Code != 9 {
		t.Fatalf("reconciled run: %s %+v", run.State, run.Exit)
	}
	out, _, _ := e.run("logs", id)
	if out != "before 1\nafter 1\n" {
		t.Fatalf("logs %q", out)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.simpleJob("idem", "print", "1", "ran", "exit", "0")
	out1, _, code1 := e.run("run", "--idempotency-key", "nightly-2026-11-21", job)
	out2, errs2, code2 := e.run("run", "--idempotency-key", "nightly-2026-11-21", job)
	if code1 != 0 || code2 != 0 || out1 != "ran 1\n" || out2 != "ran 1\n" {
		t.Fatalf("runs: %d %q, %d %q", code1, out1, code2, out2)
	}
	if !strings.Contains(errs2, "already exists") {
		t.Fatalf("second run did not say it returned the existing run: %q", errs2)
	}
	if n := len(e.runs()); n != 1 {
		t.Fatalf("%d runs recorded, want 1", n)
	}
	_, errs, code := e.run("run", "--idempotency-key", "nightly-2026-11-21", "-e", "X=1", job)
	if code != 2 || !strings.Contains(errs, "different definition") {
		t.Fatalf("reused key with another definition: exit %d, %q", code, errs)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out, errs, code := e.run("run", "--dry-run", "--cpu", "512", "-e", "A=b", e.simpleJob("dry", "print", "1", "x"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"dry run", `"family": "dry"`, `"name": "A"`, "cpu 512 units", "would start task dry"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(e.db); !os.IsNotExist(err) {
		t.Fatal("dry run created the run history")
	}
}

func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const value = "pa55-word-XYZZY"
	secrets := filepath.Join(e.dir, "secrets.json")
	if err := os.WriteFile(secrets, []byte(`{"arn:aws:secretsmanager:us-east-1:1:secret:db": "`+value+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	job := e.job("secret.yaml", `taskDefinition:
  family: secret
  memory: "64"
  containerDefinitions:
    - name: app
      image: IMAGE
      command: [env, DB_PASSWORD, env, TOKEN]
      secrets:
        - name: DB_PASSWORD
          valueFrom: arn:aws:secretsmanager:us-east-1:1:secret:db
        - name: TOKEN
          valueFrom: arn:aws:ssm:us-east-1:1:parameter/token
`)
	e.extra = []string{"HASHIKE_SECRET_TOKEN=tok-FROM-ENV-123"}
	out, errs, code := e.run("run", "--secrets-file", secrets, job)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if out != "DB_PASSWORD=***************\nTOKEN=****************\n" {
		t.Fatalf("output %q: secret values not masked", out)
	}
	dry, _, _ := e.run("run", "--dry-run", "--secrets-file", secrets, job)
	run := e.onlyRun()
	desc, _, _ := e.run("describe", "--output", "json", run.ID)
	logs, _, _ := e.run("logs", run.ID)
	for what, text := range map[string]string{"stderr": errs, "dry run": dry, "describe": desc, "logs": logs} {
		if strings.Contains(text, value) || strings.Contains(text, "tok-FROM-ENV-123") {
			t.Fatalf("%s shows a secret value:\n%s", what, text)
		}
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.db), "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(value)) || bytes.Contains(b, []byte("tok-FROM-ENV-123")) {
			t.Fatalf("%s holds a secret value", f)
		}
	}
	// A secrets file others can read is refused, before anything starts.
	if err := os.Chmod(secrets, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = e.run("run", "--secrets-file", secrets, job)
	if code != 2 || !strings.Contains(errs, "chmod 600") {
		t.Fatalf("readable secrets file: exit %d, %q", code, errs)
	}
	e.extra = nil
	_, errs, code = e.run("run", job)
	if code != 2 || !strings.Contains(errs, "TOKEN") {
		t.Fatalf("unresolvable secrets: exit %d, %q", code, errs)
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.job("ovr.yaml", `taskDefinition:
  family: ovr
  cpu: "1024"
  memory: "256"
  containerDefinitions:
    - name: app
      image: IMAGE
      command: [print, "1", original]
      environment: [{name: FOO, value: from-file}]
`)
	out, errs, code := e.run("run", "-e", "FOO=from-flag", "-e", "BAR=2", job, "--", "env", "FOO", "env", "BAR")
	if code != 0 || out != "FOO=from-flag\nBAR=2\n" {
		t.Fatalf("command/env override: exit %d, %q %q", code, out, errs)
	}
	_, _, code = e.run("run", "--memory", "32", job, "--", "sleep", "300ms", "alloc", "200")
	if code != hashike.ExitOOM {
		t.Fatalf("--memory 32 not enforced: exit %d", code)
	}
	_, errs, code = e.run("run", "--keep", "--cpu", "512", "--memory", "100", job)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	run := e.runs()[0]
	ids := e.containers(run.ID)
	if len(ids) != 1 {
		t.Fatalf("--keep left %d containers", len(ids))
	}
	in, err := e.dc.ContainerInspect(context.Background(), ids[0], client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := in.Container.HostConfig.Resources
	if r.NanoCPUs != 500_000_000 || r.Memory != 100<<20 || r.CPUShares != 512 {
		t.Fatalf("engine limits: NanoCPUs %d, Memory %d, CPUShares %d", r.NanoCPUs, r.Memory, r.CPUShares)
	}
	_, _ = e.dc.ContainerRemove(context.Background(), ids[0], client.ContainerRemoveOptions{Force: true})
}

func TestSeveralContainersPrefixedAndWatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.job("multi.yaml", `watchContainer: app
taskDefinition:
  family: multi
  memory: "128"
  containerDefinitions:
    - name: app
      image: IMAGE
      command: [sleep, 300ms, print, "1", main, exit, "0"]
    - name: sidecar
      image: IMAGE
      essential: false
      command: [print, "1", side, exit, "5"]
`)
	out, errs, code := e.run("run", job)
	if code != 0 {
		t.Fatalf("exit %d (the non-essential sidecar's exit 5 must not fail the job): %s", code, errs)
	}
	if !strings.Contains(out, "app     | main 1\n") || !strings.Contains(out, "sidecar | side 1\n") {
		t.Fatalf("output not prefixed by container:\n%s", out)
	}
}

func TestLogsFollowAndStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, errs, code := e.run("run", "--no-wait", e.simpleJob("follow", "trap-term", "3", "print", "1", "first", "sleep", "500ms", "print", "1", "second", "sleep", "120s"))
	id = strings.TrimSpace(id)
	if code != 0 || id == "" {
		t.Fatalf("--no-wait: exit %d %q", code, errs)
	}
	f := e.background("second 1", "logs", "--follow", id)
	if out, errs, code := e.run("stop", id); code != 0 {
		t.Fatalf("stop: exit %d %q %q", code, out, errs)
	}
	if code := f.exit(t); code != 0 {
		t.Fatalf("logs --follow exit %d", code)
	}
	if got := f.stdout.String(); got != "first 1\nsecond 1\ncaught SIGTERM\n" {
		t.Fatalf("followed %q", got)
	}
	_, _, code = e.run("wait", id)
	if code != hashike.ExitSIGTERM {
		t.Fatalf("wait after stop: exit %d, want 143", code)
	}
	if run := e.describe(id); run.State != hashike.StateCanceled || run.StopCause != hashike.StopUser {
		t.Fatalf("recorded %s cause %q", run.State, run.StopCause)
	}
}

func TestVanishedContainersMarkedLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.background("up 1", "run", e.simpleJob("vanish", "print", "1", "up", "sleep", "120s"))
	id := e.onlyRun().ID
	// Once the output is stored (at most 250 ms after it was shown), kill hashike and remove
	// the container behind its back.
	e.waitFor(func() bool { out, _, _ := e.run("logs", id); return out == "up 1\n" }, "the output to be stored")
	_ = p.cmd.Process.Kill()
	p.exit(t)
	for _, c := range e.containers(id) {
		if _, err := e.dc.ContainerRemove(context.Background(), c, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	run := e.waitTerminal(id) // describe reconciles: a supervisor adopts the run and finds nothing
	if run.State != hashike.StateLost || run.Exit == nil || run.Exit.Code != hashike.ExitStartFailed || !strings.Contains(run.Exit.Reason, "disappeared") {
		t.Fatalf("recorded %s %+v, want lost with a reason", run.State, run.Exit)
	}
	if out, _, _ := e.run("logs", id); out != "up 1\n" {
		t.Fatalf("output stored before the loss: %q", out)
	}
	if _, errs, code := e.run("wait", id); code != hashike.ExitStartFailed || !strings.Contains(errs, "lost") {
		t.Fatalf("wait on a lost run: exit %d, %q", code, errs)
	}
}

func TestRunsSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, errs, code := e.run("run", e.simpleJob("since", "exit", "0")); code != 0 {
		t.Fatalf("run: %s", errs)
	}
	recent, _, _ := e.run("runs", "--since", "1h")
	future, _, _ := e.run("runs", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if !strings.Contains(recent, "since") || strings.Contains(future, "since") {
		t.Fatalf("--since 1h:\n%s\n--since <in an hour>:\n%s", recent, future)
	}
	if _, errs, code := e.run("runs", "--since", "yesterday-ish", "--state", "bogus"); code != 2 || !strings.Contains(errs, "--since") || !strings.Contains(errs, "--state") {
		t.Fatalf("bad filters: exit %d, %q", code, errs)
	}
}

func TestECSDryRunLeavesSecretsToECS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := filepath.Join(dir, "ecs.yaml")
	if err := os.WriteFile(job, []byte(`backend: ecs
ecs: {cluster: jobs, launchType: EC2}
taskDefinition:
  family: report
  memory: "512"
  containerDefinitions:
    - name: app
      image: report:latest
      secrets: [{name: DB_PASSWORD, valueFrom: "arn:aws:secretsmanager:ap-northeast-1:1:secret:db"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(hashikeBin, "run", "--dry-run", "--capacity-timeout", "3m", job)
	c.Env = append(offlineAWS(), "HASHIKE_DB="+filepath.Join(dir, "h.db"))
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("dry run of an ECS job with secrets hashike cannot resolve: %v\n%s", err, out)
	}
	for _, want := range []string{`"valueFrom": "arn:aws:secretsmanager:ap-northeast-1:1:secret:db"`, `"startedBy": "hashike/<run id>"`, `"action": "unknown`, `"value": "3m0s"`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "h.db")); !os.IsNotExist(err) {
		t.Fatal("dry run created the run history")
	}
}

func TestValidateCheckAWSNeverPassesWhatItCouldNotCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := filepath.Join(dir, "ecs.yaml")
	if err := os.WriteFile(job, []byte(`backend: ecs
taskDefinition:
  family: report
  memory: "512"
  taskRoleArn: arn:aws:iam::123456789012:role/report-task
  containerDefinitions:
    - name: app
      image: report:latest
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := offlineAWS()
	c := exec.Command(hashikeBin, "validate", job)
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("validate without --check-aws: %v\n%s", err, out)
	}
	c = exec.Command(hashikeBin, "validate", "--check-aws", job)
	c.Env = env
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "ecs.yaml:5:") || !strings.Contains(string(out), "role report-task") {
		t.Fatalf("--check-aws with AWS unreachable: %v\n%s", err, out)
	}
}

// offlineAWS is an environment in which the AWS SDK reaches nothing: every endpoint is a closed
// loopback port, instance metadata is off and calls are not retried.
func offlineAWS() []string {
	return append(os.Environ(), "AWS_REGION=ap-northeast-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL=http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1")
}
