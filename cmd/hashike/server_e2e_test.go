package main_test

// End-to-end tests of `hashike server` and the CLI's client mode: the real binary serves
// on 127.0.0.1 with a temp SQLite database and a --jobs directory, and the real binary drives
// it through HASHIKE_SERVER and HASHIKE_TOKEN, against a real Docker Engine.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/server"
)

// serverJobs are the job definitions every test server registers from its --jobs directory.
// They need no network: networkMode none keeps them independent of the engine's docker0
// bridge, which a test that kills a private dockerd on the same host can take away.
var serverJobs = map[string]string{
	// echo prints its payload (the variable, then the file, which has no trailing newline) and
	// a line on stderr.
	"echo": `description: prints its payload
taskDefinition:
  family: echo
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: ["env", "HASHIKE_PAYLOAD", "stderr", "1", "err", "cat", "/hashike/payload.json"]
`,
	"sleep": `taskDefinition:
  family: sleep
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: ["print", "1", "started", "sleep", "5m"]
`,
	"retry": `queue: retries
taskDefinition:
  family: retry
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: ["env", "HASHIKE_ATTEMPT", "exit", "1"]
retryStrategy:
  attempts: 2
`,
	"nightly": `description: runs at 03:00 in Tokyo
taskDefinition:
  family: nightly
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
schedule:
  expressions:
    - cron: "0 3 * * *"
      timeZone: Asia/Tokyo
`,
	"small": `maxPayloadBytes: 100
taskDefinition:
  family: small
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
`,
}

// srvEnv is a running `hashike server` and a CLI environment pointed at it.
type srvEnv struct {
	*env
	url, token, readToken string
}

// newServer starts `hashike server` on a free loopback port and returns once it listens. Its
// clients get HASHIKE_SERVER and an admin token in HASHIKE_TOKEN.
func newServer(t *testing.T) *srvEnv {
	t.Helper()
	e := newEnv(t)
	jobs := filepath.Join(e.dir, "jobs")
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range serverJobs {
		if err := os.WriteFile(filepath.Join(jobs, name+".yaml"), []byte(strings.ReplaceAll(body, "IMAGE", dockertest.Image)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(e.dir, "server.db")
	s := &srvEnv{env: e}
	token := func(name, scope string) string {
		out, errs, code := e.run("token", "create", "--db", db, "--name", name, "--scope", scope)
		if code != 0 || !strings.HasPrefix(out, server.TokenPrefix) {
			t.Fatalf("token create: exit %d, stdout %q, stderr %q", code, out, errs)
		}
		return strings.TrimSpace(out)
	}
	s.token, s.readToken = token("t", "admin"), token("r", "read")

	c := e.cmd("server", "--db", db, "--jobs", jobs, "--listen", "127.0.0.1:0")
	b := &bg{cmd: c, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	c.Stdout, c.Stderr = b.stdout, b.stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = c.Wait(); close(exited) }()
	t.Cleanup(func() {
		if t.Failed() {
			log := b.stderr.String()
			if len(log) > 8000 {
				log = "..." + log[len(log)-8000:]
			}
			t.Logf("hashike server's log:\n%s", log)
		}
		// Gracefully, as an operator would; a server that does not stop is killed.
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = c.Process.Kill()
			<-exited
			t.Errorf("hashike server ignored SIGTERM for 30s; stderr:\n%s", b.stderr)
		}
	})
	listening := regexp.MustCompile(`hashike server listening on (http://\S+)`)
	e.waitFor(func() bool {
		select {
		case <-exited:
			return true
		default:
			return listening.MatchString(b.stdout.String())
		}
	}, "the server to listen (stdout %q, stderr %q)", b.stdout, b.stderr)
	m := listening.FindStringSubmatch(b.stdout.String())
	if m == nil {
		t.Fatalf("hashike server did not start: stdout %q, stderr %q", b.stdout, b.stderr)
	}
	s.url = checkedURL(t, m[1])
	e.extra = []string{"HASHIKE_SERVER=" + s.url, "HASHIKE_TOKEN=" + s.token}
	return s
}

// ok runs the CLI and fails the test unless it exits 0; it returns stdout.
func (s *srvEnv) ok(args ...string) string {
	s.t.Helper()
	out, errs, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("hashike %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// as runs the CLI with extra environment (which wins over the server's defaults).
func (s *srvEnv) as(env []string, args ...string) (string, string, int) {
	s.t.Helper()
	saved := s.extra
	s.extra = append(append([]string(nil), saved...), env...)
	defer func() { s.extra = saved }()
	return s.run(args...)
}

// cliTimeout bounds one CLI invocation: a command that waits on the server (enqueue --wait,
// logs -f) must not hang the test binary when a run never ends.
const cliTimeout = 2 * time.Minute

// run runs the CLI against the server and returns its stdout, stderr and exit code.
func (s *srvEnv) run(args ...string) (string, string, int) {
	s.t.Helper()
	return s.withStdin("", args...)
}

// withStdin runs the CLI with stdin as its standard input.
func (s *srvEnv) withStdin(stdin string, args ...string) (string, string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	c := s.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(stdin), &out, &errb
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Process.Kill() })
	err := c.Wait()
	if !stop() {
		s.t.Fatalf("hashike %s: still running after %s; killed (stdout %q, stderr %q)", strings.Join(args, " "), cliTimeout, &out, &errb)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("hashike %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (s *srvEnv) okJSON(v any, args ...string) {
	s.t.Helper()
	out := s.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("hashike %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s *srvEnv) view(id string) api.RunView {
	s.t.Helper()
	var v api.RunView
	s.okJSON(&v, "describe", id)
	return v
}

// settled waits until the run has ended and the server has acted on its end.
func (s *srvEnv) settled(id string) api.RunView {
	s.t.Helper()
	var v api.RunView
	s.waitFor(func() bool { v = s.view(id); return v.State.Terminal() && v.Settled }, "run %s to end", id)
	return v
}

// compact is a payload as the server stores it: -o json indents it with the rest.
func compact(p []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return string(p)
	}
	return b.String()
}

func TestServerEnqueueWaitShowsPayloadAndExitCode(t *testing.T) {
	t.Parallel()
	s := newServer(t)

	out, errs, code := s.run("enqueue", "echo", "--payload", `{"greeting": "hi there"}`, "--wait")
	if code != 0 {
		t.Fatalf("enqueue --wait: exit %d, stderr %q", code, errs)
	}
	// The containers' stdout on stdout, bytes unchanged, as hashike run shows it; the payload
	// was compacted by the server, and the file has no trailing newline.
	if want := "HASHIKE_PAYLOAD={\"greeting\":\"hi there\"}\n{\"greeting\":\"hi there\"}"; out != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
	if !strings.Contains(errs, "err 1\n") || !strings.Contains(errs, "queued (job echo version 1, queue default)") {
		t.Fatalf("stderr %q", errs)
	}

	// The payload from standard input and from a file; -o json --wait prints the final try.
	out, errs, code = s.withStdin(`[1, 2, 3]`, "enqueue", "echo", "--payload", "-", "--wait", "-o", "json")
	var final api.RunView
	if code != 0 || json.Unmarshal([]byte(out), &final) != nil {
		t.Fatalf("--payload - -o json --wait: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if final.State != hashike.StateSucceeded || compact(final.Payload) != "[1,2,3]" || len(final.Attempts) != 1 || !final.Settled {
		t.Fatalf("final run: state %s, payload %s, %d tries, settled %v", final.State, final.Payload, len(final.Attempts), final.Settled)
	}
	file := filepath.Join(s.dir, "payload.json")
	if err := os.WriteFile(file, []byte(`{"from": "file"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(s.ok("enqueue", "echo", "--payload", "@"+file))
	if !regexp.MustCompile(`^[0-9a-z]{26}$`).MatchString(id) {
		t.Fatalf("enqueue printed %q, want a run ID", id)
	}

	// logs -f streams the run live: stdout entries to stdout, stderr entries to stderr.
	out, errs, code = s.run("logs", "-f", id)
	if code != 0 || out != "HASHIKE_PAYLOAD={\"from\":\"file\"}\n{\"from\":\"file\"}" || errs != "err 1\n" {
		t.Fatalf("logs -f: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	v := s.settled(id)
	if v.Job != "echo" || v.JobVersion != 1 || v.Attempt != 1 || v.Trigger != server.TriggerAPI || len(v.Attempts) != 1 || v.Attempts[0].ID != id {
		t.Fatalf("describe -o json: %+v", v)
	}
	text := s.ok("describe", id)
	for _, want := range []string{"Job:", "echo (version 1)", "Payload:", `{"from":"file"}`, "Tries (* this run):", "* try 1", id, "succeeded", "History:", "queued -> pending"} {
		if !strings.Contains(text, want) {
			t.Fatalf("describe lacks %q:\n%s", want, text)
		}
	}

	// An idempotent repeat returns the first run and says so.
	first := strings.TrimSpace(s.ok("enqueue", "echo", "--idempotency-key", "k1", "--payload", `{"n": 1}`))
	out, errs, code = s.run("enqueue", "echo", "--idempotency-key", "k1", "--payload", `{"n":1}`)
	if code != 0 || strings.TrimSpace(out) != first || !strings.Contains(errs, "enqueued before; nothing new was queued") {
		t.Fatalf("repeat: exit %d, stdout %q (first %s), stderr %q", code, out, first, errs)
	}
	// The same key with another payload is a conflict: exit 2.
	if _, errs, code := s.run("enqueue", "echo", "--idempotency-key", "k1", "--payload", `{"n":2}`); code != 2 || !strings.Contains(errs, "different payload") {
		t.Fatalf("key reused with another payload: exit %d, stderr %q", code, errs)
	}
	s.settled(first)

	// runs: the server's runs, newest first, a page at a time.
	var page api.RunPage
	s.okJSON(&page, "runs", "--job", "echo")
	if len(page.Runs) != 4 || page.Next != "" || page.Runs[0].ID != first {
		t.Fatalf("runs --job echo: %d runs, next %q", len(page.Runs), page.Next)
	}
	out, errs, code = s.run("runs", "--job", "echo", "--limit", "3")
	if code != 0 || !strings.Contains(out, "RUN ID") || strings.Count(out, "\n") != 4 {
		t.Fatalf("runs --limit 3: exit %d, stdout:\n%s", code, out)
	}
	m := regexp.MustCompile(`--cursor (\S+)`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("runs --limit 3 printed no cursor; stderr %q", errs)
	}
	var rest api.RunPage
	s.okJSON(&rest, "runs", "--job", "echo", "--limit", "3", "--cursor", m[1])
	if len(rest.Runs) != 1 || rest.Runs[0].ID != page.Runs[3].ID {
		t.Fatalf("the next page: %+v", rest.Runs)
	}
	s.okJSON(&page, "runs", "--queue", "default", "--state", "succeeded")
	if len(page.Runs) != 4 {
		t.Fatalf("runs --queue default --state succeeded: %d runs", len(page.Runs))
	}

	// rerun: a new enqueue of the same job, its payload replaced.
	out, errs, code = s.run("rerun", id, "--payload", `"again"`, "--wait")
	if code != 0 || out != "HASHIKE_PAYLOAD=\"again\"\n\"again\"" {
		t.Fatalf("rerun --wait: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	var rerun hashike.Run
	s.okJSON(&rerun, "rerun", id, "--latest")
	if rerun.ID == id || compact(rerun.Payload) != `{"from":"file"}` || rerun.Trigger != server.TriggerRerun {
		t.Fatalf("rerun --latest: %+v", rerun)
	}
	s.settled(rerun.ID)
}

func TestServerCancelLongRunningRun(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	waiting := s.background("", "enqueue", "sleep", "--wait")
	var id string
	s.waitFor(func() bool {
		m := regexp.MustCompile(`run (\S+) queued`).FindStringSubmatch(waiting.stderr.String())
		if m != nil {
			id = m[1]
		}
		return m != nil && strings.Contains(waiting.stdout.String(), "started 1")
	}, "the run to start (stdout %q, stderr %q)", waiting.stdout, waiting.stderr)

	out := s.ok("cancel", id, "--reason", "the test is done")
	if !strings.Contains(out, "stop requested") {
		t.Fatalf("cancel printed %q", out)
	}
	v := s.settled(id)
	// The waiting enqueue exits as the run did: canceled, SIGTERM's 143.
	if code := waiting.exit(t); code != hashike.ExitSIGTERM {
		t.Fatalf("enqueue --wait of a canceled run: exit %d, want 143 (stderr %q)", code, waiting.stderr)
	}
	if v.State != hashike.StateCanceled || v.Exit == nil || v.Exit.Code != hashike.ExitSIGTERM || len(v.Attempts) != 1 {
		t.Fatalf("canceled run: %+v (exit %+v, %d tries)", v.Run, v.Exit, len(v.Attempts))
	}
	reasons := ""
	for _, tr := range v.History {
		reasons += tr.Reason + "\n"
	}
	if !strings.Contains(reasons, "the test is done") {
		t.Fatalf("history does not record the reason:\n%s", reasons)
	}
	// The supervisor records the end, then removes the containers.
	s.waitFor(func() bool { return len(s.containers(id)) == 0 }, "the containers of run %s to be removed", id)
	// An ended run cannot be canceled: a conflict, exit 2.
	if _, errs, code := s.run("cancel", id); code != 2 || !strings.Contains(errs, "already ended") {
		t.Fatalf("cancel of an ended run: exit %d, stderr %q", code, errs)
	}
	// A queued run is canceled at once.
	queued := strings.TrimSpace(s.ok("enqueue", "sleep", "--delay", "1h"))
	if out := s.ok("cancel", queued); !strings.Contains(out, "canceled") {
		t.Fatalf("cancel of a queued run printed %q", out)
	}
	if v := s.settled(queued); v.State != hashike.StateCanceled || v.StartedAt != nil {
		t.Fatalf("canceled queued run: %+v", v.Run)
	}
	// With a server, stop is cancel.
	queued = strings.TrimSpace(s.ok("enqueue", "sleep", "--delay", "1h"))
	if out := s.ok("stop", queued); out != "run "+queued+" canceled\n" {
		t.Fatalf("stop of a queued run printed %q", out)
	}
}

func TestServerRetriedJobShowsEveryTry(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	out, errs, code := s.run("enqueue", "retry", "--wait")
	if code != 1 {
		t.Fatalf("enqueue --wait: exit %d, want the last try's 1 (stderr %q)", code, errs)
	}
	if out != "HASHIKE_ATTEMPT=1\nHASHIKE_ATTEMPT=2\n" {
		t.Fatalf("stdout %q: want both tries' output", out)
	}
	m := regexp.MustCompile(`run (\S+) queued`).FindStringSubmatch(errs)
	if m == nil || !strings.Contains(errs, "the job retries it") {
		t.Fatalf("stderr %q", errs)
	}
	v := s.view(m[1])
	if len(v.Attempts) != 2 || v.Attempt != 1 || v.Queue != "retries" {
		t.Fatalf("describe of the first try: attempt %d, queue %s, %d tries", v.Attempt, v.Queue, len(v.Attempts))
	}
	for i, a := range v.Attempts {
		if a.Attempt != i+1 || a.State != hashike.StateFailed || a.Exit == nil || a.Exit.Code != 1 {
			t.Fatalf("try %d: %+v", i+1, a)
		}
	}
	// wait, from any process, follows the tries again from the first and exits as the last.
	if out, errs, code := s.run("wait", m[1]); code != 1 || out != "HASHIKE_ATTEMPT=1\nHASHIKE_ATTEMPT=2\n" {
		t.Fatalf("wait: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	text := s.ok("describe", v.Attempts[1].ID)
	for _, want := range []string{"Try:", "2 (trigger retry)", "Retry of:", m[1], "  try 1", "* try 2"} {
		if !strings.Contains(text, want) {
			t.Fatalf("describe of the retry lacks %q:\n%s", want, text)
		}
	}
}

func TestServerJobsSchedulesQueues(t *testing.T) {
	t.Parallel()
	s := newServer(t)

	// jobs: a table for people, JSON for scripts.
	out := s.ok("jobs")
	if !regexp.MustCompile(`(?m)^NAME\s+VERSION\s+QUEUE\s+SCHEDULE\s+DESCRIPTION$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^nightly\s+1\s+default\s+0 3 \* \* \* \(Asia/Tokyo\)\s+runs at 03:00 in Tokyo$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^retry\s+1\s+retries\s+-\s*$`).MatchString(out) {
		t.Fatalf("jobs:\n%s", out)
	}
	var jobs []api.JobView
	s.okJSON(&jobs, "jobs")
	if len(jobs) != len(serverJobs) {
		t.Fatalf("jobs -o json: %d jobs", len(jobs))
	}

	// jobs register: a new version only when the file changed; YAML and JSON.
	file := filepath.Join(s.dir, "extra.yaml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(strings.ReplaceAll(body, "IMAGE", dockertest.Image)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(serverJobs["echo"])
	if out := s.ok("jobs", "register", "extra", file); !strings.Contains(out, "job extra version 1 registered") {
		t.Fatalf("register: %q", out)
	}
	if out := s.ok("jobs", "register", "extra", file); !strings.Contains(out, "unchanged") {
		t.Fatalf("register again: %q", out)
	}
	write(strings.Replace(serverJobs["echo"], "prints its payload", "prints it", 1))
	if out := s.ok("jobs", "register", "extra", file); !strings.Contains(out, "job extra version 2 registered") {
		t.Fatalf("register a change: %q", out)
	}
	jsonFile := filepath.Join(s.dir, "extra.json")
	if err := os.WriteFile(jsonFile, []byte(`{"taskDefinition": {"family": "extra", "memory": "64", "containerDefinitions": [{"name": "app", "image": "`+dockertest.Image+`"}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := s.ok("jobs", "register", "extra", jsonFile); !strings.Contains(out, "job extra version 3 registered") {
		t.Fatalf("register JSON: %q", out)
	}
	if _, errs, code := s.run("jobs", "register", "extra", filepath.Join(s.dir, "nope.yaml")); code != 2 || !strings.Contains(errs, "nope.yaml") {
		t.Fatalf("register a missing file: exit %d, stderr %q", code, errs)
	}
	write("taskDefinition:\n  family: extra\n  memroy: 64\n")
	if _, errs, code := s.run("jobs", "register", "extra", file); code != 2 || !strings.Contains(errs, "memroy") {
		t.Fatalf("register an invalid file: exit %d, stderr %q", code, errs)
	}
	out = s.ok("jobs", "versions", "extra")
	if !regexp.MustCompile(`(?s)^VERSION\s+REGISTERED\s+DIGEST\s+SOURCE\n3 .*\n2 .*\n1 .*\n$`).MatchString(out) {
		t.Fatalf("jobs versions:\n%s", out)
	}
	var one api.JobView
	s.okJSON(&one, "jobs", "show", "extra", "--version", "1")
	if one.Version != 1 || one.Definition == nil || one.Definition.Description != "prints its payload" {
		t.Fatalf("jobs show --version 1: %+v", one)
	}
	if out := s.ok("jobs", "show", "extra"); !strings.Contains(out, "Version:") || !strings.Contains(out, "family: extra") {
		t.Fatalf("jobs show:\n%s", out)
	}
	if _, errs, code := s.run("jobs", "show", "nope"); code != 2 || !strings.Contains(errs, "not found") {
		t.Fatalf("jobs show nope: exit %d, stderr %q", code, errs)
	}

	// schedules: the next five fires of 03:00 in Tokyo are 18:00 UTC on five days in a row.
	out = s.ok("schedules")
	if !regexp.MustCompile(`(?m)^JOB\s+CRON\s+TZ\s+SUSPENDED\s+NEXT$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^nightly\s+0 3 \* \* \*\s+Asia/Tokyo\s+no\s+\d{4}-`).MatchString(out) {
		t.Fatalf("schedules:\n%s", out)
	}
	var sched api.ScheduleView
	s.okJSON(&sched, "schedules", "show", "nightly")
	if len(sched.Next) != 5 {
		t.Fatalf("schedules show: %d next fires, want 5", len(sched.Next))
	}
	for i, at := range sched.Next {
		u := at.UTC()
		if u.Hour() != 18 || u.Minute() != 0 || (i > 0 && at.Sub(sched.Next[i-1]) != 24*time.Hour) {
			t.Fatalf("next fires %v", sched.Next)
		}
	}
	out = s.ok("schedules", "show", "nightly")
	if !strings.Contains(out, "Cron:") || !strings.Contains(out, "0 3 * * * (Asia/Tokyo)") ||
		!regexp.MustCompile(`Next:\n(  \d{4}-\d\d-\d\dT\S+\n){5}$`).MatchString(out) {
		t.Fatalf("schedules show:\n%s", out)
	}
	if out := s.ok("schedules", "suspend", "nightly"); !strings.Contains(out, "suspended") {
		t.Fatalf("suspend: %q", out)
	}
	if out := s.ok("schedules"); !regexp.MustCompile(`(?m)^nightly\s+\S+ \S+ \S+ \S+ \S+\s+Asia/Tokyo\s+yes`).MatchString(out) {
		t.Fatalf("schedules after suspend:\n%s", out)
	}
	if out := s.ok("schedules", "resume", "nightly"); !strings.Contains(out, "resumed") || !strings.Contains(out, "next fire:") {
		t.Fatalf("resume: %q", out)
	}
	triggered := strings.TrimSpace(s.ok("schedules", "trigger", "nightly"))
	if v := s.settled(triggered); v.State != hashike.StateSucceeded || v.Trigger != server.TriggerManual {
		t.Fatalf("triggered run: %s, trigger %q", v.State, v.Trigger)
	}

	// queues: a cap, a pause that holds runs back, a resume that lets them go.
	if out := s.ok("queues", "set", "held", "--max-concurrency", "3"); !strings.Contains(out, "queue held: paused no, max concurrency 3") {
		t.Fatalf("queues set: %q", out)
	}
	if out := s.ok("queues", "pause", "held"); !strings.Contains(out, "paused yes") {
		t.Fatalf("queues pause: %q", out)
	}
	held := strings.TrimSpace(s.ok("enqueue", "echo", "--queue", "held", "--payload", "1"))
	// Keeps the pause: the API sets both settings at once.
	if out := s.ok("queues", "set", "held", "--max-concurrency", "2"); !strings.Contains(out, "paused yes, max concurrency 2") {
		t.Fatalf("queues set on a paused queue: %q", out)
	}
	// A run of another queue goes through: the dispatcher has passed the held one by.
	s.ok("enqueue", "echo", "--payload", "2", "--wait")
	if v := s.view(held); v.State != hashike.StateQueued {
		t.Fatalf("a run of a paused queue is %s", v.State)
	}
	out = s.ok("queues")
	if !regexp.MustCompile(`(?m)^NAME\s+MAX\s+PAUSED\s+QUEUED\s+ACTIVE$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^held\s+2\s+yes\s+1\s+0$`).MatchString(out) {
		t.Fatalf("queues:\n%s", out)
	}
	var qs []hashike.QueueInfo
	s.okJSON(&qs, "queues")
	if len(qs) == 0 {
		t.Fatalf("queues -o json: none")
	}
	if out := s.ok("queues", "resume", "held"); !strings.Contains(out, "paused no") {
		t.Fatalf("queues resume: %q", out)
	}
	if v := s.settled(held); v.State != hashike.StateSucceeded {
		t.Fatalf("the held run, resumed: %s", v.State)
	}
	if _, errs, code := s.run("queues", "set", "held"); code != 2 || !strings.Contains(errs, "--max-concurrency") {
		t.Fatalf("queues set without a cap: exit %d, stderr %q", code, errs)
	}
}

func TestServerBadInputThroughTheCLI(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	big := `"` + strings.Repeat("x", 200) + `"`
	cases := []struct {
		name string
		env  []string
		args []string
		want []string // substrings of stderr
	}{
		{name: "unknown job", args: []string{"enqueue", "nope"}, want: []string{"not found", "nope"}},
		{name: "unknown run", args: []string{"describe", "01m8000000000000000000000x"}, want: []string{"not found"}},
		{name: "payload over the job's limit", args: []string{"enqueue", "small", "--payload", big}, want: []string{"payload is 202 bytes", "the limit is 100"}},
		{name: "payload not JSON", args: []string{"enqueue", "echo", "--payload", "{nope"}, want: []string{"--payload", "is not JSON"}},
		{name: "payload file missing", args: []string{"enqueue", "echo", "--payload", "@/nonexistent.json"}, want: []string{"/nonexistent.json"}},
		{name: "delay and not-before", args: []string{"enqueue", "echo", "--delay", "1m", "--not-before", "2030-01-01T00:00:00Z"}, want: []string{"not both"}},
		{name: "bad not-before", args: []string{"enqueue", "echo", "--not-before", "tomorrow"}, want: []string{"--not-before", "RFC 3339"}},
		{name: "priority out of range", args: []string{"enqueue", "echo", "--priority", "1000"}, want: []string{"priority", "out of range"}},
		{name: "unknown version", args: []string{"enqueue", "echo", "--version", "9"}, want: []string{"version 9"}},
		{name: "missing token", env: []string{"HASHIKE_TOKEN="}, args: []string{"enqueue", "echo"}, want: []string{"token is missing", "HASHIKE_TOKEN"}},
		{name: "unknown token", env: []string{"HASHIKE_TOKEN=hsk_nope"}, args: []string{"jobs"}, want: []string{"the server refused the token"}},
		{name: "read-only token enqueues", env: []string{"HASHIKE_TOKEN=" + s.readToken}, args: []string{"enqueue", "echo"}, want: []string{"the server refused the token", "scope"}},
		{name: "read-only token pauses a queue", env: []string{"HASHIKE_TOKEN=" + s.readToken}, args: []string{"queues", "pause", "default"}, want: []string{"the server refused the token"}},
		{name: "no server", env: []string{"HASHIKE_SERVER="}, args: []string{"enqueue", "echo"}, want: []string{"HASHIKE_SERVER"}},
		{name: "server flags without a server", env: []string{"HASHIKE_SERVER="}, args: []string{"runs", "--cursor", "x"}, want: []string{"--cursor", "needs a server"}},
		{name: "local flags with a server", args: []string{"runs", "--family", "echo"}, want: []string{"--family", "not supported with a server"}},
		{name: "bad server URL", env: []string{"HASHIKE_SERVER=ftp://x"}, args: []string{"jobs"}, want: []string{"ftp://x"}},
	}
	for _, tc := range cases {
		out, errs, code := s.as(tc.env, tc.args...)
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
	// A read-only token reads.
	if out, errs, code := s.as([]string{"HASHIKE_TOKEN=" + s.readToken}, "jobs"); code != 0 || !strings.Contains(out, "echo") {
		t.Fatalf("read-only token lists jobs: exit %d, stderr %q", code, errs)
	}
	// A server that is not there: hashike could not do what it was asked, 1.
	if _, errs, code := s.as([]string{"HASHIKE_SERVER=http://127.0.0.1:1"}, "jobs"); code != 1 || !strings.Contains(errs, "127.0.0.1:1") {
		t.Fatalf("no server listening: exit %d, stderr %q", code, errs)
	}
	// Nothing was enqueued by any of it.
	var page api.RunPage
	s.okJSON(&page, "runs")
	if len(page.Runs) != 0 {
		t.Fatalf("bad input enqueued %d runs", len(page.Runs))
	}
}
