package jobfile

import "fmt"

// maxScanNodes bounds the values a file may hold before it is parsed at all: far above what a
// job definition needs (the decoder's maxNodes bounds what it decodes), low enough that the
// parser's tree stays small.
const maxScanNodes = 20_000

// scanLimits looks over YAML (or JSON) text for nesting deeper than maxDepth or more than
// maxScanNodes values, before the parser builds its tree: the parser's cost grows with depth
// far faster than with size (a 40 KB file of 20,000 nested lists took 680 MB), so the
// decoder's own depth limit comes too late. It returns the byte offset where a limit is
// passed and what was passed, or -1.
//
// It follows YAML closely enough not to be fooled: quoted scalars, comments, block scalars
// (| and >), anchors and tags before a collection, flow collections ([ and {) and block ones
// (by indentation and "- " / "? " indicators). Its depth is an estimate that may count a
// level more than the parser (never fewer for a flow collection), far below maxDepth for any
// real definition.
func scanLimits(text string) (int, string) {
	// A few levels of slack: a file nested just past maxDepth is refused by the decoder,
	// naming the field, with the same limit.
	s := scanner{text: text, blockScalar: -1, maxDepth: maxDepth + 4, maxNodes: maxScanNodes}
	return s.scan()
}

type scanner struct {
	maxDepth, maxNodes int

	text  string
	flow  int   // depth of flow collections
	stack []int // columns of the enclosing block nodes
	nodes int
	quote byte // the quote of the quoted scalar being read, or 0
	// blockScalar is the indentation of the line that opened a block scalar (its content
	// is the more indented lines after it), or -1.
	blockScalar int
}

func (s *scanner) tooDeep() bool { return len(s.stack)+s.flow > s.maxDepth }

func (s *scanner) scan() (int, string) {
	deep := fmt.Sprintf("is nested more than %d levels deep (the limit)", maxDepth)
	many := fmt.Sprintf("holds more than %d values (the limit)", maxScanNodes)
	for lineStart := 0; lineStart < len(s.text); {
		end := lineStart
		for end < len(s.text) && s.text[end] != '\n' {
			end++
		}
		line := s.text[lineStart:end]
		next := end + 1
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		blank := indent == len(line) || line[indent] == '#' || line[indent] == '\r'
		if s.blockScalar >= 0 {
			if blank || indent > s.blockScalar {
				lineStart = next
				continue
			}
			s.blockScalar = -1
		}
		i := 0
		start := true // at the start of a node: a quote, [ or { opens one here
		if s.quote == 0 && s.flow == 0 {
			if blank {
				lineStart = next
				continue
			}
			for len(s.stack) > 0 && s.stack[len(s.stack)-1] >= indent {
				s.stack = s.stack[:len(s.stack)-1]
			}
			s.stack = append(s.stack, indent)
			i = indent
			// "- - x" and "? x" nest on one line.
			for i < len(line) && (line[i] == '-' || line[i] == '?') && (i+1 == len(line) || line[i+1] == ' ') {
				i++
				for i < len(line) && line[i] == ' ' {
					i++
				}
				s.stack = append(s.stack, i)
				if s.tooDeep() {
					return lineStart + i, deep
				}
			}
			if s.tooDeep() {
				return lineStart + i, deep
			}
		}
		for ; i < len(line); i++ {
			c := line[i]
			if s.quote != 0 {
				switch {
				case s.quote == '"' && c == '\\':
					i++
				case c == s.quote && s.quote == '\'' && i+1 < len(line) && line[i+1] == '\'':
					i++
				case c == s.quote:
					s.quote = 0
					start = false
				}
				continue
			}
			space := c == ' ' || c == '\t' || c == '\r'
			switch {
			case space:
				continue
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				i = len(line)
				continue
			}
			switch {
			case start && (c == '"' || c == '\''):
				s.quote = c
				if s.nodes++; s.nodes > s.maxNodes {
					return lineStart + i, many
				}
			case c == '[' || c == '{':
				if !start && s.flow == 0 {
					break // inside a plain scalar: a[0]
				}
				s.flow++
				start = true
				if s.nodes++; s.nodes > s.maxNodes {
					return lineStart + i, many
				}
				if s.tooDeep() {
					return lineStart + i, deep
				}
			case (c == ']' || c == '}') && s.flow > 0:
				s.flow--
				start = false
			case c == ',' && s.flow > 0:
				start = true
			case (c == ':' || c == '-' || c == '?') && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t' || line[i+1] == '\r' || s.flow > 0 && c == ':'):
				start = true
			case start && (c == '&' || c == '!'):
				// An anchor or a tag: the node starts after it.
				for i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' && (s.flow == 0 || !isFlowIndicator(line[i+1])) {
					i++
				}
			case start && (c == '|' || c == '>') && s.flow == 0:
				s.blockScalar = indent
				i = len(line) // the header's indicators and comment
			default:
				if start {
					if s.nodes++; s.nodes > s.maxNodes {
						return lineStart + i, many
					}
				}
				start = false
			}
		}
		lineStart = next
	}
	return -1, ""
}

func isFlowIndicator(c byte) bool {
	return c == '[' || c == ']' || c == '{' || c == '}' || c == ','
}
