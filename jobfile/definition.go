package jobfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
)

// DefinitionOptions says what a job definition's text may use of the machine that loads it.
type DefinitionOptions struct {
	// Templates renders the text with env and must_env, as Load does, from LookupEnv (nil:
	// the process environment). Without it, every "{{" is refused at its position: a
	// definition sent through the API must not read the server's environment, and leaving
	// the action as text would give it a meaning its author did not intend.
	Templates bool
	LookupEnv func(string) (string, bool)
	// ReadFile reads the task definition file that taskDefinition may name, relative to the
	// definition's name. Nil refuses such a name: a definition sent through the API must
	// not read the server's files.
	ReadFile func(string) ([]byte, error)
	// Lookups serve the AWS template functions; ExtVars are Jsonnet's external variables.
	Lookups Lookups
	ExtVars ExtVars
	// Family is the task definition family when the definition names none: a registered
	// job's family defaults to the job's name.
	Family string
}

// Definition is a loaded job definition of `hashike server`.
type Definition struct {
	Job job.Definition
	// Warnings are the problems of warning severity, with Pos.
	Warnings []hashike.FieldError

	positions map[string]span
}

// LoadDefinition decodes and validates a job definition: a job file (see the package
// comment) with job.Definition's fields beside the JobSpec's. name is where data came
// from, used in positions and to find a task definition file it names. Every error is a
// *hashike.Error with code EInvalid whose Fields list every problem, each with its Pos,
// sorted by position: those of the job file, and what JobSpec.Validate and
// job.Definition.Validate find.
func LoadDefinition(name string, data []byte, opts DefinitionOptions) (*Definition, error) {
	lookupEnv := opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	l := &loader{lookupEnv: lookupEnv, readFile: opts.ReadFile, templates: opts.Templates, lookups: opts.Lookups, ext: opts.ExtVars, d: newDecoder()}
	def := &Definition{positions: l.d.positions}
	l.load(name, data, &def.Job)
	if def.Job.TaskDefinition.Family == "" {
		def.Job.TaskDefinition.Family = opts.Family
	}
	validate := func() []hashike.FieldError {
		return append(def.Job.JobSpec.Validate(), def.Job.Validate()...)
	}
	if err := l.finish(name, validate, &def.Warnings); err != nil {
		return nil, err
	}
	return def, nil
}

// Locate is File.Locate for a definition.
func (d *Definition) Locate(path string) string {
	if d == nil {
		return ""
	}
	return locate(d.positions, path).String()
}

// Annotate is File.Annotate for a definition.
func (d *Definition) Annotate(errs []hashike.FieldError) []hashike.FieldError {
	if errs == nil {
		return nil
	}
	out := make([]hashike.FieldError, len(errs))
	for i, e := range errs {
		if e.Pos == "" {
			e.Pos = d.Locate(e.Path)
		}
		out[i] = e
	}
	return out
}

// definitionExts are the extensions of the files LoadDir reads.
var definitionExts = []string{".yaml", ".yml", ".json", ".jsonnet"}

// LoadDir loads every *.yaml, *.yml and *.json file of dir (not of its subdirectories,
// and not those whose name starts with ".") as a job definition, templates rendered from
// lookupEnv (nil: the process environment), and returns them by job name: the file's name
// without its extension. A file that another definition of dir names as its
// taskDefinition is that definition's task definition, not a job of its own.
//
// Every error is a *hashike.Error with code EInvalid. When dir was read, its Fields list
// the problems of every file at once: names that job.ValidName refuses, two files for one
// name, and each file's problems as LoadDefinition reports them.
func LoadDir(dir string, lookupEnv func(string) (string, bool)) (map[string]*Definition, error) {
	return LoadDirWith(dir, Options{LookupEnv: lookupEnv})
}

// LoadDirWith is LoadDir with the lookups of the AWS template functions and Jsonnet's
// external variables; it reads *.jsonnet files as well.
func LoadDirWith(dir string, o Options) (map[string]*Definition, error) {
	lookupEnv := o.LookupEnv
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "cannot read job directory", Err: err}
	}
	type loaded struct {
		file string
		def  *Definition
		errs []hashike.FieldError
	}
	byName := map[string][]loaded{}
	var names []string
	referenced := map[string]bool{}
	opts := DefinitionOptions{Templates: true, LookupEnv: lookupEnv, Lookups: o.Lookups, ExtVars: o.ExtVars, ReadFile: func(name string) ([]byte, error) {
		referenced[absPath(name)] = true
		return os.ReadFile(name)
	}}
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !slices.Contains(definitionExts, ext) {
			continue
		}
		file := filepath.Join(dir, e.Name())
		l := loaded{file: file}
		data, err := os.ReadFile(file)
		if err == nil {
			fileOpts := opts
			fileOpts.Family = strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			l.def, err = LoadDefinition(file, data, fileOpts)
		}
		var he *hashike.Error
		switch {
		case err == nil:
		case errors.As(err, &he) && len(he.Fields) > 0:
			l.errs = he.Fields
		default:
			l.errs = []hashike.FieldError{{Message: fmt.Sprintf("cannot read job file: %v", err), Severity: hashike.SeverityError, Pos: file + ":1:1"}}
		}
		name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		if _, seen := byName[name]; !seen {
			names = append(names, name)
		}
		byName[name] = append(byName[name], l)
	}
	defs := map[string]*Definition{}
	var problems []hashike.FieldError
	slices.Sort(names)
	for _, name := range names {
		var files []loaded
		for _, l := range byName[name] {
			if !referenced[absPath(l.file)] {
				files = append(files, l)
			}
		}
		switch {
		case len(files) == 0:
			continue
		case len(files) > 1:
			var others []string
			for _, l := range files[1:] {
				others = append(others, filepath.Base(l.file))
			}
			problems = append(problems, hashike.FieldError{
				Message:  fmt.Sprintf("job %q is also defined by %s: keep one file per job", name, strings.Join(others, " and ")),
				Severity: hashike.SeverityError, Pos: files[0].file + ":1:1",
			})
		case !job.ValidName(name):
			problems = append(problems, hashike.FieldError{
				Message:  fmt.Sprintf("%q is not a job name (the file's name without its extension): 1 to 255 letters, digits, '-' or '_', starting with a letter or digit", name),
				Severity: hashike.SeverityError, Pos: files[0].file + ":1:1",
			})
		case files[0].errs == nil:
			defs[name] = files[0].def
		}
		for _, l := range files {
			problems = append(problems, l.errs...)
		}
	}
	if len(problems) > 0 {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: dir + ": invalid job definitions", Fields: problems}
	}
	return defs, nil
}

// absPath is path made absolute, to compare two names of one file; path as it is when that
// fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}
