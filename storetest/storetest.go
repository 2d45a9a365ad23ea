// Package storetest is the conformance suite for hashike.Store: every implementation (SQLite,
// PostgreSQL) runs the same tests, so that what the rest of hashike relies on holds whichever
// database is behind it.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) hashike.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "hashike.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Beyond hashike.Store's documentation the suite pins down: CreateRun returns the run as
// stored; times come back as the same instants to the nanosecond; UpdateRun with a state
// equal to the current one is an illegal transition like any other; GetRun prefers an exact
// ID over a prefix match.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// Run runs the suite. open must return a new, empty store each time it is called; Run closes
// it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) hashike.Store) {
	runClosing(t, open, []suiteCase[hashike.Store]{
		{"CreateAndGet", testCreateAndGet},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"GetByPrefix", testGetByPrefix},
		{"IdempotencyKey", testIdempotencyKey},
		{"IdempotencyKeyConcurrent", testIdempotencyKeyConcurrent},
		{"History", testHistory},
		{"EveryTransition", testEveryTransition},
		{"UpdateWithoutStateChange", testUpdateWithoutStateChange},
		{"StopCauseFirstWins", testStopCauseFirstWins},
		{"OwnerCompareAndSet", testOwnerCompareAndSet},
		{"OwnerTakeoverRace", testOwnerTakeoverRace},
		{"NotFound", testNotFound},
		{"InvalidInputRefused", testInvalidInputRefused},
		{"RoundTrip", testRoundTrip},
		{"Usage", testUsage},
		{"ListRuns", testListRuns},
	})
}

// suiteCase is one subtest of a conformance suite over subjects of type S.
type suiteCase[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runClosing runs each case as a subtest on a new subject from open, and closes the subject
// when the subtest ends.
func runClosing[S interface{ Close() error }](t *testing.T, open func(t *testing.T) S, cases []suiteCase[S]) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// t0 has nanoseconds and a zone other than UTC, so that both precision and instant-equality
// (rather than representation) are tested.
var t0 = time.Date(2026, 11, 21, 9, 30, 15, 123456789, time.FixedZone("JST", 9*3600))

func ptr[T any](v T) *T { return &v }

// spec is a job definition using most of what a JobSpec holds, Extra fields included.
func spec(family string) hashike.JobSpec {
	return hashike.JobSpec{
		Backend: "local",
		TaskDefinition: hashike.TaskDefinition{
			Family:      family,
			NetworkMode: "bridge",
			Cpu:         "512",
			Memory:      "1 GB",
			ContainerDefinitions: []hashike.ContainerDefinition{
				{
					Name:        "app",
					Image:       "registry.example.com/app:1.2.3",
					Memory:      ptr(768),
					Essential:   ptr(true),
					EntryPoint:  []string{"/bin/app"},
					Command:     []string{"--batch", "nightly", "--dry-run=false"},
					Environment: []hashike.KeyValuePair{{Name: "MODE", Value: "batch"}, {Name: "EMPTY", Value: ""}},
					Secrets:     []hashike.Secret{{Name: "DB_PASSWORD", ValueFrom: "arn:aws:ssm:ap-northeast-1:123456789012:parameter/db"}},
					DependsOn:   []hashike.ContainerDependency{{ContainerName: "proxy", Condition: hashike.ConditionStart}},
					StopTimeout: ptr(15),
					DockerLabels: map[string]string{
						"team": "data", "ünïcode": "✓",
					},
					Extra: map[string]any{"linuxParameters": map[string]any{"initProcessEnabled": true}},
				},
				{Name: "proxy", Image: "envoy:v1", Essential: ptr(false), MemoryReservation: ptr(64)},
			},
			Extra: map[string]any{"ephemeralStorage": map[string]any{"sizeInGiB": 30}},
		},
		WatchContainer: "app",
		Timeout:        hashike.Duration(90 * time.Minute),
	}
}

func newRun(id, family string, created time.Time) *hashike.Run {
	sp := spec(family)
	return &hashike.Run{
		ID:        id,
		Family:    family,
		Backend:   sp.Backend,
		Spec:      sp,
		Digest:    sp.Digest(),
		Resources: sp.Resources(),
		CreatedAt: created,
	}
}

func create(t *testing.T, s hashike.RunStore, r *hashike.Run) *hashike.Run {
	t.Helper()
	got, created, err := s.CreateRun(context.Background(), r)
	if err != nil {
		t.Fatalf("CreateRun %s: %v", r.ID, err)
	}
	if !created {
		t.Fatalf("CreateRun %s: created=false for a new run", r.ID)
	}
	return got
}

func get(t *testing.T, s hashike.Store, id string) *hashike.Run {
	t.Helper()
	r, err := s.GetRun(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRun %s: %v", id, err)
	}
	return r
}

func update(t *testing.T, s hashike.RunStore, id string, u hashike.RunUpdate) *hashike.Run {
	t.Helper()
	r, err := s.UpdateRun(context.Background(), id, u)
	if err != nil {
		t.Fatalf("UpdateRun %s %+v: %v", id, u, err)
	}
	return r
}

func wantCode(t *testing.T, err error, code hashike.ErrorCode, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, code)
	}
	if got := hashike.ErrorCodeOf(err); got != code {
		t.Fatalf("%s: error %q has code %s, want %s", what, err, got, code)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// diffRun lists how got differs from want, History aside.
func diffRun(want, got *hashike.Run) []string {
	var d []string
	check := func(field string, ok bool, w, g any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w))
		}
	}
	check("ID", got.ID == want.ID, want.ID, got.ID)
	check("Family", got.Family == want.Family, want.Family, got.Family)
	check("Backend", got.Backend == want.Backend, want.Backend, got.Backend)
	check("Spec (digest)", got.Spec.Digest() == want.Spec.Digest(), want.Spec.Digest(), got.Spec.Digest())
	check("Digest", got.Digest == want.Digest, want.Digest, got.Digest)
	check("Resources", got.Resources == want.Resources, want.Resources, got.Resources)
	check("IdempotencyKey", got.IdempotencyKey == want.IdempotencyKey, want.IdempotencyKey, got.IdempotencyKey)
	check("State", got.State == want.State, want.State, got.State)
	check("StopCause", got.StopCause == want.StopCause, want.StopCause, got.StopCause)
	check("Exit", reflect.DeepEqual(got.Exit, want.Exit), fmt.Sprintf("%+v", want.Exit), fmt.Sprintf("%+v", got.Exit))
	check("Task", reflect.DeepEqual(got.Task, want.Task), fmt.Sprintf("%+v", want.Task), fmt.Sprintf("%+v", got.Task))
	check("Owner", reflect.DeepEqual(got.Owner, want.Owner), fmt.Sprintf("%+v", want.Owner), fmt.Sprintf("%+v", got.Owner))
	check("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), want.CreatedAt, got.CreatedAt)
	check("StartedAt", sameTime(got.StartedAt, want.StartedAt), want.StartedAt, got.StartedAt)
	check("FinishedAt", sameTime(got.FinishedAt, want.FinishedAt), want.FinishedAt, got.FinishedAt)
	check("Job", got.Job == want.Job, want.Job, got.Job)
	check("JobVersion", got.JobVersion == want.JobVersion, want.JobVersion, got.JobVersion)
	check("Queue", got.Queue == want.Queue, want.Queue, got.Queue)
	check("Priority", got.Priority == want.Priority, want.Priority, got.Priority)
	check("NotBefore", sameTime(got.NotBefore, want.NotBefore), want.NotBefore, got.NotBefore)
	check("Payload", bytes.Equal(got.Payload, want.Payload), fmt.Sprintf("%q", want.Payload), fmt.Sprintf("%q", got.Payload))
	check("Attempt", got.Attempt == want.Attempt, want.Attempt, got.Attempt)
	check("RootID", got.RootID == want.RootID, want.RootID, got.RootID)
	check("RetryOf", got.RetryOf == want.RetryOf, want.RetryOf, got.RetryOf)
	check("Trigger", got.Trigger == want.Trigger, want.Trigger, got.Trigger)
	check("ScheduledAt", sameTime(got.ScheduledAt, want.ScheduledAt), want.ScheduledAt, got.ScheduledAt)
	check("Settled", got.Settled == want.Settled, want.Settled, got.Settled)
	check("Usage", usageEqual(got.Usage, want.Usage), fmt.Sprintf("%+v", want.Usage), fmt.Sprintf("%+v", got.Usage))
	return d
}

func assertRun(t *testing.T, what string, want, got *hashike.Run) {
	t.Helper()
	for _, d := range diffRun(want, got) {
		t.Errorf("%s: %s", what, d)
	}
}

func assertHistory(t *testing.T, what string, want, got []hashike.Transition) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: history has %d transitions, want %d: %+v", what, len(got), len(want), got)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.From != w.From || g.To != w.To || !g.At.Equal(w.At) || g.Reason != w.Reason {
			t.Errorf("%s: transition %d is %+v, want %+v", what, i, g, w)
		}
	}
}

func testCreateAndGet(t *testing.T, s hashike.Store) {
	in := newRun("01jd0000000000000000000001", "nightly", t0)
	got := create(t, s, in)
	want := *in
	want.State = hashike.StatePending
	assertRun(t, "CreateRun's result", &want, got)
	created := []hashike.Transition{{From: "", To: hashike.StatePending, At: t0}}
	assertHistory(t, "CreateRun's result", created, got.History)

	stored := get(t, s, in.ID)
	assertRun(t, "GetRun", &want, stored)
	assertHistory(t, "GetRun", created, stored.History)

	// A run may be handed over already in StatePending.
	in2 := newRun("01jd0000000000000000000002", "nightly", t0)
	in2.State = hashike.StatePending
	create(t, s, in2)
}

func testCreateDuplicateID(t *testing.T, s hashike.Store) {
	first := newRun("01jd0000000000000000000001", "first", t0)
	create(t, s, first)
	again := newRun(first.ID, "second", t0.Add(time.Hour))
	_, _, err := s.CreateRun(context.Background(), again)
	wantCode(t, err, hashike.EConflict, "CreateRun with a used ID")
	if got := get(t, s, first.ID); got.Family != "first" || len(got.History) != 1 {
		t.Fatalf("the rejected create changed the run: %+v", got)
	}
}

func testGetByPrefix(t *testing.T, s hashike.Store) {
	ids := []string{
		"01jdaaaa000000000000000001",
		"01jdaaaa000000000000000002",
		"01jdbbbb000000000000000001",
	}
	for i, id := range ids {
		create(t, s, newRun(id, "job", t0.Add(time.Duration(i)*time.Second)))
	}
	ctx := context.Background()
	for prefix, want := range map[string]string{
		ids[0]:                       ids[0],
		ids[1]:                       ids[1],
		"01jdb":                      ids[2],
		"01jdaaaa000000000000000002": ids[1],
		"01jdaaaa00000000000000000":  "", // ambiguous
	} {
		r, err := s.GetRun(ctx, prefix)
		if want == "" {
			wantCode(t, err, hashike.EConflict, "GetRun "+prefix)
			continue
		}
		if err != nil {
			t.Fatalf("GetRun %s: %v", prefix, err)
		}
		if r.ID != want || len(r.History) != 1 {
			t.Errorf("GetRun %s = %s with %d transitions, want %s with its history", prefix, r.ID, len(r.History), want)
		}
	}
	for _, prefix := range []string{"01jda", "01jd", "0"} {
		_, err := s.GetRun(ctx, prefix)
		wantCode(t, err, hashike.EConflict, "GetRun "+prefix)
	}
	for _, missing := range []string{"01jdc", "01jdaaaa000000000000000003", "01jdaaaa0000000000000000011", "zz", "01JDB"} {
		_, err := s.GetRun(ctx, missing)
		wantCode(t, err, hashike.ENotFound, "GetRun "+missing)
	}
}

func testIdempotencyKey(t *testing.T, s hashike.Store) {
	ctx := context.Background()
	first := newRun("01jd0000000000000000000001", "job", t0)
	first.IdempotencyKey = "deploy-1234"
	create(t, s, first)

	retry := newRun("01jd0000000000000000000002", "job", t0.Add(time.Minute))
	retry.IdempotencyKey = first.IdempotencyKey
	got, created, err := s.CreateRun(ctx, retry)
	if err != nil {
		t.Fatalf("CreateRun with a used key: %v", err)
	}
	if created || got == nil || got.ID != first.ID {
		t.Fatalf("CreateRun with a used key = %+v, created=%v; want the first run, created=false", got, created)
	}
	if got.IdempotencyKey != first.IdempotencyKey {
		t.Errorf("IdempotencyKey = %q, want %q", got.IdempotencyKey, first.IdempotencyKey)
	}
	_, err = s.GetRun(ctx, retry.ID)
	wantCode(t, err, hashike.ENotFound, "GetRun of the run not created")

	// The key is still honoured once the first run has moved on.
	update(t, s, first.ID, hashike.RunUpdate{At: t0.Add(time.Second), State: hashike.StateRunning})
	got, created, err = s.CreateRun(ctx, retry)
	if err != nil || created || got.ID != first.ID || got.State != hashike.StateRunning {
		t.Fatalf("CreateRun with a used key after an update = %+v, %v, %v", got, created, err)
	}

	// Runs without a key never collide.
	create(t, s, newRun("01jd0000000000000000000003", "job", t0))
	create(t, s, newRun("01jd0000000000000000000004", "job", t0))
	other := newRun("01jd0000000000000000000005", "job", t0)
	other.IdempotencyKey = "deploy-5678"
	create(t, s, other)
	runs, err := s.ListRuns(ctx, hashike.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("ListRuns has %d runs, want 4", len(runs))
	}
}

func testIdempotencyKeyConcurrent(t *testing.T, s hashike.Store) {
	const n = 8
	type result struct {
		run     *hashike.Run
		created bool
		err     error
	}
	results := make([]result, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			r := newRun(fmt.Sprintf("01jd00000000000000000000%02d", i), "job", t0)
			r.IdempotencyKey = "same-key"
			start.Wait()
			got, created, err := s.CreateRun(context.Background(), r)
			results[i] = result{got, created, err}
		}()
	}
	start.Done()
	done.Wait()

	var winner string
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("CreateRun %d: %v", i, r.err)
		}
		if r.created {
			if winner != "" {
				t.Fatalf("two runs created with one key: %s and %s", winner, r.run.ID)
			}
			winner = r.run.ID
		}
	}
	if winner == "" {
		t.Fatal("no CreateRun reported created=true")
	}
	for i, r := range results {
		if r.run.ID != winner {
			t.Errorf("CreateRun %d returned %s, want the created run %s", i, r.run.ID, winner)
		}
	}
	runs, err := s.ListRuns(context.Background(), hashike.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("%d runs stored, want 1", len(runs))
	}
}

func testHistory(t *testing.T, s hashike.Store) {
	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "job", t0))
	steps := []struct {
		to     hashike.RunState
		at     time.Time
		reason string
	}{
		{hashike.StateRunning, t0.Add(1500 * time.Millisecond), "task started"},
		{hashike.StateStopping, t0.Add(90*time.Minute + 1), "timeout 1h30m0s reached"},
		{hashike.StateTimedOut, t0.Add(90*time.Minute + 15*time.Second + 7), ""},
	}
	want := []hashike.Transition{{To: hashike.StatePending, At: t0}}
	from := hashike.StatePending
	for _, st := range steps {
		got := update(t, s, id, hashike.RunUpdate{At: st.at, State: st.to, Reason: st.reason})
		want = append(want, hashike.Transition{From: from, To: st.to, At: st.at, Reason: st.reason})
		from = st.to
		assertHistory(t, "UpdateRun's result", want, got.History)
		// An update that does not change the state records no transition.
		update(t, s, id, hashike.RunUpdate{At: st.at.Add(time.Millisecond), Task: &hashike.TaskRef{ID: "task-" + string(st.to)}})
	}
	assertHistory(t, "GetRun", want, get(t, s, id).History)
}

// createIn creates a run that is then brought to state: created queued (in queue "q") for
// StateQueued, else created pending and moved on by reach.
func createIn(t *testing.T, s hashike.Store, id string, state hashike.RunState) {
	t.Helper()
	r := newRun(id, "job", t0)
	if state == hashike.StateQueued {
		r.State, r.Queue = hashike.StateQueued, "q"
	}
	create(t, s, r)
	reach(t, s, id, state)
}

// reach brings a new run from the state it was created in (StatePending, or StateQueued
// which it leaves as it is) to state with a legal move.
func reach(t *testing.T, s hashike.Store, id string, state hashike.RunState) {
	t.Helper()
	if state == hashike.StatePending || state == hashike.StateQueued {
		return
	}
	if !hashike.CanTransition(hashike.StatePending, state) {
		t.Fatalf("test assumes every state is reachable from %s in one move; %s is not", hashike.StatePending, state)
	}
	update(t, s, id, hashike.RunUpdate{At: t0.Add(time.Second), State: state, Reason: "setup"})
}

// testEveryTransition walks every (from, to) pair: UpdateRun must accept exactly the moves
// hashike.CanTransition allows, and a rejected update must write nothing, not even its other
// fields. The runs walked from StateQueued are created queued, so they may only become
// pending or canceled.
func testEveryTransition(t *testing.T, s hashike.Store) {
	ctx := context.Background()
	for i, from := range hashike.RunStates {
		for j, to := range hashike.RunStates {
			id := fmt.Sprintf("01jd00000000000000000%02d%03d", i, j)
			createIn(t, s, id, from)
			before := get(t, s, id)

			at := t0.Add(time.Minute)
			u := hashike.RunUpdate{
				At:         at,
				State:      to,
				Reason:     "walk",
				Task:       &hashike.TaskRef{ID: "task-1"},
				Exit:       &hashike.ExitStatus{ContainerExitCode: ptr(3), Code: 3, Reason: "container app exited 3"},
				StopCause:  hashike.StopUser,
				StartedAt:  &at,
				FinishedAt: &at,
				SetOwner:   &hashike.Owner{Host: "h", PID: 42, Start: "s"},
				Settled:    true,
			}
			got, err := s.UpdateRun(ctx, id, u)
			if hashike.CanTransition(from, to) {
				if err != nil {
					t.Errorf("%s -> %s: legal move refused: %v", from, to, err)
					continue
				}
				if got.State != to {
					t.Errorf("%s -> %s: state is %s", from, to, got.State)
				}
				last := got.History[len(got.History)-1]
				if last.From != from || last.To != to || !last.At.Equal(at) || last.Reason != "walk" {
					t.Errorf("%s -> %s: recorded transition %+v", from, to, last)
				}
				if got.Task == nil || got.Exit == nil || got.Owner == nil || got.StopCause != hashike.StopUser || !got.Settled {
					t.Errorf("%s -> %s: the update's other fields were not applied: %+v", from, to, got)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s -> %s: illegal move accepted", from, to)
				continue
			}
			if code := hashike.ErrorCodeOf(err); code != hashike.EConflict {
				t.Errorf("%s -> %s: error %q has code %s, want %s", from, to, err, code, hashike.EConflict)
			}
			after := get(t, s, id)
			for _, d := range diffRun(before, after) {
				t.Errorf("%s -> %s: rejected update wrote %s", from, to, d)
			}
			if len(after.History) != len(before.History) {
				t.Errorf("%s -> %s: rejected update recorded a transition: %+v", from, to, after.History)
			}
		}
	}
}

func testUpdateWithoutStateChange(t *testing.T, s hashike.Store) {
	for i, st := range hashike.RunStates {
		id := fmt.Sprintf("01jd0000000000000000000%03d", i)
		createIn(t, s, id, st)
		task := &hashike.TaskRef{ID: "arn:aws:ecs:task/1", Containers: []hashike.ContainerRef{{Name: "app", ID: "c1"}}}
		got := update(t, s, id, hashike.RunUpdate{Task: task, Reason: "ignored without a state change"})
		if got.State != st || !reflect.DeepEqual(got.Task, task) {
			t.Errorf("%s: update without state change gave state %s, task %+v", st, got.State, got.Task)
		}
		wantLen := 2
		if st == hashike.StatePending || st == hashike.StateQueued {
			wantLen = 1
		}
		if len(got.History) != wantLen {
			t.Errorf("%s: update without state change recorded a transition: %+v", st, got.History)
		}
	}
}

func testStopCauseFirstWins(t *testing.T, s hashike.Store) {
	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "job", t0))
	update(t, s, id, hashike.RunUpdate{At: t0.Add(time.Second), State: hashike.StateRunning})
	got := update(t, s, id, hashike.RunUpdate{At: t0.Add(time.Minute), State: hashike.StateStopping, StopCause: hashike.StopTimeout})
	if got.StopCause != hashike.StopTimeout {
		t.Fatalf("StopCause = %q, want %q", got.StopCause, hashike.StopTimeout)
	}
	got = update(t, s, id, hashike.RunUpdate{StopCause: hashike.StopInterrupt})
	if got.StopCause != hashike.StopTimeout {
		t.Fatalf("a second cause replaced the first: %q", got.StopCause)
	}
	got = update(t, s, id, hashike.RunUpdate{At: t0.Add(2 * time.Minute), State: hashike.StateTimedOut, StopCause: hashike.StopUser})
	if got.StopCause != hashike.StopTimeout || got.State != hashike.StateTimedOut {
		t.Fatalf("after the final update: cause %q, state %s", got.StopCause, got.State)
	}
	if got := get(t, s, id); got.StopCause != hashike.StopTimeout {
		t.Fatalf("stored StopCause = %q", got.StopCause)
	}
}

func testOwnerCompareAndSet(t *testing.T, s hashike.Store) {
	ctx := context.Background()
	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "job", t0))
	a := hashike.Owner{Host: "build-1", PID: 4242, Start: "1732180000"}
	b := hashike.Owner{Host: "build-1", PID: 5151, Start: "1732180099"}
	aReused := hashike.Owner{Host: a.Host, PID: a.PID, Start: "1732189999"} // same PID, new process

	refuse := func(what string, u hashike.RunUpdate) {
		t.Helper()
		before := get(t, s, id)
		_, err := s.UpdateRun(ctx, id, u)
		wantCode(t, err, hashike.EConflict, what)
		after := get(t, s, id)
		for _, d := range diffRun(before, after) {
			t.Errorf("%s: refused update wrote %s", what, d)
		}
		if len(after.History) != len(before.History) {
			t.Errorf("%s: refused update recorded a transition", what)
		}
	}

	refuse("IfOwner a on an ownerless run", hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{Owner: &a}, SetOwner: &b})
	got := update(t, s, id, hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{}, SetOwner: &a,
		At: t0.Add(time.Second), State: hashike.StateRunning})
	if got.Owner == nil || *got.Owner != a || got.State != hashike.StateRunning {
		t.Fatalf("take over an ownerless run: owner %+v, state %s", got.Owner, got.State)
	}
	refuse("IfOwner nobody on an owned run", hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{}, SetOwner: &b,
		At: t0.Add(time.Minute), State: hashike.StateStopping, StopCause: hashike.StopUser})
	refuse("IfOwner b while a owns it", hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{Owner: &b}, ClearOwner: true})
	refuse("IfOwner with a reused PID", hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{Owner: &aReused}, SetOwner: &b})

	got = update(t, s, id, hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{Owner: &a}, SetOwner: &b})
	if got.Owner == nil || *got.Owner != b {
		t.Fatalf("hand over from a to b: owner %+v", got.Owner)
	}
	// Without IfOwner, updates apply whoever owns the run.
	update(t, s, id, hashike.RunUpdate{Task: &hashike.TaskRef{ID: "t"}})
	got = update(t, s, id, hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{Owner: &b}, ClearOwner: true})
	if got.Owner != nil {
		t.Fatalf("ClearOwner left owner %+v", got.Owner)
	}
	if got := get(t, s, id); got.Owner != nil {
		t.Fatalf("stored owner after ClearOwner: %+v", got.Owner)
	}

	// IfStopCause: an end recorded on condition of the stop cause the supervisor knows.
	none, user := hashike.StopNone, hashike.StopUser
	refuse("IfStopCause user on a run with none", hashike.RunUpdate{IfStopCause: &user,
		At: t0.Add(2 * time.Minute), State: hashike.StateSucceeded})
	update(t, s, id, hashike.RunUpdate{At: t0.Add(3 * time.Minute), State: hashike.StateStopping, StopCause: hashike.StopUser})
	refuse("IfStopCause none on a run stopped by a user", hashike.RunUpdate{IfStopCause: &none,
		At: t0.Add(4 * time.Minute), State: hashike.StateSucceeded})
	got = update(t, s, id, hashike.RunUpdate{IfStopCause: &user, At: t0.Add(5 * time.Minute), State: hashike.StateCanceled})
	if got.State != hashike.StateCanceled || got.StopCause != hashike.StopUser {
		t.Fatalf("IfStopCause user on a run stopped by a user: state %s, stop cause %q", got.State, got.StopCause)
	}
}

// testOwnerTakeoverRace has several processes' worth of goroutines try to take over a run at
// once, first an ownerless one, then one whose owner died: exactly one may win each time.
func testOwnerTakeoverRace(t *testing.T, s hashike.Store) {
	const n = 8
	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "job", t0))
	dead := hashike.Owner{Host: "h", PID: 1, Start: "dead"}

	for _, current := range []*hashike.Owner{nil, &dead} {
		if current != nil {
			update(t, s, id, hashike.RunUpdate{SetOwner: current})
		}
		wins := make([]bool, n)
		errs := make([]error, n)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range n {
			done.Add(1)
			go func() {
				defer done.Done()
				me := hashike.Owner{Host: "h", PID: 100 + i, Start: "alive"}
				start.Wait()
				_, err := s.UpdateRun(context.Background(), id, hashike.RunUpdate{
					IfOwner: &hashike.OwnerMatch{Owner: current}, SetOwner: &me,
				})
				wins[i], errs[i] = err == nil, err
			}()
		}
		start.Done()
		done.Wait()

		winner := -1
		for i := range n {
			switch {
			case wins[i] && winner >= 0:
				t.Fatalf("owner %v: both %d and %d took over", current, winner, i)
			case wins[i]:
				winner = i
			case hashike.ErrorCodeOf(errs[i]) != hashike.EConflict:
				t.Fatalf("owner %v: loser %d got %v, want %s", current, i, errs[i], hashike.EConflict)
			}
		}
		if winner < 0 {
			t.Fatalf("owner %v: nobody took over", current)
		}
		if got := get(t, s, id); got.Owner == nil || got.Owner.PID != 100+winner {
			t.Fatalf("owner %v: stored owner %+v, winner was %d", current, got.Owner, winner)
		}
	}
}

// testInvalidInputRefused: an update or a new run that no store may write is EInvalid, and
// nothing is written.
func testInvalidInputRefused(t *testing.T, s hashike.Store) {
	ctx := context.Background()
	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "f", t0))
	for name, u := range map[string]hashike.RunUpdate{
		"unknown state":         {At: t0, State: "exploded"},
		"state change, no At":   {State: hashike.StateRunning},
		"set and clear owner":   {SetOwner: &hashike.Owner{}, ClearOwner: true},
		"time beyond year 9999": {At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), State: hashike.StateRunning},
		"usage without source":  {Usage: &hashike.ResourceUsage{Samples: 1, PeakMemoryBytes: 1}},
		"negative CPU seconds":  {Usage: &hashike.ResourceUsage{Source: "docker", Samples: 1, CPUSeconds: -1}},
	} {
		_, err := s.UpdateRun(ctx, id, u)
		wantCode(t, err, hashike.EInvalid, "UpdateRun with "+name)
	}
	if got, err := s.GetRun(ctx, id); err != nil || got.State != hashike.StatePending || len(got.History) != 1 {
		t.Fatalf("after refused updates the run is %+v (%v), want it untouched", got, err)
	}
	r := newRun("01jd0000000000000000000002", "f", t0)
	r.State = hashike.StateRunning
	_, _, err := s.CreateRun(ctx, r)
	wantCode(t, err, hashike.EInvalid, "CreateRun of a running run")
}

func testNotFound(t *testing.T, s hashike.Store) {
	ctx := context.Background()
	_, err := s.GetRun(ctx, "01jd0000000000000000000001")
	wantCode(t, err, hashike.ENotFound, "GetRun in an empty store")
	_, err = s.UpdateRun(ctx, "01jd0000000000000000000001", hashike.RunUpdate{At: t0, State: hashike.StateRunning})
	wantCode(t, err, hashike.ENotFound, "UpdateRun of a missing run")

	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "job", t0))
	// UpdateRun takes a full ID, not a prefix.
	_, err = s.UpdateRun(ctx, id[:10], hashike.RunUpdate{At: t0, State: hashike.StateRunning})
	wantCode(t, err, hashike.ENotFound, "UpdateRun by prefix")
	if got := get(t, s, id); got.State != hashike.StatePending {
		t.Fatalf("UpdateRun by prefix changed the run: %s", got.State)
	}
	runs, err := s.ListRuns(ctx, hashike.RunFilter{Family: "other"})
	if err != nil || len(runs) != 0 {
		t.Fatalf("ListRuns of a missing family = %v, %v", runs, err)
	}
}

func testRoundTrip(t *testing.T, s hashike.Store) {
	in := newRun("01jd0000000000000000000001", "report", t0)
	in.IdempotencyKey = "gh-delivery-8f2c"
	owner := &hashike.Owner{Host: "runner-7.internal", PID: 31337, Start: "4123456"}
	in.Owner = owner
	got := create(t, s, in)
	if got.Owner == nil || *got.Owner != *owner {
		t.Fatalf("owner at creation: %+v", got.Owner)
	}

	started := t0.Add(2*time.Second + 1)
	finished := started.Add(42*time.Minute + 999999999).In(time.UTC)
	task := &hashike.TaskRef{
		ID: "arn:aws:ecs:ap-northeast-1:123456789012:task/default/0123456789abcdef",
		Containers: []hashike.ContainerRef{
			{Name: "app", ID: "f00dfeed"}, {Name: "proxy", ID: "deadbeef"},
		},
	}
	exit := &hashike.ExitStatus{ContainerExitCode: ptr(137), OOMKilled: true, Code: hashike.ExitOOM,
		Reason: "container app was OOM-killed (exceeded its memory limit)"}
	update(t, s, in.ID, hashike.RunUpdate{At: started, State: hashike.StateRunning, Task: task, StartedAt: &started})
	update(t, s, in.ID, hashike.RunUpdate{At: finished, State: hashike.StateFailed, Exit: exit, FinishedAt: &finished,
		Reason: exit.Reason})

	want := *in
	want.State = hashike.StateFailed
	want.Task = task
	want.Exit = exit
	want.StartedAt = &started
	want.FinishedAt = &finished
	got = get(t, s, in.ID)
	assertRun(t, "GetRun", &want, got)
	if !reflect.DeepEqual(got.Spec.TaskDefinition.ContainerDefinitions[0].Secrets, in.Spec.TaskDefinition.ContainerDefinitions[0].Secrets) {
		t.Errorf("secret references changed: %+v", got.Spec.TaskDefinition.ContainerDefinitions[0].Secrets)
	}
	if got.Spec.Timeout != in.Spec.Timeout {
		t.Errorf("Spec.Timeout = %v, want %v", got.Spec.Timeout, in.Spec.Timeout)
	}
	// Exit codes: an exit status with no container code and one with code 0 stay distinct.
	for i, e := range []*hashike.ExitStatus{
		{Code: hashike.ExitStartFailed, Reason: "CannotPullContainerError"},
		{ContainerExitCode: ptr(0), Code: 0},
	} {
		id := fmt.Sprintf("01jd000000000000000000010%d", i)
		create(t, s, newRun(id, "job", t0))
		update(t, s, id, hashike.RunUpdate{At: t0.Add(time.Second), State: hashike.StateStartFailed, Exit: e})
		if got := get(t, s, id); !reflect.DeepEqual(got.Exit, e) {
			t.Errorf("exit %+v came back as %+v", e, got.Exit)
		}
	}
}

func testListRuns(t *testing.T, s hashike.Store) {
	ctx := context.Background()
	type fixture struct {
		id     string
		family string
		state  hashike.RunState
		age    time.Duration // before t0
	}
	// IDs deliberately do not sort in creation order: newest first means by CreatedAt.
	fixtures := []fixture{
		{"01jd0000000000000000000009", "nightly", hashike.StateSucceeded, 72 * time.Hour},
		{"01jd0000000000000000000001", "nightly", hashike.StateFailed, 48 * time.Hour},
		{"01jd0000000000000000000005", "hourly", hashike.StateRunning, 3 * time.Hour},
		{"01jd0000000000000000000003", "hourly", hashike.StatePending, 2 * time.Hour},
		{"01jd0000000000000000000007", "nightly", hashike.StateStopping, time.Hour},
		{"01jd0000000000000000000002", "adhoc", hashike.StateLost, time.Nanosecond},
		{"01jd0000000000000000000008", "hourly", hashike.StateCanceled, 0},
	}
	for _, f := range fixtures {
		create(t, s, newRun(f.id, f.family, t0.Add(-f.age)))
		reach(t, s, f.id, f.state)
	}
	ids := func(fs ...fixture) []string {
		out := []string{}
		for _, f := range fs {
			out = append(out, f.id)
		}
		return out
	}
	f := fixtures
	tests := []struct {
		name   string
		filter hashike.RunFilter
		want   []string // newest first, unless OldestFirst
	}{
		{"all", hashike.RunFilter{}, ids(f[6], f[5], f[4], f[3], f[2], f[1], f[0])},
		{"limit", hashike.RunFilter{Limit: 3}, ids(f[6], f[5], f[4])},
		{"oldest first", hashike.RunFilter{OldestFirst: true}, ids(f[0], f[1], f[2], f[3], f[4], f[5], f[6])},
		{"oldest first, limit and states", hashike.RunFilter{OldestFirst: true, Limit: 2, States: []hashike.RunState{hashike.StateLost, hashike.StatePending, hashike.StateCanceled}}, ids(f[3], f[5])},
		{"family", hashike.RunFilter{Family: "nightly"}, ids(f[4], f[1], f[0])},
		{"states", hashike.RunFilter{States: []hashike.RunState{hashike.StateFailed, hashike.StateLost, hashike.StatePending}}, ids(f[5], f[3], f[1])},
		{"one state", hashike.RunFilter{States: []hashike.RunState{hashike.StateRunning}}, ids(f[2])},
		{"since is inclusive", hashike.RunFilter{Since: t0.Add(-2 * time.Hour)}, ids(f[6], f[5], f[4], f[3])},
		{"since to the nanosecond", hashike.RunFilter{Since: t0}, ids(f[6])},
		{"since one nanosecond earlier", hashike.RunFilter{Since: t0.Add(-time.Nanosecond)}, ids(f[6], f[5])},
		{"active", hashike.RunFilter{Active: true}, ids(f[4], f[3], f[2])},
		{"active and family", hashike.RunFilter{Active: true, Family: "hourly"}, ids(f[3], f[2])},
		{"states, family, since, limit", hashike.RunFilter{
			States: []hashike.RunState{hashike.StateCanceled, hashike.StateRunning, hashike.StatePending},
			Family: "hourly", Since: t0.Add(-150 * time.Minute), Limit: 1,
		}, ids(f[6])},
		{"active and terminal states select nothing", hashike.RunFilter{Active: true, States: []hashike.RunState{hashike.StateSucceeded}}, ids()},
		{"no match", hashike.RunFilter{Family: "weekly"}, ids()},
	}
	for _, tt := range tests {
		runs, err := s.ListRuns(ctx, tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := []string{}
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ListRuns = %v, want %v", tt.name, got, tt.want)
		}
	}
	// TaskIDs: the runs whose task is one of them.
	for i, fx := range []fixture{f[2], f[4], f[6]} {
		update(t, s, fx.id, hashike.RunUpdate{At: t0.Add(time.Minute), Task: &hashike.TaskRef{ID: fmt.Sprintf("arn:aws:ecs:us-east-1:1:task/jobs/%d", i), Cluster: "jobs"}})
	}
	for _, tt := range []struct {
		tasks []string
		want  []string
	}{
		{[]string{"arn:aws:ecs:us-east-1:1:task/jobs/0", "arn:aws:ecs:us-east-1:1:task/jobs/2", "arn:aws:ecs:us-east-1:1:task/jobs/9"}, ids(f[6], f[2])},
		{[]string{"arn:aws:ecs:us-east-1:1:task/jobs/9"}, ids()},
	} {
		runs, err := s.ListRuns(ctx, hashike.RunFilter{TaskIDs: tt.tasks})
		got := []string{}
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ListRuns of tasks %v = %v, %v; want %v", tt.tasks, got, err, tt.want)
		}
	}
	if _, err := s.ListRuns(ctx, hashike.RunFilter{OldestFirst: true, Before: f[3].id}); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("ListRuns oldest first before a run: %v, want EInvalid (it does not page)", err)
	}
	// Listed runs carry their fields.
	runs, err := s.ListRuns(ctx, hashike.RunFilter{Family: "adhoc"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("ListRuns adhoc = %v, %v", runs, err)
	}
	want := newRun(f[5].id, "adhoc", t0.Add(-f[5].age))
	want.State = hashike.StateLost
	assertRun(t, "ListRuns", want, runs[0])
}

func usageEqual(a, b *hashike.ResourceUsage) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Source == b.Source && a.Samples == b.Samples && a.PeakMemoryBytes == b.PeakMemoryBytes &&
		a.CPUSeconds == b.CPUSeconds && reflect.DeepEqual(a.ThrottledSeconds, b.ThrottledSeconds) &&
		sameTime(a.FirstSampleAt, b.FirstSampleAt) && sameTime(a.LastSampleAt, b.LastSampleAt)
}

// testUsage: a run's resource usage summary is recorded with its end (or on its own while it
// runs), replaced by a later one, and kept by updates that do not carry one.
func testUsage(t *testing.T, s hashike.Store) {
	id := "01jd0000000000000000000001"
	create(t, s, newRun(id, "f", t0))
	if got := get(t, s, id); got.Usage != nil {
		t.Fatalf("a new run has usage %+v, want none", got.Usage)
	}
	first, last := t0.Add(time.Second), t0.Add(61*time.Second)
	running := &hashike.ResourceUsage{Source: hashike.UsageSourceDocker, Samples: 3, PeakMemoryBytes: 67 << 20,
		CPUSeconds: 1.25, ThrottledSeconds: ptr(0.5), FirstSampleAt: &first, LastSampleAt: &last}
	got := update(t, s, id, hashike.RunUpdate{At: t0, State: hashike.StateRunning, Usage: running})
	if !usageEqual(got.Usage, running) {
		t.Errorf("UpdateRun returned usage %+v, want %+v", got.Usage, running)
	}
	got = update(t, s, id, hashike.RunUpdate{SetOwner: &hashike.Owner{Host: "h", PID: 1, Start: "s"}})
	if !usageEqual(got.Usage, running) {
		t.Errorf("an update without usage left %+v, want %+v kept", got.Usage, running)
	}
	ended := &hashike.ResourceUsage{Source: hashike.UsageSourceContainerInsights, Samples: 2, PeakMemoryBytes: 310 << 20, CPUSeconds: 48}
	update(t, s, id, hashike.RunUpdate{At: t0.Add(time.Minute), State: hashike.StateSucceeded, Usage: ended})
	if got := get(t, s, id); !usageEqual(got.Usage, ended) {
		t.Errorf("GetRun after the end gives usage %+v, want %+v", got.Usage, ended)
	}
	runs, err := s.ListRuns(context.Background(), hashike.RunFilter{})
	if err != nil || len(runs) != 1 || !usageEqual(runs[0].Usage, ended) {
		t.Errorf("ListRuns gives %v (%v), want the run with usage %+v", runs, err, ended)
	}
}
