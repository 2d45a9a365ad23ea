package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
)

// Logs implements hashike.Backend.
//
// Following a task whose containers have not started yet, it attaches to each container, as
// `docker run` does, and reads the raw stream: every byte, at the speed the container writes.
// A container already running or stopped is read from the engine's log store instead, from the
// start, skipping what opts.After says was read. Both carry the same bytes, which is why the
// cursor counts bytes. The entry's Data is valid only during the sink call.
func (b *Backend) Logs(ctx context.Context, ref hashike.TaskRef, opts hashike.LogsOptions, sink func(hashike.LogEntry) error) error {
	o, err := b.observe(ctx, ref.ID)
	if err != nil {
		return err
	}
	locked := hashike.SerialSink(sink)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg, ready sync.WaitGroup
	errs := make([]error, len(o.td.ContainerDefinitions))
	for i, def := range o.td.ContainerDefinitions {
		id, ok := o.ids[def.Name]
		if !ok {
			continue
		}
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := &follower{b: b, runID: ref.ID, name: def.Name, id: id, cursor: opts.After.Clone(), sink: locked, ready: sync.OnceFunc(ready.Done)}
			if err := c.run(ctx, opts.Follow); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	ready.Wait()
	if opts.Ready != nil {
		opts.Ready()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// follower reads one container's output.
type follower struct {
	b      *Backend
	runID  string
	name   string
	id     string
	cursor hashike.LogCursor
	sink   func(hashike.LogEntry) error
	ready  func()
}

func (f *follower) inspect(ctx context.Context) (*container.State, error) {
	in, err := f.b.api.ContainerInspect(ctx, f.id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	return in.Container.State, nil
}

func notStarted(st *container.State) bool {
	return st.Status == container.StateCreated && st.Error == "" && parseTime(st.StartedAt) == nil
}

func (f *follower) run(ctx context.Context, follow bool) error {
	defer f.ready()
	if follow {
		done, err := f.attach(ctx)
		if err != nil || done {
			return err
		}
	}
	f.ready()
	return f.fromStore(ctx, follow)
}

// attach reads the live stream of a container that has not started yet; done is false when the
// container started before the attachment was in place (read the store instead).
func (f *follower) attach(ctx context.Context) (done bool, err error) {
	st, err := f.inspect(ctx)
	if cerrdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect container %s: %w", f.name, err)
	}
	if !notStarted(st) {
		return false, nil
	}
	att, err := f.b.api.ContainerAttach(ctx, f.id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return false, nil
	}
	defer att.Close()
	// Attached: if it has still not started, nothing can be missed.
	if st, err = f.inspect(ctx); err != nil || !notStarted(st) {
		return false, nil
	}
	f.ready()
	// A container that never starts (its dependencies failed, the task was stopped) never
	// ends its stream: watch for that.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-f.b.clock.After(250 * time.Millisecond):
			}
			st, err := f.inspect(watchCtx)
			if err == nil && !notStarted(st) {
				return // started: the stream ends when it exits
			}
			if done, _ := f.b.taskDone(watchCtx, f.runID); cerrdefs.IsNotFound(err) || done {
				att.Close()
				return
			}
		}
	}()
	lines := newLineSplitter(f.name, f.b.clock, f.cursor, f.sink)
	err = readFrames(att.Reader, func(stream hashike.Stream, payload []byte) error {
		return lines.write(stream, payload)
	})
	if err != nil && watchCtx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, fmt.Errorf("attach to container %s: %w", f.name, err)
	}
	return true, lines.flush()
}

// fromStore reads the engine's log store from the start, skipping what the cursor read; with
// follow, until the container has stopped.
func (f *follower) fromStore(ctx context.Context, follow bool) error {
	for {
		st, err := f.inspect(ctx)
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspect container %s: %w", f.name, err)
		}
		if notStarted(st) {
			if !follow {
				return nil
			}
			if done, err := f.b.taskDone(ctx, f.runID); err != nil || done {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-f.b.clock.After(200 * time.Millisecond):
			}
			continue
		}
		running := st.Status == container.StateRunning || st.Status == container.StatePaused || st.Status == container.StateRestarting
		if err := f.readStore(ctx, follow && running); err != nil {
			return err
		}
		if !follow || !running {
			return nil
		}
		// The stream ended while the container ran: look again and read on.
	}
}

func (f *follower) readStore(ctx context.Context, follow bool) error {
	rc, err := f.b.api.ContainerLogs(ctx, f.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("logs of container %s: %w", f.name, err)
	}
	defer rc.Close()
	var offset [3]int64
	err = readFrames(rc, func(stream hashike.Stream, payload []byte) error {
		ts, data, ok := splitTimestamp(payload)
		if !ok {
			return fmt.Errorf("logs of container %s: entry without timestamp", f.name)
		}
		at := offset[stream]
		offset[stream] += int64(len(data))
		data = f.cursor.Unseen(f.name, stream, at, data)
		if data == nil {
			return nil
		}
		e := hashike.LogEntry{Container: f.name, Stream: stream, Time: ts, Data: data}
		if err := f.sink(e); err != nil {
			return err
		}
		f.cursor.Advance(e)
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readFrames reads the engine's multiplexed stream: frames of an 8-byte header (stream, 0, 0,
// 0, big-endian size) and a payload. The payload slice is reused.
func readFrames(r io.Reader, fn func(hashike.Stream, []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [8]byte
	buf := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		size := int(binary.BigEndian.Uint32(hdr[4:]))
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		stream := hashike.Stdout
		switch hdr[0] {
		case 1:
		case 2:
			stream = hashike.Stderr
		default:
			continue // stdin echo or system frames carry no output
		}
		if err := fn(stream, buf); err != nil {
			return err
		}
	}
}

// lineSplitter turns raw chunks into line entries, keeping an unfinished line per stream
// until its newline arrives (or the stream ends).
type lineSplitter struct {
	name    string
	clock   hashike.Clock
	cursor  hashike.LogCursor
	sink    func(hashike.LogEntry) error
	pending [3][]byte
	offset  [3]int64
}

// maxLine bounds an unfinished line held back; longer ones are sent in pieces, as the engine's
// log drivers split them.
const maxLine = 16 << 10

func newLineSplitter(name string, clock hashike.Clock, cursor hashike.LogCursor, sink func(hashike.LogEntry) error) *lineSplitter {
	return &lineSplitter{name: name, clock: clock, cursor: cursor, sink: sink}
}

func (l *lineSplitter) write(stream hashike.Stream, p []byte) error {
	now := l.clock.Now()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.pending[stream] = append(l.pending[stream], p...)
			if len(l.pending[stream]) >= maxLine {
				return l.emitPending(stream, now)
			}
			return nil
		}
		line := p[:i+1]
		p = p[i+1:]
		if len(l.pending[stream]) > 0 {
			l.pending[stream] = append(l.pending[stream], line...)
			if err := l.emitPending(stream, now); err != nil {
				return err
			}
			continue
		}
		if err := l.emit(stream, now, line); err != nil {
			return err
		}
	}
	return nil
}

func (l *lineSplitter) emitPending(stream hashike.Stream, now time.Time) error {
	err := l.emit(stream, now, l.pending[stream])
	l.pending[stream] = l.pending[stream][:0]
	return err
}

func (l *lineSplitter) emit(stream hashike.Stream, now time.Time, data []byte) error {
	at := l.offset[stream]
	l.offset[stream] += int64(len(data))
	data = l.cursor.Unseen(l.name, stream, at, data)
	if data == nil {
		return nil
	}
	e := hashike.LogEntry{Container: l.name, Stream: stream, Time: now, Data: data}
	if err := l.sink(e); err != nil {
		return err
	}
	l.cursor.Advance(e)
	return nil
}

// flush sends unfinished lines at the end of the stream.
func (l *lineSplitter) flush() error {
	now := l.clock.Now()
	for _, s := range []hashike.Stream{hashike.Stdout, hashike.Stderr} {
		if len(l.pending[s]) > 0 {
			if err := l.emitPending(s, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Backend) taskDone(ctx context.Context, runID string) (bool, error) {
	o, err := b.observe(ctx, runID)
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			return true, nil
		}
		return false, err
	}
	return hashike.NextTaskActions(&o.td, o.status, false, b.clock.Now()).Done, nil
}

// splitTimestamp splits "2006-01-02T15:04:05.999999999Z line" into its time and the line.
func splitTimestamp(b []byte) (time.Time, []byte, bool) {
	i := bytes.IndexByte(b[:min(len(b), 48)], ' ')
	if i < 0 {
		return time.Time{}, nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:i]))
	if err != nil {
		return time.Time{}, nil, false
	}
	return t, b[i+1:], true
}
