package logpack_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/logpack"
)

var base = time.Date(2026, 11, 21, 20, 4, 5, 123456789, time.UTC)

func decodeAll(t testing.TB, blob []byte) []hashike.LogEntry {
	t.Helper()
	var got []hashike.LogEntry
	if err := logpack.Decode(blob, func(e hashike.LogEntry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return got
}

func assertEqual(t testing.TB, want, got []hashike.LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("decoded %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Container != w.Container || g.Stream != w.Stream || !g.Time.Equal(w.Time) ||
			g.Time.IsZero() != w.Time.IsZero() || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("entry %d: got %+v (data %q), want %+v (data %q)", i, g, g.Data, w, w.Data)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name    string
		entries []hashike.LogEntry
	}{
		{"empty batch", nil},
		{"one line", []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("hello\n")}}},
		{"empty data and no trailing newline", []hashike.LogEntry{
			{Container: "app", Stream: hashike.Stdout, Time: base, Data: nil},
			{Container: "app", Stream: hashike.Stderr, Time: base.Add(time.Nanosecond), Data: []byte{}},
			{Container: "app", Stream: hashike.Stdout, Time: base.Add(2), Data: []byte("no newline")},
		}},
		{"several containers interleaved", []hashike.LogEntry{
			{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("a1\n")},
			{Container: "sidecar", Stream: hashike.Stderr, Time: base.Add(time.Millisecond), Data: []byte("s1\n")},
			{Container: "app", Stream: hashike.Stdout, Time: base.Add(2 * time.Millisecond), Data: []byte("a2\n")},
			{Container: "", Stream: 0, Time: base, Data: []byte("unnamed container, stream 0\n")},
		}},
		{"times going backwards and equal", []hashike.LogEntry{
			{Container: "a", Stream: hashike.Stdout, Time: base.Add(time.Hour), Data: []byte("1")},
			{Container: "b", Stream: hashike.Stdout, Time: base, Data: []byte("2")},
			{Container: "b", Stream: hashike.Stdout, Time: base, Data: []byte("3")},
		}},
		{"zero time and extreme times", []hashike.LogEntry{
			{Container: "a", Stream: hashike.Stdout, Data: []byte("zero")},
			{Container: "a", Stream: hashike.Stdout, Time: time.Unix(0, 1<<63-1), Data: []byte("max")},
			{Container: "a", Stream: hashike.Stdout, Time: time.Time{}, Data: []byte("zero again")},
			{Container: "a", Stream: hashike.Stdout, Time: time.Unix(0, -1<<63+1), Data: []byte("min")},
			{Container: "a", Stream: hashike.Stdout, Time: time.Unix(0, 0), Data: []byte("epoch")},
		}},
		{"other location", []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: base.In(tokyo), Data: []byte("x")}}},
		{"binary data", []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte{0, 1, 0xff, '\n', 0x80}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := logpack.Encode(nil, tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			n, err := logpack.Count(blob)
			if err != nil || n != len(tt.entries) {
				t.Fatalf("Count = %d, %v; want %d", n, err, len(tt.entries))
			}
			assertEqual(t, tt.entries, decodeAll(t, blob))
		})
	}
}

func TestEncodeAppendsToDst(t *testing.T) {
	prefix := []byte("prefix")
	entries := []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("x\n")}}
	blob, err := logpack.Encode(append([]byte(nil), prefix...), entries)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(blob, prefix) {
		t.Fatalf("Encode dropped dst's contents")
	}
	assertEqual(t, entries, decodeAll(t, blob[len(prefix):]))
}

func TestDataIsNotShared(t *testing.T) {
	entries := []hashike.LogEntry{
		{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("first\n")},
		{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("second\n")},
	}
	blob, err := logpack.Encode(nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAll(t, blob)
	got[0].Data = append(got[0].Data, "clobber"...)
	if string(got[1].Data) != "second\n" {
		t.Fatalf("appending to one entry's Data changed the next: %q", got[1].Data)
	}
	// A second Decode must not overwrite what the first returned.
	decodeAll(t, blob)
	if string(got[1].Data) != "second\n" {
		t.Fatalf("a later Decode reused the first one's buffer: %q", got[1].Data)
	}
}

func TestEncodeRefusesUnrepresentableTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		_, err := logpack.Encode(nil, []hashike.LogEntry{{Container: "a", Time: tm}})
		if err == nil {
			t.Errorf("Encode accepted time %s", tm)
		}
	}
}

func TestDecodeStopsAtCallbackError(t *testing.T) {
	entries := []hashike.LogEntry{
		{Container: "a", Stream: hashike.Stdout, Time: base, Data: []byte("1")},
		{Container: "a", Stream: hashike.Stdout, Time: base, Data: []byte("2")},
	}
	blob, err := logpack.Encode(nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err = logpack.Decode(blob, func(hashike.LogEntry) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("Decode = %v after %d calls; want the callback's error after 1", err, calls)
	}
}

// randomEntries makes a batch with the shapes logs take: few containers, both streams, times
// mostly increasing by small steps but sometimes equal or going back, lines of varied length.
func randomEntries(r *rand.Rand) []hashike.LogEntry {
	n := r.IntN(200)
	names := []string{"app", "db", "sidecar-with-a-long-name", ""}[:1+r.IntN(4)]
	tm := base.Add(time.Duration(r.Int64N(int64(100 * 365 * 24 * time.Hour))))
	out := make([]hashike.LogEntry, n)
	for i := range out {
		switch r.IntN(10) {
		case 0:
			tm = tm.Add(-time.Duration(r.Int64N(int64(time.Second))))
		case 1:
			// same time as the previous entry
		default:
			tm = tm.Add(time.Duration(r.Int64N(int64(time.Millisecond))))
		}
		e := hashike.LogEntry{Container: names[r.IntN(len(names))], Stream: hashike.Stream(r.UintN(256)), Time: tm}
		if r.IntN(50) == 0 {
			e.Time = time.Time{}
		}
		if l := r.IntN(300); l > 0 {
			e.Data = make([]byte, l)
			for j := range e.Data {
				e.Data[j] = byte(r.UintN(256))
			}
		}
		out[i] = e
	}
	return out
}

func TestRoundTripRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < 500; i++ {
		entries := randomEntries(r)
		blob, err := logpack.Encode(nil, entries)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		assertEqual(t, entries, decodeAll(t, blob))
	}
}

func TestCorruptInput(t *testing.T) {
	entries := []hashike.LogEntry{
		{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("hello\n")},
		{Container: "db", Stream: hashike.Stderr, Time: base.Add(time.Second), Data: []byte("world\n")},
	}
	blob, err := logpack.Encode(nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":           nil,
		"version only":    {logpack.Version},
		"unknown version": append([]byte{99}, blob[1:]...),
		"huge size":       {logpack.Version, 1, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"zero size":       {logpack.Version, 0, 0},
		"count too large": {logpack.Version, 100, 10},
		"no frame":        blob[:3],
	}
	for i := 3; i < len(blob); i += 3 {
		cases[fmt.Sprintf("truncated at %d", i)] = blob[:i]
	}
	for i := 1; i < len(blob); i++ {
		b := bytes.Clone(blob)
		b[i] ^= 0x5a
		cases[fmt.Sprintf("byte %d flipped", i)] = b
	}
	for name, b := range cases {
		var got []hashike.LogEntry
		err := logpack.Decode(b, func(e hashike.LogEntry) error { got = append(got, e); return nil })
		if err == nil {
			// The header is checked and the zstd frame carries a checksum of the payload, so
			// only a byte that does not matter (the frame's window size) may change unnoticed.
			assertEqual(t, entries, got)
			continue
		}
		if !errors.Is(err, logpack.ErrCorrupt) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", name, err)
		}
	}
}

// TestCorruptPayload damages the uncompressed payload (behind a valid frame), which the
// frame checksum cannot catch.
func TestCorruptPayload(t *testing.T) {
	payloads := map[string]string{
		"name index out of range":  "\x01\x03app" + "\x05\x01\x00\x00",
		"data longer than payload": "\x01\x03app" + "\x00\x01\x00\x7f",
		"truncated entry":          "\x01\x03app" + "\x00\x01",
		"trailing bytes":           "\x01\x03app" + "\x00\x01\x00\x00" + "\x00\x00\x00\x00",
		"too many names":           "\x7f\x03app" + "\x00\x01\x00\x00",
		"name longer than payload": "\x01\x7fapp" + "\x00\x01\x00\x00",
	}
	for name, p := range payloads {
		t.Run(name, func(t *testing.T) {
			blob := rawBlob(t, 1, []byte(p))
			err := logpack.Decode(blob, func(hashike.LogEntry) error { return nil })
			if !errors.Is(err, logpack.ErrCorrupt) {
				t.Fatalf("Decode = %v, want ErrCorrupt", err)
			}
		})
	}
}

// rawBlob frames an arbitrary payload with a valid header and zstd frame.
func rawBlob(t testing.TB, count int, payload []byte) []byte {
	t.Helper()
	return frame(count, payload)
}

func FuzzDecode(f *testing.F) {
	seeds := [][]hashike.LogEntry{
		nil,
		{{Container: "app", Stream: hashike.Stdout, Time: base, Data: []byte("hello\n")}},
		{{Container: "a", Stream: hashike.Stderr, Data: nil}, {Container: "b", Stream: 7, Time: base, Data: []byte("x")}},
	}
	for _, s := range seeds {
		blob, err := logpack.Encode(nil, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob)
	}
	f.Add([]byte{logpack.Version, 1, 5})
	f.Fuzz(func(t *testing.T, blob []byte) {
		var got []hashike.LogEntry
		err := logpack.Decode(blob, func(e hashike.LogEntry) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			if !errors.Is(err, logpack.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		n, err := logpack.Count(blob)
		if err != nil || n != len(got) {
			t.Fatalf("Count = %d, %v; Decode gave %d entries", n, err, len(got))
		}
		// Whatever decodes re-encodes to the same entries.
		again, err := logpack.Encode(nil, got)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		assertEqual(t, got, decodeAll(t, again))
	})
}

// logLines is 1 MiB of output shaped like a service's logs.
func logLines(size int) []hashike.LogEntry {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	paths := []string{"/api/v1/jobs", "/api/v1/runs/01jd3k5x", "/healthz", "/metrics", "/api/v1/queue"}
	tm := base
	var out []hashike.LogEntry
	total := 0
	for total < size {
		tm = tm.Add(time.Duration(r.IntN(2000)) * time.Microsecond)
		var line string
		if r.IntN(4) == 0 {
			line = fmt.Sprintf(`{"time":%q,"level":%q,"msg":"request done","path":%q,"status":%d,"duration_ms":%.3f,"request_id":"%016x"}`+"\n",
				tm.Format(time.RFC3339Nano), levels[r.IntN(len(levels))], paths[r.IntN(len(paths))], []int{200, 200, 201, 404, 500}[r.IntN(5)], r.Float64()*250, r.Uint64())
		} else {
			line = fmt.Sprintf("%s %-5s worker[%d] processed batch %d items=%d elapsed=%s %s\n",
				tm.Format("2006-01-02T15:04:05.000Z07:00"), levels[r.IntN(len(levels))], r.IntN(8), r.IntN(1e6), r.IntN(500),
				time.Duration(r.IntN(1e9)), strings.Repeat("x", r.IntN(40)))
		}
		stream := hashike.Stdout
		if r.IntN(10) == 0 {
			stream = hashike.Stderr
		}
		out = append(out, hashike.LogEntry{Container: []string{"app", "app", "app", "sidecar"}[r.IntN(4)], Stream: stream, Time: tm, Data: []byte(line)})
		total += len(line)
	}
	return out
}

func dataSize(entries []hashike.LogEntry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Data)
	}
	return n
}

// BenchmarkEncode packs 1 MiB of log lines; MB/s counts the lines' bytes.
func BenchmarkEncode(b *testing.B) {
	entries := logLines(1 << 20)
	b.SetBytes(int64(dataSize(entries)))
	b.ReportAllocs()
	var blob []byte
	for b.Loop() {
		var err error
		blob, err = logpack.Encode(blob[:0], entries)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(dataSize(entries))/float64(len(blob)), "ratio")
}

// BenchmarkDecode unpacks the same batch.
func BenchmarkDecode(b *testing.B) {
	entries := logLines(1 << 20)
	blob, err := logpack.Encode(nil, entries)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(dataSize(entries)))
	b.ReportAllocs()
	for b.Loop() {
		if err := logpack.Decode(blob, func(hashike.LogEntry) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
