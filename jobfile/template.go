package jobfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
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
	// mustEnv marks an unset must_env variable or another call that failed: rendering
	// still produced text (with "" in its place), so decoding goes on and finds the other
	// problems.
	mustEnv bool
	// placeholder marks an offline stand-in for a lookup (Lookups.Offline): no problem of
	// its own, but the problems of its line are dropped.
	placeholder bool
}

var (
	parseErrRE = regexp.MustCompile(`(?s)^template: ` + templateName + `:(\d+): (.*)$`)
	execErrRE  = regexp.MustCompile(`(?s)^template: ` + templateName + `:(\d+):(\d+): executing "[^"]*" at (<.*?>): (.*)$`)
	undefFnRE  = regexp.MustCompile(`^function "([^"]+)" not defined$`)
)

// render runs text through text/template with ecspresso's functions (funcs.go). It returns
// the rendered text, or ok=false when the template could not be parsed or run.
func render(text string, f *funcs) (out string, problems []templateProblem, ok bool) {
	fm, err := f.funcMap()
	if err != nil {
		return "", []templateProblem{{message: "template: " + err.Error()}}, false
	}
	if problems := undefinedFuncs(text, fm); len(problems) > 0 {
		return "", problems, false
	}
	t, err := template.New(templateName).Funcs(fm).Option("missingkey=error").Parse(text)
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
	if len(f.failures) > 0 {
		problems = append(problems, failureProblems(t, text, f.failures)...)
	}
	return b.String(), problems, ok
}

// undefinedFuncs reports every call of a function that is not defined, at its position:
// text/template's parser stops at the first. Nothing is reported when the text does not
// parse even without the check; Parse then says why.
func undefinedFuncs(text string, fm template.FuncMap) []templateProblem {
	trees := map[string]*parse.Tree{}
	tr := parse.New(templateName)
	tr.Mode = parse.SkipFuncCheck
	if _, err := tr.Parse(text, "", "", trees); err != nil {
		return nil
	}
	var out []templateProblem
	for _, tr := range trees {
		if tr == nil || tr.Root == nil {
			continue
		}
		walkTemplate(tr.Root, func(n parse.Node) {
			id, ok := n.(*parse.IdentifierNode)
			if !ok || builtinFuncs[id.Ident] {
				return
			}
			if _, ok := fm[id.Ident]; ok {
				return
			}
			msg := fmt.Sprintf("template: function %q not defined", id.Ident)
			if s := suggest(id.Ident, funcNames(fm)); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			out = append(out, templateProblem{off: int(id.Position()), message: msg})
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].off < out[j].off })
	return out
}

func funcNames(fm template.FuncMap) []string {
	var names []string
	for n := range fm {
		names = append(names, n)
	}
	for n := range builtinFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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

// funcCall is one call of a template function in the template source, such as
// `must_env "NAME"`.
type funcCall struct {
	arg string // the first argument; "" when it is not a constant
	off int
}

// failureProblems turns the calls that failed into one problem per call site. The first
// argument of a call whose argument is computed is unknown; such failures go to the first
// of those calls of the function.
func failureProblems(t *template.Template, text string, failures []callFailure) []templateProblem {
	calls := map[string][]funcCall{}
	for _, f := range failures {
		if _, ok := calls[f.fn]; ok {
			continue
		}
		for _, tt := range t.Templates() {
			if tt.Tree != nil {
				calls[f.fn] = append(calls[f.fn], findCalls(tt.Tree.Root, f.fn)...)
			}
		}
	}
	seen := map[callFailure]bool{}
	var out []templateProblem
	for _, fl := range failures {
		if seen[fl] {
			continue
		}
		seen[fl] = true
		tp := func(off int) templateProblem {
			return templateProblem{off: off, action: actionStart(text, off), message: fl.message, mustEnv: !fl.placeholder, placeholder: fl.placeholder}
		}
		found := false
		for _, c := range calls[fl.fn] {
			if c.arg == fl.arg {
				out = append(out, tp(c.off))
				found = true
			}
		}
		if !found {
			off := 0
			for _, c := range calls[fl.fn] {
				if c.arg == "" {
					off = c.off
					break
				}
			}
			out = append(out, tp(off))
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

func findCalls(root parse.Node, fn string) []funcCall {
	var calls []funcCall
	walkTemplate(root, func(n parse.Node) {
		p, ok := n.(*parse.PipeNode)
		if !ok {
			return
		}
		for i, cmd := range p.Cmds {
			id, ok := firstIdent(cmd)
			if !ok || id.Ident != fn {
				continue
			}
			c := funcCall{off: int(id.Position())}
			switch {
			case len(cmd.Args) >= 2:
				if s, ok := cmd.Args[1].(*parse.StringNode); ok {
					c.arg = s.Text
				}
			case len(cmd.Args) == 1 && i > 0 && len(p.Cmds[i-1].Args) == 1:
				// "NAME" | must_env
				if s, ok := p.Cmds[i-1].Args[0].(*parse.StringNode); ok {
					c.arg = s.Text
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
