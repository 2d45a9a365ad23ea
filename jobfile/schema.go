package jobfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
)

// SchemaBaseURL is where the published schemas are, for their $id.
const SchemaBaseURL = "https://raw.githubusercontent.com/hashike/hashike/main/docs/schema/"

// Schemas are the JSON Schemas of the files jobfile reads, by file name: a job file of
// `hashike run` (jobfile.schema.json) and a job definition of `hashike server`
// (job.schema.json).
var Schemas = []struct {
	File  string
	Title string
	Type  reflect.Type
}{
	{"jobfile.schema.json", "hashike job file (hashike run)", reflect.TypeFor[hashike.JobSpec]()},
	{"job.schema.json", "hashike job definition (hashike server --jobs)", reflect.TypeFor[job.Definition]()},
}

// GenerateSchema returns the JSON Schema (draft 2020-12) of the files whose top level is t,
// from the same rules the decoder follows: the fields encoding/json would read, the ECS
// fields kept in Extra, durations as Go duration text, task sizes as a string or a number,
// and a task definition written inline or as the path of a task definition file.
// Descriptions are the Go doc comments of the module rooted at root (none when root is "").
func GenerateSchema(file, title string, t reflect.Type, root string) ([]byte, error) {
	docs, err := readDocs(root)
	if err != nil {
		return nil, err
	}
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}, docs: docs}
	top := g.object(t)
	top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	top["$id"] = SchemaBaseURL + file
	top["title"] = title
	top["$defs"] = g.defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
	docs  map[string]string // "pkgpath.Type" and "pkgpath.Type.Field" -> doc
}

const durationPattern = `^([0-9]+d(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*|(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": durationPattern,
			"description": `A duration as Go writes it ("90s", "10m", "1h30m"), optionally led by whole days ("7d", "1d12h").`}
	case taskSizeType:
		return map[string]any{"type": []string{"string", "number"},
			"description": g.doc(t, "") + ` A number is read as its decimal text.`}
	case extraType:
		return map[string]any{"type": "object"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		if ty, ok := s["type"].(string); ok {
			s["type"] = []string{ty, "null"}
			return s
		}
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		return g.ref(t)
	}
	return map[string]any{} // interface{}: any value
}

// ref puts a named struct's schema in $defs and refers to it.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name, ok := g.names[t]
	if !ok {
		name = t.Name()
		for _, other := range g.names {
			if other == name {
				name = filepath.Base(t.PkgPath()) + "." + t.Name()
			}
		}
		g.names[t] = name
		g.defs[name] = nil // taken, for recursive types
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

// object is a struct's schema: its fields (and those of embedded structs), the ECS fields
// its Extra keeps, and nothing else.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range jsonFields(t) {
		sf := t.FieldByIndex(f.index)
		s := g.schema(sf.Type)
		if t == reflect.TypeFor[hashike.JobSpec]() && f.name == "taskDefinition" ||
			t == reflect.TypeFor[job.Definition]() && f.name == "taskDefinition" {
			s = map[string]any{"anyOf": []any{s, map[string]any{"type": "string", "minLength": 1,
				"description": "The path of a task definition file (JSON, YAML or Jsonnet), relative to the job file, such as ecspresso's ecs-task-def.json."}}}
		}
		owner := t
		if len(f.index) > 1 {
			owner = t.FieldByIndex(f.index[:len(f.index)-1]).Type
			if owner.Kind() == reflect.Pointer {
				owner = owner.Elem()
			}
		}
		if d := g.doc(owner, sf.Name); d != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "description": d}
			} else if typeDoc, has := s["description"].(string); has {
				s["description"] = d + " " + typeDoc
			} else {
				s["description"] = d
			}
		}
		props[f.name] = s
		if f.name == "taskDefinition" && (t == reflect.TypeFor[hashike.JobSpec]() || t == reflect.TypeFor[job.Definition]()) {
			required = append(required, f.name)
		}
	}
	var extra []string
	switch t {
	case taskDefType:
		extra = hashike.ECSTaskDefinitionExtraFields
	case containerDefType:
		extra = hashike.ECSContainerDefinitionExtraFields
	case volumeType:
		extra = hashike.ECSVolumeExtraFields
	}
	for _, n := range extra {
		props[n] = map[string]any{"description": "An ECS field hashike keeps verbatim: the backend honours, ignores (with a warning) or refuses it."}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		s["required"] = required
	}
	if d := g.doc(t, ""); d != "" {
		s["description"] = d
	}
	return s
}

func (g *schemaGen) doc(t reflect.Type, field string) string {
	key := t.PkgPath() + "." + t.Name()
	if field != "" {
		key += "." + field
	}
	return g.docs[key]
}

// readDocs reads the doc comments of the module's types and struct fields from its Go
// sources (not the tests), keyed "pkgpath.Type" and "pkgpath.Type.Field".
func readDocs(root string) (map[string]string, error) {
	docs := map[string]string{}
	if root == "" {
		return docs, nil
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	modPath := ""
	for line := range strings.Lines(string(mod)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			modPath = strings.TrimSpace(p)
		}
	}
	for _, dir := range []string{".", "job", "cron", "dispatch"} {
		pkg := modPath
		if dir != "." {
			pkg += "/" + dir
		}
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			return nil, err
		}
		fset := token.NewFileSet()
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
			if err != nil {
				return nil, fmt.Errorf("read docs: %w", err)
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					doc := ts.Doc
					if doc == nil && len(gd.Specs) == 1 {
						doc = gd.Doc
					}
					docs[pkg+"."+ts.Name.Name] = cleanDoc(doc)
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fl := range st.Fields.List {
						for _, n := range fl.Names {
							docs[pkg+"."+ts.Name.Name+"."+n.Name] = cleanDoc(fl.Doc)
						}
					}
				}
			}
		}
	}
	return docs, nil
}

// cleanDoc is a comment as one paragraph of text.
func cleanDoc(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	return strings.Join(strings.Fields(c.Text()), " ")
}

// ModuleRoot is the directory of the go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod at or above the current directory")
		}
		dir = parent
	}
}
