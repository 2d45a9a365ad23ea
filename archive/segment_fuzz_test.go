package archive

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// FuzzLine: any entry survives a segment line byte for byte, and no input makes the parser
// panic.
func FuzzLine(f *testing.F) {
	f.Add([]byte("hello\n"), int64(1733479815123456789), true, int64(0))
	f.Add([]byte("quote \" backslash \\ tab \t nul \x00 \xff\xfe no newline"), int64(0), false, int64(42))
	f.Add([]byte(""), int64(-1), true, int64(999999999999))
	f.Add([]byte("\u2028 <html>&amp; ✓\r"), int64(253402300799999999), false, int64(7))
	f.Fuzz(func(t *testing.T, data []byte, nanos int64, stdout bool, n int64) {
		if n < 0 {
			n = -n
		}
		if n < 0 || n > 1e17 {
			n = 0
		}
		at := time.Unix(0, nanos).UTC()
		if at.Year() > 9999 {
			at = time.Unix(0, 0)
		}
		stream := hashike.Stderr
		if stdout {
			stream = hashike.Stdout
		}
		e := hashike.LogEntry{Container: "app", Stream: stream, Time: at, Data: data}
		line := appendLine(nil, "01jd0000000000000000000001", n, e)
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("line %q is not one JSON line", line)
		}
		var p parser
		r, err := p.parse(line[:len(line)-1])
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		got, err := r.entry("app")
		if err != nil {
			t.Fatal(err)
		}
		if r.n != n || string(r.runID) != "01jd0000000000000000000001" || got.Stream != stream || !got.Time.Equal(at) || !bytes.Equal(got.Data, data) {
			t.Fatalf("round trip of %q (n %d, %s): got n %d %q %s %q", data, n, at, r.n, r.runID, got.Time, got.Data)
		}
		// Arbitrary bytes: an error or a record, never a panic.
		_, _ = p.parse(data)
	})
}
