package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

func spec() *hashike.JobSpec {
	return &hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{ContainerDefinitions: []hashike.ContainerDefinition{{
		Name: "app", Secrets: []hashike.Secret{
			{Name: "DB_PASSWORD", ValueFrom: "arn:aws:secretsmanager:us-east-1:1:secret:db"},
			{Name: "API_KEY", ValueFrom: "arn:aws:ssm:us-east-1:1:parameter/api"},
		}}}}}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, mode os.FileMode, content string) string {
	p := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnvironmentFirstThenFile(t *testing.T) {
	f := writeFile(t, 0o600, `{"arn:aws:secretsmanager:us-east-1:1:secret:db": "from-file", "arn:aws:ssm:us-east-1:1:parameter/api": "key-from-file"}`)
	got, err := Resolve(spec(), env(map[string]string{"HASHIKE_SECRET_DB_PASSWORD": "from-env"}), f)
	if err != nil {
		t.Fatal(err)
	}
	if got["DB_PASSWORD"] != "from-env" || got["API_KEY"] != "key-from-file" {
		t.Fatalf("got %v", got)
	}
}

func TestAllMissingReportedWithoutValues(t *testing.T) {
	_, err := Resolve(spec(), env(nil), "")
	e, ok := err.(*hashike.Error)
	if !ok || e.Code != hashike.EInvalid || len(e.Fields) != 2 {
		t.Fatalf("err = %v", err)
	}
	if e.Fields[1].Path != "taskDefinition.containerDefinitions[0].secrets[1].valueFrom" {
		t.Fatalf("path %q", e.Fields[1].Path)
	}
}

func TestFileReadableByOthersRefused(t *testing.T) {
	f := writeFile(t, 0o644, `{"arn:aws:secretsmanager:us-east-1:1:secret:db": "top-secret-value"}`)
	_, err := Resolve(spec(), env(nil), f)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v, want a refusal naming chmod 600", err)
	}
}

func TestMalformedFileDoesNotEchoContent(t *testing.T) {
	f := writeFile(t, 0o600, `{"arn": top-secret-value}`)
	_, err := Resolve(spec(), env(nil), f)
	if err == nil || strings.Contains(err.Error(), "top-secret-value") {
		t.Fatalf("err = %v", err)
	}
}
