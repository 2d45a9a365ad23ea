package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// LogSubject is a LogStore under test with the RunStore that keeps its runs (a run must exist
// before its output is stored). For a database both are the same Store.
type LogSubject struct {
	Logs hashike.LogStore
	Runs hashike.RunStore
}

// RunLogs runs the LogStore suite. open must return a subject over new, empty stores each time
// it is called, and close them itself (t.Cleanup).
func RunLogs(t *testing.T, open func(t *testing.T) LogSubject) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s LogSubject)
	}{
		{"Logs", testLogs},
		{"LogsCallbackError", testLogsCallbackError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func entriesEqual(t *testing.T, what string, want, got []hashike.LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: read %d entries, want %d", what, len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Container != w.Container || g.Stream != w.Stream || !g.Time.Equal(w.Time) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: entry %d is {%s %s %s %q}, want {%s %s %s %q}", what, i,
				g.Container, g.Stream, g.Time.Format(time.RFC3339Nano), g.Data,
				w.Container, w.Stream, w.Time.Format(time.RFC3339Nano), w.Data)
		}
	}
}

func readAll(t *testing.T, s hashike.LogStore, id string, after int64) ([]hashike.LogEntry, int64) {
	t.Helper()
	var got []hashike.LogEntry
	next, err := s.ReadLogs(context.Background(), id, after, func(e hashike.LogEntry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadLogs %s after %d: %v", id, after, err)
	}
	return got, next
}

func testLogs(t *testing.T, s LogSubject) {
	ctx := context.Background()
	id, other := "01jd0000000000000000000001", "01jd0000000000000000000002"
	create(t, s.Runs, newRun(id, "job", t0))
	create(t, s.Runs, newRun(other, "job", t0))

	if got, next := readAll(t, s.Logs, id, 0); len(got) != 0 || next != 0 {
		t.Fatalf("ReadLogs before any append = %d entries, next %d; want none, 0", len(got), next)
	}
	batches := [][]hashike.LogEntry{
		{
			{Container: "app", Stream: hashike.Stdout, Time: t0, Data: []byte("starting\n")},
			{Container: "proxy", Stream: hashike.Stderr, Time: t0.Add(1), Data: []byte("[warn] no upstream yet\n")},
			{Container: "app", Stream: hashike.Stdout, Time: t0.Add(1), Data: []byte{}},
			{Container: "app", Stream: hashike.Stdout, Time: t0.Add(1), Data: []byte("same nanosecond\n")},
		},
		{
			{Container: "app", Stream: hashike.Stderr, Time: t0.Add(time.Second + 999), Data: []byte("progress 50%\r")},
			{Container: "app", Stream: hashike.Stdout, Time: t0.Add(2 * time.Second), Data: []byte("no trailing newline")},
		},
		{
			{Container: "app", Stream: hashike.Stdout, Time: t0.Add(3 * time.Second), Data: []byte("ünïcode ✓ and \x00 binary \xff\n")},
		},
	}
	var all []hashike.LogEntry
	var positions []int64
	for i, b := range batches {
		if err := s.Logs.AppendLogs(ctx, id, b); err != nil {
			t.Fatalf("AppendLogs %d: %v", i, err)
		}
		// An empty append stores nothing and moves no position.
		if err := s.Logs.AppendLogs(ctx, id, nil); err != nil {
			t.Fatalf("empty AppendLogs: %v", err)
		}
		all = append(all, b...)
		got, next := readAll(t, s.Logs, id, 0)
		entriesEqual(t, fmt.Sprintf("after append %d", i), all, got)
		if len(positions) > 0 && next <= positions[len(positions)-1] {
			t.Fatalf("position did not advance: %d after %d", next, positions[len(positions)-1])
		}
		positions = append(positions, next)
	}
	if err := s.Logs.AppendLogs(ctx, other, batches[2]); err != nil {
		t.Fatal(err)
	}

	// Read from each position: exactly what was appended after it.
	from := 0
	for i, p := range positions {
		from += len(batches[i])
		got, next := readAll(t, s.Logs, id, p)
		entriesEqual(t, fmt.Sprintf("after position %d", p), all[from:], got)
		if next != positions[len(positions)-1] {
			t.Errorf("ReadLogs after %d returned next %d, want %d", p, next, positions[len(positions)-1])
		}
	}
	last := positions[len(positions)-1]

	// A follower resumes from where it left off.
	more := []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: t0.Add(time.Hour), Data: []byte("done\n")}}
	if err := s.Logs.AppendLogs(ctx, id, more); err != nil {
		t.Fatal(err)
	}
	got, next := readAll(t, s.Logs, id, last)
	entriesEqual(t, "after the last position", more, got)
	if next <= last {
		t.Errorf("next %d after reading a new append from %d", next, last)
	}
	if got, again := readAll(t, s.Logs, id, next); len(got) != 0 || again != next {
		t.Errorf("ReadLogs at the end = %d entries, next %d; want none, %d", len(got), again, next)
	}

	// The other run's logs are its own.
	got, _ = readAll(t, s.Logs, other, 0)
	entriesEqual(t, "other run", batches[2], got)
}

func testLogsCallbackError(t *testing.T, s LogSubject) {
	ctx := context.Background()
	id := "01jd0000000000000000000001"
	create(t, s.Runs, newRun(id, "job", t0))
	for i := range 3 {
		if err := s.Logs.AppendLogs(ctx, id, []hashike.LogEntry{
			{Container: "app", Stream: hashike.Stdout, Time: t0.Add(time.Duration(i)), Data: fmt.Appendf(nil, "line %d\n", i)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("reader gone")
	var seen []string
	next, err := s.Logs.ReadLogs(ctx, id, 0, func(e hashike.LogEntry) error {
		seen = append(seen, string(e.Data))
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("ReadLogs = %v, want the callback's error", err)
	}
	if len(seen) != 2 {
		t.Fatalf("ReadLogs went on after the callback failed: %q", seen)
	}
	// Resuming from the returned position loses nothing, the entry the callback refused
	// included (it may repeat entries the callback accepted).
	rest, _ := readAll(t, s.Logs, id, next)
	var restData []string
	for _, e := range rest {
		restData = append(restData, string(e.Data))
	}
	if n := len(restData); n < 2 || n > 3 || restData[n-2] != "line 1\n" || restData[n-1] != "line 2\n" {
		t.Fatalf("resuming from %d read %q, want it to end with line 1 and line 2", next, restData)
	}
}
