package archive

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hashike/hashike"
	"github.com/klauspost/compress/zstd"
)

// DefaultSegmentBytes bounds a segment's JSON lines (before compression).
const DefaultSegmentBytes = 32 << 20

// Archiver writes runs' output from the database's LogStore to the object store, as segments
// recorded in the index. Every method is idempotent and safe to run again after a crash at any
// point (kill -9): a segment's object is written (under a key that depends only on the run, the
// container and the segment's number) before its index row, a row that exists is never written
// again, and what a crash left unindexed is written again, under the same keys, by the next
// call. Two Archivers on one run (two replicas) write the same objects and one set of rows.
type Archiver struct {
	Runs    hashike.RunStore
	Logs    hashike.LogStore // the database's copy, read from
	Index   hashike.LogArchiveIndex
	Objects hashike.ObjectStore
	// SegmentBytes bounds a segment's size before compression (default DefaultSegmentBytes).
	SegmentBytes int
}

// EnsureArchived makes the archive of an ended run complete: it writes what of the run's
// stored output is not archived yet and marks the archive complete. It returns nil once the
// archive is complete (at once when it was already); only then may the run's output be
// deleted from the database (the pruner does, and Logs then reads the archive). EConflict when
// the run has not ended; ENotFound when there is no such run.
func (a *Archiver) EnsureArchived(ctx context.Context, runID string) error {
	return a.archive(ctx, runID, true)
}

// Roll archives what a running run has stored so far, as segments of their own (rolling
// segments: a long run's output reaches the archive while it runs). The archive stays
// incomplete; EnsureArchived completes it once the run has ended.
func (a *Archiver) Roll(ctx context.Context, runID string) error {
	return a.archive(ctx, runID, false)
}

func (a *Archiver) archive(ctx context.Context, runID string, final bool) error {
	run, err := a.Runs.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	if final && !run.State.Terminal() {
		return hashike.Errorf(hashike.EConflict, "run %s is %s: only an ended run's archive can be completed", run.ID, run.State)
	}
	arc, err := a.Index.LogArchive(ctx, run.ID)
	if err != nil {
		return err
	}
	if arc.Complete {
		return nil
	}
	p := &pass{a: a, run: run, builders: map[string]*builder{}, seq: map[string]int{}, last: map[string]int64{}}
	for _, g := range arc.Segments {
		p.seq[g.Container] = max(p.seq[g.Container], g.Seq)
		p.last[g.Container] = max(p.last[g.Container], g.LastLine+1)
	}
	line := arc.ThroughLine
	next, err := a.Logs.ReadLogs(ctx, run.ID, arc.Through, func(e hashike.LogEntry) error {
		n := line
		line++
		if n < p.last[e.Container] {
			return nil // in a segment a crashed pass indexed already
		}
		return p.add(ctx, n, e)
	})
	if err != nil {
		return fmt.Errorf("archive the output of run %s: %w", run.ID, err)
	}
	// The rest of every container, in the order of their names: which container gets which
	// number does not depend on the pass.
	var segs []hashike.LogSegment
	names := make([]string, 0, len(p.builders))
	for name := range p.builders {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if b := p.builders[name]; b.lines > 0 {
			g, err := p.write(ctx, b)
			if err != nil {
				return err
			}
			segs = append(segs, g)
		}
	}
	if next == arc.Through && len(segs) == 0 && !final {
		return nil
	}
	return a.Index.AddLogSegments(ctx, run.ID, segs, next, line, final)
}

// pass is one archive call's state.
type pass struct {
	a        *Archiver
	run      *hashike.Run
	builders map[string]*builder
	seq      map[string]int   // the container's last segment number
	last     map[string]int64 // lines below this are archived, per container
	line     []byte
}

// builder is the segment being written for one container.
type builder struct {
	container   string
	seq         int
	buf         bytes.Buffer
	enc         *zstd.Encoder
	first, last int64
	firstAt     time.Time
	lastAt      time.Time
	day         string
	lines       int64
	size        int64 // JSON bytes
	text        int64
}

func (p *pass) limit() int64 {
	if p.a.SegmentBytes > 0 {
		return int64(p.a.SegmentBytes)
	}
	return DefaultSegmentBytes
}

func (p *pass) add(ctx context.Context, n int64, e hashike.LogEntry) error {
	b := p.builders[e.Container]
	day := e.Time.UTC().Format(time.DateOnly)
	// A segment holds one UTC day, so that the by-service copy's dt partition bounds every line
	// in it; and at most limit bytes.
	if b != nil && b.lines > 0 && (b.size >= p.limit() || day != b.day) {
		g, err := p.write(ctx, b)
		if err != nil {
			return err
		}
		if err := p.a.Index.AddLogSegments(ctx, p.run.ID, []hashike.LogSegment{g}, 0, 0, false); err != nil {
			return err
		}
	}
	if b == nil {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		b = &builder{container: e.Container, enc: enc}
		p.builders[e.Container] = b
	}
	if b.lines == 0 {
		p.seq[e.Container]++
		b.seq, b.first, b.firstAt, b.day = p.seq[e.Container], n, e.Time, day
		b.buf.Reset()
		b.enc.Reset(&b.buf)
	}
	p.line = appendLine(p.line[:0], p.run.ID, n, e)
	if _, err := b.enc.Write(p.line); err != nil {
		return err
	}
	b.last, b.lastAt = n, e.Time
	b.lines++
	b.size += int64(len(p.line))
	b.text += int64(len(e.Data))
	return nil
}

// write stores b's segment under both keys and returns its index row; b is empty after.
func (p *pass) write(ctx context.Context, b *builder) (hashike.LogSegment, error) {
	if err := b.enc.Close(); err != nil {
		return hashike.LogSegment{}, err
	}
	g := hashike.LogSegment{
		Container: b.container, Seq: b.seq,
		TaskKey:    TaskKey(p.run.Family, b.container, p.run.ID, b.seq),
		ServiceKey: ServiceKey(p.run.Family, b.container, p.run.ID, b.seq, b.firstAt),
		FirstLine:  b.first, LastLine: b.last, FirstAt: b.firstAt, LastAt: b.lastAt,
		Lines: b.lines, Bytes: int64(b.buf.Len()), TextBytes: b.text,
	}
	opts := hashike.PutOptions{ContentType: "application/x-ndjson", ContentEncoding: "zstd"}
	for _, key := range []string{g.TaskKey, g.ServiceKey} {
		if err := p.a.Objects.Put(ctx, key, bytes.NewReader(b.buf.Bytes()), int64(b.buf.Len()), opts); err != nil {
			return g, fmt.Errorf("archive run %s: put %s: %w", p.run.ID, key, err)
		}
	}
	b.lines, b.size, b.text = 0, 0, 0
	return g, nil
}
