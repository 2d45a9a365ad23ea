package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionFromServer: with a server set, RUN_ID, JOB and QUEUE complete from its API.
func TestCompletionFromServer(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, nil, "--db", filepath.Join(dir, "server.db"))
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "local.db"), extra: []string{"HASHIKE_SERVER=" + p.url}}
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		out, errOut, code := e.run(args...)
		return code, out, errOut
	}
	jobFile := filepath.Join(dir, "nightly.yaml")
	if err := os.WriteFile(jobFile, []byte("taskDefinition:\n  containerDefinitions:\n    - name: app\n      image: img\n      memory: 64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli("jobs", "register", "nightly-report", jobFile); code != 0 {
		t.Fatalf("register: %s", errOut)
	}
	if _, out, _ := cli("__complete", "enqueue", "ni"); !strings.Contains(out, "nightly-report\tv1") {
		t.Errorf("complete enqueue ni: %q", out)
	}
	if _, out, _ := cli("__complete", "queues", "pause", ""); !strings.Contains(out, "default\n") {
		t.Errorf("complete queues pause: %q", out)
	}
	if _, out, _ := cli("__complete", "runs", "--job", ""); !strings.Contains(out, "nightly-report") {
		t.Errorf("complete runs --job: %q", out)
	}
}

// TestSecondServerOnOneSQLiteFileIsRefused: SQLite has no replicas, so a second server on the
// same database file exits 1 at once saying who holds it and what to do; once the first
// one is gone (kill -9 included), a server starts on the file again.
func TestSecondServerOnOneSQLiteFileIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "server.db")
	first := startServer(t, nil, "--db", db)
	cmd := exec.Command(hashikeBin, "server", "--no-auth", "--listen", "127.0.0.1:0", "--db", db)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "another hashike server (pid ") ||
		!strings.Contains(string(out), "SQLite allows one server") || !strings.Contains(string(out), "PostgreSQL") {
		t.Fatalf("second server: %v, output:\n%s", err, out)
	}
	first.kill()
	startServer(t, nil, "--db", db)
}

// TestEnqueueOverridesCLI: enqueue JOB -- COMMAND with -e, --cpu, --memory and --timeout
// queues a run whose container has them (the job is unchanged); a bad override is a usage
// error naming the field, and nothing is queued.
func TestEnqueueOverridesCLI(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, nil, "--db", filepath.Join(dir, "server.db"))
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "local.db"), extra: []string{"HASHIKE_SERVER=" + p.url, "FROM_SHELL=shell value"}}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		out, errOut, code := e.run(args...)
		return code, out, errOut
	}
	jobFile := filepath.Join(dir, "report.yaml")
	// An image no registry has: the run ends start_failed; what matters is what was queued.
	if err := os.WriteFile(jobFile, []byte("taskDefinition:\n  containerDefinitions:\n    - name: app\n      image: img\n      memory: 64\n      command: [\"./report\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("jobs", "register", "report", jobFile); code != 0 {
		t.Fatalf("register: %s", errOut)
	}
	code, out, errOut := run("enqueue", "-e", "DRY_RUN=1", "-e", "FROM_SHELL", "--memory", "128", "--cpu", "256", "--timeout", "2m", "-o", "json", "report", "--", "./report", "--since", "yesterday")
	if code != 0 {
		t.Fatalf("enqueue: exit %d, %s", code, errOut)
	}
	var got struct {
		Spec struct {
			Timeout        string `json:"timeout"`
			TaskDefinition struct {
				ContainerDefinitions []struct {
					Command     []string `json:"command"`
					Cpu         int      `json:"cpu"`
					Memory      int      `json:"memory"`
					Environment []struct{ Name, Value string }
				} `json:"containerDefinitions"`
			} `json:"taskDefinition"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Spec.TaskDefinition.ContainerDefinitions) != 1 {
		t.Fatalf("enqueue -o json: %v\n%s", err, out)
	}
	c := got.Spec.TaskDefinition.ContainerDefinitions[0]
	env := map[string]string{}
	for _, e := range c.Environment {
		env[e.Name] = e.Value
	}
	if strings.Join(c.Command, " ") != "./report --since yesterday" || c.Memory != 128 || c.Cpu != 256 || got.Spec.Timeout != "2m0s" ||
		env["DRY_RUN"] != "1" || env["FROM_SHELL"] != "shell value" {
		t.Errorf("the run's container: %+v, timeout %q", c, got.Spec.Timeout)
	}
	code, _, errOut = run("enqueue", "--memory", "1", "report")
	if code != 2 || !strings.Contains(errOut, "overrides.memory") {
		t.Errorf("--memory 1: exit %d, %s", code, errOut)
	}
	code, _, errOut = run("enqueue", "--container", "nope", "report")
	if code != 2 || !strings.Contains(errOut, "overrides.container") || !strings.Contains(errOut, "app") {
		t.Errorf("--container nope: exit %d, %s", code, errOut)
	}
	if code, _, errOut := run("enqueue", "report", "extra"); code != 2 {
		t.Errorf("an argument without --: exit %d, %s", code, errOut)
	}
}

// TestServerJobsDirJsonnetExtVars: hashike server --jobs reads *.jsonnet job files with the
// external variables of --ext-str, as hashike run does.
func TestServerJobsDirJsonnetExtVars(t *testing.T) {
	dir := t.TempDir()
	jobs := filepath.Join(dir, "jobs")
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	src := `{ taskDefinition: { containerDefinitions: [ { name: "app", image: "img:" + std.extVar("tag"), memory: 64 } ] } }`
	if err := os.WriteFile(filepath.Join(jobs, "nightly.jsonnet"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, nil, "--db", filepath.Join(dir, "server.db"), "--jobs", jobs, "--ext-str", "tag=v42")
	cmd := exec.Command(hashikeBin, "jobs", "show", "nightly", "-o", "json")
	cmd.Env = append(os.Environ(), "HASHIKE_SERVER="+p.url)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"image": "img:v42"`) {
		t.Fatalf("jobs show: %v\n%s", err, out)
	}
}
