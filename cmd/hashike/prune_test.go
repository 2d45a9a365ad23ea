package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/sqlite"
)

// seedRuns writes runs into the SQLite database at db: each ended (or not) at the given age.
func seedRuns(t *testing.T, db string, runs map[string]struct {
	age   time.Duration
	state hashike.RunState
}) {
	t.Helper()
	s, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for id, r := range runs {
		created := time.Now().Add(-r.age)
		run := &hashike.Run{ID: id, Family: "fam", Backend: "local", CreatedAt: created,
			Spec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "fam",
				ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app"}}}}}
		if _, _, err := s.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendLogs(ctx, id, []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: created, Data: []byte("out\n")}}); err != nil {
			t.Fatal(err)
		}
		end := created.Add(time.Second)
		if _, err := s.UpdateRun(ctx, id, hashike.RunUpdate{At: end, State: r.state, FinishedAt: &end}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPruneLocal: hashike prune on this machine's history with the config's retention: the
// dry run says what would go and deletes nothing; the pass deletes exactly that; runs still
// running are kept however old; bad invocations are usage errors.
func TestPruneLocal(t *testing.T) {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "hashike.db")}
	day := 24 * time.Hour
	seedRuns(t, e.db, map[string]struct {
		age   time.Duration
		state hashike.RunState
	}{
		"old-done":    {30 * day, hashike.StateSucceeded},
		"old-running": {30 * day, hashike.StateRunning},
		"mid-failed":  {10 * day, hashike.StateFailed},
		"young":       {day, hashike.StateSucceeded},
	})
	conf := filepath.Join(dir, "hashike.yaml")
	if err := os.WriteFile(conf, []byte("retention:\n  logs: 7d\n  runs: 20d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.run("prune", "--dry-run", "-o", "json", "--config", conf)
	if code != 0 {
		t.Fatalf("prune --dry-run: exit %d: %s", code, errOut)
	}
	var rep hashike.PruneReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !rep.DryRun || rep.Logs != 2 || rep.Runs != 1 || len(rep.Scopes) != 1 {
		t.Fatalf("dry run = %s; want the logs of old-done and mid-failed, and old-done", out)
	}
	if out, _, _ := e.run("describe", "old-done"); !strings.Contains(out, "succeeded") {
		t.Fatalf("the dry run deleted old-done: %s", out)
	}
	if out, _, _ := e.run("logs", "mid-failed"); out != "out\n" {
		t.Fatalf("the dry run deleted mid-failed's logs: %q", out)
	}

	out, errOut, code = e.run("prune", "--config", conf)
	if code != 0 || !strings.Contains(out, "Deleted: the logs of 2 runs, 1 runs") || !strings.Contains(out, "default") {
		t.Fatalf("prune: exit %d:\n%s%s", code, out, errOut)
	}
	if _, _, code := e.run("describe", "old-done"); code != 2 {
		t.Fatalf("describe of the pruned run: exit %d, want 2 (not found)", code)
	}
	if out, _, _ := e.run("describe", "old-running"); !strings.Contains(out, "running") {
		t.Fatalf("old-running after prune: %s", out)
	}
	if out, _, code := e.run("logs", "mid-failed"); code != 0 || out != "" {
		t.Fatalf("mid-failed's logs after prune: exit %d, %q; want none left", code, out)
	}
	if out, _, _ := e.run("logs", "young"); out != "out\n" {
		t.Fatalf("young's logs after prune: %q", out)
	}

	out, _, code = e.run("prune", "--dry-run")
	if code != 0 || !strings.Contains(out, "No retention is configured") {
		t.Fatalf("prune without a config: exit %d: %s", code, out)
	}
	for _, args := range [][]string{{"prune", "now"}, {"prune", "-o", "yaml"}, {"prune", "--dry"}} {
		if _, errOut, code := e.run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errOut)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("retention:\n  logs: 1 week\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := e.run("prune", "--config", bad); code != 2 || !strings.Contains(errOut, "bad.yaml:2:9: retention.logs") {
		t.Errorf("prune with a bad config: exit %d, want 2 and the field's position: %s", code, errOut)
	}
}

// TestPruneThroughServer: with a server, hashike prune asks it: its config's retention and
// each job's own apply; --config is refused there.
func TestPruneThroughServer(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hashike.yaml")
	if err := os.WriteFile(conf, []byte("retention:\n  logs: 7d\n  runs: 400d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, nil, "--db", filepath.Join(dir, "server.db"), "--config", conf)
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "local.db"), extra: []string{"HASHIKE_SERVER=" + p.url}}
	jobFile := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(jobFile, []byte("retention: {runs: 0s}\ntaskDefinition:\n  containerDefinitions:\n    - {name: app, image: img, memory: 64}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := e.run("jobs", "register", "audit", jobFile); code != 0 {
		t.Fatalf("register: %s", errOut)
	}
	out, errOut, code := e.run("prune", "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("prune --dry-run: exit %d: %s", code, errOut)
	}
	var rep hashike.PruneReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !rep.DryRun || len(rep.Scopes) != 2 || rep.Scopes[0].Job != "audit" || rep.Scopes[0].RunsBefore != nil ||
		rep.Scopes[0].LogsBefore == nil || rep.Scopes[1].RunsBefore == nil {
		t.Fatalf("dry run through the server = %s; want audit's scope (logs 7d, runs forever), then the default", out)
	}
	if _, errOut, code := e.run("prune", "--config", conf); code != 2 || !strings.Contains(errOut, "prunes with its own config") {
		t.Fatalf("prune --config with a server: exit %d: %s", code, errOut)
	}
}
