package jobfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/hashike/hashike"
)

// maxFileSize bounds each file read: ECS takes at most 64 KiB of task definition, and the
// YAML parser slows down quadratically with the number of keys in a mapping.
const maxFileSize = 256 * 1024

// maxProblems bounds the problems one load reports; a file wrong in a thousand places does
// not need a thousand lines to say so.
const maxProblems = 100

// File is a loaded job definition.
type File struct {
	Spec hashike.JobSpec
	// Warnings are the problems of warning severity, with Pos.
	Warnings []hashike.FieldError

	positions map[string]span
}

// Load reads, templates, decodes and validates the job file at path. lookupEnv serves the
// templates' env and must_env (nil: the process environment). Every error is a
// *hashike.Error with code EInvalid; when the file was read, its Fields list every problem,
// each with its Pos, sorted by position. The AWS template functions fail: LoadWith takes
// their lookups.
func Load(path string, lookupEnv func(string) (string, bool)) (*File, error) {
	return LoadWith(path, Options{LookupEnv: lookupEnv})
}

// Options says what a job file may read of the machine that loads it.
type Options struct {
	// LookupEnv serves env, must_env and HASHIKE_TFSTATE (nil: the process environment).
	LookupEnv func(string) (string, bool)
	// Lookups serve ssm, secretsmanager_arn and tfstate in S3.
	Lookups Lookups
	// ExtVars are a Jsonnet file's external variables.
	ExtVars ExtVars
}

// LoadWith is Load with the lookups of the AWS template functions and Jsonnet's external
// variables. A file named *.jsonnet is evaluated as Jsonnet first.
func LoadWith(path string, opts Options) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "cannot read job file", Err: err}
	}
	return loadBytes(path, data, opts, os.ReadFile)
}

// LoadBytes is Load for a job file already read: name is the file's path, used in positions
// and to find a task definition file it references; readFile reads that file (nil:
// os.ReadFile).
func LoadBytes(name string, data []byte, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (*File, error) {
	return loadBytes(name, data, Options{LookupEnv: lookupEnv}, readFile)
}

func loadBytes(name string, data []byte, opts Options, readFile func(string) ([]byte, error)) (*File, error) {
	lookupEnv := opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	l := &loader{lookupEnv: lookupEnv, readFile: readFile, templates: true, lookups: opts.Lookups, ext: opts.ExtVars, d: newDecoder()}
	f := &File{positions: l.d.positions}
	l.load(name, data, &f.Spec)
	if err := l.finish(name, f.Spec.Validate, &f.Warnings); err != nil {
		return nil, err
	}
	return f, nil
}

// finish places the problems found while loading and, when the document was decoded far
// enough, those validate finds (its warnings go to warnings). It returns them as the
// documented *hashike.Error, or nil when there is none.
func (l *loader) finish(name string, validate func() []hashike.FieldError, warnings *[]hashike.FieldError) error {
	var errs []problem
	for _, p := range l.problems() {
		if !p.at.valid() {
			p.at = l.root
		}
		errs = append(errs, p)
	}
	if l.validate {
		errs = append(errs, l.validated(validate(), warnings)...)
	}
	errs = l.dropEchoes(errs)
	if len(errs) == 0 {
		return nil
	}
	return &hashike.Error{Code: hashike.EInvalid, Message: name + ": invalid job definition", Fields: fieldErrors(errs)}
}

// Locate returns "file:line:col" for a field path: the position of its value, or, when the
// path is not in the file (a field left out), the position of the deepest enclosing field
// that is (of its key, when it has one). It returns "" when no part of path is known.
func (f *File) Locate(path string) string {
	if f == nil {
		return ""
	}
	return locate(f.positions, path).String()
}

// Annotate returns a copy of errs with Pos filled in from Locate where it was empty; a
// backend's Check results get positions this way.
func (f *File) Annotate(errs []hashike.FieldError) []hashike.FieldError {
	if errs == nil {
		return nil
	}
	out := make([]hashike.FieldError, len(errs))
	for i, e := range errs {
		if e.Pos == "" {
			e.Pos = f.Locate(e.Path)
		}
		out[i] = e
	}
	return out
}

// parentPath drops the last element of a field path: "a.b[0].c" -> "a.b[0]" -> "a.b" -> "a" -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

type loader struct {
	lookupEnv func(string) (string, bool)
	// readFile reads a referenced task definition file; nil refuses the reference.
	readFile func(string) ([]byte, error)
	// templates: render the text; otherwise refuse any "{{" in it.
	templates bool
	// lookups serve the templates' AWS functions; ext, Jsonnet's external variables.
	lookups  Lookups
	ext      ExtVars
	cache    *lookupCache // shared by the renders of a load; nil: made at the first
	d        *decoder
	sources  int
	root     pos  // the job file's start, for problems with no better place
	validate bool // the spec was decoded far enough for Validate to say something useful
	// problems found outside the decoder: templates, YAML syntax
	extra []problem
}

func (l *loader) lookupCache() *lookupCache {
	if l.cache == nil {
		l.cache = newLookupCache()
	}
	return l.cache
}

func (l *loader) problems() []problem {
	return append(append([]problem(nil), l.extra...), l.d.problems...)
}

// load decodes the job file into target, a pointer to a JobSpec or a struct embedding one.
func (l *loader) load(name string, data []byte, target any) {
	l.d.reference = l.reference
	src, body := l.parse(name, data, "")
	l.root = pos{src: src, line: 1, col: 1}
	if body == nil {
		return
	}
	restore := l.d.withSource(src, body)
	defer restore()
	at := l.d.nodePos(body)
	r, release, ok := l.d.enter("", at, body)
	if !ok {
		return
	}
	defer release()
	if !isMapping(r) {
		l.d.report("", at, true, "a job file must be a mapping with taskDefinition (and backend, watchContainer, timeout), got %s", describe(r))
		return
	}
	l.d.positions[""] = span{val: at}
	l.validate = true
	l.d.decodeStruct("", r, reflect.ValueOf(target).Elem())
	if _, ok := l.d.positions["taskDefinition"]; !ok {
		l.d.report("taskDefinition", at, true, "is required: an ECS task definition mapping, or the path of a task definition file")
	}
}

// parse templates and parses one file. It returns the source the positions refer to and the
// document's body, or a nil body when there is nothing to decode (every reason is reported).
// path is the field that names the file, for a referenced one.
func (l *loader) parse(name string, data []byte, path string) (*source, ast.Node) {
	index := l.sources
	l.sources++
	what := "job file"
	if path != "" {
		what = "task definition file"
	}
	if len(data) > maxFileSize {
		at := pos{src: newSource(name, index, ""), line: 1, col: 1}
		l.extra = append(l.extra, problem{path: path, at: at, lost: true,
			message: fmt.Sprintf("the %s is %d KiB; hashike reads at most %d KiB", what, len(data)/1024, maxFileSize/1024)})
		return at.src, nil
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	if isJsonnet(name) {
		if !l.templates {
			at := pos{src: newSource(name, index, ""), line: 1, col: 1}
			l.extra = append(l.extra, problem{path: path, at: at, lost: true, message: "Jsonnet is not evaluated in a definition sent to the server"})
			return at.src, nil
		}
		// As ecspresso: Jsonnet first, then the template functions over its JSON.
		out, je := evalJsonnet(name, text, l.ext, &funcs{lookupEnv: l.lookupEnv, lookups: l.lookups, cache: l.lookupCache()}, l.readFile)
		if je != nil {
			src := newSource(je.file, index, "")
			if je.file == name {
				src = newSource(name, index, text)
			}
			l.extra = append(l.extra, problem{path: path, at: pos{src: src, line: je.line, col: je.col}, lost: true, message: je.message})
			return src, nil
		}
		text = out
	}
	// Problems past Jsonnet are in its JSON output, not in the file: say so in their positions.
	srcName := name
	if isJsonnet(name) {
		srcName = name + " (rendered)"
	}
	raw := newSource(srcName, index, text)
	out, tps, ok := text, refuseTemplates(text), true
	if l.templates {
		out, tps, ok = render(text, &funcs{lookupEnv: l.lookupEnv, lookups: l.lookups, cache: l.lookupCache()})
	} else if len(tps) > 0 {
		ok = false
	}
	for _, tp := range tps {
		l.extra = append(l.extra, problem{path: path, message: tp.message, at: raw.at(tp.off), lost: !tp.mustEnv && !tp.placeholder, mustEnv: tp.mustEnv, placeholder: tp.placeholder, action: raw.at(tp.action)})
	}
	if !ok {
		return raw, nil
	}
	src := newSource(srcName, index, out)
	if off, limit := scanLimits(out); off >= 0 {
		l.extra = append(l.extra, problem{path: path, message: fmt.Sprintf("the %s %s", what, limit), at: src.at(off), lost: true})
		return src, nil
	}
	file, err := parseYAML(out)
	if err != nil {
		at := src.start()
		msg := err.Error()
		var ye interface {
			GetToken() *token.Token
			GetMessage() string
		}
		if errors.As(err, &ye) {
			at, msg = src.tokenPos(ye.GetToken()), ye.GetMessage()
		}
		l.extra = append(l.extra, problem{path: path, message: "YAML syntax error: " + msg, at: at, lost: true})
		return src, nil
	}
	var docs []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	switch {
	case len(docs) == 0 || len(docs) == 1 && isNull(docs[0].Body):
		l.extra = append(l.extra, problem{path: path, message: fmt.Sprintf("the %s is empty", what), at: src.start(), lost: true})
		return src, nil
	case len(docs) > 1:
		at := src.nodePos(docs[1].Body)
		l.extra = append(l.extra, problem{path: path, message: fmt.Sprintf("the %s holds %d YAML documents; it must hold one", what, len(docs)), at: at, lost: true})
		return src, nil
	}
	return src, docs[0].Body
}

// parseYAML parses text, turning a panic of the parser into an error: a malformed file must
// not take the process down.
func parseYAML(text string) (file *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			file, err = nil, fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	// Duplicate keys are reported by the decoder, all of them rather than the first.
	return parser.ParseBytes([]byte(text), 0, parser.AllowDuplicateMapKey())
}

// reference loads the task definition file that the job file's taskDefinition names
// (n, a string node) into rv.
func (l *loader) reference(path string, keyAt pos, n ast.Node, rv reflect.Value) {
	d := l.d
	at := d.nodePos(n)
	ref, _ := stringValue(n)
	switch ext := strings.ToLower(filepath.Ext(ref)); {
	case strings.TrimSpace(ref) == "":
		d.report(path, at, true, "must be a task definition mapping or the path of a task definition file, got an empty string")
		return
	case ext == ".libsonnet":
		d.report(path, at, true, "%q is a Jsonnet library, to import from a .jsonnet file: name the .jsonnet file", ref)
		return
	}
	if l.readFile == nil {
		d.report(path, at, true, "names the task definition file %q, but a definition sent to the server cannot read the server's files: write the task definition inline", ref)
		return
	}
	file := ref
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(d.src.name), file)
	}
	data, err := l.readFile(file)
	if err != nil {
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.report(path, at, true, "task definition file %s does not exist", file)
		case errors.As(err, &pe):
			d.report(path, at, true, "cannot read task definition file %s: %v", file, pe.Err)
		default:
			d.report(path, at, true, "cannot read task definition file %s: %v", file, err)
		}
		return
	}
	src, body := l.parse(file, data, path)
	if body == nil {
		return
	}
	restore := d.withSource(src, body)
	defer restore()
	d.inRef = true
	defer func() { d.inRef = false }()
	d.decode(path, pos{}, body, rv, false)
}

// validated places the findings of a Validate. Warnings go to warnings.
func (l *loader) validated(errs []hashike.FieldError, warnings *[]hashike.FieldError) []problem {
	var out []problem
	for _, e := range errs {
		at := l.locate(e.Path)
		if e.Severity == hashike.SeverityWarning {
			e.Pos = at.String()
			*warnings = append(*warnings, e)
			continue
		}
		out = append(out, problem{path: e.Path, message: e.Message, at: at, fromValidate: true})
	}
	return out
}

func (l *loader) locate(path string) pos {
	if at := locate(l.d.positions, path); at.valid() {
		return at
	}
	return l.root
}

// locate is the position of path's value, or of the deepest enclosing field's key (its value
// when it has no key), or the zero pos.
func locate(positions map[string]span, path string) pos {
	if s, ok := positions[path]; ok && path != "" {
		if s.val.valid() {
			return s.val
		}
		return s.key
	}
	for p := parentPath(path); p != ""; p = parentPath(p) {
		if s, ok := positions[p]; ok {
			if s.key.valid() {
				return s.key
			}
			return s.val
		}
	}
	return pos{}
}

var (
	containerPathRE = regexp.MustCompile(`^taskDefinition(\.containerDefinitions(\[\d+\](\.name)?)?)?$`)
	namesRefRE      = regexp.MustCompile(`^(watchContainer|taskDefinition\.containerDefinitions\[\d+\]\.dependsOn\[\d+\]\.containerName)$`)
)

// dropEchoes removes the problems that only restate another: Validate's complaint about a
// value that could not be decoded (a field "is required" after its value had the wrong
// type), and complaints about values on the line of an unset must_env variable, whose ""
// caused them.
func (l *loader) dropEchoes(ps []problem) []problem {
	var lost []string
	namesLost := false
	mustEnvLines := map[[2]int]bool{}
	for _, p := range ps {
		if p.lost {
			lost = append(lost, p.path)
			namesLost = namesLost || containerPathRE.MatchString(p.path)
		}
		if (p.mustEnv || p.placeholder) && p.at.valid() {
			mustEnvLines[[2]int{p.at.src.index, p.at.line}] = true
		}
	}
	var out []problem
	for _, p := range ps {
		if p.placeholder {
			continue
		}
		if (p.lost || p.fromValidate) && !p.mustEnv && p.at.valid() && mustEnvLines[[2]int{p.at.src.index, p.at.line}] {
			continue
		}
		if p.fromValidate && echoes(p.path, lost, namesLost) {
			continue
		}
		out = append(out, p)
	}
	// A must_env problem names the field on its line, when there is one.
	for i := range out {
		if out[i].mustEnv {
			if path := l.pathOnLine(out[i].action); path != "" {
				out[i].path = path
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.before(out[j].at) })
	if len(out) > maxProblems {
		more := len(out) - maxProblems
		at := out[maxProblems].at
		out = append(out[:maxProblems], problem{at: at, message: fmt.Sprintf("... and %d more problems", more)})
	}
	return out
}

// echoes reports whether a Validate finding at path follows from a value that was lost:
// it is about that value, something inside it, or the field that holds it.
func echoes(path string, lost []string, namesLost bool) bool {
	if namesLost && namesRefRE.MatchString(path) {
		return true
	}
	for _, lp := range lost {
		if path == lp || lp == "" || isUnder(path, lp) || path == parentPath(lp) {
			return true
		}
	}
	return false
}

func isUnder(path, parent string) bool {
	return strings.HasPrefix(path, parent) && len(path) > len(parent) && (path[len(parent)] == '.' || path[len(parent)] == '[')
}

// pathOnLine finds the field whose value (or key) starts on at's line, nearest at or before at.
func (l *loader) pathOnLine(at pos) string {
	best, bestCol := "", 0
	consider := func(path string, p pos) {
		if !p.valid() || p.src.index != at.src.index || p.line != at.line || p.col > at.col {
			return
		}
		if p.col > bestCol || p.col == bestCol && (len(path) > len(best) || len(path) == len(best) && path < best) {
			best, bestCol = path, p.col
		}
	}
	for path, s := range l.d.positions {
		if path == "" {
			continue
		}
		consider(path, s.val)
		consider(path, s.key)
	}
	return best
}

func fieldErrors(ps []problem) []hashike.FieldError {
	out := make([]hashike.FieldError, len(ps))
	for i, p := range ps {
		out[i] = hashike.FieldError{Path: p.path, Message: p.message, Severity: hashike.SeverityError, Pos: p.at.String()}
	}
	return out
}
