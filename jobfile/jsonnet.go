package jobfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
)

// ExtVars are Jsonnet's external variables (std.extVar), as `--ext-str NAME=VALUE` and
// `--ext-code NAME=CODE` of jsonnet and ecspresso give them.
type ExtVars struct {
	Str  map[string]string
	Code map[string]string
}

// ParseExtVars reads NAME=VALUE arguments into ExtVars; flag names the flag in errors.
func ParseExtVars(str, code []string) (ExtVars, error) {
	var v ExtVars
	for _, set := range []struct {
		flag string
		args []string
		into *map[string]string
	}{{"--ext-str", str, &v.Str}, {"--ext-code", code, &v.Code}} {
		for _, a := range set.args {
			name, value, ok := strings.Cut(a, "=")
			if !ok || name == "" {
				return ExtVars{}, fmt.Errorf("%s %q: must be NAME=VALUE", set.flag, a)
			}
			if *set.into == nil {
				*set.into = map[string]string{}
			}
			(*set.into)[name] = value
		}
	}
	return v, nil
}

// isJsonnet says whether a file is read as Jsonnet, by its extension.
func isJsonnet(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".jsonnet" || ext == ".libsonnet"
}

// jsonnetError is an evaluation error at its place in the Jsonnet source.
type jsonnetError struct {
	file      string
	line, col int
	message   string
}

// errorCatcher keeps the evaluation's error as go-jsonnet gives it, with its location,
// instead of the formatted text the VM returns.
type errorCatcher struct{ err error }

func (c *errorCatcher) Format(err error) string                  { c.err = err; return err.Error() }
func (c *errorCatcher) SetMaxStackTraceSize(int)                 {}
func (c *errorCatcher) SetColorFormatter(jsonnet.ColorFormatter) {}

// evalJsonnet evaluates a Jsonnet file to JSON. Imports are relative to the importing
// file. ecspresso's functions are native functions: std.native('env')('NAME', 'default'),
// std.native('must_env')('NAME'), std.native('ssm'), std.native('secretsmanager_arn'),
// std.native('tfstate') and std.native('json_escape').
func evalJsonnet(name, text string, ext ExtVars, f *funcs, readFile func(string) ([]byte, error)) (string, *jsonnetError) {
	vm := jsonnet.MakeVM()
	vm.Importer(&importer{readFile: readFile, cache: map[string]jsonnet.Contents{}})
	catcher := &errorCatcher{}
	vm.ErrorFormatter = catcher
	for k, v := range ext.Str {
		vm.ExtVar(k, v)
	}
	for k, v := range ext.Code {
		vm.ExtCode(k, v)
	}
	for _, nf := range f.natives() {
		vm.NativeFunction(nf)
	}
	out, err := vm.EvaluateSnippet(name, text) //nolint:staticcheck // unlike EvaluateAnonymousSnippet, it resolves relative imports from name
	if err == nil {
		if len(out) > maxFileSize {
			return "", &jsonnetError{file: name, line: 1, col: 1, message: fmt.Sprintf("Jsonnet: the rendered JSON is larger than %d KiB", maxFileSize/1024)}
		}
		return out, nil
	}
	je := &jsonnetError{file: name, line: 1, col: 1, message: "Jsonnet: " + err.Error()}
	var loc ast.LocationRange
	var rt jsonnet.RuntimeError
	var static interface{ Loc() ast.LocationRange }
	switch {
	case errors.As(catcher.err, &rt):
		je.message = "Jsonnet: " + rt.Msg
		// The innermost frame, where the error is, comes last.
		for _, fr := range rt.StackTrace {
			if fr.Loc.Begin.IsSet() {
				loc = fr.Loc
			}
		}
	case errors.As(catcher.err, &static):
		loc = static.Loc()
		msg := catcher.err.Error()
		// "file:1:2-3 message": the location is given apart.
		if i := strings.Index(msg, " "); i >= 0 && strings.Contains(msg[:i], ":") {
			msg = msg[i+1:]
		}
		je.message = "Jsonnet: " + msg
	}
	if loc.Begin.IsSet() {
		je.line, je.col = loc.Begin.Line, loc.Begin.Column
		if loc.FileName != "" {
			je.file = loc.FileName
		}
	}
	return "", je
}

// importer reads imports with the loader's readFile, relative to the importing file.
type importer struct {
	readFile func(string) ([]byte, error)
	cache    map[string]jsonnet.Contents
}

func (im *importer) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	file := importedPath
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(importedFrom), file)
	}
	if c, ok := im.cache[file]; ok {
		return c, file, nil
	}
	if im.readFile == nil {
		return jsonnet.Contents{}, "", fmt.Errorf("cannot import %q: a definition sent to the server cannot read the server's files", importedPath)
	}
	data, err := im.readFile(file)
	if err != nil {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: %w", importedPath, err)
	}
	if len(data) > maxFileSize {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: larger than %d KiB", importedPath, maxFileSize/1024)
	}
	c := jsonnet.MakeContents(string(data))
	im.cache[file] = c
	return c, file, nil
}

// natives are ecspresso's template functions for Jsonnet. A failure is an error at the call.
func (f *funcs) natives() []*jsonnet.NativeFunction {
	// A bad HASHIKE_TFSTATE is the template's to report; here it only leaves tfstate out.
	fm, _ := f.funcMap()
	str := func(args []any, i int) string {
		if i < len(args) {
			if s, ok := args[i].(string); ok {
				return s
			}
			return fmt.Sprint(args[i])
		}
		return ""
	}
	// call runs a template function and turns a failure it recorded into an error.
	call := func(do func() string) (any, error) {
		n := len(f.failures)
		v := do()
		for _, fl := range f.failures[n:] {
			if !fl.placeholder {
				return nil, errors.New(fl.message)
			}
		}
		return v, nil
	}
	out := []*jsonnet.NativeFunction{
		{Name: "env", Params: ast.Identifiers{"name", "default"}, Func: func(a []any) (any, error) {
			if v, ok := f.lookupEnv(str(a, 0)); ok && v != "" {
				return v, nil
			}
			return str(a, 1), nil
		}},
		{Name: "must_env", Params: ast.Identifiers{"name"}, Func: func(a []any) (any, error) {
			if v, ok := f.lookupEnv(str(a, 0)); ok {
				return v, nil
			}
			return nil, fmt.Errorf("must_env: environment variable %q is not set", str(a, 0))
		}},
		{Name: "json_escape", Params: ast.Identifiers{"s"}, Func: func(a []any) (any, error) {
			return jsonEscape(str(a, 0)), nil
		}},
		{Name: "ssm", Params: ast.Identifiers{"name"}, Func: func(a []any) (any, error) {
			return call(func() string { return f.ssm(str(a, 0)) })
		}},
		{Name: "ssm_list", Params: ast.Identifiers{"name", "index"}, Func: func(a []any) (any, error) {
			idx := 0
			if n, ok := a[1].(float64); ok {
				idx = int(n)
			}
			return call(func() string { return f.ssm(str(a, 0), idx) })
		}},
		{Name: "secretsmanager_arn", Params: ast.Identifiers{"name"}, Func: func(a []any) (any, error) {
			return call(func() string { return f.secretARN(str(a, 0)) })
		}},
	}
	for name, fn := range fm {
		if strings.HasSuffix(name, "tfstate") {
			tf := fn.(func(string) string)
			out = append(out, &jsonnet.NativeFunction{Name: name, Params: ast.Identifiers{"address"}, Func: func(a []any) (any, error) {
				return call(func() string { return tf(str(a, 0)) })
			}})
		}
	}
	return out
}
