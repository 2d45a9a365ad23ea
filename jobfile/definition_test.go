package jobfile_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/jobfile"
)

// api is how the server loads a definition sent through its API: no templates, no files.
var api = jobfile.DefinitionOptions{}

// definition is a valid definition with one container, for cases that add lines to it.
const definition = `queue: reports
taskDefinition:
  family: report
  containerDefinitions:
    - {name: app, image: busybox, memory: 64}
`

func TestLoadDefinition(t *testing.T) {
	const name = "testdata/jobs/nightly-report.yaml"
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := jobfile.LoadDefinition(name, data, jobfile.DefinitionOptions{Templates: true, LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	j := d.Job
	if j.Description != "Builds the nightly report." || j.QueueName() != "reports" || j.Priority != 10 ||
		j.Backend != "local" || time.Duration(j.Timeout) != 30*time.Minute ||
		time.Duration(j.ExpectedDuration) != 20*time.Minute || j.MaxPayloadBytes != 4096 {
		t.Errorf("definition = %+v", j)
	}
	c := j.TaskDefinition.ContainerDefinitions[0]
	if c.Image != "hashike-testjob:latest" || !reflect.DeepEqual(c.Command, []string{"print", "1"}) {
		t.Errorf("container = %+v", c)
	}
	// ECS fields hashike does not model are kept, as in a job file.
	if want := map[string]any{"portMappings": []any{map[string]any{"containerPort": int64(8080)}}}; !reflect.DeepEqual(c.Extra, want) {
		t.Errorf("container Extra = %#v", c.Extra)
	}
	wantRetry := dispatch.RetryStrategy{
		Attempts:       3,
		EvaluateOnExit: []dispatch.EvaluateOnExit{{OnExitCode: "137", Action: "RETRY"}, {Action: "EXIT"}},
		Backoff:        dispatch.Backoff{BaseDelay: hashike.Duration(30 * time.Second), MaxDelay: hashike.Duration(10 * time.Minute), Jitter: "full"},
	}
	if !reflect.DeepEqual(j.RetryStrategy, wantRetry) {
		t.Errorf("retryStrategy = %+v", j.RetryStrategy)
	}
	wantSchedule := cron.Spec{
		Expressions:    []cron.Expr{{Cron: "0 3 * * *", TimeZone: "Asia/Tokyo"}},
		SuspendWindows: []cron.Window{{Cron: "0 0 1 1 *", Duration: hashike.Duration(24 * time.Hour)}},
		Overlap:        cron.OverlapSkip,
		CatchUp:        cron.CatchUpPolicy{Mode: cron.CatchUpLatest, Grace: hashike.Duration(5 * time.Minute)},
	}
	if !reflect.DeepEqual(j.Schedule, wantSchedule) {
		t.Errorf("schedule = %+v", j.Schedule)
	}
	wantNotes := []job.Notification{
		{Type: job.KindWebhook, URL: "https://hooks.example.com/hashike", Secret: "reports", Events: []string{job.EventFailure, job.EventRecovery}},
		{Type: job.KindSlack, URL: "https://hooks.slack.com/services/T000/B000/XXXX"},
	}
	if !reflect.DeepEqual(j.Notifications, wantNotes) {
		t.Errorf("notifications = %+v", j.Notifications)
	}

	// The server stores the definition as JSON; it comes back the same.
	doc, digest, err := j.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := job.Decode(hashike.JobVersion{Name: "nightly-report", Version: 1, Definition: doc, Digest: digest})
	if err != nil {
		t.Fatal(err)
	}
	// The Extra maps read JSON numbers as json.Number.
	backExtra := back.TaskDefinition.ContainerDefinitions[0].Extra
	if want := map[string]any{"portMappings": []any{map[string]any{"containerPort": json.Number("8080")}}}; !reflect.DeepEqual(backExtra, want) {
		t.Errorf("Extra after the round trip = %#v", backExtra)
	}
	back.TaskDefinition.ContainerDefinitions[0].Extra = c.Extra
	if !reflect.DeepEqual(*back, j) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", *back, j)
	}
	// And what the server stored loads as a definition again, templates or not.
	again, err := jobfile.LoadDefinition("stored.json", doc, api)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Job, j) {
		t.Errorf("reloaded:\n%+v\nwant\n%+v", again.Job, j)
	}
	if _, digest2, _ := again.Job.Encode(); digest2 != digest {
		t.Errorf("digest after reload %s, want %s", digest2, digest)
	}

	for path, want := range map[string]string{
		"queue":                        name + ":3:8",
		"timeout":                      name + ":6:10",
		"taskDefinition.family":        name + ":10:11",
		"retryStrategy.backoff.jitter": name + ":23:52",
		"schedule.expressions[0].cron": name + ":26:14",
		"notifications[1].url":         name + ":37:10",
		// Not in the file: the deepest enclosing field's key.
		"schedule.catchUp.max": name + ":30:3",
	} {
		if got := d.Locate(path); got != want {
			t.Errorf("Locate(%q) = %q, want %q", path, got, want)
		}
	}
	got := d.Annotate([]hashike.FieldError{{Path: "notifications[0].secret", Message: "no such secret"}})
	if got[0].Pos != name+":34:13" {
		t.Errorf("Annotate = %v", got)
	}
}

func TestLoadDefinitionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		opts jobfile.DefinitionOptions
		want []fieldWant
	}{{
		name: "bad cron field",
		text: definition + "schedule:\n  expressions:\n    - cron: \"0 25 * * *\"\n      timeZone: Asia/Tokyo\n",
		want: []fieldWant{{"def.yaml:8:13", "schedule.expressions[0].cron", "hour: 25 is out of range 0-23"}},
	}, {
		name: "bad time zone",
		text: definition + "schedule: {expressions: [{cron: '@daily', timeZone: Mars/Olympus}]}\n",
		want: []fieldWant{{"def.yaml:6:53", "schedule.expressions[0].timeZone", `unknown time zone "Mars/Olympus"`}},
	}, {
		name: "unknown retryStrategy key",
		text: definition + "retryStrategy:\n  attemps: 3\n",
		want: []fieldWant{{"def.yaml:7:3", "retryStrategy.attemps", `unknown field "attemps" (did you mean "attempts"?)`}},
	}, {
		name: "unknown backoff key",
		text: definition + "retryStrategy: {backoff: {jiter: full}}\n",
		want: []fieldWant{{"def.yaml:6:27", "retryStrategy.backoff.jiter", `unknown field "jiter" (did you mean "jitter"?)`}},
	}, {
		name: "unknown top-level key",
		text: "priorty: 5\n" + definition,
		want: []fieldWant{{"def.yaml:1:1", "priorty", `unknown field "priorty" (did you mean "priority"?)`}},
	}, {
		name: "task definition field at the top",
		text: definition + "containerDefinitions: []\n",
		want: []fieldWant{{"def.yaml:6:1", "containerDefinitions", `unknown field "containerDefinitions" (task definition fields go under taskDefinition)`}},
	}, {
		name: "JobSpec field suggested at the top",
		text: definition + "watchContainr: app\n",
		want: []fieldWant{{"def.yaml:6:1", "watchContainr", `unknown field "watchContainr" (did you mean "watchContainer"?)`}},
	}, {
		name: "bad notification url",
		text: definition + "notifications:\n  - type: webhook\n    url: ftp://hooks.example.com/x\n    events: [failure, late]\n",
		want: []fieldWant{
			{"def.yaml:8:10", "notifications[0].url", `"ftp://hooks.example.com/x" is not an http or https URL`},
			{"def.yaml:9:23", "notifications[0].events[1]", `"late" is not an event: failure, recovery or overdue`},
		},
	}, {
		name: "bad retention",
		text: definition + "retention:\n  logs: 7 days\n  rnus: 1h\n  archive: -1h\n",
		want: []fieldWant{
			{"def.yaml:7:9", "retention.logs", `invalid duration "7 days" (use a value such as "90s", "10m", "1h30m" or "7d")`},
			{"def.yaml:8:3", "retention.rnus", `unknown field "rnus" (did you mean "runs"?)`},
			{"def.yaml:9:12", "retention.archive", `duration "-1h" must not be negative`},
		},
	}, {
		name: "slack secret",
		text: definition + "notifications: [{type: slack, url: 'https://hooks.slack.com/x', secret: s}]\n",
		want: []fieldWant{{"def.yaml:6:73", "notifications[0].secret", "Slack incoming webhooks are not signed: the URL is the secret"}},
	}, {
		name: "definition and spec problems together, by position",
		text: "priority: 101\nqueue: 'no spaces'\nbackend: k8s\ntaskDefinition:\n  containerDefinitions:\n    - {name: app, image: busybox, memory: 64}\nexpectedDuration: 5\n",
		want: []fieldWant{
			{"def.yaml:1:11", "priority", "101 is out of range -100..100"},
			{"def.yaml:2:8", "queue", `"no spaces" is not a queue name: 1 to 80 letters, digits, '-' or '_'`},
			{"def.yaml:3:10", "backend", `unknown backend "k8s" (use "local" or "ecs")`},
			// Not in the file: where the task definition's key is.
			{"def.yaml:4:1", "taskDefinition.family", "is required"},
			{"def.yaml:7:19", "expectedDuration", `must be a duration such as "10m", got integer 5`},
		},
	}, {
		name: "templates refused in API mode",
		text: "queue: reports\ntaskDefinition:\n  family: report\n  containerDefinitions:\n    - name: app\n      image: {{ env \"IMAGE\" }}\n      command: [echo, \"é {{.}}\"]\n",
		want: []fieldWant{
			{"def.yaml:6:14", "", refused},
			{"def.yaml:7:26", "", refused},
		},
	}, {
		name: "task definition file refused in API mode",
		text: "taskDefinition: ./ecs-task-def.json\n",
		want: []fieldWant{{"def.yaml:1:17", "taskDefinition", `names the task definition file "./ecs-task-def.json", but a definition sent to the server cannot read the server's files: write the task definition inline`}},
	}, {
		name: "must_env when templates are rendered",
		text: strings.Replace(definition, "busybox", `{{ must_env "IMAGE" }}`, 1),
		opts: jobfile.DefinitionOptions{Templates: true, LookupEnv: env(nil)},
		want: []fieldWant{{"def.yaml:5:29", "taskDefinition.containerDefinitions[0].image", `must_env: environment variable "IMAGE" is not set`}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := jobfile.LoadDefinition("def.yaml", []byte(tc.text), tc.opts)
			if d != nil {
				t.Errorf("Definition returned with an error")
			}
			checkFields(t, err, tc.want)
		})
	}
}

const refused = `template actions are not run in a definition sent to the server, which must not read the server's environment: ` +
	`write the value itself (a literal "{{" is "\u007b{" in a double-quoted string), or put the file in the server's job directory`

func TestLoadDefinitionLiteralBraces(t *testing.T) {
	// The way around the refusal that the message gives works.
	text := strings.Replace(definition, "image: busybox", `image: busybox, command: ["echo", "\u007b{.Name}}"]`, 1)
	d, err := jobfile.LoadDefinition("def.yaml", []byte(text), api)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Job.TaskDefinition.ContainerDefinitions[0].Command; !reflect.DeepEqual(got, []string{"echo", "{{.Name}}"}) {
		t.Errorf("command = %q", got)
	}
}

func TestLoadDir(t *testing.T) {
	defs, err := jobfile.LoadDir("testdata/jobs", env(map[string]string{"REPORT_IMAGE": "report:v2"}))
	if err != nil {
		t.Fatal(err)
	}
	// backup-task.json is backup's task definition, not a job.
	if len(defs) != 2 || defs["nightly-report"] == nil || defs["backup"] == nil {
		t.Fatalf("jobs = %v", defs)
	}
	if got := defs["nightly-report"].Job.TaskDefinition.ContainerDefinitions[0].Image; got != "report:v2" {
		t.Errorf("image = %q, want the template rendered", got)
	}
	b := defs["backup"]
	if b.Job.TaskDefinition.Family != "backup" || b.Job.QueueName() != "maintenance" {
		t.Errorf("backup = %+v", b.Job)
	}
	if got, want := b.Locate("taskDefinition.containerDefinitions[0].image"), filepath.Join("testdata", "jobs", "backup-task.json")+":4:33"; got != want {
		t.Errorf("Locate = %q, want %q", got, want)
	}
}

func TestLoadDirReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.yaml", definition)
	write("typo.yml", "queu: x\n"+definition[len("queue: reports\n"):])
	write("two.yaml", definition)
	write("two.json", `{"taskDefinition": {"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "memory": 6}]}}`)
	write("bad name.yaml", definition)
	write("README.md", "not a job")
	write(".hidden.yaml", "not: a job")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	defs, err := jobfile.LoadDir(dir, env(nil))
	if defs != nil {
		t.Errorf("definitions returned with an error: %v", defs)
	}
	in := func(file string) string { return filepath.Join(dir, file) }
	checkFields(t, err, []fieldWant{
		{at(in("bad name.yaml"), 1, 1), "", `"bad name" is not a job name (the file's name without its extension): 1 to 255 letters, digits, '-' or '_', starting with a letter or digit`},
		{at(in("two.json"), 1, 1), "", `job "two" is also defined by two.yaml: keep one file per job`},
		{at(in("typo.yml"), 1, 1), "queu", `unknown field "queu" (did you mean "queue"?)`},
	})
}

func TestLoadDirMissing(t *testing.T) {
	_, err := jobfile.LoadDir(filepath.Join(t.TempDir(), "none"), nil)
	if hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("error %v, want EInvalid", err)
	}
}

// TestDefinitionFamilyDefaultsToJobName: a registered job needs no family of its own.
func TestDefinitionFamilyDefaultsToJobName(t *testing.T) {
	dir := t.TempDir()
	body := "taskDefinition:\n  containerDefinitions:\n    - name: app\n      image: img\n      memory: 64\n"
	if err := os.WriteFile(filepath.Join(dir, "nightly-report.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	defs, err := jobfile.LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := defs["nightly-report"].Job.TaskDefinition.Family; got != "nightly-report" {
		t.Errorf("family from LoadDir = %q", got)
	}
	d, err := jobfile.LoadDefinition("request", []byte(body), jobfile.DefinitionOptions{Family: "api-job"})
	if err != nil || d.Job.TaskDefinition.Family != "api-job" {
		t.Fatalf("family from LoadDefinition = %+v, %v", d, err)
	}
	named := strings.Replace(body, "taskDefinition:\n", "taskDefinition:\n  family: own\n", 1)
	if d, err := jobfile.LoadDefinition("request", []byte(named), jobfile.DefinitionOptions{Family: "api-job"}); err != nil || d.Job.TaskDefinition.Family != "own" {
		t.Fatalf("a family given is kept: %+v, %v", d, err)
	}
	if _, err := jobfile.LoadDefinition("request", []byte(body), jobfile.DefinitionOptions{}); err == nil || !strings.Contains(err.Error(), "family") {
		t.Fatalf("without a default, a missing family is an error: %v", err)
	}
}

// TestInspectDirAgreesWithLoadDir: validate's reading of a job directory finds problems in
// exactly the files in which the server's does, and the same jobs otherwise.
func TestInspectDirAgreesWithLoadDir(t *testing.T) {
	lookup := env(map[string]string{"REPORT_IMAGE": "report:v2"})
	entries, err := jobfile.InspectDir("testdata/jobs", jobfile.InspectOptions{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Base(e.File))
		if errs := hashike.Errors(e.Problems); len(errs) > 0 || !e.Server {
			t.Errorf("%s: server %v, problems %v", e.File, e.Server, errs)
		}
	}
	if strings.Join(files, " ") != "backup.yaml nightly-report.yaml" {
		t.Errorf("jobs %v, want backup.yaml and nightly-report.yaml (LoadDir's)", files)
	}

	dir := t.TempDir()
	for name, text := range map[string]string{
		"good.yaml": definition, "typo.yml": "queu: x\n" + definition[len("queue: reports\n"):],
		"two.yaml": definition, "two.json": `{"taskDefinition": {"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "memory": 6}]}}`,
		"bad name.yaml": definition, "README.md": "not a job", ".hidden.yaml": "not: a job",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, loadErr := jobfile.LoadDir(dir, env(nil))
	var he *hashike.Error
	if !errors.As(loadErr, &he) {
		t.Fatalf("LoadDir: %v", loadErr)
	}
	want := map[string]bool{}
	for _, f := range he.Fields {
		want[strings.SplitN(f.Pos, ":", 2)[0]] = true
	}
	entries, err = jobfile.InspectDir(dir, jobfile.InspectOptions{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		if len(hashike.Errors(e.Problems)) > 0 {
			got[e.File] = true
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files with errors: InspectDir %v, LoadDir %v", got, want)
	}
}

// TestLoadDefinitionRetention: a job's retention reads days, and "0s" (keep forever) is kept
// apart from a field left out (the server's).
func TestLoadDefinitionRetention(t *testing.T) {
	d, err := jobfile.LoadDefinition("def.yaml", []byte(definition+"retention: {logs: 7d, runs: 1d12h, archive: 0s}\n"), api)
	if err != nil {
		t.Fatal(err)
	}
	r := d.Job.Retention
	if r.Logs == nil || time.Duration(*r.Logs) != 7*24*time.Hour || r.Runs == nil || time.Duration(*r.Runs) != 36*time.Hour ||
		r.Archive == nil || *r.Archive != 0 {
		t.Fatalf("retention = %+v", r)
	}
	d, err = jobfile.LoadDefinition("def.yaml", []byte(definition+"retention: {logs: 48h}\n"), api)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Job.Retention; r.Runs != nil || r.Archive != nil || time.Duration(*r.Logs) != 48*time.Hour {
		t.Fatalf("retention = %+v; want runs and archive unset", r)
	}
}
