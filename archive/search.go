package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/klauspost/compress/zstd"
)

// Stats is what a search read.
type Stats struct {
	Segments int   `json:"segments"`
	Bytes    int64 `json:"bytes"`   // compressed, as stored
	Decoded  int64 `json:"decoded"` // JSON lines
	Lines    int64 `json:"lines"`   // examined in full (the rest were skipped by a literal)
	Matches  int64 `json:"matches"`
}

// Searcher scans the archive's by-service copy: it lists only the partitions the query can
// match (family, container, dt), keeps the runs in the states asked for, and decodes segments
// on Workers goroutines at once. Matches come in key order (family, container, day, run,
// segment), each segment's in line order.
type Searcher struct {
	Objects hashike.ObjectStore
	Runs    hashike.RunStore
	// Workers decode segments at once (default GOMAXPROCS).
	Workers int
}

// errLimit stops a search that reached its limit.
var errLimit = errors.New("limit reached")

var _ hashike.LogSearcher = (*Searcher)(nil)

// SearchLogs is Search without the statistics.
func (s *Searcher) SearchLogs(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error {
	_, err := s.Search(ctx, q, fn)
	return err
}

// Search calls fn for every matching line and returns what it read; an error of fn stops the
// search and is returned.
func (s *Searcher) Search(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) (Stats, error) {
	var st Stats
	if err := q.Validate(); err != nil {
		return st, err
	}
	re := regexp.MustCompile(q.Pattern)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type job struct {
		key  serviceKey
		raw  string
		size int64
		out  chan result
	}
	jobs := make(chan *job)
	order := make(chan *job, 2*workers) // bounds the segments decoded ahead of the emitter
	var listErr error
	go func() {
		defer close(order)
		defer close(jobs)
		listErr = s.list(ctx, q, func(k serviceKey, info hashike.ObjectInfo) error {
			j := &job{key: k, raw: info.Key, size: info.Size, out: make(chan result, 1)}
			select {
			case order <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	var wg sync.WaitGroup
	sc := scanner{since: q.Since, until: q.Until, re: re}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{scanner: sc, objects: s.Objects}
			defer w.close()
			for j := range jobs {
				j.out <- w.scan(ctx, j.raw)
			}
		}()
	}
	var err error
	for j := range order {
		r := <-j.out
		st.Segments++
		st.Bytes += r.bytes
		st.Decoded += r.decoded
		st.Lines += r.lines
		if r.err != nil {
			err = r.err
			break
		}
		for _, m := range r.matches {
			m.Family, m.Container = unescape2(j.key.family), unescape2(j.key.container)
			st.Matches++
			if err = fn(m); err == nil && q.Limit > 0 && st.Matches >= int64(q.Limit) {
				err = errLimit
			}
			if err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	cancel()
	for range order { // let the lister and the workers finish
	}
	wg.Wait()
	if errors.Is(err, errLimit) {
		return st, nil
	}
	if err == nil && listErr != nil && !errors.Is(listErr, context.Canceled) {
		err = listErr
	}
	if err == nil {
		err = ctx.Err()
		if errors.Is(err, context.Canceled) {
			err = nil // our own cancel, after the last segment
		}
	}
	return st, err
}

// unescape2 undoes partValue's escaping.
func unescape2(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+3 <= len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// list calls fn for each by-service segment the query's partitions and run states allow, in
// key order.
func (s *Searcher) list(ctx context.Context, q hashike.LogQuery, fn func(serviceKey, hashike.ObjectInfo) error) error {
	var prefixes []string
	base := servicePrefix
	if q.Family != "" {
		base += "family=" + partValue(q.Family) + "/"
		if q.Container != "" {
			base += "container=" + partValue(q.Container) + "/"
		}
	}
	if q.Family != "" && q.Container != "" && !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Sub(q.Since) <= 400*24*time.Hour {
		for d := q.Since.UTC().Truncate(24 * time.Hour); d.Before(q.Until); d = d.Add(24 * time.Hour) {
			prefixes = append(prefixes, base+"dt="+d.Format(time.DateOnly)+"/")
		}
	} else {
		prefixes = []string{base}
	}
	var from, to string
	if !q.Since.IsZero() {
		from = q.Since.UTC().Format(time.DateOnly)
	}
	if !q.Until.IsZero() {
		to = q.Until.Add(-1).UTC().Format(time.DateOnly)
	}
	states := map[string]bool{} // by run ID: kept or not
	for _, prefix := range prefixes {
		err := s.Objects.List(ctx, prefix, func(info hashike.ObjectInfo) error {
			k, ok := parseServiceKey(info.Key)
			if !ok || (q.Container != "" && k.container != partValue(q.Container)) ||
				(from != "" && k.date < from) || (to != "" && k.date > to) {
				return nil
			}
			if len(q.States) > 0 {
				keep, known := states[k.runID]
				if !known {
					run, err := s.Runs.GetRun(ctx, k.runID)
					switch {
					case hashike.ErrorCodeOf(err) == hashike.ENotFound:
						keep = false // its run was pruned: its state is unknown
					case err != nil:
						return err
					default:
						keep = slices.Contains(q.States, run.State)
					}
					states[k.runID] = keep
				}
				if !keep {
					return nil
				}
			}
			return fn(k, info)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// scanner is a query's line filter.
type scanner struct {
	since, until time.Time
	re           *regexp.Regexp
}

type result struct {
	matches               []hashike.LogMatch
	bytes, decoded, lines int64
	err                   error
}

// worker decodes segments; its buffers and decoder are reused.
type worker struct {
	scanner
	objects    hashike.ObjectStore
	dec        *zstd.Decoder
	compressed []byte
	decoded    []byte
	p          parser
}

func (w *worker) close() {
	if w.dec != nil {
		w.dec.Close()
	}
}

func (w *worker) scan(ctx context.Context, key string) (r result) {
	if err := ctx.Err(); err != nil {
		r.err = err
		return r
	}
	body, _, err := w.objects.Get(ctx, key)
	if err != nil {
		r.err = fmt.Errorf("search: %s: %w", key, err)
		return r
	}
	buf := bytes.NewBuffer(w.compressed[:0])
	_, err = io.Copy(buf, io.LimitReader(body, maxDecoded))
	body.Close()
	w.compressed = buf.Bytes()
	if err != nil {
		r.err = fmt.Errorf("search: %s: %w", key, err)
		return r
	}
	if w.dec == nil {
		// No frame checksums: a tenth of the decoding time, and a search reports lines, it
		// does not vouch for the archive (reading a run back, Logs, checks them).
		if w.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecoded),
			zstd.IgnoreChecksum(true)); err != nil {
			r.err = err
			return r
		}
	}
	w.decoded, err = w.dec.DecodeAll(w.compressed, w.decoded[:0])
	if err != nil {
		r.err = fmt.Errorf("search: %s: %w", key, err)
		return r
	}
	r.bytes, r.decoded = int64(len(w.compressed)), int64(len(w.decoded))
	r.err = w.lines(w.decoded, &r)
	if r.err != nil {
		r.err = fmt.Errorf("search: %s: %w", key, r.err)
	}
	return r
}

// literal returns a string every match contains and that a segment holds byte for byte as in
// the text, or "" when there is none to rely on.
func literal(re *regexp.Regexp) string {
	lit, _ := re.LiteralPrefix()
	if strings.ContainsAny(lit, "\"\\") {
		return ""
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] < 0x20 {
			return ""
		}
	}
	return lit
}

// lines scans a decoded segment. With a literal that every match contains (and no line kept in
// base64, which hides text from a byte search), it jumps from one occurrence of the literal to
// the next and parses only the lines they fall in; otherwise it parses every line.
func (w *worker) lines(buf []byte, r *result) error {
	var since, until []byte
	if !w.since.IsZero() {
		since = w.since.UTC().AppendFormat(nil, timeLayout)
	}
	if !w.until.IsZero() {
		until = w.until.UTC().AppendFormat(nil, timeLayout)
	}
	check := func(line []byte) error {
		r.lines++
		rec, err := w.p.parse(line)
		if err != nil {
			return err
		}
		if since != nil && bytes.Compare(rec.time, since) < 0 || until != nil && bytes.Compare(rec.time, until) >= 0 {
			return nil
		}
		if !w.re.Match(rec.text) {
			return nil
		}
		e, err := rec.entry("")
		if err != nil {
			return err
		}
		r.matches = append(r.matches, hashike.LogMatch{RunID: string(rec.runID), Time: e.Time, Stream: rec.stream.String(), Line: string(rec.text)})
		return nil
	}
	lit := literal(w.re)
	if lit != "" && !bytes.Contains(buf, []byte(`"b64":"`)) {
		l := []byte(lit)
		for pos := 0; pos < len(buf); {
			i := bytes.Index(buf[pos:], l)
			if i < 0 {
				return nil
			}
			i += pos
			start := bytes.LastIndexByte(buf[:i], '\n') + 1
			end := bytes.IndexByte(buf[i:], '\n')
			if end < 0 {
				end = len(buf)
			} else {
				end += i
			}
			if err := check(buf[start:end]); err != nil {
				return err
			}
			pos = end + 1
		}
		return nil
	}
	for len(buf) > 0 {
		end := bytes.IndexByte(buf, '\n')
		if end < 0 {
			end = len(buf)
		}
		if end > 0 {
			if err := check(buf[:end]); err != nil {
				return err
			}
		}
		buf = buf[min(end+1, len(buf)):]
	}
	return nil
}
