package jobfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
)

// InspectOptions configures Inspect.
type InspectOptions struct {
	// LookupEnv serves the templates (nil: the process environment); ReadFile reads a
	// task definition file the text names (nil: os.ReadFile).
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
	// Lookups serve the AWS template functions (Lookups.Offline: placeholders); ExtVars
	// are Jsonnet's external variables.
	Lookups Lookups
	ExtVars ExtVars
	// Check adds findings about the decoded spec, such as a backend's Check: they get
	// positions, lose the echoes of values that could not be decoded, and are sorted with
	// the rest. It is called only when the document was decoded far enough to mean something.
	Check func(*hashike.JobSpec) []hashike.FieldError
	// Server reads the text as a job definition of hashike server even without fields of
	// its own, as LoadDir reads every file of the server's job directory.
	Server bool
	// Unnamed: the text has no file name to take a job name from (standard input). A job
	// definition's family then defaults to the name it is registered under, which the
	// text does not tell.
	Unnamed bool
}

// Inspection is what Inspect found in one file.
type Inspection struct {
	// Server: the file has fields of a job definition of `hashike server` (queue,
	// retryStrategy, schedule, ...), so it was read as the server reads a file of its job
	// directory (LoadDir); otherwise as `hashike run` reads a job file (Load).
	Server bool
	// Job is the definition as far as it was decoded; its JobSpec is the job file's spec.
	Job job.Definition
	// Problems are every error and warning, each with its Pos, in position order: the
	// file's, those its Validate finds, and those of InspectOptions.Check.
	Problems []hashike.FieldError

	positions map[string]span
}

// serverFields are the top-level fields a job definition has and a job file does not.
var serverFields = func() map[string]bool {
	spec := map[string]bool{}
	for _, f := range jsonFields(reflect.TypeFor[hashike.JobSpec]()) {
		spec[f.name] = true
	}
	out := map[string]bool{}
	for _, f := range jsonFields(reflect.TypeFor[job.Definition]()) {
		if !spec[f.name] {
			out[f.name] = true
		}
	}
	return out
}()

// Inspect reads a job file or a job definition of `hashike server` the way the command that
// takes it will (Load, or LoadDir for a file of the server's job directory, whose job name
// and default family are the file's name), and reports every problem in one pass, in
// position order, rather than the structural ones first. It is `hashike validate`.
func Inspect(name string, data []byte, opts InspectOptions) *Inspection {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	cache := newLookupCache() // the two loads ask AWS once
	newLoader := func() *loader {
		return &loader{lookupEnv: opts.LookupEnv, readFile: opts.ReadFile, templates: true, lookups: opts.Lookups, ext: opts.ExtVars, cache: cache, d: newDecoder()}
	}
	check := func(spec *hashike.JobSpec) []hashike.FieldError {
		if opts.Check == nil {
			return nil
		}
		return opts.Check(spec)
	}
	in := &Inspection{}
	l := newLoader()
	l.load(name, data, &in.Job)
	in.Server = opts.Server
	for key := range serverFields {
		if _, ok := l.d.positions[key]; ok {
			in.Server = true
		}
	}
	var validate func() []hashike.FieldError
	jobName := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	if in.Server {
		// Without a job name (or with one the server refuses, reported below), the family
		// is not known either.
		unnamed := (opts.Unnamed || !job.ValidName(jobName)) && in.Job.TaskDefinition.Family == ""
		if in.Job.TaskDefinition.Family == "" {
			in.Job.TaskDefinition.Family = jobName
		}
		if unnamed {
			// Any valid name checks the rest; the job's own is not known.
			in.Job.TaskDefinition.Family = "job"
		}
		validate = func() []hashike.FieldError {
			defer func() {
				if unnamed {
					in.Job.TaskDefinition.Family = ""
				}
			}()
			return append(append(in.Job.JobSpec.Validate(), in.Job.Validate()...), check(&in.Job.JobSpec)...)
		}
	} else {
		// Exactly as `hashike run` reads it.
		in.Job = job.Definition{}
		l = newLoader()
		l.load(name, data, &in.Job.JobSpec)
		validate = func() []hashike.FieldError { return append(in.Job.JobSpec.Validate(), check(&in.Job.JobSpec)...) }
	}
	in.positions = l.d.positions
	var warnings []hashike.FieldError
	err := l.finish(name, validate, &warnings)
	var he *hashike.Error
	if errors.As(err, &he) {
		in.Problems = append(in.Problems, he.Fields...)
	}
	if in.Server && !opts.Unnamed && !job.ValidName(jobName) {
		in.Problems = append(in.Problems, hashike.FieldError{Severity: hashike.SeverityError, Pos: l.root.String(),
			Message: fmt.Sprintf("%q is not a job name (the file's name without its extension, as hashike server --jobs names it): 1 to 255 letters, digits, '-' or '_', starting with a letter or digit", jobName)})
	}
	in.Problems = append(in.Problems, warnings...)
	SortByPos(in.Problems, name)
	return in
}

// Locate is File.Locate for an inspection.
func (in *Inspection) Locate(path string) string {
	if in == nil {
		return ""
	}
	return locate(in.positions, path).String()
}

// SortByPos sorts problems by their Pos ("file:line:col"): those of file first, then by
// file name, line and column; those without a Pos last. The sort is stable.
func SortByPos(problems []hashike.FieldError, file string) {
	type key struct {
		other     bool
		name      string
		line, col int
	}
	keyOf := func(p string) key {
		if p == "" {
			return key{other: true, name: "\xff"}
		}
		k := key{name: p}
		if i := strings.LastIndexByte(p, ':'); i > 0 {
			if j := strings.LastIndexByte(p[:i], ':'); j > 0 {
				line, err1 := strconv.Atoi(p[j+1 : i])
				col, err2 := strconv.Atoi(p[i+1:])
				if err1 == nil && err2 == nil {
					k = key{name: p[:j], line: line, col: col}
				}
			}
		}
		k.other = k.name != file
		return k
	}
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := keyOf(problems[i].Pos), keyOf(problems[j].Pos)
		switch {
		case a.other != b.other:
			return !a.other
		case a.name != b.name:
			return a.name < b.name
		case a.line != b.line:
			return a.line < b.line
		}
		return a.col < b.col
	})
}

// DirEntry is one job file of a job directory and what Inspect found in it.
type DirEntry struct {
	File string
	*Inspection
}

// InspectDir is Inspect for the files LoadDir would read from dir, with LoadDir's rules:
// every file is a job definition named by its file's name, two files for one name are an
// error, and a file another one names as its task definition is not a job (and not
// listed). The error is for a directory that cannot be read.
func InspectDir(dir string, opts InspectOptions) ([]DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "cannot read job directory", Err: err}
	}
	readFile := opts.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	referenced := map[string]bool{}
	opts.Server, opts.Unnamed = true, false
	opts.ReadFile = func(name string) ([]byte, error) {
		referenced[absPath(name)] = true
		return readFile(name)
	}
	var out []DirEntry
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !slices.Contains(definitionExts, ext) {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := readFile(file)
		if err != nil {
			out = append(out, DirEntry{File: file, Inspection: &Inspection{Server: true, Problems: []hashike.FieldError{{
				Message: fmt.Sprintf("cannot read job file: %v", err), Severity: hashike.SeverityError, Pos: file + ":1:1"}}}})
			continue
		}
		out = append(out, DirEntry{File: file, Inspection: Inspect(file, data, opts)})
	}
	var jobs []DirEntry
	byName := map[string][]int{} // indexes in jobs
	for _, e := range out {
		if referenced[absPath(e.File)] {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(e.File), filepath.Ext(e.File))
		byName[name] = append(byName[name], len(jobs))
		jobs = append(jobs, e)
	}
	for name, idx := range byName {
		if len(idx) < 2 {
			continue
		}
		var others []string
		for _, i := range idx[1:] {
			others = append(others, filepath.Base(jobs[i].File))
		}
		first := jobs[idx[0]]
		first.Problems = append([]hashike.FieldError{{Severity: hashike.SeverityError, Pos: first.File + ":1:1",
			Message: fmt.Sprintf("job %q is also defined by %s: keep one file per job", name, strings.Join(others, " and "))}}, first.Problems...)
	}
	return jobs, nil
}
