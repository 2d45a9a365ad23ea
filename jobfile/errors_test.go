package jobfile_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/jobfile"
)

// want is one expected FieldError: where, which field, what.
type fieldWant struct{ pos, path, msg string }

// env serves a fixed environment to the templates.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// files reads from an in-memory file system; a missing file is fs.ErrNotExist, as with
// os.ReadFile.
func files(m map[string]string) func(string) ([]byte, error) {
	fsys := fstest.MapFS{}
	for name, text := range m {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) }
}

// fields returns the FieldErrors of a Load error, failing the test when it is not the
// documented *hashike.Error.
func fields(t *testing.T, err error) []hashike.FieldError {
	t.Helper()
	var he *hashike.Error
	if !errors.As(err, &he) {
		t.Fatalf("error is %T (%v), want *hashike.Error", err, err)
	}
	if he.Code != hashike.EInvalid {
		t.Errorf("code = %q, want %q", he.Code, hashike.EInvalid)
	}
	return he.Fields
}

func checkFields(t *testing.T, err error, wants []fieldWant) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d problems", len(wants))
	}
	got := fields(t, err)
	for i := 0; i < max(len(got), len(wants)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("missing problem %s: %s: %s", wants[i].pos, wants[i].path, wants[i].msg)
		case i >= len(wants):
			t.Errorf("unexpected problem %s", got[i])
		default:
			g, w := got[i], wants[i]
			if g.Pos != w.pos || g.Path != w.path || g.Message != w.msg {
				t.Errorf("problem %d:\n got  %s | %s | %s\n want %s | %s | %s", i, g.Pos, g.Path, g.Message, w.pos, w.path, w.msg)
			}
			if g.Severity != hashike.SeverityError {
				t.Errorf("problem %d: severity %q", i, g.Severity)
			}
		}
	}
}

// container is a valid task definition with one container, for cases that add a line to it.
const container = `taskDefinition:
  family: hello
  containerDefinitions:
    - name: app
      image: busybox
      memory: 64
`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		job   string
		files map[string]string // besides the job file, which is job.yaml
		env   map[string]string
		want  []fieldWant
	}{
		{
			name: "yaml syntax",
			job:  "taskDefinition:\n  family: hello: world\n",
			want: []fieldWant{{"job.yaml:2:11", "", "YAML syntax error: mapping value is not allowed in this context"}},
		},
		{
			name: "unknown field with suggestion",
			job:  container + "      comand: [echo, hi]\n",
			want: []fieldWant{{"job.yaml:7:7", "taskDefinition.containerDefinitions[0].comand", `unknown field "comand" (did you mean "command"?)`}},
		},
		{
			name: "unknown field without suggestion",
			job:  container + "      flavour: vanilla\n",
			want: []fieldWant{{"job.yaml:7:7", "taskDefinition.containerDefinitions[0].flavour", `unknown field "flavour"`}},
		},
		{
			name: "extra field name misspelt",
			job:  container + "      portMapping: []\n",
			want: []fieldWant{{"job.yaml:7:7", "taskDefinition.containerDefinitions[0].portMapping", `unknown field "portMapping" (did you mean "portMappings"?)`}},
		},
		{
			name: "task definition field at the top level",
			job:  "family: hello\n" + container,
			want: []fieldWant{{"job.yaml:1:1", "family", `unknown field "family" (task definition fields go under taskDefinition)`}},
		},
		{
			name: "duplicate key",
			job:  container + "      memory: 128\n",
			want: []fieldWant{{"job.yaml:7:7", "taskDefinition.containerDefinitions[0].memory", `duplicate key "memory" (first at line 6)`}},
		},
		{
			name: "container cpu not an integer",
			job:  container + "      cpu: \"lots\"\n",
			want: []fieldWant{{"job.yaml:7:12", "taskDefinition.containerDefinitions[0].cpu", `must be an integer, got string "lots"`}},
		},
		{
			name: "number for a string field",
			job:  container + "      user: 1000\n",
			want: []fieldWant{{"job.yaml:7:13", "taskDefinition.containerDefinitions[0].user", `must be a string, got integer 1000 (quote it: "1000")`}},
		},
		{
			name: "string for a list",
			job:  container + "      command: echo hi\n",
			want: []fieldWant{{"job.yaml:7:16", "taskDefinition.containerDefinitions[0].command", `must be a list of strings, got string "echo hi"`}},
		},
		{
			name: "null in a list",
			job:  container + "      command: [echo, ~]\n",
			want: []fieldWant{{"job.yaml:7:23", "taskDefinition.containerDefinitions[0].command[1]", `must be a string, got null`}},
		},
		{
			name: "string for a boolean",
			job:  container + "      essential: \"yes\"\n",
			want: []fieldWant{{"job.yaml:7:18", "taskDefinition.containerDefinitions[0].essential", `must be a boolean (true or false), got string "yes"`}},
		},
		{
			name: "bad duration",
			job:  "timeout: 10 minutes\n" + container,
			want: []fieldWant{{"job.yaml:1:10", "timeout", `invalid duration "10 minutes" (use a value such as "90s", "10m", "1h30m" or "7d")`}},
		},
		{
			name: "missing image",
			job:  "taskDefinition:\n  family: hello\n  containerDefinitions:\n    - name: app\n      memory: 64\n",
			want: []fieldWant{{"job.yaml:4:7", "taskDefinition.containerDefinitions[0].image", "is required"}},
		},
		{
			name: "memory below the containers' sum",
			job: `taskDefinition:
  family: hello
  memory: 128
  containerDefinitions:
    - name: app
      image: busybox
      memory: 100
    - name: side
      image: busybox
      memory: 100
`,
			want: []fieldWant{{"job.yaml:3:11", "taskDefinition.memory", "128 MiB is below the sum of its containers' memory (200 MiB)"}},
		},
		{
			name: "must_env unset, twice",
			job: `taskDefinition:
  family: hello
  containerDefinitions:
    - name: app
      image: '{{ must_env "IMAGE" }}'
      memory: 64
      environment:
        - {name: DB_HOST, value: '{{ must_env "DB_HOST" }}'}
        - {name: REGION, value: '{{ must_env "REGION" }}'}
`,
			env: map[string]string{"REGION": "ap-northeast-1"},
			want: []fieldWant{
				// The empty image is not reported as missing: the unset variable says why.
				{"job.yaml:5:18", "taskDefinition.containerDefinitions[0].image", `must_env: environment variable "IMAGE" is not set`},
				{"job.yaml:8:38", "taskDefinition.containerDefinitions[0].environment[0].value", `must_env: environment variable "DB_HOST" is not set`},
			},
		},
		{
			name: "unknown field on the line of a must_env",
			job:  container + "      comand: '{{ must_env \"CMD\" }}'\n",
			want: []fieldWant{
				{"job.yaml:7:7", "taskDefinition.containerDefinitions[0].comand", `unknown field "comand" (did you mean "command"?)`},
				{"job.yaml:7:19", "", `must_env: environment variable "CMD" is not set`},
			},
		},
		{
			name: "missing task definition file",
			job:  "watchContainer: app\ntaskDefinition: ./ecs-task-def.json\n",
			want: []fieldWant{{"job.yaml:2:17", "taskDefinition", "task definition file ecs-task-def.json does not exist"}},
		},
		{
			name: "jsonnet library as the task definition",
			job:  "taskDefinition: lib.libsonnet\n",
			want: []fieldWant{{"job.yaml:1:17", "taskDefinition", `"lib.libsonnet" is a Jsonnet library, to import from a .jsonnet file: name the .jsonnet file`}},
		},
		{
			name:  "jsonnet syntax error at its place",
			job:   "taskDefinition: td.jsonnet\n",
			files: map[string]string{"td.jsonnet": "{\n  family: 'x',\n  containerDefinitions: [ },\n}\n"},
			want:  []fieldWant{{"td.jsonnet:3:27", "taskDefinition", `Jsonnet: Unexpected: "}" while parsing terminal`}},
		},
		{
			name:  "jsonnet runtime error in an import at its place",
			job:   "taskDefinition: td.jsonnet\n",
			files: map[string]string{"td.jsonnet": "local lib = import 'lib.libsonnet';\n{ family: lib.f }\n", "lib.libsonnet": "{\n  f: error 'no family',\n}\n"},
			want:  []fieldWant{{"lib.libsonnet:2:6", "taskDefinition", `Jsonnet: no family`}},
		},
		{
			name: "every undefined template function",
			job:  "taskDefinition:\n  family: hello-{{ must_env_or \"X\" }}\n  containerDefinitions:\n  - {name: app, image: '{{ tfstate_lookup \"a.b\" }}', memory: {{ ssm_param \"/m\" | printf \"%s\" }}}\n",
			want: []fieldWant{
				{"job.yaml:2:20", "", `template: function "must_env_or" not defined (did you mean "must_env"?)`},
				{"job.yaml:4:28", "", `template: function "tfstate_lookup" not defined`},
				{"job.yaml:4:65", "", `template: function "ssm_param" not defined`},
			},
		},
		{
			name: "ssm and secretsmanager_arn without lookups",
			job:  "taskDefinition:\n  family: hello\n  containerDefinitions:\n  - name: app\n    image: busybox\n    memory: 64\n    environment:\n    - {name: A, value: '{{ ssm \"/a\" }}'}\n    - {name: B, value: '{{ secretsmanager_arn \"b\" }}'}\n",
			want: []fieldWant{
				{"job.yaml:8:28", "taskDefinition.containerDefinitions[0].environment[0].value", `ssm: SSM parameters are not looked up here`},
				{"job.yaml:9:28", "taskDefinition.containerDefinitions[0].environment[1].value", `secretsmanager_arn: Secrets Manager is not looked up here`},
			},
		},
		{
			name: "tfstate without a state",
			job:  "taskDefinition:\n  family: '{{ tfstate \"aws_x.y.id\" }}'\n  containerDefinitions: [{name: app, image: busybox, memory: 64}]\n",
			want: []fieldWant{{"job.yaml:2:15", "taskDefinition.family", `tfstate: no Terraform state: set HASHIKE_TFSTATE to its path or s3://BUCKET/KEY`}},
		},
		{
			name: "problems inside a referenced file point into it",
			job:  "taskDefinition: defs/td.json\n",
			files: map[string]string{"defs/td.json": `{
  "family": "hello",
  "containerDefinitions": [
    {"name": "app", "image": "{{ must_env ` + "`IMAGE`" + ` }}", "memory": 64,
     "essentail": false}
  ]
}
`},
			want: []fieldWant{
				{"defs/td.json:4:34", "taskDefinition.containerDefinitions[0].image", `must_env: environment variable "IMAGE" is not set`},
				{"defs/td.json:5:6", "taskDefinition.containerDefinitions[0].essentail", `unknown field "essentail" (did you mean "essential"?)`},
			},
		},
		{
			name:  "syntax error in a referenced file",
			job:   "taskDefinition: td.json\n",
			files: map[string]string{"td.json": "{\n  \"family\": \"hello\",\n  \"containerDefinitions\": [\n}\n"},
			want:  []fieldWant{{"td.json:4:1", "taskDefinition", "YAML syntax error: could not find '{' character corresponding to '}'"}},
		},
		{
			name:  "empty referenced file",
			job:   "taskDefinition: td.json\n",
			files: map[string]string{"td.json": ""},
			want:  []fieldWant{{"td.json:1:1", "taskDefinition", "the task definition file is empty"}},
		},
		{
			name:  "describe-task-definition output",
			job:   "taskDefinition: td.json\n",
			files: map[string]string{"td.json": `{"taskDefinition": {"family": "x"}}`},
			want: []fieldWant{
				{"td.json:1:1", "taskDefinition.family", "is required"},
				{"td.json:1:1", "taskDefinition.containerDefinitions", "needs at least one container"},
				{"td.json:1:2", "taskDefinition.taskDefinition", `unknown field "taskDefinition" (this looks like describe-task-definition output: use the mapping under its taskDefinition key)`},
			},
		},
		{
			name: "dependsOn cycle",
			job: `taskDefinition:
  family: hello
  containerDefinitions:
    - name: a
      image: busybox
      memory: 64
      dependsOn: [{containerName: b, condition: START}]
    - name: b
      image: busybox
      memory: 64
      dependsOn:
        - {containerName: a, condition: START}
`,
			want: []fieldWant{{"job.yaml:7:18", "taskDefinition.containerDefinitions[0].dependsOn", "dependency cycle: a -> b -> a"}},
		},
		{
			name: "template syntax error",
			job:  "taskDefinition:\n  family: {{ env \"FAMILY\" \"hello\" }\n",
			want: []fieldWant{{"job.yaml:2:11", "", `template: unexpected "}" in operand`}},
		},
		{
			name: "undefined template function",
			job:  "taskDefinition:\n  family: hello-{{ must_env_or \"X\" }}\n",
			want: []fieldWant{{"job.yaml:2:20", "", `template: function "must_env_or" not defined (did you mean "must_env"?)`}},
		},
		{
			name: "template execution error",
			job:  "taskDefinition:\n  family: {{ .Family }}\n",
			want: []fieldWant{{"job.yaml:2:14", "", `template: <.Family>: map has no entry for key "Family"`}},
		},
		{
			name: "env with too many arguments",
			job:  "taskDefinition:\n  family: {{ env \"A\" \"b\" \"c\" }}\n",
			want: []fieldWant{{"job.yaml:2:14", "", `template: <env "A" "b" "c">: error calling env: env takes a variable name and at most one default, got 3 arguments`}},
		},
		{
			name: "template range",
			job:  "taskDefinition:\n  family: {{ range 3 }}x{{ end }}\n",
			want: []fieldWant{{"job.yaml:2:11", "", "template: {{range}} is not available in job files"}},
		},
		{
			name: "file too large",
			job:  "# " + strings.Repeat("x", 300*1024),
			want: []fieldWant{{"job.yaml:1:1", "", "the job file is 300 KiB; hashike reads at most 256 KiB"}},
		},
		{
			name: "columns count characters",
			job:  container + "      environment: [{name: 名前, value: 1}]\n",
			want: []fieldWant{{"job.yaml:7:39", "taskDefinition.containerDefinitions[0].environment[0].value", `must be a string, got integer 1 (quote it: "1")`}},
		},
		{
			name: "container field at the task level",
			job:  container + "  portMappings: []\n",
			want: []fieldWant{{"job.yaml:7:3", "taskDefinition.portMappings", `unknown field "portMappings" (container fields go under containerDefinitions)`}},
		},
		{
			name: "empty file",
			job:  "",
			want: []fieldWant{{"job.yaml:1:1", "", "the job file is empty"}},
		},
		{
			name: "only comments",
			job:  "# nothing yet\n",
			want: []fieldWant{{"job.yaml:1:1", "", "the job file is empty"}},
		},
		{
			name: "top level not a mapping",
			job:  "- taskDefinition: {}\n",
			want: []fieldWant{{"job.yaml:1:1", "", "a job file must be a mapping with taskDefinition (and backend, watchContainer, timeout), got a list"}},
		},
		{
			name: "two documents",
			job:  container + "---\nbackend: ecs\n",
			want: []fieldWant{{"job.yaml:8:1", "", "the job file holds 2 YAML documents; it must hold one"}},
		},
		{
			name: "taskDefinition missing",
			job:  "backend: local\nwatchContainer: app\n",
			want: []fieldWant{{"job.yaml:1:1", "taskDefinition", "is required: an ECS task definition mapping, or the path of a task definition file"}},
		},
		{
			name: "taskDefinition of the wrong type",
			job:  "taskDefinition: [app]\n",
			want: []fieldWant{{"job.yaml:1:17", "taskDefinition", "must be a task definition mapping or the path of a task definition file, got a list"}},
		},
		{
			name: "unknown backend",
			job:  "backend: k8s\n" + container,
			want: []fieldWant{{"job.yaml:1:10", "backend", `unknown backend "k8s" (use "local" or "ecs")`}},
		},
		{
			name: "alias that contains itself",
			job:  container + "      linuxParameters: &lp {capabilities: *lp}\n",
			want: []fieldWant{{"job.yaml:7:43", "taskDefinition.containerDefinitions[0].linuxParameters.capabilities.capabilities", "alias *lp refers to itself"}},
		},
		{
			name: "unsupported tag",
			job:  "taskDefinition:\n  family: !Sub hello\n  containerDefinitions: [{name: app, image: busybox, memory: 64}]\n",
			want: []fieldWant{{"job.yaml:2:11", "taskDefinition.family", "unsupported YAML tag !Sub"}},
		},
		{
			name: "infinity in an extra field",
			job:  container + "      linuxParameters: {swappiness: .inf}\n",
			want: []fieldWant{{"job.yaml:7:37", "taskDefinition.containerDefinitions[0].linuxParameters.swappiness", "must be a finite number, got number .inf"}},
		},
		{
			name: "type error and not the validation error it causes",
			job:  "watchContainer: app\ntaskDefinition:\n  family: hello\n  containerDefinitions:\n    - name: [app]\n      image: busybox\n      memory: lots\n",
			want: []fieldWant{
				{"job.yaml:5:13", "taskDefinition.containerDefinitions[0].name", "must be a string, got a list"},
				{"job.yaml:7:15", "taskDefinition.containerDefinitions[0].memory", `must be an integer, got string "lots"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := jobfile.LoadBytes("job.yaml", []byte(tt.job), env(tt.env), files(tt.files))
			if f != nil {
				t.Errorf("File returned with the error")
			}
			checkFields(t, err, tt.want)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := t.TempDir() + "/nope.yaml"
	f, err := jobfile.Load(path, env(nil))
	if f != nil || err == nil {
		t.Fatalf("Load(%s) = %v, %v; want an error", path, f, err)
	}
	if code := hashike.ErrorCodeOf(err); code != hashike.EInvalid {
		t.Errorf("code = %q, want %q", code, hashike.EInvalid)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v is not fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestLoadReportsEverythingAtOnce(t *testing.T) {
	job := `backend: local
timout: 10m
taskDefinition:
  family: hello
  memory: 100
  containerDefinitions:
    - name: app
      image: "{{ must_env "IMAGE" }}"
      cpu: lots
      memory: 64
    - name: side
      image: busybox
      memory: 64
      essential: false
      dependsOn: [{containerName: app, condition: SUCCESS}]
`
	_, err := jobfile.LoadBytes("job.yaml", []byte(job), env(nil), files(nil))
	checkFields(t, err, []fieldWant{
		{"job.yaml:2:1", "timout", `unknown field "timout" (did you mean "timeout"?)`},
		{"job.yaml:5:11", "taskDefinition.memory", "100 MiB is below the sum of its containers' memory (128 MiB)"},
		{"job.yaml:8:18", "taskDefinition.containerDefinitions[0].image", `must_env: environment variable "IMAGE" is not set`},
		{"job.yaml:9:12", "taskDefinition.containerDefinitions[0].cpu", `must be an integer, got string "lots"`},
		{"job.yaml:15:51", "taskDefinition.containerDefinitions[1].dependsOn[0].condition", `SUCCESS needs "app" to be non-essential (essential: false), as ECS requires`},
	})
	if msg := err.Error(); !strings.HasPrefix(msg, "job.yaml: invalid job definition\n  job.yaml:2:1: timout: unknown field") {
		t.Errorf("Error() = %q", msg)
	}
}

// The task definition as filed (JobSpec.Base) is recorded by hashike for a run with per-run
// overrides; a job file setting it would make the ecs backend register something the file's
// taskDefinition does not say.
func TestBaseTaskDefinitionIsNotAFileField(t *testing.T) {
	job := `baseTaskDefinition:
  family: other
taskDefinition:
  family: hello
  containerDefinitions:
    - name: app
      image: busybox
      memory: 64
`
	_, err := jobfile.LoadBytes("job.yaml", []byte(job), env(nil), files(nil))
	checkFields(t, err, []fieldWant{
		{"job.yaml:1:1", "baseTaskDefinition", `unknown field "baseTaskDefinition"`},
	})
}
