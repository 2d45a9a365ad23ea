package autoscale

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Record is one decision as a recording keeps it: when it was made, by which policy, from
// which snapshot, and what the policy asked for (each action with its reason). A recording
// is a file of Records, one JSON object a line (JSON Lines), oldest first: what a live
// Controller observed, to replay through a policy (sim.Replay, `hashike sim --replay`)
// and compare its decisions.
type Record struct {
	At       time.Time `json:"at"`
	Policy   string    `json:"policy"`
	Snapshot *Snapshot `json:"snapshot"`
	Actions  []Action  `json:"actions"`
}

// Recorder writes a Controller's decisions as Records: set its Observe as the Controller's
// (or call it from one). Decisions whose observation failed (no snapshot) are not
// recorded. It is safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

// NewRecorder returns a Recorder writing to w; Flush before reading what it wrote.
func NewRecorder(w io.Writer) *Recorder {
	bw := bufio.NewWriter(w)
	return &Recorder{w: bw, enc: json.NewEncoder(bw)}
}

// Observe records d.
func (r *Recorder) Observe(d Decision) {
	if d.Snapshot == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	if err := r.enc.Encode(Record{At: d.At, Policy: d.Policy, Snapshot: d.Snapshot, Actions: d.Actions}); err != nil {
		r.err = fmt.Errorf("record decision at %s: %w", d.At.Format(time.RFC3339Nano), err)
	}
}

// Flush writes what is buffered and returns the first error of any write.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if err := r.w.Flush(); err != nil {
		r.err = fmt.Errorf("write recording: %w", err)
	}
	return r.err
}

// ReadRecording reads a recording, naming the line of any error.
func ReadRecording(rd io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("recording line %d: %w", line, err)
		}
		if rec.Snapshot == nil {
			return nil, fmt.Errorf("recording line %d: no snapshot", line)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	return out, nil
}
