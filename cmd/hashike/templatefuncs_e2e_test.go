package main_test

import (
	"path/filepath"
	"testing"

	"github.com/hashike/hashike/docker/dockertest"
)

// TestRunJsonnetWithTemplateFuncs runs a Jsonnet job file on the local Docker Engine: an
// import, an external variable from --ext-str, a native function reading the Terraform
// state, and a template function over Jsonnet's output.
func TestRunJsonnetWithTemplateFuncs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	state, err := filepath.Abs("../../jobfile/testdata/ecspresso/terraform.tfstate")
	if err != nil {
		t.Fatal(err)
	}
	e.job("common.libsonnet", "{ print(msg):: ['print', '1', msg, 'exit', '0'] }\n")
	job := e.job("job.jsonnet", `local common = import 'common.libsonnet';
{
  backend: 'local',
  timeout: '1m',
  taskDefinition: {
    family: 'jsonnet-' + std.extVar('stage'),
    memory: '64',
    containerDefinitions: [{
      name: 'app',
      image: std.native('must_env')('WORKLOAD'),
      stopTimeout: 2,
      command: common.print(std.native('tfstate')('aws_iam_role.task.name') + ' {{ env `+"`GREETING`"+` | json_escape }}'),
    }],
  },
}
`)
	e.extra = []string{"WORKLOAD=" + dockertest.Image, "HASHIKE_TFSTATE=" + state, `GREETING=hello "you"`}
	out, errs, code := e.run("run", "--ext-str", "stage=test", job)
	if code != 0 || out != "batch-task hello \"you\" 1\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if run := e.onlyRun(); run.Spec.TaskDefinition.Family != "jsonnet-test" {
		t.Errorf("family %q, want jsonnet-test", run.Spec.TaskDefinition.Family)
	}
}
