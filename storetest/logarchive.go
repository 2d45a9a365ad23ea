package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// ArchiveIndexSubject is a LogArchiveIndex under test with the RunStore that keeps its runs.
type ArchiveIndexSubject struct {
	Index hashike.LogArchiveIndex
	Runs  hashike.RunStore
}

// RunLogArchiveIndex runs the LogArchiveIndex suite. open must return a subject over new,
// empty stores each time it is called, and close them itself (t.Cleanup).
func RunLogArchiveIndex(t *testing.T, open func(t *testing.T) ArchiveIndexSubject) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ArchiveIndexSubject)
	}{
		{"Segments", testArchiveSegments},
		{"UnarchivedRuns", testUnarchivedRuns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func segment(container string, seq int, first int64) hashike.LogSegment {
	return hashike.LogSegment{
		Container: container, Seq: seq,
		TaskKey:    fmt.Sprintf("logs/by-task/family=job/container=%s/run=r/%06d.json.zst", container, seq),
		ServiceKey: fmt.Sprintf("logs/by-service/family=job/container=%s/dt=2026-11-21/r-%06d.json.zst", container, seq),
		FirstLine:  first, LastLine: first + 9, Lines: 10,
		FirstAt: t0.Add(time.Duration(first) * time.Second), LastAt: t0.Add(time.Duration(first+9)*time.Second + 1),
		Bytes: 100 + int64(seq), TextBytes: 1000 + int64(seq),
	}
}

func archiveOf(t *testing.T, s ArchiveIndexSubject, id string) hashike.LogArchive {
	t.Helper()
	a, err := s.Index.LogArchive(context.Background(), id)
	if err != nil {
		t.Fatalf("LogArchive %s: %v", id, err)
	}
	return a
}

func sameArchive(t *testing.T, what string, want, got hashike.LogArchive) {
	t.Helper()
	if len(got.Segments) != len(want.Segments) {
		t.Fatalf("%s: %d segments, want %d: %+v", what, len(got.Segments), len(want.Segments), got.Segments)
	}
	for i := range want.Segments {
		w, g := want.Segments[i], got.Segments[i]
		if !g.FirstAt.Equal(w.FirstAt) || !g.LastAt.Equal(w.LastAt) {
			t.Errorf("%s: segment %d times %s..%s, want %s..%s", what, i, g.FirstAt, g.LastAt, w.FirstAt, w.LastAt)
		}
		g.FirstAt, g.LastAt, w.FirstAt, w.LastAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: segment %d = %+v, want %+v", what, i, g, w)
		}
	}
	if got.RunID != want.RunID || got.Through != want.Through || got.ThroughLine != want.ThroughLine || got.Complete != want.Complete {
		t.Errorf("%s: archive %s through %d (%d lines) complete %v, want %s through %d (%d lines) complete %v", what,
			got.RunID, got.Through, got.ThroughLine, got.Complete, want.RunID, want.Through, want.ThroughLine, want.Complete)
	}
}

func testArchiveSegments(t *testing.T, s ArchiveIndexSubject) {
	ctx := context.Background()
	id, other := "01jd0000000000000000000001", "01jd0000000000000000000002"
	create(t, s.Runs, newRun(id, "job", t0))
	create(t, s.Runs, newRun(other, "job", t0))

	_, err := s.Index.LogArchive(ctx, "01jd0000000000000000000009")
	wantCode(t, err, hashike.ENotFound, "LogArchive of no run")
	err = s.Index.AddLogSegments(ctx, "01jd0000000000000000000009", []hashike.LogSegment{segment("app", 1, 0)}, 1, 10, false)
	wantCode(t, err, hashike.ENotFound, "AddLogSegments of no run")

	sameArchive(t, "nothing archived", hashike.LogArchive{RunID: id}, archiveOf(t, s, id))

	// A segment cut while reading (through stays), then the end of a pass.
	app1, app2, proxy1 := segment("app", 1, 0), segment("app", 2, 10), segment("proxy", 1, 5)
	if err := s.Index.AddLogSegments(ctx, id, []hashike.LogSegment{app1}, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	sameArchive(t, "one segment", hashike.LogArchive{RunID: id, Segments: []hashike.LogSegment{app1}}, archiveOf(t, s, id))
	if err := s.Index.AddLogSegments(ctx, id, []hashike.LogSegment{proxy1, app2}, 7, 25, false); err != nil {
		t.Fatal(err)
	}
	want := hashike.LogArchive{RunID: id, Segments: []hashike.LogSegment{app1, app2, proxy1}, Through: 7, ThroughLine: 25}
	sameArchive(t, "a pass", want, archiveOf(t, s, id))

	// A crashed archiver adds the same segments again (their content may have grown): the
	// first copy stays; through never moves back.
	again := app2
	again.LastLine, again.Lines, again.Bytes = 40, 31, 999
	if err := s.Index.AddLogSegments(ctx, id, []hashike.LogSegment{again}, 3, 12, false); err != nil {
		t.Fatal(err)
	}
	sameArchive(t, "segments added again", want, archiveOf(t, s, id))

	// Complete, and it stays so.
	if err := s.Index.AddLogSegments(ctx, id, nil, 9, 30, true); err != nil {
		t.Fatal(err)
	}
	want.Through, want.ThroughLine, want.Complete = 9, 30, true
	sameArchive(t, "complete", want, archiveOf(t, s, id))
	if err := s.Index.AddLogSegments(ctx, id, nil, 9, 30, false); err != nil {
		t.Fatal(err)
	}
	sameArchive(t, "complete is never unset", want, archiveOf(t, s, id))

	sameArchive(t, "another run", hashike.LogArchive{RunID: other}, archiveOf(t, s, other))
}

func testUnarchivedRuns(t *testing.T, s ArchiveIndexSubject) {
	ctx := context.Background()
	end := func(id string, at time.Time, state hashike.RunState) {
		create(t, s.Runs, newRun(id, "job", t0))
		update(t, s.Runs, id, hashike.RunUpdate{At: at, State: hashike.StateRunning, StartedAt: &at})
		update(t, s.Runs, id, hashike.RunUpdate{At: at, State: state, FinishedAt: &at})
	}
	ids := []string{"01jd0000000000000000000001", "01jd0000000000000000000002", "01jd0000000000000000000003",
		"01jd0000000000000000000004"}
	end(ids[0], t0.Add(3*time.Second), hashike.StateSucceeded)
	end(ids[1], t0.Add(1*time.Second), hashike.StateFailed)
	end(ids[2], t0.Add(2*time.Second), hashike.StateSucceeded)
	end(ids[3], t0.Add(time.Hour), hashike.StateSucceeded) // too recent
	running := "01jd0000000000000000000005"
	create(t, s.Runs, newRun(running, "job", t0))
	update(t, s.Runs, running, hashike.RunUpdate{At: t0, State: hashike.StateRunning, StartedAt: &t0})

	list := func(limit int) []string {
		t.Helper()
		got, err := s.Index.UnarchivedRuns(ctx, t0.Add(time.Minute), limit)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := list(10), []string{ids[1], ids[2], ids[0]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnarchivedRuns = %v, want %v (ended before the time, oldest end first)", got, want)
	}
	if got, want := list(1), []string{ids[1]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnarchivedRuns limit 1 = %v, want %v", got, want)
	}
	// Partly archived runs are still listed; complete ones are not.
	if err := s.Index.AddLogSegments(ctx, ids[1], []hashike.LogSegment{segment("app", 1, 0)}, 2, 10, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Index.AddLogSegments(ctx, ids[2], nil, 0, 0, true); err != nil {
		t.Fatal(err)
	}
	if got, want := list(10), []string{ids[1], ids[0]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnarchivedRuns after archiving = %v, want %v", got, want)
	}
}
