package archive_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
)

// benchOutput stores about size bytes of request-log lines for a run and returns their size.
func benchOutput(b *testing.B, f *fixture, id string, size int) int64 {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	at := t0
	var batch []hashike.LogEntry
	var arena []byte
	var text int64
	for text < int64(size) {
		at = at.Add(time.Millisecond)
		n := len(arena)
		if r.IntN(20000) == 0 {
			arena = fmt.Appendf(arena, "%s ERROR upstream timed out after %dms\n", at.UTC().Format(time.RFC3339Nano), r.IntN(30000))
		} else {
			arena = fmt.Appendf(arena, "%s INFO request_id=%016x path=/api/v1/items/%d status=200 duration=%dms\n",
				at.UTC().Format(time.RFC3339Nano), r.Uint64(), r.IntN(100000), r.IntN(900))
		}
		batch = append(batch, hashike.LogEntry{Container: "app", Stream: hashike.Stdout, Time: at, Data: arena[n:]})
		text += int64(len(arena) - n)
		if len(arena) >= 1<<20 {
			if err := f.db.AppendLogs(context.Background(), id, batch); err != nil {
				b.Fatal(err)
			}
			batch, arena = nil, nil
		}
	}
	if err := f.db.AppendLogs(context.Background(), id, batch); err != nil {
		b.Fatal(err)
	}
	return text
}

// BenchmarkArchive: archiving a run's 64 MB of output (reading the database's copy, encoding
// JSON lines, zstd), into memory. MB/s is of log text.
func BenchmarkArchive(b *testing.B) {
	f := newFixture(b)
	f.arch.SegmentBytes = 0 // the default
	id := "01jd0000000000000000000001"
	f.createRun(b, id, "web")
	text := benchOutput(b, f, id, 64<<20)
	f.endRun(b, id)
	b.SetBytes(text)
	b.ResetTimer()
	for range b.N {
		objects := newMemObjects()
		ar := &archive.Archiver{Runs: f.db, Logs: f.db, Index: &forgetful{}, Objects: objects}
		if err := ar.EnsureArchived(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}

// forgetful is an index that forgets: each archive starts from nothing.
type forgetful struct{}

func (forgetful) AddLogSegments(context.Context, string, []hashike.LogSegment, int64, int64, bool) error {
	return nil
}
func (forgetful) LogArchive(_ context.Context, id string) (hashike.LogArchive, error) {
	return hashike.LogArchive{RunID: id}, nil
}
func (forgetful) UnarchivedRuns(context.Context, time.Time, int) ([]string, error) { return nil, nil }

// BenchmarkSearch: searching 64 MB of archived log text in memory, with a literal (the jump path)
// and without (every line parsed). MB/s is of log text.
func BenchmarkSearch(b *testing.B) {
	f := newFixture(b)
	f.arch.SegmentBytes = 0 // the default
	id := "01jd0000000000000000000001"
	f.createRun(b, id, "web")
	text := benchOutput(b, f, id, 64<<20)
	f.endRun(b, id)
	if err := f.arch.EnsureArchived(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	for _, pattern := range []string{"ERROR .*timed out", "(?i)error .*timed out"} {
		b.Run(pattern, func(b *testing.B) {
			s := &archive.Searcher{Objects: f.objects, Runs: f.db}
			b.SetBytes(text)
			for range b.N {
				if _, err := s.Search(context.Background(), hashike.LogQuery{Pattern: pattern}, func(hashike.LogMatch) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
