package textpos

import "testing"

func TestLineCol(t *testing.T) {
	data := []byte("{\n  \"a\": 1,\n  \"b\"}")
	for _, c := range []struct {
		offset    int64
		line, col int
	}{{0, 1, 1}, {1, 1, 2}, {2, 2, 1}, {4, 2, 3}, {14, 3, 3}, {-5, 1, 1}, {999, 3, 7}} {
		if l, col := LineCol(data, c.offset); l != c.line || col != c.col {
			t.Errorf("offset %d: %d:%d, want %d:%d", c.offset, l, col, c.line, c.col)
		}
	}
}
