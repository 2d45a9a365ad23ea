package jobfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/jobfile"
)

const tfstatePath = "testdata/ecspresso/terraform.tfstate"

// fakeLookups answers as the AWS accounts of the ecspresso examples would.
func fakeLookups() jobfile.Lookups {
	params := map[string]string{
		"/batch/api_endpoint": "https://api.internal.example.com",
		"/batch/hosts":        "db1.internal,db2.internal,db3.internal",
	}
	secrets := map[string]string{
		"batch/database_url": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:batch/database_url-AbCdEf",
	}
	return jobfile.Lookups{
		SSM: func(name string) (string, error) {
			if v, ok := params[name]; ok {
				return v, nil
			}
			return "", fmt.Errorf("parameter %s not found", name)
		},
		SecretARN: func(name string) (string, error) {
			if v, ok := secrets[name]; ok {
				return v, nil
			}
			return "", fmt.Errorf("secret %s not found", name)
		},
	}
}

func loadExpected(t *testing.T, path string) hashike.JobSpec {
	t.Helper()
	f, err := jobfile.Load(path, env(nil))
	if err != nil {
		t.Fatalf("expected file %s: %v", path, err)
	}
	return f.Spec
}

func sameSpec(t *testing.T, got, want hashike.JobSpec) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered spec differs from the expected one:\n got %+v\nwant %+v", got.TaskDefinition, want.TaskDefinition)
	}
}

// TestEcspressoFuncs renders an ecspresso task definition that uses tfstate, tfstatef,
// ssm, secretsmanager_arn, must_env, env and json_escape to the task definition written
// out by hand.
func TestEcspressoFuncs(t *testing.T) {
	vars := map[string]string{
		jobfile.TFStateEnv: tfstatePath,
		"IMAGE_TAG":        "v1.2.3",
		"RAILS_ENV":        "staging",
		"SINCE":            "",
		"GREETING":         "say \"hi\"\n\tbye",
	}
	f, err := jobfile.LoadWith("testdata/ecspresso/funcs-job.yaml", jobfile.Options{LookupEnv: env(vars), Lookups: fakeLookups()})
	if err != nil {
		t.Fatal(err)
	}
	sameSpec(t, f.Spec, loadExpected(t, "testdata/ecspresso/expected-funcs.json"))
}

// TestEcspressoJsonnet evaluates ecspresso's Jsonnet task definition, with an import, the
// native functions and external variables.
func TestEcspressoJsonnet(t *testing.T) {
	vars := map[string]string{
		jobfile.TFStateEnv: tfstatePath,
		"IMAGE":            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/batch:v1.2.3",
	}
	ext, err := jobfile.ParseExtVars([]string{"stage=staging"}, []string{"workers=2+2"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := jobfile.LoadWith("testdata/ecspresso/jsonnet-job.yaml", jobfile.Options{LookupEnv: env(vars), Lookups: fakeLookups(), ExtVars: ext})
	if err != nil {
		t.Fatal(err)
	}
	sameSpec(t, f.Spec, loadExpected(t, "testdata/ecspresso/expected-jsonnet.json"))

	// Without the external variable, the error is at the std.extVar call.
	_, err = jobfile.LoadWith("testdata/ecspresso/jsonnet-job.yaml", jobfile.Options{LookupEnv: env(vars), Lookups: fakeLookups(),
		ExtVars: jobfile.ExtVars{Code: map[string]string{"workers": "4"}}})
	checkFields(t, err, []fieldWant{{"testdata/ecspresso/ecs-task-def.jsonnet:5:15", "taskDefinition", "Jsonnet: Undefined external variable: stage"}})
}

// TestJsonnetJobFile: a whole job file may be Jsonnet.
func TestJsonnetJobFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("job.jsonnet", `{
  backend: 'local',
  timeout: '2m',
  taskDefinition: {
    family: 'hello-' + std.extVar('who'),
    containerDefinitions: [{ name: 'app', image: 'busybox', memory: 64, essentail: true }],
  },
}
`)
	_, err := jobfile.LoadWith(filepath.Join(dir, "job.jsonnet"), jobfile.Options{LookupEnv: env(nil), ExtVars: jobfile.ExtVars{Str: map[string]string{"who": "world"}}})
	// The decoding problems of the rendered JSON are reported as those of any job file.
	var he *hashike.Error
	if !errors.As(err, &he) || len(he.Fields) != 1 || !strings.Contains(he.Fields[0].Message, `unknown field "essentail"`) {
		t.Fatalf("want the unknown field reported, got %v", err)
	}
	// Its position is in the rendered JSON, and says so.
	if pos := he.Fields[0].Pos; !strings.HasPrefix(pos, filepath.Join(dir, "job.jsonnet")+" (rendered):") {
		t.Errorf("position %q is not marked as one of the rendered JSON", pos)
	}
	write("job.jsonnet", `{ taskDefinition: { family: 'hello-' + std.extVar('who'), containerDefinitions: [{ name: 'app', image: 'busybox', memory: 64 }] } }`)
	f, err := jobfile.LoadWith(filepath.Join(dir, "job.jsonnet"), jobfile.Options{LookupEnv: env(nil), ExtVars: jobfile.ExtVars{Str: map[string]string{"who": "world"}}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Spec.TaskDefinition.Family != "hello-world" {
		t.Errorf("family %q, want hello-world", f.Spec.TaskDefinition.Family)
	}
}

func TestParseExtVars(t *testing.T) {
	if _, err := jobfile.ParseExtVars([]string{"novalue"}, nil); err == nil || !strings.Contains(err.Error(), `--ext-str "novalue": must be NAME=VALUE`) {
		t.Errorf("got %v", err)
	}
	v, err := jobfile.ParseExtVars([]string{"a=b=c"}, []string{"n={x: 1}"})
	if err != nil || v.Str["a"] != "b=c" || v.Code["n"] != "{x: 1}" {
		t.Errorf("got %+v, %v", v, err)
	}
}

// TestTFStateAddresses covers the address forms of tfstate-lookup, which ecspresso uses.
func TestTFStateAddresses(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"aws_iam_role.task.arn", "arn:aws:iam::123456789012:role/batch-task"},
		{"aws_iam_role.execution['web'].arn", "arn:aws:iam::123456789012:role/web-execution"},
		{`aws_iam_role.execution["batch"].name`, "batch-execution"},
		{"data.aws_caller_identity.current.account_id", "123456789012"},
		{"module.vpc.aws_subnet.private[0].availability_zone", "ap-northeast-1a"},
		{`module.app["batch"].aws_security_group.this.egress[0].cidr_blocks[0]`, "0.0.0.0/0"},
		{`module.app["batch"].aws_security_group.this.egress[0].cidr_blocks`, `["0.0.0.0/0"]`},
		{"aws_cloudwatch_log_group.batch.retention_in_days", "30"},
		{"aws_cloudwatch_log_group.batch.tags.Name", "batch"},
		{"output.cluster_name", "batch"},
		{"output.private_subnets[1]", "subnet-0f1e2d3c4b5a69788"},
		{"output.private_subnets", `["subnet-0a1b2c3d4e5f60718","subnet-0f1e2d3c4b5a69788"]`},
	}
	for _, tt := range tests {
		got := renderFamily(t, fmt.Sprintf("{{ tfstate %q | json_escape }}", tt.addr), map[string]string{jobfile.TFStateEnv: tfstatePath})
		if got != tt.want {
			t.Errorf("tfstate %s = %q, want %q", tt.addr, got, tt.want)
		}
	}
	for _, tt := range []struct{ addr, want string }{
		{"aws_iam_role.nope.arn", "no resource aws_iam_role.nope in the state"},
		{"aws_iam_role.execution.arn", `resource aws_iam_role.execution has several instances: name one, as aws_iam_role.execution[0] or aws_iam_role.execution["key"]`},
		{"aws_iam_role.execution['db'].arn", `resource aws_iam_role.execution has no instance ["db"]`},
		{"aws_iam_role.task.nope", `"aws_iam_role.task.nope": no attribute "nope"`},
		{"output.nope", `no output "nope"`},
		{"module.vpc.aws_subnet.private[5].id", `resource module.vpc.aws_subnet.private has no instance [5]`},
	} {
		_, err := jobfile.LoadBytes("job.yaml", []byte(fmt.Sprintf("taskDefinition:\n  family: '{{ tfstate %q }}'\n  containerDefinitions: [{name: app, image: busybox, memory: 64}]\n", tt.addr)),
			env(map[string]string{jobfile.TFStateEnv: tfstatePath}), nil)
		checkFields(t, err, []fieldWant{{"job.yaml:2:15", "taskDefinition.family", "tfstate: " + tfstatePath + ": " + tt.want}})
	}
}

// renderFamily loads a job file with text as a container's environment value and returns
// the rendered value.
func renderFamily(t *testing.T, text string, vars map[string]string) string {
	t.Helper()
	f, err := jobfile.LoadBytes("job.yaml", []byte("taskDefinition:\n  family: x\n  containerDefinitions: [{name: app, image: busybox, memory: 64, environment: [{name: A, value: \""+text+"\"}]}]\n"), env(vars), nil)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return f.Spec.TaskDefinition.ContainerDefinitions[0].Environment[0].Value
}

// TestTFStatePrefixes: several states, each with its functions' prefix (ecspresso's
// func_prefix).
func TestTFStatePrefixes(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "network.tfstate")
	if err := os.WriteFile(other, []byte(`{"version": 4, "outputs": {"vpc_id": {"value": "vpc-123"}}, "resources": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{jobfile.TFStateEnv: tfstatePath + ", network_=" + other}
	if got := renderFamily(t, `{{ tfstate "output.cluster_name" }}-{{ network_tfstate "output.vpc_id" }}-{{ network_tfstatef "output.%s" "vpc_id" }}`, vars); got != "batch-vpc-123-vpc-123" {
		t.Errorf("got %q", got)
	}
}

// TestLookupFailuresEveryOne: each failed lookup is reported at its call, not only the first.
func TestLookupFailuresEveryOne(t *testing.T) {
	text := `taskDefinition:
  family: batch
  containerDefinitions:
  - name: app
    image: busybox
    memory: 64
    environment:
    - {name: A, value: '{{ ssm "/nope" }}'}
    - {name: B, value: '{{ ssm "/batch/hosts" 7 }}'}
    - {name: C, value: '{{ secretsmanager_arn "nope" }}'}
    - {name: D, value: '{{ tfstatef "aws_iam_role.%s.arn" "nope" }}'}
`
	in := jobfile.Inspect("job.yaml", []byte(text), jobfile.InspectOptions{LookupEnv: env(map[string]string{jobfile.TFStateEnv: tfstatePath}), Lookups: fakeLookups()})
	checkFields(t, &hashike.Error{Code: hashike.EInvalid, Fields: in.Problems}, []fieldWant{
		{"job.yaml:8:28", "taskDefinition.containerDefinitions[0].environment[0].value", "ssm: parameter /nope not found"},
		{"job.yaml:9:28", "taskDefinition.containerDefinitions[0].environment[1].value", "ssm: index 7 is out of the StringList's 3 elements"},
		{"job.yaml:10:28", "taskDefinition.containerDefinitions[0].environment[2].value", "secretsmanager_arn: secret nope not found"},
		{"job.yaml:11:28", "taskDefinition.containerDefinitions[0].environment[3].value", "tfstatef: " + tfstatePath + ": no resource aws_iam_role.nope in the state"},
	})
}

// TestOfflinePlaceholders: hashike validate without --check-aws renders placeholders for
// the AWS lookups and does not report what only the placeholder causes.
func TestOfflinePlaceholders(t *testing.T) {
	text := `backend: ecs
taskDefinition:
  family: batch
  executionRoleArn: '{{ tfstate "aws_iam_role.x.arn" }}'
  containerDefinitions:
  - name: app
    image: busybox
    memory: {{ ssm "/batch/memory" }}
    secrets:
    - {name: A, valueFrom: '{{ secretsmanager_arn "a" }}'}
    - {name: B, valueFrom: '{{ must_env "NOPE" }}'}
`
	in := jobfile.Inspect("job.yaml", []byte(text), jobfile.InspectOptions{LookupEnv: env(map[string]string{jobfile.TFStateEnv: "s3://states/batch.tfstate"}),
		Lookups: jobfile.Lookups{Offline: true}})
	checkFields(t, &hashike.Error{Code: hashike.EInvalid, Fields: hashike.Errors(in.Problems)}, []fieldWant{
		{"job.yaml:11:32", "taskDefinition.containerDefinitions[0].secrets[1].valueFrom", `must_env: environment variable "NOPE" is not set`},
	})
	if got := in.Job.TaskDefinition.ContainerDefinitions[0].Secrets[0].ValueFrom; got != "arn:aws:secretsmanager:us-east-1:000000000000:secret:a" {
		t.Errorf("secret placeholder %q", got)
	}
	// Not offline, the same file's lookups fail at their calls.
	in = jobfile.Inspect("job.yaml", []byte(text), jobfile.InspectOptions{LookupEnv: env(map[string]string{jobfile.TFStateEnv: "s3://states/batch.tfstate", "NOPE": "x"})})
	checkFields(t, &hashike.Error{Code: hashike.EInvalid, Fields: hashike.Errors(in.Problems)}, []fieldWant{
		{"job.yaml:4:25", "taskDefinition.executionRoleArn", "tfstate: the state s3://states/batch.tfstate is in S3, which is not read here"},
		{"job.yaml:6:5", "taskDefinition.containerDefinitions[0]", "needs memory or memoryReservation when the task has no memory"},
		{"job.yaml:8:16", "taskDefinition.containerDefinitions[0].memory", "ssm: SSM parameters are not looked up here"},
		{"job.yaml:10:32", "taskDefinition.containerDefinitions[0].secrets[0].valueFrom", "secretsmanager_arn: Secrets Manager is not looked up here"},
	})
}

// TestTFStateInS3 reads the state through Lookups.ReadS3.
func TestTFStateInS3(t *testing.T) {
	data, err := os.ReadFile(tfstatePath)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	l := jobfile.Lookups{ReadS3: func(bucket, key string) ([]byte, error) {
		asked = append(asked, bucket+"/"+key)
		return data, nil
	}}
	in := jobfile.Inspect("job.yaml", []byte("taskDefinition:\n  family: '{{ tfstate \"output.cluster_name\" }}-{{ tfstate \"aws_iam_role.task.name\" }}'\n  containerDefinitions: [{name: app, image: busybox, memory: 64}]\n"),
		jobfile.InspectOptions{LookupEnv: env(map[string]string{jobfile.TFStateEnv: "s3://states/env/prod/terraform.tfstate"}), Lookups: l})
	if len(in.Problems) != 0 || in.Job.TaskDefinition.Family != "batch-batch-task" {
		t.Fatalf("family %q, problems %v", in.Job.TaskDefinition.Family, in.Problems)
	}
	// One read, for both calls and both of Inspect's loads.
	if !reflect.DeepEqual(asked, []string{"states/env/prod/terraform.tfstate"}) {
		t.Errorf("S3 reads %v, want one of states/env/prod/terraform.tfstate", asked)
	}
}

// TestLoadDirJsonnet: a server's job directory reads *.jsonnet job definitions, with the
// external variables and lookups given, and not the .libsonnet files they import.
func TestLoadDirJsonnet(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"common.libsonnet": "{ container(image):: { name: 'app', image: image, memory: 64 } }\n",
		"report.jsonnet": `local common = import 'common.libsonnet';
{
  queue: 'reports',
  taskDefinition: { containerDefinitions: [common.container(std.extVar('image'))] },
}
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defs, err := jobfile.LoadDirWith(dir, jobfile.Options{LookupEnv: env(nil), ExtVars: jobfile.ExtVars{Str: map[string]string{"image": "busybox"}}})
	if err != nil {
		t.Fatal(err)
	}
	d := defs["report"]
	if len(defs) != 1 || d == nil || d.Job.Queue != "reports" || d.Job.TaskDefinition.Family != "report" || d.Job.TaskDefinition.ContainerDefinitions[0].Image != "busybox" {
		t.Fatalf("got %+v", defs)
	}
}

// TestTFStateEnvRefused: two states for one prefix are refused, in a template and in
// Jsonnet alike.
func TestTFStateEnvRefused(t *testing.T) {
	vars := env(map[string]string{jobfile.TFStateEnv: "a.tfstate,b.tfstate"})
	_, err := jobfile.LoadBytes("job.yaml", []byte("taskDefinition:\n  family: x\n  containerDefinitions: [{name: app, image: busybox, memory: 64}]\n"), vars, nil)
	checkFields(t, err, []fieldWant{{"job.yaml:1:1", "", `template: HASHIKE_TFSTATE: two states for the prefix ""`}})
	_, err = jobfile.LoadBytes("job.yaml", []byte("taskDefinition: td.jsonnet\n"), vars,
		files(map[string]string{"td.jsonnet": "{ family: std.native('json_escape')('x'), containerDefinitions: [{name: 'app', image: 'busybox', memory: 64}] }"}))
	var he *hashike.Error
	if !errors.As(err, &he) || len(he.Fields) != 1 || !strings.Contains(he.Fields[0].Message, "two states") {
		t.Errorf("got %v", err)
	}
}
