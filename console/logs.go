package console

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// flushEvery is how often a log stream sends what it buffered: often enough to read as
// live, seldom enough that a job writing 10,000 lines a second costs a few events a second;
// maxBatch bounds one event.
const (
	flushEvery = 50 * time.Millisecond
	maxBatch   = 256 << 10
)

// logEvent is one log entry on the stream: container, stream, time (RFC 3339) and text.
type logEvent struct {
	C string `json:"c,omitempty"`
	S string `json:"s"`
	T string `json:"t"`
	D string `json:"d"`
}

// logStream sends a run's output as server-sent events, following it until the run ends.
// Each event is a JSON array of the entries that came since the last one (a job writing
// thousands of lines a second costs the browser a few events a second, not thousands); its
// ID is the number of entries sent so far, so that a browser that reconnects
// (Last-Event-ID) gets only what it missed. The last event is "end", after which the
// browser closes.
func (c *Console) logStream(w http.ResponseWriter, r *http.Request, _ *session) error {
	id := r.PathValue("id")
	if _, err := c.svc.GetRun(r.Context(), id); err != nil {
		return err
	}
	skip, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream lasts as long as the run
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var (
		mu    sync.Mutex
		batch bytes.Buffer // the entries not sent yet, comma-separated
		n     int          // entries seen
	)
	bw := bufio.NewWriterSize(w, 64<<10)
	// send writes the batch as one event and flushes; the caller holds mu.
	send := func() {
		if batch.Len() > 0 {
			_, _ = bw.WriteString("id: " + strconv.Itoa(n) + "\ndata: [")
			_, _ = bw.Write(batch.Bytes())
			_, _ = bw.WriteString("]\n\n")
			batch.Reset()
		}
		_ = bw.Flush()
		_ = rc.Flush()
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				if batch.Len() > 0 {
					send()
				}
				mu.Unlock()
			}
		}
	}()
	mu.Lock()
	_, _ = bw.WriteString("retry: 2000\n\n")
	send()
	mu.Unlock()
	err := c.svc.FollowLogs(r.Context(), id, true, func(e hashike.LogEntry) error {
		b, err := json.Marshal(logEvent{C: e.Container, S: e.Stream.String(), T: e.Time.UTC().Format(time.RFC3339Nano), D: string(e.Data)})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= skip {
			return nil
		}
		if batch.Len() > 0 {
			batch.WriteByte(',')
		}
		batch.Write(b)
		if batch.Len() > maxBatch {
			send()
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	end := map[string]string{}
	if err != nil && r.Context().Err() == nil {
		c.log.Warn("console: log stream", "run", id, "err", err)
		end["error"] = "the log stream broke off; reload to read the rest"
	} else if v, gerr := c.svc.GetRun(r.Context(), id); gerr == nil {
		end["state"] = string(v.State)
	}
	b, _ := json.Marshal(end)
	send()
	_, _ = bw.WriteString("event: end\ndata: ")
	_, _ = bw.Write(b)
	_, _ = bw.WriteString("\n\n")
	send()
	return nil
}

// logText sends a run's stored output as a text file: each entry's data as written (the
// lines of every container and stream, in order).
func (c *Console) logText(w http.ResponseWriter, r *http.Request, _ *session) error {
	id := r.PathValue("id")
	if _, err := c.svc.GetRun(r.Context(), id); err != nil {
		return err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(id)+`.log"`)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	err := c.svc.FollowLogs(r.Context(), id, false, func(e hashike.LogEntry) error {
		_, err := bw.Write(e.Data)
		return err
	})
	if err != nil {
		// Headers are gone: say so at the end of the text rather than cut it silently.
		c.log.Warn("console: log text", "run", id, "err", err)
		_, _ = bw.WriteString("\n[hashike: the log broke off here]\n")
	}
	return bw.Flush()
}

func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
