package hashike

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func intp(v int) *int { return &v }

func validSpec() JobSpec {
	return JobSpec{TaskDefinition: TaskDefinition{Family: "f", Cpu: "512", Memory: "1 GB",
		ContainerDefinitions: []ContainerDefinition{{Name: "app", Image: "img", Memory: intp(512)}}}}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := validSpec()
	if errs := s.Validate(); len(errs) != 0 {
		t.Fatalf("valid spec: %v", errs)
	}
	s.TaskDefinition.Memory = "256"
	s.TaskDefinition.Cpu = "lots"
	s.TaskDefinition.ContainerDefinitions = append(s.TaskDefinition.ContainerDefinitions,
		ContainerDefinition{Name: "app", MemoryReservation: intp(2)})
	s.WatchContainer = "nope"
	errs := s.Validate()
	want := []string{
		"taskDefinition.cpu", "taskDefinition.memory", "containerDefinitions[1].name",
		"containerDefinitions[1].image", "containerDefinitions[1].memoryReservation", "watchContainer",
	}
	joined := ""
	for _, e := range errs {
		joined += e.Path + ": " + e.Message + "\n"
	}
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("no problem reported at %s:\n%s", w, joined)
		}
	}
}

func TestTaskSizes(t *testing.T) {
	for in, want := range map[TaskSize]int{"256": 256, "1 vCPU": 1024, "0.5 vcpu": 512, "": 0} {
		if got, err := in.CPUUnits(); err != nil || got != want {
			t.Errorf("CPUUnits(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[TaskSize]int{"512": 512, "2 GB": 2048, "1GB": 1024} {
		if got, err := in.MemoryMiB(); err != nil || got != want {
			t.Errorf("MemoryMiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []TaskSize{"lots", "-1", "0.3"} {
		if _, err := bad.CPUUnits(); err == nil {
			t.Errorf("CPUUnits(%q) accepted", bad)
		}
	}
}

func TestOverridesApply(t *testing.T) {
	s := validSpec()
	timeout := time.Minute
	got, err := Overrides{Command: []string{"x"}, Environment: []KeyValuePair{{Name: "A", Value: "1"}}, Cpu: intp(256), Memory: intp(128), Timeout: &timeout}.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	c := got.TaskDefinition.ContainerDefinitions[0]
	if c.Command[0] != "x" || c.Environment[0].Value != "1" || c.Cpu != 256 || *c.Memory != 128 || time.Duration(got.Timeout) != time.Minute {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if *s.TaskDefinition.ContainerDefinitions[0].Memory != 512 {
		t.Fatal("Apply changed its input")
	}
	// The definition as filed is kept beside the one that runs, so a backend that registers
	// definitions registers the file's and sends the overrides per run.
	if got.Base == nil || !reflect.DeepEqual(*got.Filed(), s.TaskDefinition) {
		t.Fatalf("Base %+v, want the definition before the overrides", got.Base)
	}
	if again, _ := (Overrides{Command: []string{"y"}}).Apply(got); !reflect.DeepEqual(*again.Filed(), s.TaskDefinition) {
		t.Fatal("a second Apply replaced the filed definition")
	}
	if only, _ := (Overrides{Timeout: &timeout}).Apply(s); only.Base != nil {
		t.Fatal("a timeout alone recorded a Base: it changes no container")
	}
	if _, err := (Overrides{Container: "nope", Cpu: intp(1)}).Apply(s); ErrorCodeOf(err) != EInvalid || !strings.Contains(err.Error(), "--container") {
		t.Fatalf("unknown container: %v", err)
	}
}

func TestExtraFieldsSurviveJSONAndDigest(t *testing.T) {
	s := validSpec()
	s.TaskDefinition.ContainerDefinitions[0].Extra = map[string]any{"portMappings": []any{map[string]any{"containerPort": float64(80)}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"portMappings":[{"containerPort":80}]`) {
		t.Fatalf("Extra not written: %s", b)
	}
	var back JobSpec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Digest() != s.Digest() {
		t.Fatal("digest changed across a JSON round trip")
	}
	other := s.Clone()
	other.TaskDefinition.ContainerDefinitions[0].Image = "img2"
	if other.Digest() == s.Digest() {
		t.Fatal("different specs share a digest")
	}
}

func TestObjectMembers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string // name=raw
		ok   bool
	}{
		{`{}`, nil, true},
		{` { "a" : 1 , "b":"x,}" ,"c":{"d":[1,{"e":"]}"}]},"f":[],"g":null,"h":true } `,
			[]string{`a=1`, `b="x,}"`, `c={"d":[1,{"e":"]}"}]}`, `f=[]`, `g=null`, `h=true`}, true},
		{`{"esc\"aped":"v\\","\u0061b":-1.5e3}`, []string{`esc"aped="v\\"`, `ab=-1.5e3`}, true},
		{`{"a":1,"a":2}`, []string{`a=1`, `a=2`}, true},
		{`[1,2]`, nil, false},
		{`"s"`, nil, false},
	} {
		var got []string
		ok := objectMembers([]byte(c.in), func(name, raw []byte) { got = append(got, string(name)+"="+string(raw)) })
		if ok != c.ok || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %v %q, want %v %q", c.in, ok, got, c.ok, c.want)
		}
	}
}

// TestDecodeKeepsUnknownMembers: members a type does not model land in Extra, escaped names
// and nested values included; modelled names (in any spacing) do not.
func TestDecodeKeepsUnknownMembers(t *testing.T) {
	in := `{ "family" : "f", "pidMode":"task", "containerDefinitions":[{"name":"app","image":"i",
		"portMappings":[{"containerPort":80}], "link\u0073":["db"], "memory": 64}], "ephemeralStorage":{"sizeInGiB":30}}`
	var td TaskDefinition
	if err := json.Unmarshal([]byte(in), &td); err != nil {
		t.Fatal(err)
	}
	if td.Family != "f" || len(td.Extra) != 2 || td.Extra["pidMode"] != "task" || td.Extra["ephemeralStorage"] == nil {
		t.Errorf("task definition extra = %v", td.Extra)
	}
	c := td.ContainerDefinitions[0]
	if c.Name != "app" || *c.Memory != 64 || len(c.Extra) != 2 || c.Extra["links"] == nil || c.Extra["portMappings"] == nil {
		t.Errorf("container extra = %v", c.Extra)
	}
	if n, ok := c.Extra["portMappings"].([]any)[0].(map[string]any)["containerPort"].(json.Number); !ok || n != "80" {
		t.Errorf("numbers in Extra are json.Number: %#v", c.Extra["portMappings"])
	}
}

// BenchmarkDecodeSpec decodes a stored run's spec (a container with the server's variables),
// which every read of a run does.
func BenchmarkDecodeSpec(b *testing.B) {
	data := benchSpec(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var out JobSpec
		if err := json.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSpec is a stored run's spec: a container with the server's variables.
func benchSpec(b *testing.B) []byte {
	s := validSpec()
	c := &s.TaskDefinition.ContainerDefinitions[0]
	c.Command = []string{"print", "1", "hello"}
	c.Essential = new(bool)
	for _, kv := range [][2]string{{"HASHIKE_JOB", "bench"}, {"HASHIKE_JOB_VERSION", "1"}, {"HASHIKE_RUN_ID", "01m8050r5s03pcbh1dm5m8rrc2"},
		{"HASHIKE_ATTEMPT", "1"}, {"HASHIKE_PAYLOAD", `{"customer":"c-1234"}`}, {"HASHIKE_PAYLOAD_FILE", "/hashike/payload.json"}} {
		c.Environment = append(c.Environment, KeyValuePair{Name: kv[0], Value: kv[1]})
	}
	data, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// TestValidateEnvironmentAndSecretOfOneName: a variable set both in environment and in secrets
// is a warning (ECS registers such task definitions); twice in secrets is an error.
func TestValidateEnvironmentAndSecretOfOneName(t *testing.T) {
	spec := JobSpec{TaskDefinition: TaskDefinition{Family: "f", ContainerDefinitions: []ContainerDefinition{{
		Name: "app", Image: "img", Memory: new(64),
		Environment: []KeyValuePair{{Name: "FOO", Value: "1"}},
		Secrets:     []Secret{{Name: "FOO", ValueFrom: "/p/foo"}, {Name: "BAR", ValueFrom: "/p/bar"}, {Name: "BAR", ValueFrom: "/p/bar2"}},
	}}}}
	var warns, errs []string
	for _, p := range spec.Validate() {
		if p.Severity == SeverityWarning {
			warns = append(warns, p.Path+": "+p.Message)
		} else {
			errs = append(errs, p.Path+": "+p.Message)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `secrets[0].name: "FOO" is also set in environment`) {
		t.Errorf("warnings %q", warns)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], `secrets[2].name: "BAR" is also set in secrets`) {
		t.Errorf("errors %q", errs)
	}
}

func TestParseDurationDays(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "0d": 0, "90s": 90 * time.Second, "400d": 400 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "7", "7dd", "1.5d", "-7d", "7d-1h", "99999999999d", "106751d24h", "", "7 d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", in, got)
		}
	}
}

// FuzzParseDuration: whatever is accepted is not negative and reads back the same from the
// text it is written as.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "90s", "1h30m", "0", "-1h", "106751d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseDuration(%q) = %s, negative", s, v)
		}
		if back, err := ParseDuration(v.String()); err != nil || back != v {
			t.Fatalf("ParseDuration(%q) = %s, which reads back as %s, %v", s, v, back, err)
		}
	})
}
