package jobfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSchemaUpToDate: the published schemas are what the Go types give; after changing a
// type, run `go generate ./jobfile` (make schema).
func TestSchemaUpToDate(t *testing.T) {
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Schemas {
		want, err := GenerateSchema(s.File, s.Title, s.Type, root)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, "docs", "schema", s.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/schema/%s is not what the Go types give: run go generate ./jobfile", s.File)
		}
	}
}

// compileSchema compiles a published schema, at ref ("" or "#/$defs/Name") within it.
func compileSchema(t *testing.T, file, ref string) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "docs", "schema", file))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaBaseURL+file, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaBaseURL + file + ref)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// instance renders a file's templates (Jsonnet first for *.jsonnet) as `hashike validate`
// does offline, with every variable set, and reads the result as a JSON value.
func instance(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lookupEnv := func(name string) (string, bool) {
		if name == TFStateEnv {
			return "testdata/ecspresso/terraform.tfstate", true
		}
		return "v1", true
	}
	f := &funcs{lookupEnv: lookupEnv, lookups: Lookups{Offline: true}}
	text := string(data)
	if isJsonnet(path) {
		out, je := evalJsonnet(path, text, ExtVars{Str: map[string]string{"stage": "test"}, Code: map[string]string{"workers": "1"}}, f, os.ReadFile)
		if je != nil {
			t.Fatalf("%s: %v", path, je.message)
		}
		text = out
	}
	out, problems, ok := render(text, f)
	for _, p := range problems {
		if !p.placeholder {
			ok = false
		}
	}
	if !ok {
		t.Fatalf("%s: template: %v", path, problems)
	}
	js, err := yaml.YAMLToJSON([]byte(out))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestSchemaAcceptsEveryExample: every example and testdata job file, job definition and
// task definition file is valid by the published schemas.
func TestSchemaAcceptsEveryExample(t *testing.T) {
	jobFile := compileSchema(t, "jobfile.schema.json", "")
	jobDef := compileSchema(t, "job.schema.json", "")
	taskDef := compileSchema(t, "jobfile.schema.json", "#/$defs/TaskDefinition")
	glob := func(patterns ...string) []string {
		var out []string
		for _, p := range patterns {
			m, err := filepath.Glob(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m...)
		}
		if len(out) == 0 {
			t.Fatalf("no files match %v", patterns)
		}
		return out
	}
	for _, c := range []struct {
		schema *jsonschema.Schema
		files  []string
	}{
		{jobFile, glob("../examples/*.yaml", "testdata/*.yaml", "testdata/ecspresso/*job.yaml", "testdata/ecspresso/expected-*.json")},
		{jobDef, glob("testdata/jobs/*.yaml", "../examples/*.yaml")},
		{taskDef, glob("testdata/jobs/*-task.json", "testdata/ecspresso/ecs-task-def*.json", "testdata/ecspresso/ecs-task-def.jsonnet")},
	} {
		for _, f := range c.files {
			if err := c.schema.Validate(instance(t, f)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

// TestSchemaRefusesBadFiles: what the decoder refuses, the schema refuses too.
func TestSchemaRefusesBadFiles(t *testing.T) {
	jobFile := compileSchema(t, "jobfile.schema.json", "")
	container := "  containerDefinitions: [{name: app, image: busybox, memory: 64}]\n"
	for _, c := range []struct{ name, text, want string }{
		{"misspelled field", "taskDefinition:\n  family: x\n  containerDefinitions: [{name: app, image: busybox, essentail: true}]\n", "essentail"},
		{"duration as a number", "timeout: 10\ntaskDefinition:\n  family: x\n" + container, "timeout"},
		{"duration text", "timeout: 10 minutes\ntaskDefinition:\n  family: x\n" + container, "timeout"},
		{"no task definition", "backend: local\n", "taskDefinition"},
		{"task size as a boolean", "taskDefinition:\n  family: x\n  cpu: true\n" + container, "cpu"},
		{"a server job's field in a job file", "queue: q\ntaskDefinition:\n  family: x\n" + container, "queue"},
		{"memory as a string", "taskDefinition:\n  family: x\n  containerDefinitions: [{name: app, image: busybox, memory: lots}]\n", "memory"},
	} {
		js, err := yaml.YAMLToJSON([]byte(c.text))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		err = jobFile.Validate(v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.want)
		}
		// The decoder agrees.
		if _, lerr := LoadBytes("job.yaml", []byte(c.text), func(string) (string, bool) { return "", false }, nil); lerr == nil {
			t.Errorf("%s: the schema refuses what the decoder accepts", c.name)
		}
	}
}

// TestExamplesNameTheSchema: each example names the schema for yaml-language-server, by a
// path that resolves from the example.
func TestExamplesNameTheSchema(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		ref, ok := strings.CutPrefix(first, "# yaml-language-server: $schema=")
		if !ok {
			t.Errorf("%s: the first line is not a yaml-language-server $schema comment", f)
			continue
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(f), ref)); err != nil {
			t.Errorf("%s: $schema %s: %v", f, ref, err)
		}
	}
}
