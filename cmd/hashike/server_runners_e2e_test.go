package main

// End-to-end test of the runner pools inside `hashike server`: the server command runs in
// process with a runners section in its config file, runnerstest.World as GitHub (through
// the runnersGitHub seam) and the fake backend as its local backend; the test speaks to it
// through `hashike runners`, every exchange checked against openapi.json.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/apitest"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
	"github.com/hashike/hashike/server"
)

const runnerJob = `taskDefinition:
  family: runner-medium
  containerDefinitions:
    - name: runner
      image: ghcr.io/actions/actions-runner:latest
      memory: 512
`

const runnersConfig = `runners:
  github: {tokenEnv: GH_TOKEN}
  interval: 50ms
  rescanInterval: 100ms
  pools:
    - name: medium
      labels: [self-hosted, linux, medium]
      job: runner-medium
      arch: ARCH
      max: 4
      scope: {level: org, name: octo-org}
`

// TestServerRunnersLostWebhookGetsRunner: a job queued at GitHub whose webhook never came is
// found by the leader's scan; its runner is a run of the pool's job whose container gets the
// JIT config as ACTIONS_RUNNER_INPUT_JITCONFIG, which the database never holds; `hashike
// runners` shows the pool and the runner.
func TestServerRunnersLostWebhookGetsRunner(t *testing.T) {
	dir := t.TempDir()
	db, jobs, conf := filepath.Join(dir, "server.db"), filepath.Join(dir, "jobs"), filepath.Join(dir, "hashike.yaml")
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jobs, "runner-medium.yaml"), []byte(runnerJob), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(runnersConfig, "ARCH", runtime.GOARCH, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	world := runnerstest.New(time.Now)
	var (
		mu   sync.Mutex
		jits = map[string]string{}
	)
	hold := make(chan struct{})
	defer close(hold)
	backend := fakebackend.New("local", func(req hashike.StartRequest) fakebackend.Behavior {
		mu.Lock()
		defer mu.Unlock()
		jits[req.RunID] = req.Secrets[server.EnvRunnerJITConfig]
		return fakebackend.Behavior{Hold: hold, Output: "runner listening for jobs\n"}
	})
	env := map[string]string{"HASHIKE_GITHUB_WEBHOOK_SECRET": "hook-secret", "GH_TOKEN": "unused"}
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	a := &app{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, clock: hashike.SystemClock{},
		lookupEnv:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		testBackend:   func(string) hashike.Backend { return backend },
		runnersGitHub: func(*RunnersConfig) (runners.GitHub, error) { return world, nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	root := a.rootCmd()
	root.SetArgs([]string{"server", "--db", db, "--jobs", jobs, "--config", conf, "--listen", "127.0.0.1:0", "--no-auth", "--shutdown-timeout", "5s"})
	go func() { exited <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-exited; err != nil {
			t.Logf("server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	}()
	url := ""
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	for deadline := time.Now().Add(30 * time.Second); url == ""; {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server exited: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server does not listen:\n%s", stderr.String())
		}
	}

	world.Queue("self-hosted", "linux", "medium") // no webhook delivery: it was lost
	var runID string
	for deadline := time.Now().Add(10 * time.Second); runID == ""; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		for id := range jits {
			runID = id
		}
		mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no runner run was started for the queued job")
		}
	}
	mu.Lock()
	jit := jits[runID]
	mu.Unlock()
	if gen := world.JITConfigs; len(gen) != 1 || jit != gen[0] {
		t.Fatalf("the runner's container got %s=%q; GitHub generated %q", server.EnvRunnerJITConfig, jit, gen)
	}

	doc, err := apitest.Load(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	checked := doc.For(t).Proxy(url)
	cli := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		c := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, clock: hashike.SystemClock{},
			lookupEnv: func(k string) (string, bool) {
				if k == "HASHIKE_SERVER" {
					return checked, true
				}
				return "", false
			}}
		r := c.rootCmd()
		r.SetArgs(args)
		if err := r.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("hashike %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	var st api.RunnersStatus
	if err := json.Unmarshal([]byte(cli("runners", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Leader || len(st.Pools) != 1 || st.Pools[0].Name != "medium" || len(st.Runners) != 1 || st.Runners[0].RunID != runID ||
		st.Runners[0].State != string(runners.Starting) {
		t.Fatalf("hashike runners -o json: %+v; want pool medium with one starting runner, run %s", st, runID)
	}
	// The runner takes the job: its in_progress delivery makes it a recent job with its wait.
	body := `{"action":"in_progress","workflow_job":{"id":1,"run_id":7,"labels":["self-hosted","linux","medium"],"runner_id":1,` +
		`"runner_name":"` + st.Runners[0].Name + `","created_at":"2026-03-02T09:00:00Z","started_at":"2026-03-02T09:00:31Z"}}`
	req, _ := http.NewRequest("POST", checked+"/v1/github/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_job")
	req.Header.Set("X-GitHub-Delivery", "d-1")
	req.Header.Set("X-Hub-Signature-256", github.SignWebhook([]byte(env["HASHIKE_GITHUB_WEBHOOK_SECRET"]), []byte(body)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("in_progress delivery: %s", res.Status)
	}
	for deadline := time.Now().Add(10 * time.Second); len(st.Recent) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the taken job never shows in hashike runners")
		}
		if err := json.Unmarshal([]byte(cli("runners", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
	}
	text := cli("runners")
	for _, want := range []string{"POOL", "medium", "runner-medium", st.Runners[0].Name, "starting", runID, "RECENT JOB", "31s"} {
		if !strings.Contains(text, want) {
			t.Errorf("hashike runners lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(stderr.String(), jit) {
		t.Error("the server's log holds the JIT config")
	}
	files, _ := filepath.Glob(db + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(jit)) {
			t.Fatalf("%s holds the JIT config", f)
		}
	}
}
