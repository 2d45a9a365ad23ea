package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// validateWithEnv is validateCLI with more variables in the environment the job files read.
func validateWithEnv(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	env := map[string]string{"HASHIKE_DB": filepath.Join(dir, "h.db"), "HOME": dir}
	for k, v := range vars {
		env[k] = v
	}
	var out, errb bytes.Buffer
	code := mainWithStdin(append([]string{"validate"}, args...), strings.NewReader(""), &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return code, out.String(), errb.String()
}

const ecspressoDir = "../../jobfile/testdata/ecspresso/"

// TestValidateEcspressoExamples: ecspresso's task definitions validate unchanged, offline:
// tfstate reads the local state, ssm and secretsmanager_arn are placeholders, and the
// Jsonnet one gets its external variables from --ext-str and --ext-code.
func TestValidateEcspressoExamples(t *testing.T) {
	vars := map[string]string{"HASHIKE_TFSTATE": ecspressoDir + "terraform.tfstate", "IMAGE_TAG": "v1", "GREETING": "hi", "IMAGE": "batch:v1"}
	code, out, errs := validateWithEnv(t, vars, ecspressoDir+"funcs-job.yaml")
	if code != 0 || !strings.Contains(out, "funcs-job.yaml: ok (family batch-report") {
		t.Errorf("funcs-job.yaml: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = validateWithEnv(t, vars, "--ext-str", "stage=staging", "--ext-code", "workers=4", ecspressoDir+"jsonnet-job.yaml")
	if code != 0 || !strings.Contains(out, "jsonnet-job.yaml: ok (family batch-staging") {
		t.Errorf("jsonnet-job.yaml: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Without the external variable: the Jsonnet error at its place.
	code, _, errs = validateWithEnv(t, vars, "--ext-code", "workers=4", ecspressoDir+"jsonnet-job.yaml")
	if code != 2 || !strings.Contains(errs, "ecs-task-def.jsonnet:5:15: taskDefinition: Jsonnet: Undefined external variable: stage") {
		t.Errorf("jsonnet-job.yaml without --ext-str: exit %d, stderr %q", code, errs)
	}
	code, _, errs = validateWithEnv(t, vars, "--ext-str", "stage", ecspressoDir+"jsonnet-job.yaml")
	if code != 2 || !strings.Contains(errs, `--ext-str "stage": must be NAME=VALUE`) {
		t.Errorf("--ext-str stage: exit %d, stderr %q", code, errs)
	}
}

// TestRunLooksUpAWSAtTheCall: hashike run looks ssm and secretsmanager_arn up in AWS (not
// placeholders, as validate offline); without an AWS configuration each call fails at its
// place, and nothing starts.
func TestRunLooksUpAWSAtTheCall(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	job := writeFile(t, dir, "job.yaml", `taskDefinition:
  family: f
  memory: 64
  containerDefinitions:
    - name: app
      image: busybox
      environment:
        - {name: A, value: '{{ ssm "/a" }}'}
        - {name: B, value: '{{ secretsmanager_arn "b" }}'}
`)
	env := map[string]string{"HASHIKE_DB": filepath.Join(dir, "h.db"), "HOME": dir}
	var out, errb bytes.Buffer
	code := mainWithStdin([]string{"run", "--dry-run", job}, strings.NewReader(""), &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	for _, want := range []string{
		"job.yaml:8:32: taskDefinition.containerDefinitions[0].environment[0].value: ssm: AWS configuration: no region",
		"job.yaml:9:32: taskDefinition.containerDefinitions[0].environment[1].value: secretsmanager_arn: AWS configuration: no region",
	} {
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("exit %d, stderr %q, want %q", code, errb.String(), want)
		}
	}
}

// TestValidateCheckAWSLooksUpSSM: with --check-aws, validate asks SSM (here an endpoint
// speaking its JSON protocol, named by AWS_ENDPOINT_URL_SSM) for the parameters the file's
// ssm calls name, and reports the missing one at its call.
func TestValidateCheckAWSLooksUpSSM(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameters" {
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
			return
		}
		var in struct {
			Names          []string
			WithDecryption bool
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !in.WithDecryption {
			http.Error(w, `{"__type":"ValidationException"}`, http.StatusBadRequest)
			return
		}
		asked = append(asked, in.Names...)
		out := map[string]any{"Parameters": []any{}, "InvalidParameters": []string{}}
		for _, n := range in.Names {
			if n == "/batch/api" {
				out["Parameters"] = append(out["Parameters"].([]any), map[string]any{"Name": n, "Type": "SecureString", "Value": "https://api", "Version": 1})
			} else {
				out["InvalidParameters"] = append(out["InvalidParameters"].([]string), n)
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	dir := t.TempDir()
	f := writeFile(t, dir, "job.yaml", `backend: ecs
taskDefinition:
  family: report
  memory: "512"
  containerDefinitions:
    - name: app
      image: report:latest
      environment:
        - {name: API, value: '{{ ssm "/batch/api" }}'}
        - {name: NOPE, value: '{{ ssm "/batch/nope" }}'}
`)
	t.Setenv("AWS_REGION", "ap-northeast-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_ENDPOINT_URL_SSM", srv.URL)
	env := map[string]string{"HASHIKE_DB": filepath.Join(dir, "h.db"), "HOME": dir}
	var out, errb bytes.Buffer
	code := mainWithStdin([]string{"validate", "--check-aws", f}, strings.NewReader(""), &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	want := "job.yaml:10:35: taskDefinition.containerDefinitions[0].environment[1].value: ssm: SSM parameter /batch/nope does not exist (or is not readable)"
	if code != 2 || !strings.Contains(errb.String(), want) || strings.Contains(errb.String(), "/batch/api") {
		t.Errorf("exit %d, stderr %q, want only %q", code, errb.String(), want)
	}
	// Each parameter once, although validate reads the file twice (as a job file and as a
	// server job definition).
	slices.Sort(asked)
	if !slices.Equal(asked, []string{"/batch/api", "/batch/nope"}) {
		t.Errorf("SSM was asked for %v, want each parameter once", asked)
	}
}
