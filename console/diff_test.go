package console

import (
	"fmt"
	"strings"
	"testing"
)

// render is a diff as text: one line per diffLine, "@@ N" for a fold.
func renderDiff(lines []diffLine) string {
	var b strings.Builder
	for _, l := range lines {
		if l.Skip > 0 {
			fmt.Fprintf(&b, "@@ %d\n", l.Skip)
			continue
		}
		fmt.Fprintf(&b, "%c%s\n", l.Op, l.Text)
	}
	return b.String()
}

func TestLineDiff(t *testing.T) {
	for _, tt := range []struct {
		name, a, b string
		context    int
		want       string
		changed    bool
	}{
		{"same", "a\nb\n", "a\nb\n", 3, "@@ 2\n", false},
		{"both empty", "", "", 3, "", false},
		{"added", "", "x\ny\n", 3, "+x\n+y\n", true},
		{"removed", "x\ny\n", "", 3, "-x\n-y\n", true},
		{"changed line in the middle", "a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n", 1, "@@ 2\n c\n-d\n+D\n e\n@@ 2\n", true},
		{"insert keeps the rest", "a\nc\n", "a\nb\nc\n", 3, " a\n+b\n c\n", true},
		{"two changes far apart", "1\n2\n3\n4\n5\n6\n7\n8\n", "x\n2\n3\n4\n5\n6\n7\ny\n", 1, "-1\n+x\n 2\n@@ 4\n 7\n-8\n+y\n", true},
		{"moved line", "a\nb\nc\n", "b\nc\na\n", 0, "-a\n@@ 2\n+a\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines, changed := lineDiff(tt.a, tt.b, tt.context)
			if got := renderDiff(lines); got != tt.want || changed != tt.changed {
				t.Errorf("lineDiff = %v\n%s\nwant %v\n%s", changed, got, tt.changed, tt.want)
			}
		})
	}
}

// TestLineDiffLineNumbers: every line keeps its numbers in the old and new text.
func TestLineDiffLineNumbers(t *testing.T) {
	lines := diffLines(strings.Split("a b c d", " "), strings.Split("a x c d e", " "))
	var got []string
	for _, l := range lines {
		got = append(got, fmt.Sprintf("%c%s:%d:%d", l.Op, l.Text, l.Old, l.New))
	}
	want := " a:1:1 -b:2:0 +x:0:2  c:3:3  d:4:4 +e:0:5"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestLineDiffHuge: past the table's bound the middle is all removed then all added, fast.
func TestLineDiffHuge(t *testing.T) {
	var a, b []string
	for i := range 5000 {
		a = append(a, fmt.Sprint("a", i))
		b = append(b, fmt.Sprint("b", i))
	}
	lines := diffLines(a, b)
	if len(lines) != 10000 || lines[0].Op != diffDel || lines[9999].Op != diffAdd {
		t.Fatalf("%d lines, first %c, last %c", len(lines), lines[0].Op, lines[len(lines)-1].Op)
	}
}

func FuzzLineDiff(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		lines := diffLines(splitLines(a), splitLines(b))
		// Replaying the diff gives both texts back.
		var old, new []string
		for _, l := range lines {
			if l.Op != diffAdd {
				old = append(old, l.Text)
			}
			if l.Op != diffDel {
				new = append(new, l.Text)
			}
		}
		if strings.Join(old, "\n") != strings.Join(splitLines(a), "\n") || strings.Join(new, "\n") != strings.Join(splitLines(b), "\n") {
			t.Fatalf("diff of %q and %q does not replay", a, b)
		}
	})
}
