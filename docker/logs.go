package docker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
)

// Logs implements hashike.Backend. Each container is read through the engine's logs endpoint
// with timestamps, from opts.After on; entries already seen are skipped by the cursor, so a
// reader that stopped anywhere resumes without loss or repetition. The entry's Data is valid
// only during the sink call.
func (b *Backend) Logs(ctx context.Context, ref hashike.TaskRef, opts hashike.LogsOptions, sink func(hashike.LogEntry) error) error {
	o, err := b.observe(ctx, ref.ID)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	locked := func(e hashike.LogEntry) error {
		mu.Lock()
		defer mu.Unlock()
		return sink(e)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(o.td.ContainerDefinitions))
	for i, def := range o.td.ContainerDefinitions {
		id, ok := o.ids[def.Name]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.containerLogs(ctx, ref.ID, def.Name, id, opts.After.Clone(), opts.Follow, locked); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (b *Backend) containerLogs(ctx context.Context, runID, name, id string, cursor hashike.LogCursor, follow bool, sink func(hashike.LogEntry) error) error {
	if cursor == nil {
		cursor = hashike.LogCursor{}
	}
	for {
		in, err := b.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspect container %s: %w", name, err)
		}
		st := in.Container.State
		if st.Status == container.StateCreated && st.Error == "" {
			// Not started yet (waiting on dependsOn): nothing to read until it starts.
			if !follow {
				return nil
			}
			if done, err := b.taskDone(ctx, runID); err != nil || done {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-b.clock.After(200 * time.Millisecond):
			}
			continue
		}
		running := st.Status == container.StateRunning || st.Status == container.StatePaused || st.Status == container.StateRestarting
		if err := b.readLogs(ctx, name, id, cursor, follow && running, sink); err != nil {
			return err
		}
		if !follow || !running {
			return nil
		}
		// The stream ended while the container ran (it stopped, or the engine closed the
		// stream): look again, and read on from where we are.
	}
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

// readLogs reads one logs stream and sends what the cursor has not seen.
func (b *Backend) readLogs(ctx context.Context, name, id string, cursor hashike.LogCursor, follow bool, sink func(hashike.LogEntry) error) error {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow}
	if since := cursor.Since(name); !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := b.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("logs of container %s: %w", name, err)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	var hdr [8]byte
	buf := make([]byte, 0, 64<<10)
	// Per stream: the last timestamp read in this stream and how many entries carried it.
	var lastTS [3]time.Time
	var n [3]int
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF || errors.Is(err, context.Canceled) && ctx.Err() == nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read logs of container %s: %w", name, err)
		}
		size := int(binary.BigEndian.Uint32(hdr[4:]))
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("read logs of container %s: %w", name, err)
		}
		stream := hashike.Stdout
		if hdr[0] == 2 {
			stream = hashike.Stderr
		}
		ts, data, ok := splitTimestamp(buf)
		if !ok {
			return fmt.Errorf("logs of container %s: entry without timestamp", name)
		}
		if ts.Equal(lastTS[stream]) {
			n[stream]++
		} else {
			lastTS[stream], n[stream] = ts, 1
		}
		e := hashike.LogEntry{Container: name, Stream: stream, Time: ts, Data: data}
		if cursor.Seen(e, n[stream]) {
			continue
		}
		if err := sink(e); err != nil {
			return err
		}
		cursor.Advance(e)
	}
}

// splitTimestamp splits "2006-01-02T15:04:05.999999999Z line" into its time and the line.
func splitTimestamp(b []byte) (time.Time, []byte, bool) {
	for i, c := range b {
		if c == ' ' {
			t, err := time.Parse(time.RFC3339Nano, string(b[:i]))
			if err != nil {
				return time.Time{}, nil, false
			}
			return t, b[i+1:], true
		}
		if i > 40 {
			break
		}
	}
	return time.Time{}, nil, false
}
