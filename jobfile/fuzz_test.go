package jobfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
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
		// Nested far past the limit: refused before the parser builds its tree.
		"taskDefinition: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
		"taskDefinition:\n  " + strings.Repeat("- ", 5000) + "x\n",
		"a: 'it''s [' # [[\nb: [[{c: \"[\\\"\"}]]\nd: |\n  [[[\n",
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

// FuzzLoadDefinition checks LoadDefinition's contract on any input, sent through the API
// (no templates, no files) and read from the job directory: FuzzLoadBytes's, plus that a
// definition stored as the server stores it (job.Definition.Encode) loads back to the same
// document.
func FuzzLoadDefinition(f *testing.F) {
	for _, p := range []string{"testdata/jobs/nightly-report.yaml", "testdata/jobs/backup.yaml", "testdata/hello.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		definition,
		definition + "schedule: {expressions: [{cron: '0 25 * * *'}], catchUp: {mode: all, max: 3}}\n",
		definition + "retryStrategy: {attemps: 3, backoff: {baseDelay: 1s, maxDelay: 0s}}\n",
		definition + "notifications: [{type: webhook, url: 'http://[::1]:80/x', secret: s, events: [overdue]}]\n",
		definition + "priority: -100\nexpectedDuration: 1h\nmaxPayloadBytes: 1024\ndescription: \"\\u007b{\"\n",
		"taskDefinition: ./backup-task.json\nqueue: q\n",
		"<<: {queue: q, priority: 1}\ntaskDefinition: {family: f, containerDefinitions: [{name: a, image: b, memory: 1}]}\n",
		"queue: {{ env \"Q\" }}\n" + definition[len("queue: reports\n"):],
	} {
		f.Add([]byte(s))
	}
	td, err := os.ReadFile("testdata/jobs/backup-task.json")
	if err != nil {
		f.Fatal(err)
	}
	fromDir := jobfile.DefinitionOptions{
		Templates: true,
		LookupEnv: env(map[string]string{"Q": "queue", "IMAGE": "busybox"}),
		ReadFile:  files(map[string]string{"backup-task.json": string(td)}),
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []jobfile.DefinitionOptions{api, fromDir} {
			d, err := jobfile.LoadDefinition("def.yaml", data, opts)
			if err != nil {
				if d != nil {
					t.Errorf("Definition returned with an error")
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
				continue
			}
			if errs := hashike.Errors(append(d.Job.JobSpec.Validate(), d.Job.Validate()...)); len(errs) > 0 {
				t.Errorf("loaded a definition that does not validate: %v", errs)
			}
			if d.Locate("taskDefinition") == "" {
				t.Errorf("taskDefinition has no position")
			}
			doc, digest, err := d.Job.Encode()
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if bytes.Contains(doc, []byte("{{")) {
				continue // a value holding "{{", which the API refuses in the text
			}
			again, err := jobfile.LoadDefinition("stored.json", doc, api)
			if err != nil {
				t.Fatalf("the stored definition %s does not load: %v", doc, err)
			}
			if doc2, digest2, _ := again.Job.Encode(); digest2 != digest {
				t.Errorf("stored\n%s\nloads back as\n%s", doc, doc2)
			}
		}
	})
}

// FuzzInspect checks hashike validate's loader against the loaders of the commands that
// read the file: no panic; every problem placed at file:line:col, in position order; and
// a file has errors exactly when `hashike run` (Load) or, for a job definition,
// `hashike server --jobs` (LoadDefinition) would refuse it.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		"",
		container,
		container + "      comand: [echo]\n      cpu: lots\n      memory: 1\n      privileged: true\n",
		definition,
		definition + "schedule: {expressions: [{cron: '0 25 * * *'}]}\n",
		"queue: q\ntaskDefinition: {containerDefinitions: [{name: a, image: b, memory: 6}]}\n",
		"queue: [x\n",
	} {
		f.Add([]byte(s))
	}
	env := env(map[string]string{"IMAGE": "busybox"})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := jobfile.Inspect("def.yaml", data, jobfile.InspectOptions{LookupEnv: env, ReadFile: files(nil)})
		line := 0
		for _, p := range in.Problems {
			if !posRE.MatchString(p.Pos) || p.Message == "" {
				t.Errorf("problem %#v", p)
			}
			var l, c int
			if _, err := fmt.Sscanf(p.Pos[len("def.yaml:"):], "%d:%d", &l, &c); err == nil {
				if l < line {
					t.Errorf("problems out of line order: %v", in.Problems)
				}
				line = l
			}
		}
		hasErrs := len(hashike.Errors(in.Problems)) > 0
		var err error
		if in.Server {
			_, err = jobfile.LoadDefinition("def.yaml", data, jobfile.DefinitionOptions{Templates: true, LookupEnv: env, ReadFile: files(nil), Family: "def"})
		} else {
			_, err = jobfile.LoadBytes("def.yaml", data, env, files(nil))
		}
		if hasErrs != (err != nil) {
			t.Errorf("Inspect (server %v) found errors %v; the command's loader: %v", in.Server, in.Problems, err)
		}
	})
}
