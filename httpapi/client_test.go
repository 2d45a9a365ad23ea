package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// newClient serves f over HTTP and returns a client with token.
func newClient(t *testing.T, f *fakeService, token string) *Client {
	t.Helper()
	srv := httptest.NewServer(checked(t, NewHandler(f, Options{})))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL+"/", token, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestClient(t *testing.T) {
	ctx := t.Context()
	f := newFake()
	c := newClient(t, f, admin)

	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	v, created, err := c.PutJob(ctx, "etl", []byte("image: etl\n"), "")
	if err != nil || !created || v.Name != "etl" || v.Version != 1 {
		t.Fatalf("PutJob: %+v %t %v", v, created, err)
	}
	if _, created, _ := c.PutJob(ctx, "etl", []byte("image: etl\n"), "application/yaml"); created {
		t.Error("PutJob of the same document: created")
	}
	if jobs := must[[]api.JobView](t)(c.ListJobs(ctx)); len(jobs) != 2 {
		t.Errorf("ListJobs: %+v", jobs)
	}
	if v := must[api.JobView](t)(c.GetJob(ctx, "etl", 1)); v.Name != "etl" || v.Definition == nil || v.Definition.Description != "image: etl\n" {
		t.Errorf("GetJob: %+v", v)
	}
	if vs := must[[]api.JobView](t)(c.ListJobVersions(ctx, "etl")); len(vs) != 1 {
		t.Errorf("ListJobVersions: %+v", vs)
	}

	prio := 7
	run, created, err := c.Enqueue(ctx, "etl", api.EnqueueRequest{Payload: json.RawMessage(`{"a":1}`),
		Delay: hashike.Duration(time.Minute), Priority: &prio, IdempotencyKey: "k"})
	if err != nil || !created || run.ID != "run-1" || run.Priority != 7 || string(run.Payload) != `{"a":1}` {
		t.Fatalf("Enqueue: %+v %t %v", run, created, err)
	}
	if d := f.enqueues[0].Delay; d != hashike.Duration(time.Minute) {
		t.Errorf("delay %v", d)
	}
	if again, created, _ := c.Enqueue(ctx, "etl", api.EnqueueRequest{IdempotencyKey: "k"}); created || again.ID != run.ID {
		t.Errorf("Enqueue again: %+v %t", again, created)
	}
	if rv := must[api.RunView](t)(c.GetRun(ctx, run.ID)); rv.Run == nil || rv.ID != run.ID || len(rv.Attempts) != 1 {
		t.Errorf("GetRun: %+v", rv)
	}
	rerun := must[*hashike.Run](t)(c.Rerun(ctx, run.ID, api.RerunRequest{Latest: true}))
	if rerun.ID != "run-2" || rerun.Trigger != "rerun" {
		t.Errorf("Rerun: %+v", rerun)
	}
	if r := must[*hashike.Run](t)(c.Cancel(ctx, run.ID, api.CancelRequest{Reason: "r"})); r.State != hashike.StateCanceled {
		t.Errorf("Cancel: %+v", r)
	}

	page := must[api.RunPage](t)(c.ListRuns(ctx, hashike.RunFilter{States: []hashike.RunState{hashike.StateQueued}, Job: "etl", Limit: 2}))
	if len(page.Runs) != 2 || page.Next != "run-1" {
		t.Errorf("ListRuns: %+v", page)
	}
	page = must[api.RunPage](t)(c.ListRuns(ctx, hashike.RunFilter{Before: page.Next}))
	if page.Next != "" {
		t.Errorf("ListRuns, last page: next %q", page.Next)
	}
	wantFilters := []hashike.RunFilter{
		{States: []hashike.RunState{hashike.StateQueued}, Job: "etl", Limit: 2},
		{Before: "run-1", Limit: DefaultRunLimit},
	}
	if !reflect.DeepEqual(f.filters, wantFilters) {
		t.Errorf("filters %+v, want %+v", f.filters, wantFilters)
	}
	// A filter the API cannot express is refused, naming the field, before any request.
	_, err = c.ListRuns(ctx, hashike.RunFilter{Job: "etl", Active: true, Since: time.Unix(1, 0)})
	var he *hashike.Error
	if !errors.As(err, &he) || he.Code != hashike.EInvalid || len(he.Fields) != 2 || he.Fields[0].Path != "Active" || he.Fields[1].Path != "Since" {
		t.Errorf("ListRuns with Active and Since: %v", err)
	}
	if len(f.filters) != len(wantFilters) {
		t.Errorf("an unexpressible filter reached the server: %+v", f.filters)
	}

	if q := must[hashike.QueueInfo](t)(c.PutQueue(ctx, hashike.QueueConfig{Name: "fast", MaxConcurrency: 2})); q.Name != "fast" || q.MaxConcurrency != 2 {
		t.Errorf("PutQueue: %+v", q)
	}
	if q := must[hashike.QueueInfo](t)(c.PauseQueue(ctx, "fast")); !q.Paused || q.MaxConcurrency != 2 {
		t.Errorf("PauseQueue: %+v", q)
	}
	if q := must[hashike.QueueInfo](t)(c.ResumeQueue(ctx, "fast")); q.Paused {
		t.Errorf("ResumeQueue: %+v", q)
	}
	if qs := must[[]hashike.QueueInfo](t)(c.ListQueues(ctx)); len(qs) != 1 || qs[0].Name != "fast" {
		t.Errorf("ListQueues: %+v", qs)
	}

	if ss := must[[]api.ScheduleView](t)(c.ListSchedules(ctx)); len(ss) != 2 {
		t.Errorf("ListSchedules: %+v", ss)
	}
	if s := must[api.ScheduleView](t)(c.Suspend(ctx, "etl")); !s.Schedule.Suspended {
		t.Errorf("Suspend: %+v", s)
	}
	if s := must[api.ScheduleView](t)(c.GetSchedule(ctx, "etl")); !s.Schedule.Suspended || len(s.Next) != 1 {
		t.Errorf("GetSchedule: %+v", s)
	}
	if s := must[api.ScheduleView](t)(c.Resume(ctx, "etl")); s.Schedule.Suspended {
		t.Errorf("Resume: %+v", s)
	}
	if s := must[api.ScheduleView](t)(c.SetSuspended(ctx, "etl", true)); !s.Schedule.Suspended {
		t.Errorf("SetSuspended true: %+v", s)
	}
	if s := must[api.ScheduleView](t)(c.SetSuspended(ctx, "etl", false)); s.Schedule.Suspended {
		t.Errorf("SetSuspended false: %+v", s)
	}
	if r := must[*hashike.Run](t)(c.Trigger(ctx, "etl")); r.Trigger != "manual" {
		t.Errorf("Trigger: %+v", r)
	}

	ct := must[api.CreatedToken](t)(c.CreateToken(ctx, "ci", hashike.ScopeSubmit))
	if ct.Secret == "" || ct.ID == "" || ct.Scope != hashike.ScopeSubmit {
		t.Errorf("CreateToken: %+v", ct)
	}
	if ts := must[[]hashike.Token](t)(c.ListTokens(ctx)); len(ts) != 4 {
		t.Errorf("ListTokens: %+v", ts)
	}
	if err := c.RevokeToken(ctx, ct.ID); err != nil {
		t.Error(err)
	}
	// The new token worked until it was revoked.
	cc := newClient(t, f, ct.Secret)
	var ae *AuthError
	if _, err := cc.ListJobs(ctx); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("revoked token: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := t.Context()
	f := newFake()
	f.jobPayload = 4
	c := newClient(t, f, submit)

	_, err := c.GetRun(ctx, "nope")
	if hashike.ErrorCodeOf(err) != hashike.ENotFound || err.Error() != `run "nope" not found` {
		t.Errorf("GetRun: %v", err)
	}
	_, _, err = c.Enqueue(ctx, "hello", api.EnqueueRequest{Payload: json.RawMessage(`"too long"`)})
	if hashike.ErrorCodeOf(err) != hashike.ETooLarge {
		t.Errorf("Enqueue: %v", err)
	}
	_, err = c.CreateToken(ctx, "x", "root") // the token's scope is checked before the body
	var ae *AuthError
	if !errors.As(err, &ae) || !ae.Forbidden() || ae.Status != http.StatusForbidden {
		t.Errorf("CreateToken with a submit token: %v", err)
	}
	ac := newClient(t, f, admin)
	_, err = ac.CreateToken(ctx, "x", "root")
	var he *hashike.Error
	if !errors.As(err, &he) || he.Code != hashike.EInvalid || len(he.Fields) != 1 || he.Fields[0].Path != "scope" {
		t.Errorf("CreateToken with a bad scope: %#v", err)
	}
	_, err = ac.PutQueue(ctx, hashike.QueueConfig{Name: "q", MaxConcurrency: -1})
	if !errors.As(err, &he) || he.Code != hashike.EInvalid || he.Fields[0].Path != "maxConcurrency" {
		t.Errorf("PutQueue refused by the service: %#v", err)
	}

	nc := newClient(t, f, "")
	if _, err := nc.ListJobs(ctx); !errors.As(err, &ae) || ae.Forbidden() {
		t.Errorf("no token: %v", err)
	}
}

// TestClientForeignErrors: a status without the API's body (a proxy's) still has a code.
func TestClientForeignErrors(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>Bad Gateway</html>", http.StatusBadGateway)
	}))
	defer proxy.Close()
	c, _ := NewClient(proxy.URL, "", nil)
	_, err := c.ListJobs(t.Context())
	if hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Errorf("502: %v", err)
	}

	// A server that is not there.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ = NewClient("http://"+addr, "", nil)
	if _, err := c.ListJobs(t.Context()); hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Errorf("no server: %v", err)
	}

	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://", "http://x/?q=1"} {
		if _, err := NewClient(u, "", nil); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("NewClient(%q): %v", u, err)
		}
	}
}

// TestClientLogsLive proves that every entry is flushed: the service sends the next entry
// only after the client has received the one before.
func TestClientLogsLive(t *testing.T) {
	f := newFake()
	f.newRun("hello", "api")
	entries := []hashike.LogEntry{
		{Container: "app", Stream: hashike.Stdout, Time: t0, Data: []byte("one\n")},
		{Container: "app", Stream: hashike.Stderr, Time: t0.Add(time.Second), Data: []byte{0xff, 0x00, '\r', '\n'}},
		{Container: "side", Stream: hashike.Stdout, Time: t0.Add(2 * time.Second), Data: []byte("three")},
	}
	received := make(chan struct{})
	f.logs = func(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
			select {
			case <-received:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("the client did not receive the entry: it was not flushed")
			}
		}
		return nil
	}
	c := newClient(t, f, read)
	var got []hashike.LogEntry
	err := c.FollowLogs(t.Context(), "run-1", true, func(e hashike.LogEntry) error {
		got = append(got, e)
		received <- struct{}{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Errorf("entries\n%+v, want\n%+v", got, entries)
	}
	if !slices.Contains(f.called(), "FollowLogs run-1 follow=true") {
		t.Errorf("calls %q", f.called())
	}
}

// TestClientLogsErrors: an error before the first entry is the response's; one after it is the
// stream's last line; the callback's own error ends the stream and the service sees it end.
func TestClientLogsErrors(t *testing.T) {
	f := newFake()
	f.newRun("hello", "api")
	c := newClient(t, f, read)
	if err := c.FollowLogs(t.Context(), "nope", false, nil); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Errorf("unknown run: %v", err)
	}

	f.logs = func(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
		if err := fn(hashike.LogEntry{Container: "app", Stream: hashike.Stdout, Data: []byte("x")}); err != nil {
			return err
		}
		return &hashike.Error{Code: hashike.EUnavailable, Message: "database is down"}
	}
	n := 0
	err := c.FollowLogs(t.Context(), "run-1", true, func(hashike.LogEntry) error { n++; return nil })
	if hashike.ErrorCodeOf(err) != hashike.EUnavailable || n != 1 || err.Error() != "database is down" {
		t.Errorf("error midway: %v after %d entries", err, n)
	}

	ended := make(chan error, 1)
	f.logs = func(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
		for {
			if err := fn(hashike.LogEntry{Container: "app", Stream: hashike.Stdout, Data: []byte("y\n")}); err != nil {
				ended <- err
				return err
			}
			select {
			case <-ctx.Done():
				ended <- ctx.Err()
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	stop := errors.New("enough")
	if err := c.FollowLogs(t.Context(), "run-1", true, func(hashike.LogEntry) error { return stop }); err != stop {
		t.Errorf("callback's error: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Error("the service kept streaming after the client left")
	}
}

// TestServerTimeoutsSpareLogStreams: a log stream outlives the server's read and write
// timeouts, which bound every other request.
func TestServerTimeoutsSpareLogStreams(t *testing.T) {
	f := newFake()
	f.newRun("hello", "api")
	const timeout = 100 * time.Millisecond
	f.logs = func(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
		for i := range 2 {
			if i > 0 {
				select {
				case <-time.After(3 * timeout): // past both deadlines
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := fn(hashike.LogEntry{Container: "app", Stream: hashike.Stdout, Data: []byte{'0' + byte(i)}}); err != nil {
				return err
			}
		}
		return nil
	}
	srv := NewServer("127.0.0.1:0", f, Options{})
	srv.ReadTimeout, srv.WriteTimeout = timeout, timeout
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, _ := NewClient("http://"+ln.Addr().String(), read, nil)
	var data []byte
	if err := c.FollowLogs(t.Context(), "run-1", true, func(e hashike.LogEntry) error {
		data = append(data, e.Data...)
		return nil
	}); err != nil || string(data) != "01" {
		t.Errorf("stream: %q %v", data, err)
	}
}
