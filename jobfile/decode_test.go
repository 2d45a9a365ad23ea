package jobfile

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/goccy/go-yaml/parser"
)

// kinds has a field of every kind the decoder handles, whether or not the root package uses
// it today.
type kinds struct {
	S   string            `json:"s"`
	I   int               `json:"i"`
	I8  int8              `json:"i8"`
	U   uint16            `json:"u"`
	F   float64           `json:"f"`
	B   bool              `json:"b"`
	PI  *int              `json:"pi"`
	PB  *bool             `json:"pb"`
	PS  *kinds            `json:"ps"`
	L   []string          `json:"l"`
	LS  []kinds           `json:"ls"`
	M   map[string]string `json:"m"`
	A   any               `json:"a"`
	Raw string            `json:"-"`
}

func decodeText(t *testing.T, text string, v any) []problem {
	t.Helper()
	src := newSource("x.yaml", 0, text)
	file, err := parser.ParseBytes([]byte(text), 0, parser.AllowDuplicateMapKey())
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder()
	defer d.withSource(src, file.Docs[0].Body)()
	d.decode("", pos{}, file.Docs[0].Body, reflect.ValueOf(v).Elem(), false)
	return d.problems
}

func TestDecodeKinds(t *testing.T) {
	var got kinds
	problems := decodeText(t, `s: text
i: -3
i8: 127
u: 65535
f: 2.5
b: true
pi: 0
pb: false
ps: {s: inner, l: [x]}
l: [a, "b", 'c']
ls:
  - s: one
  - i: 2
m: {k: v, "dotted.key": w}
a: {n: 1, l: [true, ~, 1.5]}
`, &got)
	if len(problems) > 0 {
		t.Fatalf("problems: %+v", problems)
	}
	want := kinds{
		S: "text", I: -3, I8: 127, U: 65535, F: 2.5, B: true,
		PI: new(int), PB: new(bool),
		PS: &kinds{S: "inner", L: []string{"x"}},
		L:  []string{"a", "b", "c"},
		LS: []kinds{{S: "one"}, {I: 2}},
		M:  map[string]string{"k": "v", "dotted.key": "w"},
		A:  map[string]any{"n": int64(1), "l": []any{true, nil, 1.5}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}
}

func TestDecodeKindErrors(t *testing.T) {
	var got kinds
	problems := decodeText(t, `i8: 128
u: -1
f: yes
pi: 1.5
m: {k: 1}
Raw: x
ls: [x]
a: .nan
`, &got)
	want := []struct{ path, msg string }{
		{"i8", "integer 128 is out of range"},
		{"u", "must not be negative"},
		{"f", `must be a number, got string "yes"`},
		{"pi", "must be an integer, got number 1.5"},
		{"m.k", `must be a string, got integer 1 (quote it: "1")`},
		{"Raw", `unknown field "Raw"`},
		{"ls[0]", `must be a mapping, got string "x"`},
		{"a", "must be a finite number, got number .nan"},
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems %+v, want %d", len(problems), problems, len(want))
	}
	for i, w := range want {
		if problems[i].path != w.path || problems[i].message != w.msg {
			t.Errorf("problem %d = %s: %s, want %s: %s", i, problems[i].path, problems[i].message, w.path, w.msg)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"command", "cpu", "memory", "memoryReservation", "image", "portMappings"}
	for name, want := range map[string]string{
		"comand":             "command",
		"memroy":             "memory", // a swap is one edit
		"Image":              "image",
		"cpus":               "cpu",
		"memoryReservaton":   "memoryReservation",
		"portMapping":        "portMappings",
		"img":                "", // too far for a short name
		"environment":        "",
		"somethingElseEntir": "",
	} {
		if got := suggest(name, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"abc", "abc", 0},
		{"abc", "acb", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

type inner struct {
	A        string `json:"a"`
	Shadowed string `json:"s"`
}

type Deep struct {
	D string `json:"d"`
	X string `json:"x"`
}

type Other struct {
	X string `json:"x"`
	Deep
}

type Pointed struct {
	P string `json:"p"`
}

type Tagged struct {
	T string `json:"t"`
}

// embeds has every way a field reaches a JSON object through embedding.
type embeds struct {
	inner                    // promoted though unexported: its fields are exported
	*Pointed                 // allocated when one of its fields is given
	Other                    // x hides Deep's x
	Tagged   `json:"tagged"` // a tag makes it a field of its own
	S        string          `json:"s"` // hides inner's s
}

// TestDecodeEmbedded checks that embedded structs flatten as encoding/json has it, by
// decoding the same document both ways.
func TestDecodeEmbedded(t *testing.T) {
	const doc = `{"a": "1", "s": "top", "p": "ptr", "x": "other", "d": "deep", "tagged": {"t": "tag"}}`
	var got, want embeds
	if problems := decodeText(t, doc, &got); len(problems) > 0 {
		t.Fatalf("problems: %+v", problems)
	}
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant (encoding/json)\n%+v", got, want)
	}
	if got.Pointed == nil || got.P != "ptr" || got.S != "top" || got.Shadowed != "" || got.Other.X != "other" || got.D != "deep" || got.T != "tag" {
		t.Errorf("got %+v", got)
	}

	var none embeds
	if problems := decodeText(t, `{"a": "1"}`, &none); len(problems) > 0 || none.Pointed != nil {
		t.Errorf("an embedded pointer none of whose fields is given is allocated: %+v %+v", none, problems)
	}

	problems := decodeText(t, "t: x\nShadowed: y\n", &got)
	var msgs []string
	for _, p := range problems {
		msgs = append(msgs, p.path+": "+p.message)
	}
	wantMsgs := []string{`t: unknown field "t" (did you mean "s"?)`, `Shadowed: unknown field "Shadowed"`}
	if !reflect.DeepEqual(msgs, wantMsgs) {
		t.Errorf("problems = %q, want %q", msgs, wantMsgs)
	}
}

// TestJSONFieldsCollision: two fields of one name at the same depth hide each other, as in
// encoding/json. (A struct literal with such fields does not pass vet, so it is built.)
func TestJSONFieldsCollision(t *testing.T) {
	type a struct {
		C int `json:"c"`
		E int `json:"e"`
	}
	type b struct {
		C int `json:"c"`
		F int `json:"f"`
	}
	typ := reflect.StructOf([]reflect.StructField{
		{Name: "A", Type: reflect.TypeFor[a](), Anonymous: true},
		{Name: "B", Type: reflect.TypeFor[b](), Anonymous: true},
	})
	var names []string
	for _, f := range jsonFields(typ) {
		names = append(names, f.name)
	}
	if want := []string{"e", "f"}; !reflect.DeepEqual(names, want) {
		t.Errorf("fields = %q, want %q", names, want)
	}
	v := reflect.New(typ)
	if err := json.Unmarshal([]byte(`{"c": 1, "e": 2, "f": 3}`), v.Interface()); err != nil {
		t.Fatal(err)
	}
	if c := v.Elem().Field(0).Field(0).Int() + v.Elem().Field(1).Field(0).Int(); c != 0 {
		t.Errorf("encoding/json read c after all: the rule changed")
	}
}
