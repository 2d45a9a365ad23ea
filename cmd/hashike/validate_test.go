package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validateCLI runs `hashike validate args...` in-process with stdin and no AWS
// configuration at all (no region, no profile, no credentials files).
func validateCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	env := map[string]string{"HASHIKE_DB": filepath.Join(dir, "h.db"), "HOME": dir}
	var out, errb bytes.Buffer
	code := mainWithStdin(append([]string{"validate"}, args...), strings.NewReader(stdin), &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const ecsJob = `backend: ecs
taskDefinition:
  family: report
  memory: "512"
  containerDefinitions:
    - name: app
      image: report:latest
`

// TestValidateOffline: an ecs job validates with no AWS configuration at all (no region):
// validate contacts nothing unless --check-aws asks it to.
func TestValidateOffline(t *testing.T) {
	f := writeFile(t, t.TempDir(), "ecs.yaml", ecsJob)
	code, out, errs := validateCLI(t, "", f)
	if code != 0 || !strings.Contains(out, "ecs.yaml: ok") || !strings.Contains(out, "backend ecs") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestValidateCheckAWSRefusesLocalJobs: --check-aws on a job of the local backend says
// there is nothing in AWS to check, and fails, rather than passing what it did not check.
func TestValidateCheckAWSRefusesLocalJobs(t *testing.T) {
	f := writeFile(t, t.TempDir(), "local.yaml", "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n      image: img\n")
	code, out, errs := validateCLI(t, "", "--check-aws", f)
	if code != 2 || !strings.Contains(errs, "local.yaml:1:1: backend: --check-aws") || !strings.Contains(errs, "local backend") || strings.Contains(out, "ok") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestValidateOnePassInLineOrder: the structural errors, the backend's refusals and its
// warnings of one file come in one run, in line order.
func TestValidateOnePassInLineOrder(t *testing.T) {
	dir := t.TempDir()
	local := writeFile(t, dir, "local.yaml", `taskDefinition:
  family: f
  memory: 64
  containerDefinitions:
    - name: app
      image: img
      privileged: true
      cpu: lots
      comand: [x]
`)
	ecs := writeFile(t, dir, "ecs.yaml", `backend: ecs
taskDefinition:
  family: report
  memory: "512"
  containerDefinitions:
    - name: app
      image: report:latest
      cpu: lots
`)
	code, _, errs := validateCLI(t, "", local)
	want := []string{
		"local.yaml:7:19: taskDefinition.containerDefinitions[0].privileged: not supported by the local backend",
		"local.yaml:8:12: taskDefinition.containerDefinitions[0].cpu",
		"local.yaml:9:7: taskDefinition.containerDefinitions[0].comand: unknown field",
		"hashike: " + local + ": 3 problem(s)",
	}
	if code != 2 || !inOrder(errs, want) {
		t.Errorf("local: exit %d, want 2 and, in order, %q:\n%s", code, want, errs)
	}
	code, _, errs = validateCLI(t, "", ecs)
	want = []string{
		"ecs.yaml:6:7: warning: taskDefinition.containerDefinitions[0].logConfiguration",
		"ecs.yaml:8:12: taskDefinition.containerDefinitions[0].cpu",
	}
	if code != 2 || !inOrder(errs, want) {
		t.Errorf("ecs: exit %d, want 2 and, in order, %q:\n%s", code, want, errs)
	}
}

func inOrder(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

const serverJob = `description: the morning report
queue: reports
priority: 10
retryStrategy:
  attempts: 3
  evaluateOnExit:
    - {onExitCode: "2", action: EXIT}
  backoff: {baseDelay: 30s, maxDelay: 10m, jitter: full}
schedule:
  expressions:
    - {cron: "0 9 * * MON-FRI", timeZone: Asia/Tokyo}
  overlap: skip
expectedDuration: 20m
notifications:
  - {type: webhook, url: "https://ops.example.com/hooks/hashike"}
maxPayloadBytes: 4096
taskDefinition:
  containerDefinitions:
    - name: app
      image: img
      memory: 64
`

// TestValidateServerJobs: a job definition of hashike server (queue, retryStrategy,
// schedule, ...) is validated as the server reads it: its family defaults to its file's
// name, and its own fields are checked, with positions.
func TestValidateServerJobs(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "jobs/report.yaml", serverJob)
	code, out, errs := validateCLI(t, "", good)
	if code != 0 || !strings.Contains(out, "report.yaml: ok (job definition of hashike server, queue reports; family report") {
		t.Fatalf("good server job: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	bad := writeFile(t, dir, "jobs/bad.yaml", strings.Replace(strings.Replace(serverJob, `"0 9 * * MON-FRI"`, `"0 25 * * *"`, 1), "attempts: 3", "atempts: 3", 1))
	code, _, errs = validateCLI(t, "", bad)
	want := []string{"bad.yaml:5:3: retryStrategy.atempts: unknown field", "bad.yaml:11:", "schedule.expressions[0].cron"}
	if code != 2 || !inOrder(errs, want) {
		t.Fatalf("bad server job: exit %d, want 2 and, in order, %q:\n%s", code, want, errs)
	}
}

// TestValidateSeveralFilesStdinAndJSON: several files in one call, - for standard input,
// and -o json with every file's result.
func TestValidateSeveralFilesStdinAndJSON(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", ecsJob)
	bad := writeFile(t, dir, "bad.yaml", "taskDefinition:\n  family: f\n  memory: 64\n  containerDefinitions:\n    - name: app\n")
	code, out, errs := validateCLI(t, serverJob, ok, bad, "-")
	if code != 2 || !strings.Contains(out, "ok.yaml: ok") || !strings.Contains(out, "<stdin>: ok (job definition of hashike server") ||
		!strings.Contains(errs, "bad.yaml:5:7: taskDefinition.containerDefinitions[0].image: is required") || !strings.Contains(errs, "1 problem(s) in 1 of 3 files") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = validateCLI(t, "", "-o", "json", ok, bad)
	var got struct {
		OK    bool `json:"ok"`
		Files []struct {
			File     string `json:"file"`
			OK       bool   `json:"ok"`
			Kind     string `json:"kind"`
			Backend  string `json:"backend"`
			Problems []struct {
				Path, Message, Severity, Pos string
			} `json:"problems"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("-o json: %v: %q", err, out)
	}
	if code != 2 || got.OK || len(got.Files) != 2 || !got.Files[0].OK || got.Files[0].Backend != "ecs" || got.Files[0].Kind != "job" || got.Files[1].OK ||
		len(got.Files[1].Problems) != 1 || got.Files[1].Problems[0].Pos != bad+":5:7" || got.Files[1].Problems[0].Severity != "error" {
		t.Fatalf("-o json: exit %d, %+v, stderr %q", code, got, errs)
	}
}

// TestValidateJobDirectory: a directory is checked as hashike server --jobs reads it: every
// file is a job definition named by its file (a family defaults to that name, even with no
// server field), a task definition file another names is not a job, and two files for one
// job are an error.
func TestValidateJobDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs")
	writeFile(t, dir, "report.yaml", serverJob)
	writeFile(t, dir, "plain.yaml", "taskDefinition: ./plain-task.json\n")
	writeFile(t, dir, "plain-task.json", `{"containerDefinitions": [{"name": "app", "image": "img", "memory": 64}]}`)
	code, out, errs := validateCLI(t, "", dir)
	if code != 0 || !strings.Contains(out, "report.yaml: ok") || !strings.Contains(out, "plain.yaml: ok (job definition of hashike server, queue default; family plain") ||
		strings.Contains(out+errs, "plain-task.json") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	writeFile(t, dir, "report.json", `{"taskDefinition": {"containerDefinitions": [{"name": "app", "image": "img", "memory": 64}]}}`)
	code, _, errs = validateCLI(t, "", dir)
	if code != 2 || !strings.Contains(errs, `report.json:1:1: job "report" is also defined by report.yaml`) {
		t.Fatalf("two files for one job: exit %d, stderr %q", code, errs)
	}
}
