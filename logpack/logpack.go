// Package logpack packs a batch of container log entries into one compressed blob, the unit
// a Store keeps per append, and unpacks it again.
//
// A blob is a version byte, the number of entries and the size of the uncompressed payload
// (both uvarints, so Count needs no decompression), then one zstd frame holding the payload:
//
//	payload   = names entries
//	names     = uvarint(n) { uvarint(len) bytes }           container names, first-use order
//	entries   = { uvarint(name index) stream-byte varint(Δ unix nanos) uvarint(len) data }
//
// Times are unix nanoseconds, each written as the difference from the previous entry's (the
// first from 0), so a batch of lines a few microseconds apart costs a few bytes per time. The
// zero time.Time is kept as math.MinInt64; other times must lie within the range UnixNano
// can represent (years 1678 to 2262).
package logpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/klauspost/compress/zstd"
)

// Version is the format version written in a blob's first byte.
const Version = 1

// MaxPayload bounds the uncompressed size of one batch. It keeps a damaged or hostile blob
// from making Decode allocate without limit; callers batch far smaller (1 MiB) anyway.
const MaxPayload = 64 << 20

// windowSize bounds the encoder's back-reference distance and so its memory. Log batches are
// about 1 MiB; a larger window would buy little ratio for a lot of memory per pooled encoder.
const windowSize = 1 << 20

// zeroTime is how the zero time.Time is written: UnixNano cannot represent it.
const zeroTime = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// The pools are the package's only state. A zstd encoder or decoder allocates its tables
// (hundreds of KiB) when created; making one per batch would dominate the cost of packing a
// batch and churn the heap, while a long-lived one would have to be threaded through every
// Store. Pooled coders carry no configuration a caller could change and start no goroutines
// (EncodeAll and DecodeAll run on the caller's goroutine), so dropping one is harmless.
var (
	packers = sync.Pool{New: func() any {
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true),
			zstd.WithWindowSize(windowSize),
		)
		if err != nil {
			panic(fmt.Sprintf("logpack: zstd encoder options: %v", err)) // constant options
		}
		return &packer{enc: enc}
	}}
	decoders = sync.Pool{New: func() any {
		dec, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(MaxPayload),
			zstd.WithDecodeAllCapLimit(true),
		)
		if err != nil {
			panic(fmt.Sprintf("logpack: zstd decoder options: %v", err)) // constant options
		}
		return dec
	}}
)

// packer is an encoder with its scratch buffer for the uncompressed payload.
type packer struct {
	enc *zstd.Encoder
	raw []byte
}

// maxKeptScratch is the largest payload buffer a pooled packer keeps, so that one unusually
// large batch does not pin its memory for the life of the process.
const maxKeptScratch = 4 << 20

// Encode appends the packed form of entries to dst and returns the extended slice. An empty
// batch packs too (Count 0). It fails when an entry's time is outside the representable range
// or the batch exceeds MaxPayload.
func Encode(dst []byte, entries []hashike.LogEntry) ([]byte, error) {
	p := packers.Get().(*packer)
	defer func() {
		if cap(p.raw) > maxKeptScratch {
			p.raw = nil
		}
		packers.Put(p)
	}()

	raw, err := appendPayload(p.raw[:0], entries)
	p.raw = raw
	if err != nil {
		return dst, err
	}
	if len(raw) > MaxPayload {
		return dst, fmt.Errorf("logpack: batch of %d bytes exceeds the %d-byte limit", len(raw), MaxPayload)
	}
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	return p.enc.EncodeAll(raw, dst), nil
}

func appendPayload(b []byte, entries []hashike.LogEntry) ([]byte, error) {
	index := make(map[string]uint64)
	var names []string
	for _, e := range entries {
		if _, ok := index[e.Container]; !ok {
			index[e.Container] = uint64(len(names))
			names = append(names, e.Container)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	var prev int64
	for i, e := range entries {
		t, err := unixNanos(e.Time)
		if err != nil {
			return b, fmt.Errorf("logpack: entry %d: %w", i, err)
		}
		b = binary.AppendUvarint(b, index[e.Container])
		b = append(b, byte(e.Stream))
		b = binary.AppendVarint(b, t-prev) // wraps for the zero time; decoding wraps back
		prev = t
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b, nil
}

func unixNanos(t time.Time) (int64, error) {
	if t.IsZero() {
		return zeroTime, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("time %s is outside the range of unix nanoseconds", t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// ErrCorrupt is wrapped by every error Decode and Count return for a blob that is not a valid
// packed batch.
var ErrCorrupt = errors.New("logpack: corrupt batch")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

type header struct {
	count, size uint64
	frame       []byte
}

func readHeader(blob []byte) (header, error) {
	if len(blob) == 0 {
		return header{}, corrupt("empty")
	}
	if blob[0] != Version {
		return header{}, corrupt("unknown version %d", blob[0])
	}
	rest := blob[1:]
	count, n := binary.Uvarint(rest)
	if n <= 0 {
		return header{}, corrupt("bad entry count")
	}
	rest = rest[n:]
	size, n := binary.Uvarint(rest)
	if n <= 0 || size == 0 || size > MaxPayload { // the names table takes at least 1 byte
		return header{}, corrupt("bad payload size")
	}
	// Every entry takes at least 4 payload bytes, which bounds what a bad count can claim.
	if count > size/4 {
		return header{}, corrupt("%d entries cannot fit in %d bytes", count, size)
	}
	return header{count: count, size: size, frame: rest[n:]}, nil
}

// Count returns the number of entries in blob without decompressing it.
func Count(blob []byte) (int, error) {
	h, err := readHeader(blob)
	if err != nil {
		return 0, err
	}
	return int(h.count), nil
}

// Decode calls fn for each entry of blob, in the order they were encoded, and stops at the
// first error fn returns (returning it). A damaged blob gives an error wrapping ErrCorrupt;
// entries before the damage may already have been passed to fn when the damage lies in the
// entries (the compressed frame itself is checked in full first).
//
// Each entry's Data is its own slice (sharing one array allocated for this call, never
// reused), so fn may keep it. Times come back in UTC.
func Decode(blob []byte, fn func(hashike.LogEntry) error) error {
	h, err := readHeader(blob)
	if err != nil {
		return err
	}
	dec := decoders.Get().(*zstd.Decoder)
	raw, err := dec.DecodeAll(h.frame, make([]byte, 0, h.size))
	decoders.Put(dec)
	if err != nil {
		return corrupt("%v", err)
	}
	if uint64(len(raw)) != h.size {
		return corrupt("payload is %d bytes, header says %d", len(raw), h.size)
	}
	return decodePayload(raw, h.count, fn)
}

func decodePayload(raw []byte, count uint64, fn func(hashike.LogEntry) error) error {
	r := reader{b: raw}
	nnames := r.uvarint()
	if r.err == nil && nnames > uint64(len(r.b)) {
		return corrupt("%d container names cannot fit", nnames)
	}
	names := make([]string, 0, nnames)
	for i := uint64(0); i < nnames && r.err == nil; i++ {
		names = append(names, string(r.bytes(r.uvarint())))
	}
	var prev int64
	for i := uint64(0); i < count; i++ {
		idx := r.uvarint()
		stream := r.byte()
		delta := r.varint()
		data := r.bytes(r.uvarint())
		if r.err != nil {
			return corrupt("entry %d: %v", i, r.err)
		}
		if idx >= uint64(len(names)) {
			return corrupt("entry %d: container index %d out of range", i, idx)
		}
		t := prev + delta
		prev = t
		e := hashike.LogEntry{Container: names[idx], Stream: hashike.Stream(stream), Data: data}
		if t != zeroTime {
			e.Time = time.Unix(0, t).UTC()
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if r.err != nil {
		return corrupt("%v", r.err)
	}
	if len(r.b) != 0 {
		return corrupt("%d bytes after the last entry", len(r.b))
	}
	return nil
}

// reader consumes a payload; after the first error every read returns zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// bytes returns the next n bytes as a slice whose capacity ends with it, so that appending
// to one entry's Data cannot overwrite the next entry's.
func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
