package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// printer shows container output: stdout entries on stdout, stderr entries on stderr, each
// line prefixed with its container's name when the task has several. Writes are buffered and
// flushed every 50 ms and whenever the stream changes, so a flood of lines costs few system
// calls and a terminal still sees them promptly and in order.
type printer struct {
	mu       sync.Mutex
	out, err *bufio.Writer
	width    int // 0: no prefix
	// timestamps starts each line with the time it was received (logs --timestamps).
	timestamps bool
	last       *bufio.Writer
	stop       context.CancelFunc
	done       chan struct{}
}

func newPrinter(stdout, stderr io.Writer, spec *hashike.JobSpec) *printer {
	p := &printer{out: bufio.NewWriterSize(stdout, 64<<10), err: bufio.NewWriterSize(stderr, 16<<10), done: make(chan struct{})}
	if cs := spec.TaskDefinition.ContainerDefinitions; len(cs) > 1 {
		for _, c := range cs {
			p.width = max(p.width, len(c.Name))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		defer close(p.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.flush()
			}
		}
	}()
	return p
}

func (p *printer) entry(e hashike.LogEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.out
	if e.Stream == hashike.Stderr {
		w = p.err
	}
	if p.last != nil && p.last != w {
		p.last.Flush()
	}
	p.last = w
	if p.timestamps {
		w.WriteString(e.Time.UTC().Format(time.RFC3339Nano))
		w.WriteByte(' ')
	}
	if p.width > 0 {
		w.WriteString(e.Container)
		w.WriteString(strings.Repeat(" ", p.width-len(e.Container)))
		w.WriteString(" | ")
	}
	w.Write(e.Data)
}

func (p *printer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Flush()
	p.err.Flush()
}

// Close flushes everything and stops the flusher.
func (p *printer) Close() {
	p.stop()
	<-p.done
	p.flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// lineHandler writes a backend's log records for people, one line each on stderr:
// "hashike: waiting for capacity cluster=jobs why=RESOURCE:MEMORY". Debug records are dropped.
type lineHandler struct {
	mu    sync.Mutex
	w     io.Writer
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("hashike: ")
	if r.Level >= slog.LevelWarn {
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lineHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
