package main

// End-to-end test of /metrics: a real Prometheus (Debian's prometheus package, started here on
// loopback) scrapes a running `hashike server` whose local runs go to the real Docker Engine
// and whose ECS runs go to the stateful AWS fake, with the cluster autoscaler on; then every
// query of the shipped Grafana dashboard must return data through Prometheus's HTTP API.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/awsfake"
)

// dashboardFile is the Grafana dashboard the README ships.
const dashboardFile = "../../docs/grafana/hashike.json"

// localJobs run on the Docker Engine: one succeeds, one fails and is retried once, one names
// an image the engine lacks (with HASHIKE_PULL=never its start fails: a backend error).
var localJobs = map[string]string{
	"hello": `taskDefinition:
  family: hello
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: ["sleep", "300ms", "exit", "0"]
`,
	"flaky": `retryStrategy:
  attempts: 2
taskDefinition:
  family: flaky
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: ["exit", "3"]
`,
	"missing": `taskDefinition:
  family: missing
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: hashike-no-such-image:none
`,
}

func TestPrometheusScrapesTheServerAndEveryDashboardQueryHasData(t *testing.T) {
	dockertest.Require(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("this test needs Prometheus's server (apt-get install prometheus, as .ci/run does): %v", err)
	}

	w := newECSWorld(t, awsfake.Options{}, hakoScaleOut, 2048, `[sleep, 200ms, exit, "0"]`)
	w.autoscaled(4, 300*time.Millisecond)
	for name, body := range localJobs {
		if err := os.WriteFile(filepath.Join(w.jobs, name+".yaml"), []byte(strings.ReplaceAll(body, "IMAGE", dockertest.Image)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w.env = func(k string) (string, bool) {
		switch k {
		case "HASHIKE_PULL":
			return "never", true
		case "DOCKER_HOST":
			return os.LookupEnv(k)
		}
		return "", false
	}
	w.flags = []string{"--log-format", "json", "--log-level", "debug"}
	srv := w.startServer("a")

	prom := startPrometheus(t, promBin, srv.url)
	prom.await(t, `up{job="hashike"} == 1`, 30*time.Second)

	// A few runs of each kind, and one held back an hour so that a queue has a backlog.
	ctx := ectx(t)
	var ids []string
	for _, job := range []string{"report", "report", "report", "hello", "hello", "flaky", "missing"} {
		run, _, err := srv.api.Enqueue(ctx, job, api.EnqueueRequest{})
		if err != nil {
			t.Fatalf("enqueue %s: %v", job, err)
		}
		ids = append(ids, run.ID)
	}
	if _, _, err := srv.api.Enqueue(ctx, "hello", api.EnqueueRequest{Delay: hashike.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	views := awaitEnded(t, srv.api, ids, 90*time.Second, srv.stderr.String)
	for _, v := range views {
		if v.Job == "flaky" && v.State != hashike.StateFailed || v.Job == "missing" && v.State != hashike.StateStartFailed {
			t.Errorf("run %s of %s ended %s", v.ID, v.Job, v.State)
		}
	}

	// Every query of the dashboard, with its variables set as Grafana's "All" sets them.
	vars := strings.NewReplacer("$__rate_interval", "1m", "$job_name", ".*", "$queue", ".*", "$scrape_job", ".*")
	exprs := dashboardQueries(t)
	if len(exprs) < 20 {
		t.Fatalf("the dashboard has %d queries; expected its panels' (did its format change?)", len(exprs))
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, expr := range exprs {
		q := vars.Replace(expr)
		for {
			n, err := prom.query(q)
			if err != nil {
				t.Errorf("dashboard query %s: %v", expr, err)
				break
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("dashboard query returned no data: %s", q)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	// The exposition passes Prometheus's own lint.
	body := get(t, srv.url+"/metrics", nil)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("this test needs promtool (Debian's prometheus package): %v", err)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Structured logs: every line of the server's stderr is a JSON record, and an API request
	// has its ID on its record and in its response.
	h := http.Header{httpapi.HeaderRequestID: []string{"e2e-metrics-1"}}
	resp := do(t, srv.url+"/v1/queues", h)
	if got := resp.Header.Get(httpapi.HeaderRequestID); got != "e2e-metrics-1" {
		t.Errorf("response %s %q, want the request's", httpapi.HeaderRequestID, got)
	}
	var found bool
	for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		found = strings.Contains(srv.stderr.String(), `"request_id":"e2e-metrics-1"`)
	}
	if !found {
		t.Errorf("no log record with request_id e2e-metrics-1")
	}
	sc := bufio.NewScanner(strings.NewReader(srv.stderr.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Errorf("a server log line that is not a JSON record: %q", sc.Text())
		}
	}
}

// dashboardQueries returns the expr of every target of every panel of the dashboard.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Panels) > 0 {
			t.Fatalf("panel %q nests panels (a collapsed row): the test reads top-level panels only", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q has a target without expr", p.Title)
			}
			out = append(out, tg.Expr)
		}
	}
	return out
}

type promServer struct {
	url string
}

// startPrometheus runs Prometheus on a free loopback port, scraping target every second as
// job "hashike", with its data in a temp directory; it is stopped when the test ends.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: hashike
    static_configs:
      - targets: [%q]
`, u.Host), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", lastBytes(logs.String(), 4000))
		}
	})
	p := &promServer{url: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r, err := http.Get(p.url + "/-/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s:\n%s", logs.String())
		}
	}
}

// query runs an instant query and returns how many series it returned.
func (p *promServer) query(q string) (int, error) {
	r, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	var res struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&res); err != nil {
		return 0, fmt.Errorf("HTTP %d: %w", r.StatusCode, err)
	}
	if res.Status != "success" {
		return 0, fmt.Errorf("%s: %s", res.Status, res.Error)
	}
	return len(res.Data.Result), nil
}

// await waits until q returns data.
func (p *promServer) await(t *testing.T, q string, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(200 * time.Millisecond) {
		n, err := p.query(q)
		if err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data for %s after %s", q, limit)
		}
	}
}

func do(t *testing.T, u string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func get(t *testing.T, u string, h http.Header) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return string(b)
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
