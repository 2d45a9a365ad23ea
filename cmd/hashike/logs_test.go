package main

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/sqlite"
)

// TestLogsOptions: logs --tail, --since, --timestamps and --container select and show the
// stored lines as docker logs does, with and without --follow; a bad value is a usage error.
func TestLogsOptions(t *testing.T) {
	db := filepath.Join(t.TempDir(), "h.db")
	store, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	id, err := hashike.NewRunID(now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spec := hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "logs", ContainerDefinitions: []hashike.ContainerDefinition{
		{Name: "app", Image: "x"}, {Name: "side", Image: "x"}}}}
	if _, _, err := store.CreateRun(ctx, &hashike.Run{ID: id, Spec: spec, State: hashike.StatePending, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	old := now.Add(-2 * time.Hour)
	entries := []hashike.LogEntry{
		{Container: "app", Stream: hashike.Stdout, Time: old, Data: []byte("a1\n")},
		{Container: "side", Stream: hashike.Stdout, Time: old.Add(time.Second), Data: []byte("s1\n")},
		{Container: "app", Stream: hashike.Stdout, Time: now.Add(-time.Minute), Data: []byte("a2\n")},
		{Container: "side", Stream: hashike.Stdout, Time: now.Add(-time.Minute + time.Second), Data: []byte("s2\n")},
		{Container: "app", Stream: hashike.Stdout, Time: now.Add(-time.Minute + 2*time.Second), Data: []byte("a3\n")},
	}
	if err := store.AppendLogs(ctx, id, entries); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateRun(ctx, id, hashike.RunUpdate{At: now, State: hashike.StateSucceeded, FinishedAt: &now}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	env := map[string]string{"HASHIKE_DB": db, "HOME": t.TempDir()}
	lines := func(names ...string) string {
		var b strings.Builder
		for _, n := range names {
			c := "app "
			if n[0] == 's' {
				c = "side"
			}
			b.WriteString(c + " | " + n + "\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", id}, lines("a1", "s1", "a2", "s2", "a3")},
		{[]string{"logs", "--tail", "2", id}, lines("s2", "a3")},
		{[]string{"logs", "-n", "0", id}, ""},
		{[]string{"logs", "--container", "app", id}, lines("a1", "a2", "a3")},
		{[]string{"logs", "--container", "side", "--tail", "1", id}, lines("s2")},
		{[]string{"logs", "--since", "10m", id}, lines("a2", "s2", "a3")},
		{[]string{"logs", "--since", now.Add(-time.Minute + time.Second).Format(time.RFC3339Nano), id}, lines("s2", "a3")},
		{[]string{"logs", "-f", "--tail", "1", id}, lines("a3")},
		{[]string{"logs", "-f", "--container", "side", id}, lines("s1", "s2")},
	} {
		code, out, errOut := cli(t, env, tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	code, out, _ := cli(t, env, "logs", "--timestamps", "--tail", "1", id)
	want := entries[4].Time.UTC().Format(time.RFC3339Nano) + " app  | a3\n"
	if code != 0 || out != want {
		t.Errorf("--timestamps: exit %d, %q; want %q", code, out, want)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"logs", "--container", "nope", id}, "--container"},
		{[]string{"logs", "--tail", "-3", id}, "--tail"},
		{[]string{"logs", "--tail", "x", id}, "--tail"},
		{[]string{"logs", "--since", "yesterday", id}, "--since"},
	} {
		code, _, errOut := cli(t, env, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", tc.args, code, errOut, tc.says)
		}
	}
}

// TestRunsOutputWide: runs -o wide adds where each run ran and at what size.
func TestRunsOutputWide(t *testing.T) {
	db := filepath.Join(t.TempDir(), "h.db")
	store, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	id, _ := hashike.NewRunID(now, rand.Reader)
	spec := hashike.JobSpec{Backend: "ecs", TaskDefinition: hashike.TaskDefinition{Family: "wide", Cpu: "512", Memory: "1024",
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "x"}}}}
	if _, _, err := store.CreateRun(ctx, &hashike.Run{ID: id, Spec: spec, State: hashike.StatePending, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	task := &hashike.TaskRef{ID: "arn:aws:ecs:us-east-1:123456789012:task/jobs/abc", Cluster: "jobs", ContainerInstance: "arn:aws:ecs:us-east-1:123456789012:container-instance/jobs/ci1"}
	if _, err := store.UpdateRun(ctx, id, hashike.RunUpdate{At: now, State: hashike.StateRunning, Task: task}); err != nil {
		t.Fatal(err)
	}
	// Ended: `runs` reconciles unfinished runs nobody supervises (it would start a supervisor).
	if _, err := store.UpdateRun(ctx, id, hashike.RunUpdate{At: now, State: hashike.StateSucceeded, FinishedAt: &now}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	env := map[string]string{"HASHIKE_DB": db, "HOME": t.TempDir()}
	code, out, errOut := cli(t, env, "runs", "-o", "wide")
	if code != 0 {
		t.Fatalf("runs -o wide: exit %d, %s", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 2 || strings.Join(strings.Fields(rows[0]), " ") != "RUN ID FAMILY STATE EXIT CREATED DURATION BACKEND CPU MEMORY TASK INSTANCE REASON" {
		t.Fatalf("runs -o wide:\n%s", out)
	}
	for _, want := range []string{" ecs ", " 512 ", " 1024 ", task.ID, task.ContainerInstance} {
		if !strings.Contains(rows[1], want) {
			t.Errorf("row %q lacks %q", rows[1], want)
		}
	}
	if code, _, errOut := cli(t, env, "runs", "-o", "tall"); code != 2 || !strings.Contains(errOut, "wide") {
		t.Errorf("runs -o tall: exit %d, %q", code, errOut)
	}
}
