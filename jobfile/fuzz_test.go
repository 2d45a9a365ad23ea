package jobfile_test

import (
	"errors"
	"os"
	"regexp"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/jobfile"
)

var posRE = regexp.MustCompile(`^.+:[1-9][0-9]*:[1-9][0-9]*$`)

// FuzzLoadBytes checks the loader's contract on any input: no panic; an error is a
// *hashike.Error with EInvalid and at least one field, each placed at file:line:col; a
// success is a spec that validates and can be copied and digested.
func FuzzLoadBytes(f *testing.F) {
	for _, p := range []string{"testdata/hello.yaml", "testdata/ecspresso/job.yaml", "testdata/ecspresso/ecs-task-def.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"taskDefinition: ecs-task-def.json\n",
		"taskDefinition: missing.json\n",
		container,
		container + "      comand: [echo]\n      cpu: lots\n      memory: 1\n",
		container + "      linuxParameters: &lp {capabilities: *lp}\n",
		container + "      portMappings: [{containerPort: 80}]\n      dockerLabels: {a: b}\n",
		"taskDefinition:\n  family: {{ must_env \"A\" }}{{ must_env \"B\" }}\n",
		"taskDefinition:\n  family: {{ env \"A\" }\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\n",
		"{\n\t\"taskDefinition\": {\"family\": \"x\", \"containerDefinitions\": [{\"name\": \"a\", \"image\": \"b\", \"memory\": 6}]}\n}\n",
		"- 1\n- 2\n",
		"taskDefinition: !!str 5\n",
		"---\n---\n",
		"taskDefinition:\n  <<: {family: x}\n  containerDefinitions: [{<<: [{name: a}], image: i, memory: 9}]\n",
	} {
		f.Add([]byte(s))
	}
	td, err := os.ReadFile("testdata/ecspresso/ecs-task-def.json")
	if err != nil {
		f.Fatal(err)
	}
	readFile := files(map[string]string{"ecs-task-def.json": string(td)})
	lookup := env(map[string]string{"IMAGE": "busybox", "A": "a"})

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := jobfile.LoadBytes("job.yaml", data, lookup, readFile)
		if err != nil {
			if file != nil {
				t.Errorf("File returned with an error")
			}
			var he *hashike.Error
			if !errors.As(err, &he) {
				t.Fatalf("error %T: %v", err, err)
			}
			if he.Code != hashike.EInvalid || len(he.Fields) == 0 {
				t.Fatalf("code %q with %d fields: %v", he.Code, len(he.Fields), err)
			}
			for _, fe := range he.Fields {
				if !posRE.MatchString(fe.Pos) || fe.Severity != hashike.SeverityError || fe.Message == "" {
					t.Errorf("field error %#v", fe)
				}
			}
			return
		}
		if errs := hashike.Errors(file.Spec.Validate()); len(errs) > 0 {
			t.Errorf("loaded a spec that does not validate: %v", errs)
		}
		_ = file.Spec.Clone()
		_ = file.Spec.Digest()
		if file.Locate("taskDefinition") == "" {
			t.Errorf("taskDefinition has no position")
		}
	})
}
