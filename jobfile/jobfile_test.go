package jobfile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/jobfile"
)

func ptr[T any](v T) *T { return &v }

func TestLoadInline(t *testing.T) {
	f, err := jobfile.Load("testdata/hello.yaml", env(map[string]string{"GREETING": "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Spec
	if s.Backend != "local" || s.WatchContainer != "app" || time.Duration(s.Timeout) != 10*time.Minute {
		t.Errorf("run options = %q, %q, %v", s.Backend, s.WatchContainer, time.Duration(s.Timeout))
	}
	td := s.TaskDefinition
	if td.Family != "hello" || td.Cpu != "256" || td.Memory != "512" {
		t.Errorf("task = %q cpu %q memory %q", td.Family, td.Cpu, td.Memory)
	}
	if len(td.ContainerDefinitions) != 2 {
		t.Fatalf("%d containers, want 2", len(td.ContainerDefinitions))
	}
	app := td.ContainerDefinitions[0]
	wantApp := hashike.ContainerDefinition{
		Name:        "app",
		Image:       "hashike-testjob:latest",
		Command:     []string{"print", "3"},
		Essential:   ptr(true),
		Cpu:         128,
		Memory:      ptr(64),
		Environment: []hashike.KeyValuePair{{Name: "GREETING", Value: "hi"}},
		Secrets:     []hashike.Secret{{Name: "DB_PASSWORD", ValueFrom: "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db"}},
		Extra: map[string]any{
			"portMappings":    []any{map[string]any{"containerPort": int64(8080), "protocol": "tcp"}},
			"linuxParameters": map[string]any{"initProcessEnabled": true},
		},
	}
	if !reflect.DeepEqual(app, wantApp) {
		t.Errorf("app =\n%#v\nwant\n%#v", app, wantApp)
	}
	side := td.ContainerDefinitions[1]
	wantSide := hashike.ContainerDefinition{
		Name:              "sidecar",
		Image:             "busybox:1.36",
		Essential:         ptr(false),
		MemoryReservation: ptr(32),
		DependsOn:         []hashike.ContainerDependency{{ContainerName: "app", Condition: hashike.ConditionStart}},
	}
	if !reflect.DeepEqual(side, wantSide) {
		t.Errorf("sidecar =\n%#v\nwant\n%#v", side, wantSide)
	}
	if len(f.Warnings) != 0 {
		t.Errorf("warnings: %v", f.Warnings)
	}

	for path, want := range map[string]string{
		"timeout":                                "testdata/hello.yaml:4:10",
		"taskDefinition.cpu":                     "testdata/hello.yaml:7:8",
		"taskDefinition.containerDefinitions[0]": "testdata/hello.yaml:10:7",
		"taskDefinition.containerDefinitions[0].command[1]":                    "testdata/hello.yaml:12:26",
		"taskDefinition.containerDefinitions[0].environment[0].value":          "testdata/hello.yaml:17:35",
		"taskDefinition.containerDefinitions[0].portMappings[0].containerPort": "testdata/hello.yaml:22:26",
		"taskDefinition.containerDefinitions[0].linuxParameters":               "testdata/hello.yaml:25:9",
		// Not in the file: the deepest enclosing field's key.
		"taskDefinition.containerDefinitions[1].healthCheck.command": "testdata/hello.yaml:26:7",
		"taskDefinition.ipcMode":                                     "testdata/hello.yaml:5:1",
		"--container":                                                "",
	} {
		if got := f.Locate(path); got != want {
			t.Errorf("Locate(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestEnvDefault(t *testing.T) {
	// GREETING unset and set to "" both give the default, as ecspresso's env does.
	for name, vars := range map[string]map[string]string{"unset": nil, "empty": {"GREETING": ""}} {
		f, err := jobfile.Load("testdata/hello.yaml", env(vars))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := f.Spec.TaskDefinition.ContainerDefinitions[0].Environment[0].Value; got != "hello" {
			t.Errorf("%s: GREETING = %q, want the default", name, got)
		}
	}
}

func TestTemplates(t *testing.T) {
	job := `taskDefinition:
  family: {{ env "FAMILY" "fallback" }}
  containerDefinitions:
    - name: app
      image: {{ must_env "IMAGE" }}
      memory: {{ env "MEMORY" "64" }}
      environment:
        - {name: EMPTY, value: "{{ must_env "EMPTY" }}"}
        - {name: NONE, value: "{{ env "UNSET" }}"}
        - {name: PIPED, value: "{{ "TAG" | must_env }}"}
        - {name: BRACES, value: '{{"{{"}}.Name}}'}
`
	f, err := jobfile.LoadBytes("job.yaml", []byte(job), env(map[string]string{
		"FAMILY": "hello", "IMAGE": "busybox:1.36", "EMPTY": "", "TAG": "v1",
	}), files(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Spec.TaskDefinition.ContainerDefinitions[0]
	if f.Spec.TaskDefinition.Family != "hello" || c.Image != "busybox:1.36" || c.Memory == nil || *c.Memory != 64 {
		t.Errorf("family %q image %q memory %v", f.Spec.TaskDefinition.Family, c.Image, c.Memory)
	}
	want := []hashike.KeyValuePair{{Name: "EMPTY"}, {Name: "NONE"}, {Name: "PIPED", Value: "v1"}, {Name: "BRACES", Value: "{{.Name}}"}}
	if !reflect.DeepEqual(c.Environment, want) {
		t.Errorf("environment = %v, want %v", c.Environment, want)
	}

	// The piped form is located too.
	_, err = jobfile.LoadBytes("job.yaml", []byte(job), env(map[string]string{"IMAGE": "x", "EMPTY": ""}), files(nil))
	checkFields(t, err, []fieldWant{
		{"job.yaml:10:44", "taskDefinition.containerDefinitions[0].environment[2].value", `must_env: environment variable "TAG" is not set`},
	})
}

const ecsTaskDef = `{
  "taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/batch:7",
  "containerDefinitions": [
    {
      "name": "batch",
      "image": "{{ must_env ` + "`IMAGE`" + ` }}",
      "cpu": 0,
      "portMappings": [],
      "essential": true,
      "command": ["bundle", "exec", "rake", "batch:run"],
      "environment": [
        {"name": "RAILS_ENV", "value": "{{ env ` + "`RAILS_ENV` `production`" + ` }}"}
      ],
      "mountPoints": [],
      "volumesFrom": [],
      "linuxParameters": {"initProcessEnabled": true, "capabilities": {"add": ["SYS_PTRACE"]}},
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/batch", "awslogs-region": "ap-northeast-1"}
      },
      "systemControls": []
    }
  ],
  "family": "batch",
  "taskRoleArn": "arn:aws:iam::123456789012:role/batch-task",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "networkMode": "awsvpc",
  "revision": 7,
  "volumes": [{"name": "scratch", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}],
  "status": "ACTIVE",
  "requiresAttributes": [
    {"name": "com.amazonaws.ecs.capability.task-iam-role"}
  ],
  "placementConstraints": [],
  "compatibilities": ["EC2", "FARGATE"],
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "1 vCPU",
  "memory": "2 GB",
  "registeredAt": "2024-05-01T12:34:56.789000+09:00",
  "registeredBy": "arn:aws:sts::123456789012:assumed-role/deploy/ci"
}
`

func TestLoadReferencedTaskDefinition(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	job := write("jobs/batch.yaml", "backend: ecs\ntimeout: 1h\ntaskDefinition: ../ecspresso/ecs-task-def.json\n")
	tdPath := write("ecspresso/ecs-task-def.json", ecsTaskDef)

	f, err := jobfile.Load(job, env(map[string]string{"IMAGE": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/batch:v7"}))
	if err != nil {
		t.Fatal(err)
	}
	td := f.Spec.TaskDefinition
	if td.Family != "batch" || td.NetworkMode != "awsvpc" || td.Cpu != "1 vCPU" || td.Memory != "2 GB" ||
		td.TaskRoleArn != "arn:aws:iam::123456789012:role/batch-task" ||
		!reflect.DeepEqual(td.RequiresCompatibilities, []string{"FARGATE"}) {
		t.Errorf("task definition = %+v", td)
	}
	wantExtra := map[string]any{
		"taskDefinitionArn":    "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/batch:7",
		"revision":             int64(7),
		"status":               "ACTIVE",
		"requiresAttributes":   []any{map[string]any{"name": "com.amazonaws.ecs.capability.task-iam-role"}},
		"placementConstraints": []any{},
		"compatibilities":      []any{"EC2", "FARGATE"},
		"registeredAt":         "2024-05-01T12:34:56.789000+09:00",
		"registeredBy":         "arn:aws:sts::123456789012:assumed-role/deploy/ci",
	}
	if !reflect.DeepEqual(td.Extra, wantExtra) {
		t.Errorf("task Extra =\n%#v\nwant\n%#v", td.Extra, wantExtra)
	}
	if len(td.Volumes) != 1 || td.Volumes[0].Name != "scratch" ||
		!reflect.DeepEqual(td.Volumes[0].Extra, map[string]any{"efsVolumeConfiguration": map[string]any{"fileSystemId": "fs-1234"}}) {
		t.Errorf("volumes = %#v", td.Volumes)
	}
	c := td.ContainerDefinitions[0]
	if c.Image != "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/batch:v7" || c.Cpu != 0 || !c.IsEssential() ||
		!reflect.DeepEqual(c.Environment, []hashike.KeyValuePair{{Name: "RAILS_ENV", Value: "production"}}) ||
		c.LogConfiguration == nil || c.LogConfiguration.Options["awslogs-group"] != "/ecs/batch" {
		t.Errorf("container = %+v", c)
	}
	wantCExtra := map[string]any{
		"portMappings":    []any{},
		"volumesFrom":     []any{},
		"systemControls":  []any{},
		"linuxParameters": map[string]any{"initProcessEnabled": true, "capabilities": map[string]any{"add": []any{"SYS_PTRACE"}}},
	}
	if !reflect.DeepEqual(c.Extra, wantCExtra) {
		t.Errorf("container Extra =\n%#v\nwant\n%#v", c.Extra, wantCExtra)
	}

	for path, want := range map[string]string{
		"timeout":                                      at(job, 2, 10),
		"taskDefinition.family":                        at(tdPath, 24, 13),
		"taskDefinition.revision":                      at(tdPath, 28, 15),
		"taskDefinition.containerDefinitions[0]":       at(tdPath, 4, 5),
		"taskDefinition.containerDefinitions[0].image": at(tdPath, 6, 16),
		"taskDefinition.containerDefinitions[0].linuxParameters.capabilities.add[0]": at(tdPath, 16, 80),
		"taskDefinition.volumes[0].efsVolumeConfiguration":                           at(tdPath, 29, 61),
		// Not in either file: the task definition file's top level.
		"taskDefinition.ipcMode": at(tdPath, 1, 1),
	} {
		if got := f.Locate(path); got != want {
			t.Errorf("Locate(%q) = %q, want %q", path, got, want)
		}
	}

	// A backend's findings get positions in the file they are about.
	got := f.Annotate([]hashike.FieldError{
		{Path: "taskDefinition.containerDefinitions[0].linuxParameters", Message: "ignored", Severity: hashike.SeverityWarning},
		{Path: "backend", Message: "kept", Pos: "elsewhere:1:1"},
	})
	if got[0].Pos != at(tdPath, 16, 26) || got[1].Pos != "elsewhere:1:1" {
		t.Errorf("Annotate = %v", got)
	}
}

func at(file string, line, col int) string { return fmt.Sprintf("%s:%d:%d", file, line, col) }

func TestAnchorsAndMergeKeys(t *testing.T) {
	job := `taskDefinition:
  family: hello
  containerDefinitions:
    - &app
      name: app
      image: busybox:1.36
      memory: 64
      environment: &env
        - {name: STAGE, value: prod}
    - <<: *app
      name: side
      essential: false
    - name: third
      image: busybox:1.36
      memoryReservation: 32
      environment: *env
`
	f, err := jobfile.LoadBytes("job.yaml", []byte(job), env(nil), files(nil))
	if err != nil {
		t.Fatal(err)
	}
	cs := f.Spec.TaskDefinition.ContainerDefinitions
	stage := []hashike.KeyValuePair{{Name: "STAGE", Value: "prod"}}
	if cs[0].Name != "app" || cs[0].Image != "busybox:1.36" || *cs[0].Memory != 64 || !cs[0].IsEssential() {
		t.Errorf("app = %+v", cs[0])
	}
	// The explicit keys win over the merged ones.
	if cs[1].Name != "side" || cs[1].Image != "busybox:1.36" || *cs[1].Memory != 64 || cs[1].IsEssential() ||
		!reflect.DeepEqual(cs[1].Environment, stage) {
		t.Errorf("side = %+v", cs[1])
	}
	if cs[2].Name != "third" || !reflect.DeepEqual(cs[2].Environment, stage) {
		t.Errorf("third = %+v", cs[2])
	}
	// Merged fields are placed where they are written.
	if got, want := f.Locate("taskDefinition.containerDefinitions[1].image"), "job.yaml:6:14"; got != want {
		t.Errorf("Locate(merged image) = %q, want %q", got, want)
	}
}

func TestTabIndentedJSON(t *testing.T) {
	job := "{\n\t\"taskDefinition\": {\n\t\t\"family\": \"hello\",\n\t\t\"containerDefinitions\": [\n\t\t\t{\"name\": \"app\", \"image\": \"busybox\", \"memory\": \"64\"}\n\t\t]\n\t}\n}\n"
	_, err := jobfile.LoadBytes("job.json", []byte(job), env(nil), files(nil))
	checkFields(t, err, []fieldWant{
		{"job.json:5:50", "taskDefinition.containerDefinitions[0].memory", `must be an integer, got string "64"`},
	})
}

func TestTaskSizeAcceptsNumbersAndStrings(t *testing.T) {
	for _, tc := range []struct{ cpu, memory, wantCPU, wantMemory string }{
		{"256", "512", "256", "512"},
		{`"256"`, `"512"`, "256", "512"},
		{`"1 vCPU"`, `"2 GB"`, "1 vCPU", "2 GB"},
		{"1024.0", "2048", "1024", "2048"},
	} {
		job := "taskDefinition:\n  family: hello\n  cpu: " + tc.cpu + "\n  memory: " + tc.memory +
			"\n  containerDefinitions: [{name: app, image: busybox}]\n"
		f, err := jobfile.LoadBytes("job.yaml", []byte(job), env(nil), files(nil))
		if err != nil {
			t.Errorf("cpu %s memory %s: %v", tc.cpu, tc.memory, err)
			continue
		}
		td := f.Spec.TaskDefinition
		if string(td.Cpu) != tc.wantCPU || string(td.Memory) != tc.wantMemory {
			t.Errorf("cpu %s memory %s: got %q %q", tc.cpu, tc.memory, td.Cpu, td.Memory)
		}
	}
}

func TestLoadTestdata(t *testing.T) {
	// Every example in testdata loads (the ecspresso one needs IMAGE).
	for _, p := range []string{"testdata/hello.yaml", "testdata/ecspresso/job.yaml"} {
		if _, err := jobfile.Load(p, env(map[string]string{"IMAGE": "busybox"})); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func BenchmarkLoadBytes(b *testing.B) {
	for _, name := range []string{"testdata/hello.yaml", "testdata/ecspresso/job.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		lookup := env(map[string]string{"IMAGE": "busybox"})
		b.Run(filepath.Base(filepath.Dir(name))+"/"+filepath.Base(name), func(b *testing.B) {
			for b.Loop() {
				if _, err := jobfile.LoadBytes(name, data, lookup, os.ReadFile); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
