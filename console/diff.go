package console

import "strings"

// diffOp is what a line of a diff does.
type diffOp byte

const (
	diffSame diffOp = ' '
	diffDel  diffOp = '-'
	diffAdd  diffOp = '+'
)

// diffLine is one line of a line diff: in a (Old, 1-based, 0 for an added line), in b (New),
// or both. A line with Skip stands for Skip unchanged lines left out.
type diffLine struct {
	Op       diffOp
	Text     string
	Old, New int
	Skip     int
}

// Class is the line's CSS class.
func (l diffLine) Class() string {
	switch l.Op {
	case diffDel:
		return "del"
	case diffAdd:
		return "add"
	case diffSame:
	}
	return "same"
}

// Sign is the line's mark: -, + or a space.
func (l diffLine) Sign() string { return string(l.Op) }

// maxDiffCells bounds the longest-common-subsequence table (lines of a times lines of b,
// after their common head and tail): beyond it the middle is shown as all removed, then all
// added, so a huge definition cannot make the server spend minutes.
const maxDiffCells = 4 << 20

// lineDiff is the line diff of a and b (texts), with context lines of unchanged text around
// each change and the rest folded; changed is false when they are the same.
func lineDiff(a, b string, context int) (lines []diffLine, changed bool) {
	al, bl := splitLines(a), splitLines(b)
	full := diffLines(al, bl)
	for _, l := range full {
		if l.Op != diffSame {
			changed = true
			break
		}
	}
	return fold(full, context), changed
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines is the full diff: a longest common subsequence of the lines, computed between
// the common head and tail.
func diffLines(a, b []string) []diffLine {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	var out []diffLine
	for i := range head {
		out = append(out, diffLine{Op: diffSame, Text: a[i], Old: i + 1, New: i + 1})
	}
	am, bm := a[head:len(a)-tail], b[head:len(b)-tail]
	n, m := len(am), len(bm)
	if n*m > maxDiffCells {
		for i, s := range am {
			out = append(out, diffLine{Op: diffDel, Text: s, Old: head + i + 1})
		}
		for j, s := range bm {
			out = append(out, diffLine{Op: diffAdd, Text: s, New: head + j + 1})
		}
	} else {
		// lcs[i][j] is the LCS length of am[i:] and bm[j:].
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if am[i] == bm[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && am[i] == bm[j]:
				out = append(out, diffLine{Op: diffSame, Text: am[i], Old: head + i + 1, New: head + j + 1})
				i++
				j++
			case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
				out = append(out, diffLine{Op: diffDel, Text: am[i], Old: head + i + 1})
				i++
			default:
				out = append(out, diffLine{Op: diffAdd, Text: bm[j], New: head + j + 1})
				j++
			}
		}
	}
	for k := range tail {
		i, j := len(a)-tail+k, len(b)-tail+k
		out = append(out, diffLine{Op: diffSame, Text: a[i], Old: i + 1, New: j + 1})
	}
	return out
}

// fold keeps context unchanged lines around each change and replaces longer unchanged
// stretches by one Skip line.
func fold(lines []diffLine, context int) []diffLine {
	keep := make([]bool, len(lines))
	for i, l := range lines {
		if l.Op == diffSame {
			continue
		}
		for k := max(0, i-context); k <= min(len(lines)-1, i+context); k++ {
			keep[k] = true
		}
	}
	var out []diffLine
	for i := 0; i < len(lines); {
		if keep[i] {
			out = append(out, lines[i])
			i++
			continue
		}
		j := i
		for j < len(lines) && !keep[j] {
			j++
		}
		out = append(out, diffLine{Op: diffSame, Skip: j - i, Old: lines[i].Old, New: lines[i].New})
		i = j
	}
	return out
}
