package awsfuncs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/awsfuncs"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/jobfile"
)

// s3Server serves GetObject as S3 does with path-style addressing: the object, or a 404
// NoSuchKey error document.
func s3Server(t *testing.T, objects map[string][]byte) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := objects[strings.TrimPrefix(r.URL.Path, "/")]
		if r.Method != http.MethodGet || !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>` + r.URL.Path + `</Key><RequestId>1</RequestId></Error>`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region: "ap-northeast-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}, HTTPClient: srv.Client(),
	})
}

// TestLookupsRenderEcspressoTaskDefinition renders the ecspresso example that uses every
// lookup, with SSM and Secrets Manager from the stateful fake and the Terraform state from S3.
func TestLookupsRenderEcspressoTaskDefinition(t *testing.T) {
	cloud := awsfake.New(awsfake.Options{})
	defer cloud.Close()
	cloud.PutParameter("/batch/api_endpoint", "https://api.internal.example.com")
	cloud.PutParameter("/batch/hosts", "db1.internal,db2.internal,db3.internal")
	const secret = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:batch/database_url-AbCdEf"
	cloud.PutSecret(secret, "postgres://...")
	state, err := os.ReadFile("../jobfile/testdata/ecspresso/terraform.tfstate")
	if err != nil {
		t.Fatal(err)
	}
	l := awsfuncs.Lookups(context.Background(), awsfuncs.Clients{
		SSM: cloud.SSM(), SecretsManager: cloud.SecretsManager(),
		S3: s3Server(t, map[string][]byte{"states/batch/terraform.tfstate": state}),
	})
	vars := map[string]string{jobfile.TFStateEnv: "s3://states/batch/terraform.tfstate", "IMAGE_TAG": "v1.2.3", "RAILS_ENV": "staging", "GREETING": "say \"hi\"\n\tbye"}
	lookupEnv := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	f, err := jobfile.LoadWith("../jobfile/testdata/ecspresso/funcs-job.yaml", jobfile.Options{LookupEnv: lookupEnv, Lookups: l})
	if err != nil {
		t.Fatal(err)
	}
	want, err := jobfile.Load("../jobfile/testdata/ecspresso/expected-funcs.json", lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	got, exp := f.Spec.TaskDefinition.ContainerDefinitions[0], want.Spec.TaskDefinition.ContainerDefinitions[0]
	if f.Spec.TaskDefinition.ExecutionRoleArn != want.Spec.TaskDefinition.ExecutionRoleArn ||
		got.Secrets[0] != exp.Secrets[0] || len(got.Environment) != len(exp.Environment) {
		t.Fatalf("rendered %+v, want %+v", f.Spec.TaskDefinition, want.Spec.TaskDefinition)
	}
	for i := range got.Environment {
		if got.Environment[i] != exp.Environment[i] {
			t.Errorf("environment[%d] = %+v, want %+v", i, got.Environment[i], exp.Environment[i])
		}
	}
}

// TestLookupErrors: a missing parameter, secret or state object, and a denied call, are
// reported at their calls with what AWS said.
func TestLookupErrors(t *testing.T) {
	cloud := awsfake.New(awsfake.Options{})
	defer cloud.Close()
	cloud.DenyAccess("DescribeSecret")
	l := awsfuncs.Lookups(context.Background(), awsfuncs.Clients{SSM: cloud.SSM(), SecretsManager: cloud.SecretsManager(), S3: s3Server(t, nil)})
	text := "taskDefinition:\n  family: x\n  containerDefinitions:\n  - name: app\n    image: busybox\n    memory: 64\n    environment:\n" +
		"    - {name: A, value: '{{ ssm \"/nope\" }}'}\n" +
		"    - {name: B, value: '{{ secretsmanager_arn \"db\" }}'}\n" +
		"    - {name: C, value: '{{ tfstate \"output.x\" }}'}\n"
	vars := map[string]string{jobfile.TFStateEnv: "s3://states/none.tfstate"}
	in := jobfile.Inspect("job.yaml", []byte(text), jobfile.InspectOptions{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, Lookups: l})
	errs := hashike.Errors(in.Problems)
	want := []struct{ pos, msg string }{
		{"job.yaml:8:28", "ssm: SSM parameter /nope does not exist (or is not readable)"},
		{"job.yaml:9:28", "secretsmanager_arn: describe secret db: "},
		{"job.yaml:10:28", "tfstate: read state s3://states/none.tfstate: get s3://states/none.tfstate: "},
	}
	if len(errs) != len(want) {
		t.Fatalf("problems %v, want %d", errs, len(want))
	}
	for i, w := range want {
		if errs[i].Pos != w.pos || !strings.HasPrefix(errs[i].Message, w.msg) {
			t.Errorf("problem %d = %s %s, want %s %s...", i, errs[i].Pos, errs[i].Message, w.pos, w.msg)
		}
	}
	if !strings.Contains(errs[1].Message, "AccessDeniedException") || !strings.Contains(errs[2].Message, "NoSuchKey") {
		t.Errorf("the AWS error codes are not reported: %v", errs)
	}
}
