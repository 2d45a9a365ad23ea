// Package textpos turns a byte offset in a file's text into the line and column people
// read in error messages (file:line:col), for the decoders that only know offsets.
package textpos

import "bytes"

// LineCol returns the 1-based line and column (in bytes) of the byte at offset in data;
// offsets outside data are clamped to it.
func LineCol(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	return bytes.Count(before, []byte("\n")) + 1, len(before) - bytes.LastIndexByte(before, '\n')
}
