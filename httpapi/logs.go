package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hashike/hashike"
)

// logLine is one line of a log stream (application/x-ndjson): an entry, its data base64 so
// that any bytes survive; or, as the last line of a stream that failed midway, an error
// (errorBody).
type logLine struct {
	Container string     `json:"container"`
	Stream    string     `json:"stream"`
	Time      time.Time  `json:"time"`
	Data      []byte     `json:"data"`
	Error     *wireError `json:"error,omitempty"`
}

func toLogLine(e hashike.LogEntry) logLine {
	data := e.Data
	if data == nil {
		data = []byte{} // "", not null
	}
	return logLine{Container: e.Container, Stream: e.Stream.String(), Time: e.Time, Data: data}
}

func (l logLine) entry() (hashike.LogEntry, error) {
	e := hashike.LogEntry{Container: l.Container, Time: l.Time, Data: l.Data}
	switch l.Stream {
	case "stdout":
		e.Stream = hashike.Stdout
	case "stderr":
		e.Stream = hashike.Stderr
	default:
		return e, fmt.Errorf("log line with unknown stream %q", l.Stream)
	}
	return e, nil
}

// logs streams a run's output, one line per entry, flushed per entry so that a follower sees
// it live. The status is sent with the first entry: an error before it (an unknown run) is an
// ordinary error response, an error after it the stream's last line.
func (h *handler) logs(w http.ResponseWriter, r *http.Request, q url.Values) error {
	follow, err := queryBool(q, "follow")
	if err != nil {
		return err
	}
	return streamLines(w, r, 0, func(send func(v any) error) error {
		return h.svc.FollowLogs(r.Context(), r.PathValue("id"), follow, func(e hashike.LogEntry) error {
			return send(toLogLine(e))
		})
	})
}

// streamLines answers with the values run sends, as JSON lines (application/x-ndjson),
// flushed at most every flushEvery (0: each line). The status is sent with the first line: an
// error of run before it is an ordinary error response, an error after it the stream's last
// line. A stream lasts as long as run: the server's write timeout, meant for ordinary
// responses, would cut it (net/http already lifted the read deadline once the request was
// read).
func streamLines(w http.ResponseWriter, r *http.Request, flushEvery time.Duration, run func(send func(v any) error) error) error {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Accel-Buffering", "no") // nginx: pass lines on as they come
			w.WriteHeader(http.StatusOK)
		}
	}
	enc := json.NewEncoder(w)
	var last time.Time
	err := run(func(v any) error {
		start()
		if err := enc.Encode(v); err != nil {
			return err
		}
		if time.Since(last) >= flushEvery {
			last = time.Now()
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
		}
		return nil
	})
	if !started {
		if err != nil {
			return err
		}
		start()
		return nil
	}
	if err != nil {
		noteError(r.Context(), err)
		enc.Encode(errorBody{Error: toWire(err)}) // the client may be gone; nothing more to do
	}
	return nil
}
