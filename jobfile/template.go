package jobfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// templateName is what text/template puts in its messages; errors are parsed back out of
// them, so it must hold no colon.
const templateName = "jobfile"

// templateProblem is a templating error at a byte offset of the raw text.
type templateProblem struct {
	off     int
	message string
	// action is the offset of the "{{" that opens the action at off: the text before it on
	// its line is the same after rendering, so the field there can be found.
	action int
	// mustEnv marks an unset must_env variable: rendering still produced text (with "" in
	// its place), so decoding goes on and finds the other problems.
	mustEnv bool
}

var (
	parseErrRE = regexp.MustCompile(`(?s)^template: ` + templateName + `:(\d+): (.*)$`)
	execErrRE  = regexp.MustCompile(`(?s)^template: ` + templateName + `:(\d+):(\d+): executing "[^"]*" at (<.*?>): (.*)$`)
	undefFnRE  = regexp.MustCompile(`^function "([^"]+)" not defined$`)
)

// render runs text through text/template with ecspresso's env and must_env functions. It
// returns the rendered text, or ok=false when the template could not be parsed or run.
func render(text string, lookupEnv func(string) (string, bool)) (out string, problems []templateProblem, ok bool) {
	var missed []string
	funcs := template.FuncMap{
		// env is ecspresso's: the variable's value when set and not empty, else the default.
		"env": func(name string, def ...string) (string, error) {
			if len(def) > 1 {
				return "", fmt.Errorf("env takes a variable name and at most one default, got %d arguments", 1+len(def))
			}
			if v, ok := lookupEnv(name); ok && v != "" {
				return v, nil
			}
			if len(def) == 1 {
				return def[0], nil
			}
			return "", nil
		},
		// must_env records a miss rather than failing, so that every miss is reported.
		"must_env": func(name string) string {
			if v, ok := lookupEnv(name); ok {
				return v
			}
			missed = append(missed, name)
			return ""
		},
	}
	t, err := template.New(templateName).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", []templateProblem{parseProblem(text, err)}, false
	}
	if problems := unbounded(t, text); len(problems) > 0 {
		return "", problems, false
	}
	b := &cappedBuffer{limit: maxFileSize}
	if err := t.Execute(b, map[string]any{}); errors.Is(err, errTooLarge) {
		problems = append(problems, templateProblem{message: "template: " + err.Error()})
	} else if err != nil {
		problems = append(problems, execProblem(text, err))
	} else {
		ok = true
	}
	if len(missed) > 0 {
		problems = append(problems, mustEnvProblems(t, text, missed)...)
	}
	return b.String(), problems, ok
}

var errTooLarge = fmt.Errorf("the rendered text is larger than %d KiB", maxFileSize/1024)

// cappedBuffer fails writes past its limit, so that a template cannot render gigabytes.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, errTooLarge
	}
	return b.Buffer.Write(p)
}

// unbounded reports the actions whose running time the text does not bound: range (a job
// file has no data to range over, only numbers) and template calls (which can call each
// other exponentially often). Job files need substitution, not programs.
func unbounded(t *template.Template, text string) []templateProblem {
	var out []templateProblem
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if tt.Name() != templateName {
			out = append(out, templateProblem{off: actionStart(text, int(tt.Tree.Root.Position())), message: "template: {{define}} and {{block}} are not available in job files"})
			continue
		}
		walkTemplate(tt.Tree.Root, func(n parse.Node) {
			switch n.(type) {
			case *parse.RangeNode:
				out = append(out, templateProblem{off: actionStart(text, int(n.Position())), message: "template: {{range}} is not available in job files"})
			case *parse.TemplateNode:
				out = append(out, templateProblem{off: actionStart(text, int(n.Position())), message: "template: {{template}} is not available in job files"})
			}
		})
	}
	return out
}

func parseProblem(text string, err error) templateProblem {
	m := parseErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return templateProblem{off: 0, message: "template: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	start, end := lineBounds(text, line)
	off := -1
	// text/template gives a line only; guess the column from what the message names.
	if f := undefFnRE.FindStringSubmatch(msg); f != nil {
		off = indexWord(text[start:end], f[1])
	}
	if off < 0 {
		off = strings.Index(text[start:end], "{{")
	}
	if off >= 0 {
		off += start
	} else if i := strings.LastIndex(text[:start], "{{"); i >= 0 {
		off = i // the action that starts on an earlier line, e.g. "unexpected EOF"
	} else {
		off = start
	}
	return templateProblem{off: off, message: "template: " + msg}
}

func execProblem(text string, err error) templateProblem {
	m := execErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return templateProblem{off: 0, message: "template: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2]) // 0-based byte column
	start, end := lineBounds(text, line)
	off := min(start+col, end)
	return templateProblem{off: off, message: fmt.Sprintf("template: %s: %s", m[3], m[4])}
}

// lineBounds returns the byte range of a 1-based line, clamped to the text.
func lineBounds(text string, line int) (start, end int) {
	for i := 1; i < line; i++ {
		j := strings.IndexByte(text[start:], '\n')
		if j < 0 {
			return len(text), len(text)
		}
		start += j + 1
	}
	end = len(text)
	if j := strings.IndexByte(text[start:], '\n'); j >= 0 {
		end = start + j
	}
	return start, end
}

// indexWord finds w in s where it is not part of a longer identifier.
func indexWord(s, w string) int {
	isIdent := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for from := 0; ; {
		i := strings.Index(s[from:], w)
		if i < 0 {
			return -1
		}
		i += from
		j := i + len(w)
		if (i == 0 || !isIdent(s[i-1])) && (j == len(s) || !isIdent(s[j])) {
			return i
		}
		from = i + 1
	}
}

// mustEnvCall is one `must_env "NAME"` in the template source.
type mustEnvCall struct {
	name string // "" when the argument is not a constant
	off  int
}

// mustEnvProblems turns the names must_env missed into one problem per call site. The name
// of a call whose argument is computed is unknown; such misses go to the first of those calls.
func mustEnvProblems(t *template.Template, text string, missed []string) []templateProblem {
	var calls []mustEnvCall
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			calls = append(calls, findMustEnv(tt.Tree.Root)...)
		}
	}
	seen := map[string]bool{}
	var out []templateProblem
	for _, name := range missed {
		if seen[name] {
			continue
		}
		seen[name] = true
		msg := fmt.Sprintf("must_env: environment variable %q is not set", name)
		found := false
		for _, c := range calls {
			if c.name == name {
				out = append(out, templateProblem{off: c.off, action: actionStart(text, c.off), message: msg, mustEnv: true})
				found = true
			}
		}
		if !found {
			off := 0
			for _, c := range calls {
				if c.name == "" {
					off = c.off
					break
				}
			}
			out = append(out, templateProblem{off: off, action: actionStart(text, off), message: msg, mustEnv: true})
		}
	}
	return out
}

// actionStart is the offset of the last "{{" at or before off, or off.
func actionStart(text string, off int) int {
	if i := strings.LastIndex(text[:min(off, len(text))], "{{"); i >= 0 {
		return i
	}
	return off
}

func findMustEnv(root parse.Node) []mustEnvCall {
	var calls []mustEnvCall
	walkTemplate(root, func(n parse.Node) {
		p, ok := n.(*parse.PipeNode)
		if !ok {
			return
		}
		for i, cmd := range p.Cmds {
			id, ok := firstIdent(cmd)
			if !ok || id.Ident != "must_env" {
				continue
			}
			c := mustEnvCall{off: int(id.Position())}
			switch {
			case len(cmd.Args) == 2:
				if s, ok := cmd.Args[1].(*parse.StringNode); ok {
					c.name = s.Text
				}
			case len(cmd.Args) == 1 && i > 0 && len(p.Cmds[i-1].Args) == 1:
				// "NAME" | must_env
				if s, ok := p.Cmds[i-1].Args[0].(*parse.StringNode); ok {
					c.name = s.Text
				}
			}
			calls = append(calls, c)
		}
	})
	return calls
}

// walkTemplate calls fn for every node of a template's tree.
func walkTemplate(n parse.Node, fn func(parse.Node)) {
	var walk func(n parse.Node)
	walkPipe := func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		fn(p)
		for _, cmd := range p.Cmds {
			for _, a := range cmd.Args {
				walk(a)
			}
		}
	}
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
			return
		case *parse.PipeNode:
			walkPipe(n)
			return
		}
		fn(n)
		switch n := n.(type) {
		case *parse.ActionNode:
			walkPipe(n.Pipe)
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walkPipe(n.Pipe)
		}
	}
	walk(n)
}

func firstIdent(cmd *parse.CommandNode) (*parse.IdentifierNode, bool) {
	if cmd == nil || len(cmd.Args) == 0 {
		return nil, false
	}
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	return id, ok
}

// refuseTemplates reports every "{{" of a text that is not templated. Such a definition comes
// from someone who must not read the server's environment, and leaving the braces as they
// are would turn a job file that works with `hashike run` into one that silently means
// something else.
func refuseTemplates(text string) []templateProblem {
	var out []templateProblem
	for off := 0; ; {
		i := strings.Index(text[off:], "{{")
		if i < 0 {
			return out
		}
		off += i
		out = append(out, templateProblem{off: off, message: `template actions are not run in a definition sent to the server, ` +
			`which must not read the server's environment: write the value itself (a literal "{{" is "\u007b{" in a double-quoted string), ` +
			`or put the file in the server's job directory`})
		off += 2
	}
}
