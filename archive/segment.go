package archive

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
)

// timeLayout is fixed-width UTC, so that times compare as text: search filters lines by time
// without parsing them.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// ErrCorrupt is returned for a segment line that is not what Archiver writes.
var ErrCorrupt = errors.New("archive: corrupt segment")

// appendLine appends e as a JSON line (see the package comment).
func appendLine(dst []byte, runID string, n int64, e hashike.LogEntry) []byte {
	dst = append(dst, `{"run_id":"`...)
	dst = append(dst, runID...)
	dst = append(dst, `","n":`...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, e.Stream.String()...)
	text, partial := e.Data, true
	if len(text) > 0 && text[len(text)-1] == '\n' {
		text, partial = text[:len(text)-1], false
	}
	if utf8.Valid(text) {
		dst = append(dst, `","line":"`...)
		dst = appendString(dst, text)
	} else {
		dst = append(dst, `","b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, text)
	}
	dst = append(dst, '"')
	if partial {
		dst = append(dst, `,"partial":true`...)
	}
	return append(dst, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s JSON-escaped, escaping only what JSON requires ('"', '\\' and control
// characters): every other byte stays as it is, so a literal without those characters is found
// in a segment's bytes as it is in the text (Search relies on it).
func appendString(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// record is a segment line taken apart. Its slices point into the line (or, for escaped text,
// into a scratch buffer) and are valid until the next parse.
type record struct {
	runID   []byte
	n       int64
	time    []byte // timeLayout text
	stream  hashike.Stream
	text    []byte
	partial bool
}

// entry returns the record as a LogEntry, its Data a new slice.
func (r *record) entry(container string) (hashike.LogEntry, error) {
	t, err := time.Parse(timeLayout, string(r.time))
	if err != nil {
		return hashike.LogEntry{}, fmt.Errorf("%w: time %q", ErrCorrupt, r.time)
	}
	data := make([]byte, len(r.text), len(r.text)+1)
	copy(data, r.text)
	if !r.partial {
		data = append(data, '\n')
	}
	return hashike.LogEntry{Container: container, Stream: r.stream, Time: t, Data: data}, nil
}

// parser parses segment lines; its scratch buffer holds unescaped text.
type parser struct {
	scratch []byte
}

// parse takes one line apart (without its newline). Lines as Archiver writes them take a fast
// path; any other valid JSON object with the same fields is read with encoding/json.
func (p *parser) parse(line []byte) (record, error) {
	if r, ok := p.fast(line); ok {
		return r, nil
	}
	return p.slow(line)
}

func cut(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

func (p *parser) fast(b []byte) (r record, ok bool) {
	if b, ok = cut(b, `{"run_id":"`); !ok {
		return r, false
	}
	i := bytes.IndexByte(b, '"')
	if i < 0 {
		return r, false
	}
	r.runID, b = b[:i], b[i:]
	if b, ok = cut(b, `","n":`); !ok {
		return r, false
	}
	i = 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		r.n = r.n*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || i > 18 {
		return r, false
	}
	b = b[i:]
	if b, ok = cut(b, `,"time":"`); !ok || len(b) < len(timeLayout) {
		return r, false
	}
	r.time, b = b[:len(timeLayout)], b[len(timeLayout):]
	if b, ok = cut(b, `","stream":"std`); !ok || len(b) < 3 {
		return r, false
	}
	switch string(b[:3]) {
	case "out":
		r.stream = hashike.Stdout
	case "err":
		r.stream = hashike.Stderr
	default:
		return r, false
	}
	b = b[3:]
	if rest, isText := cut(b, `","line":"`); isText {
		end, escaped := stringEnd(rest)
		if end < 0 {
			return r, false
		}
		r.text, b = rest[:end], rest[end+1:]
		if escaped {
			var err error
			if p.scratch, err = unescape(p.scratch[:0], r.text); err != nil {
				return r, false
			}
			r.text = p.scratch
		}
	} else if rest, isB64 := cut(b, `","b64":"`); isB64 {
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return r, false
		}
		var err error
		if p.scratch, err = base64.StdEncoding.AppendDecode(p.scratch[:0], rest[:end]); err != nil {
			return r, false
		}
		r.text, b = p.scratch, rest[end+1:]
	} else {
		return r, false
	}
	if rest, isPartial := cut(b, `,"partial":true`); isPartial {
		r.partial, b = true, rest
	}
	return r, len(b) == 1 && b[0] == '}'
}

// stringEnd returns the index of the '"' that ends the JSON string s starts (after its opening
// quote), and whether it holds escapes; -1 when it does not end.
func stringEnd(s []byte) (int, bool) {
	escaped := false
	for i := 0; i < len(s); {
		j := bytes.IndexAny(s[i:], `"\`)
		if j < 0 {
			return -1, escaped
		}
		i += j
		if s[i] == '"' {
			return i, escaped
		}
		escaped = true
		i += 2
	}
	return -1, escaped
}

// unescape appends the text of a JSON string body with the escapes appendString writes.
func unescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		if i+1 >= len(s) {
			return dst, ErrCorrupt
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			if i+4 >= len(s) {
				return dst, ErrCorrupt
			}
			v, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 16)
			if err != nil || v >= 0xd800 && v < 0xe000 { // surrogates: the slow path's
				return dst, ErrCorrupt
			}
			dst = utf8.AppendRune(dst, rune(v))
			i += 4
		default:
			return dst, ErrCorrupt
		}
	}
	return dst, nil
}

// jsonLine is a segment line for encoding/json.
type jsonLine struct {
	RunID   string  `json:"run_id"`
	N       *int64  `json:"n"`
	Time    string  `json:"time"`
	Stream  string  `json:"stream"`
	Line    *string `json:"line"`
	B64     []byte  `json:"b64"`
	Partial bool    `json:"partial"`
}

func (p *parser) slow(b []byte) (record, error) {
	var j jsonLine
	if err := json.Unmarshal(b, &j); err != nil {
		return record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	r := record{runID: []byte(j.RunID), time: []byte(j.Time), partial: j.Partial}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if j.N == nil || err != nil || (j.Line == nil) == (j.B64 == nil) {
		return r, fmt.Errorf("%w: a line needs n, an RFC 3339 time and one of line and b64", ErrCorrupt)
	}
	r.n, r.time = *j.N, t.UTC().AppendFormat(nil, timeLayout)
	switch j.Stream {
	case "stdout":
		r.stream = hashike.Stdout
	case "stderr":
		r.stream = hashike.Stderr
	default:
		return r, fmt.Errorf("%w: stream %q", ErrCorrupt, j.Stream)
	}
	if j.Line != nil {
		r.text = []byte(*j.Line)
	} else {
		r.text = j.B64
	}
	return r, nil
}
