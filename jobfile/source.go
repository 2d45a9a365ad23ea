package jobfile

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/goccy/go-yaml/token"
)

// source is one file's text as the YAML parser saw it (after templating).
type source struct {
	name  string
	index int // load order: the job file is 0; sorts problems file by file
	text  string
	lines []int // byte offset where each line starts
	runes []int // rune offset where each line starts (the parser counts runes)
}

func newSource(name string, index int, text string) *source {
	s := &source{name: name, index: index, text: text, lines: []int{0}, runes: []int{0}}
	r := 0
	for i, c := range text {
		r++
		if c == '\n' {
			s.lines = append(s.lines, i+1)
			s.runes = append(s.runes, r)
		}
	}
	return s
}

// pos is a place in a source file; line and col count from 1 (col in characters).
type pos struct {
	src       *source
	line, col int
}

func (p pos) valid() bool { return p.src != nil }

func (p pos) String() string {
	if p.src == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", p.src.name, p.line, p.col)
}

// before orders positions by file (load order), then line, then column.
func (p pos) before(q pos) bool {
	switch {
	case p.src == nil || q.src == nil:
		return p.src != nil
	case p.src.index != q.src.index:
		return p.src.index < q.src.index
	case p.line != q.line:
		return p.line < q.line
	default:
		return p.col < q.col
	}
}

// start is the first character of the file.
func (s *source) start() pos { return pos{src: s, line: 1, col: 1} }

// at converts a byte offset to a position.
func (s *source) at(off int) pos {
	if off < 0 {
		off = 0
	}
	if off > len(s.text) {
		off = len(s.text)
	}
	line := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off }) // 1-based line
	return pos{src: s, line: line, col: utf8.RuneCountInString(s.text[s.lines[line-1]:off]) + 1}
}

// lineCol is the position of a 1-based line and 1-based byte column, clamped to the text.
func (s *source) lineCol(line, byteCol int) pos {
	if line < 1 {
		return s.start()
	}
	if line > len(s.lines) {
		return s.at(len(s.text))
	}
	off := s.lines[line-1] + byteCol - 1
	end := len(s.text)
	if line < len(s.lines) {
		end = s.lines[line] - 1
	}
	if off > end {
		off = end
	}
	return s.at(off)
}

// tokenPos is where tk starts. The parser's line is right, but its column goes wrong on
// lines with tabs (tab-indented JSON) and its offset drifts after comments. So each is
// tried, and the first that lands on the token's first character wins.
func (s *source) tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return s.start()
	}
	line := tk.Position.Line
	if line < 1 || line > len(s.lines) {
		return s.start()
	}
	text := []rune(s.lineText(line))
	first, ok := firstRune(tk.Origin)
	if !ok {
		first, ok = firstRune(tk.Value)
	}
	byOffset := tk.Position.Offset - 1 - s.runes[line-1] + 1
	byColumn := tk.Position.Column
	byTabs := byColumn // the column if the parser did not count tabs
	if seen := 0; byColumn >= 1 {
		for i, r := range text {
			if r == '\t' {
				continue
			}
			if seen++; seen == byColumn {
				byTabs = i + 1
				break
			}
		}
	}
	for _, col := range []int{byOffset, byTabs, byColumn} {
		if ok && col >= 1 && col <= len(text) && text[col-1] == first {
			return pos{src: s, line: line, col: col}
		}
	}
	return pos{src: s, line: line, col: max(byColumn, 1)}
}

func (s *source) lineText(line int) string {
	start, end := s.lines[line-1], len(s.text)
	if line < len(s.lines) {
		end = s.lines[line] - 1
	}
	return s.text[start:end]
}

func firstRune(text string) (rune, bool) {
	for _, r := range text {
		if r != ' ' && r != '\t' && r != '\r' && r != '\n' {
			return r, true
		}
	}
	return 0, false
}
