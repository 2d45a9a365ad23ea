package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionFromServer: with a server set, RUN_ID, JOB and QUEUE complete from its API.
func TestCompletionFromServer(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, nil, "--db", filepath.Join(dir, "server.db"))
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(hashikeBin, args...)
		cmd.Env = append(os.Environ(), "HASHIKE_SERVER="+p.url, "HASHIKE_DB="+filepath.Join(dir, "local.db"))
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	jobFile := filepath.Join(dir, "nightly.yaml")
	if err := os.WriteFile(jobFile, []byte("taskDefinition:\n  containerDefinitions:\n    - name: app\n      image: img\n      memory: 64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli("jobs", "register", "nightly-report", jobFile); code != 0 {
		t.Fatalf("register: %s", errOut)
	}
	if _, out, _ := cli("__complete", "enqueue", "ni"); !strings.Contains(out, "nightly-report\tv1") {
		t.Errorf("complete enqueue ni: %q", out)
	}
	if _, out, _ := cli("__complete", "queues", "pause", ""); !strings.Contains(out, "default\n") {
		t.Errorf("complete queues pause: %q", out)
	}
	if _, out, _ := cli("__complete", "runs", "--job", ""); !strings.Contains(out, "nightly-report") {
		t.Errorf("complete runs --job: %q", out)
	}
}

// TestSecondServerOnOneSQLiteFileIsRefused: SQLite has no replicas, so a second server on the
// same database file exits 1 at once saying who holds it and what to do; once the first
// one is gone (kill -9 included), a server starts on the file again.
func TestSecondServerOnOneSQLiteFileIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "server.db")
	first := startServer(t, nil, "--db", db)
	cmd := exec.Command(hashikeBin, "server", "--no-auth", "--listen", "127.0.0.1:0", "--db", db)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "another hashike server (pid ") ||
		!strings.Contains(string(out), "SQLite allows one server") || !strings.Contains(string(out), "PostgreSQL") {
		t.Fatalf("second server: %v, output:\n%s", err, out)
	}
	first.kill()
	startServer(t, nil, "--db", db)
}
