package archive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashike/hashike"
	"github.com/klauspost/compress/zstd"
)

// maxDecoded bounds the memory a segment's decoder may use, against a damaged or hostile
// object: segments are DefaultSegmentBytes before compression.
const maxDecoded = 1 << 30

// Logs is the LogStore of a database with an archive: output is appended to and read from the
// database, except that a run whose archive is complete is read from the archive (from the
// start; positions are the database's, so a reader that read part of a run from the database
// goes on there). That is what lets the pruner delete a run's output from the database once
// Archiver.EnsureArchived returned: `hashike logs` and the API read the archive instead. The
// live tail of a running run is the database's, unchanged.
type Logs struct {
	DB      hashike.LogStore
	Index   hashike.LogArchiveIndex
	Objects hashike.ObjectStore
}

var _ hashike.LogStore = (*Logs)(nil)

// AppendLogs stores entries in the database.
func (l *Logs) AppendLogs(ctx context.Context, runID string, entries []hashike.LogEntry) error {
	return l.DB.AppendLogs(ctx, runID, entries)
}

// ReadLogs reads the run's output from its complete archive when after is 0, else from the
// database (see hashike.LogStore). Read from the archive, the position returned is the
// database position the archive reaches; when fn fails it is 0 (reading again repeats).
func (l *Logs) ReadLogs(ctx context.Context, runID string, after int64, fn func(hashike.LogEntry) error) (int64, error) {
	if after == 0 {
		arc, err := l.Index.LogArchive(ctx, runID)
		if err != nil {
			return 0, err
		}
		if arc.Complete {
			if err := ReadArchive(ctx, l.Objects, arc, fn); err != nil {
				return 0, err
			}
			return arc.Through, nil
		}
	}
	return l.DB.ReadLogs(ctx, runID, after, fn)
}

// ReadArchive calls fn for every line of the archive, in the order the lines were stored: each
// container's segments are read in turn and the containers merged by line number.
func ReadArchive(ctx context.Context, objects hashike.ObjectStore, arc hashike.LogArchive, fn func(hashike.LogEntry) error) error {
	var chains []*chain
	for i := 0; i < len(arc.Segments); {
		j := i
		for j < len(arc.Segments) && arc.Segments[j].Container == arc.Segments[i].Container {
			j++
		}
		chains = append(chains, &chain{objects: objects, segs: arc.Segments[i:j]})
		i = j
	}
	defer func() {
		for _, c := range chains {
			c.close()
		}
	}()
	for _, c := range chains {
		if err := c.advance(ctx); err != nil {
			return err
		}
	}
	for {
		var best *chain
		for _, c := range chains {
			if c.ok && (best == nil || c.rec.n < best.rec.n) {
				best = c
			}
		}
		if best == nil {
			return nil
		}
		e, err := best.rec.entry(best.segs[best.i].Container)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		if err := best.advance(ctx); err != nil {
			return err
		}
	}
}

// chain reads one container's segments in order.
type chain struct {
	objects hashike.ObjectStore
	segs    []hashike.LogSegment
	i       int // the segment being read
	body    io.ReadCloser
	dec     *zstd.Decoder
	r       *bufio.Reader
	line    []byte
	p       parser
	rec     record
	ok      bool // rec holds the next line
}

func (c *chain) close() {
	if c.body != nil {
		c.body.Close()
		c.body = nil
	}
	if c.dec != nil {
		c.dec.Close()
		c.dec = nil
	}
}

// advance reads the next line into rec; ok is false at the end.
func (c *chain) advance(ctx context.Context) error {
	for {
		if c.r == nil {
			if c.i >= len(c.segs) {
				c.ok = false
				return nil
			}
			key := c.segs[c.i].TaskKey
			body, _, err := c.objects.Get(ctx, key)
			if hashike.ErrorCodeOf(err) == hashike.ENotFound {
				return hashike.Errorf(hashike.ENotFound, "the archived output is gone (%s): past the archive's retention, or deleted", key)
			}
			if err != nil {
				return fmt.Errorf("read archived output: %s: %w", key, err)
			}
			c.body = body
			if c.dec == nil {
				if c.dec, err = zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecoded)); err != nil {
					return err
				}
			} else if err := c.dec.Reset(body); err != nil {
				return err
			}
			c.r = bufio.NewReaderSize(c.dec, 64<<10)
		}
		line, err := readLine(c.r, c.line[:0])
		c.line = line
		if errors.Is(err, io.EOF) && len(line) == 0 {
			c.body.Close()
			c.body, c.r = nil, nil
			c.i++
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read archived output: %s: %w", c.segs[c.i].TaskKey, err)
		}
		if c.rec, err = c.p.parse(line); err != nil {
			return fmt.Errorf("read archived output: %s: %w", c.segs[c.i].TaskKey, err)
		}
		c.ok = true
		return nil
	}
}

// readLine reads one line, without its newline, into dst.
func readLine(r *bufio.Reader, dst []byte) ([]byte, error) {
	for {
		part, err := r.ReadSlice('\n')
		dst = append(dst, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(dst, []byte("\n")), err
	}
}
