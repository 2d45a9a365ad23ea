package main_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker/dockertest"
)

// TestServerPruneArchivesBeforeDeleting: the server's pruner archives a run's output before it
// deletes it from the database (the archive loop has not got to it yet), so hashike logs still
// prints the whole output afterwards, read from the archive.
func TestServerPruneArchivesBeforeDeleting(t *testing.T) {
	dockertest.Require(t)
	dir, jobs := newJobsDir(t)
	writeJob(t, jobs, "chatty", `taskDefinition:
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: [print, "1", "out", stderr, "2", "err", print, "1", "done"]
`)
	conf := filepath.Join(dir, "hashike.yaml")
	if err := os.WriteFile(conf, []byte("retention:\n  logs: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "server.db")
	// The archive loop makes its first pass at start, before the run exists, and its next an
	// hour later: only the pruner can archive the run.
	srv := startServer(t, nil, "--db", db, "--jobs", jobs, "--config", conf, "--archive-interval", "1h")
	ctx := context.Background()
	run, _, err := srv.c.Enqueue(ctx, "chatty", api.EnqueueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := srv.c.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Run.State.Terminal() && v.Run.Settled {
			if v.Run.State != hashike.StateSucceeded {
				t.Fatalf("run %s ended %s", run.ID, v.Run.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not end: %s", run.ID, v.Run.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past the 1s retention of its logs

	rep, err := srv.c.Prune(ctx, api.PruneRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Logs != 1 || rep.Kept != 0 {
		t.Fatalf("prune = %+v; want the logs of the one run deleted, none kept", rep)
	}
	sqldb, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	var left int
	if err := sqldb.QueryRow(`SELECT count(*) FROM run_logs WHERE run_id = ?`, run.ID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d log rows of the run left in the database after the prune", left)
	}
	// The engine keeps each stream's order, not the order between them.
	streams := map[hashike.Stream]*strings.Builder{hashike.Stdout: {}, hashike.Stderr: {}}
	if err := srv.c.FollowLogs(ctx, run.ID, false, func(e hashike.LogEntry) error {
		streams[e.Stream].Write(e.Data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out, errs := streams[hashike.Stdout].String(), streams[hashike.Stderr].String(); out != "out 1\ndone 1\n" || errs != "err 1\nerr 2\n" {
		t.Fatalf("logs after the prune: stdout %q, stderr %q; want the run's whole output, read from the archive", out, errs)
	}
}
