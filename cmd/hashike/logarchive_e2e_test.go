package main_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker/dockertest"
)

// bytesOutput is what the test workload's `bytes n` step prints.
func bytesOutput(n int) string {
	var b strings.Builder
	line := strings.Repeat("x", 90)
	for k := 0; b.Len() < n; k++ {
		fmt.Fprintf(&b, "%08d %s\n", k, line)
	}
	return b.String()
}

// segmentFiles lists the archive's objects in the server's default object store.
func segmentFiles(t *testing.T, dir, under string) []string {
	t.Helper()
	var files []string
	root := filepath.Join(dir, "objects", "objects", "logs", under)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json.zst") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestLogArchiveSurvivesKill9 kills the server with SIGKILL again and again while it archives
// a run's 20 MB of output, then lets it finish: the archive holds every line exactly once (in
// the per-service copy Athena reads), and once the database's copy is gone `hashike logs`
// shows the run's output byte for byte from the archive and `hashike logs search` finds its
// lines.
func TestLogArchiveSurvivesKill9(t *testing.T) {
	dockertest.Require(t)
	dir, jobs := newJobsDir(t)
	writeJob(t, jobs, "chatty", `taskDefinition:
  memory: "64"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: [bytes, "20000000", stderr, "3", "ERROR boom"]
`)
	db := filepath.Join(dir, "server.db")
	args := []string{"--db", db, "--jobs", jobs, "--archive-interval", "50ms", "--archive-segment-bytes", "65536"}
	ctx := context.Background()
	srv := startServer(t, nil, args...)
	run, _, err := srv.c.Enqueue(ctx, "chatty", api.EnqueueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sqldb, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	complete := func() bool {
		var c bool
		err := sqldb.QueryRow(`SELECT complete FROM run_log_archives WHERE run_id = ?`, run.ID).Scan(&c)
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		return c
	}

	// Kill it three times mid-archive, each time once more segments were written.
	kills := 0
	deadline := time.Now().Add(4 * time.Minute)
	for seen := len(segmentFiles(t, dir, "")); kills < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the archive did not grow: %d objects after %d kills", seen, kills)
		}
		n := len(segmentFiles(t, dir, ""))
		if n < seen+6 {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		srv.kill()
		if complete() {
			t.Fatalf("the archive was complete before kill %d (%d objects): the test proves nothing, make the output larger", kills+1, n)
		}
		kills++
		seen = len(segmentFiles(t, dir, ""))
		srv = startServer(t, nil, args...)
	}
	for !complete() {
		if time.Now().After(deadline) {
			t.Fatal("the archive did not complete after the restarts")
		}
		time.Sleep(50 * time.Millisecond)
	}
	v, err := srv.c.GetRun(ctx, run.ID)
	if err != nil || v.State != hashike.StateSucceeded {
		t.Fatalf("run %s: %v %v", run.ID, v.State, err)
	}

	// Every line once in the per-service copy, numbered 0..n-1.
	want := bytesOutput(20000000)
	wantLines := strings.Count(want, "\n") + 3
	seen := make([]int, wantLines)
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	nRe := regexp.MustCompile(`"n":(\d+),`)
	for _, f := range segmentFiles(t, dir, "by-service") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := bytes.Cut(raw, []byte("\n")) // the object store's header line
		data, err := dec.DecodeAll(body, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			m := nRe.FindSubmatch(sc.Bytes())
			var n int
			if m == nil {
				t.Fatalf("%s: line %q", f, sc.Text())
			}
			fmt.Sscan(string(m[1]), &n)
			if n >= wantLines {
				t.Fatalf("%s: line number %d of %d lines", f, n, wantLines)
			}
			seen[n]++
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Fatalf("line %d is %d times in the per-service copy, want once (%d kills)", n, c, kills)
		}
	}
	if a, b := len(segmentFiles(t, dir, "by-task")), len(segmentFiles(t, dir, "by-service")); a != b {
		t.Errorf("%d per-task segments, %d per-service", a, b)
	}

	// The database's copy gone (as the pruner deletes it), the output comes from the archive.
	if _, err := sqldb.Exec(`DELETE FROM run_logs WHERE run_id = ?`, run.ID); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, string) {
		t.Helper()
		c := exec.Command(hashikeBin, args...)
		c.Env = append(os.Environ(), "HASHIKE_SERVER="+srv.url, "HASHIKE_TOKEN=", "HASHIKE_SECRETS_FILE=")
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			t.Fatalf("hashike %s: %v; stderr %s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), errb.String()
	}
	out, errs := cli("logs", run.ID)
	if out != want {
		t.Errorf("hashike logs from the archive: %d bytes of stdout, want %d", len(out), len(want))
	}
	if errs != "ERROR boom 1\nERROR boom 2\nERROR boom 3\n" {
		t.Errorf("hashike logs from the archive: stderr %q", errs)
	}
	out, _ = cli("logs", "search", "--family", "chatty", "--state", "succeeded", "-o", "json", `^(00012345 x+|ERROR boom [23])$`)
	if got := strings.Count(out, "\n"); got != 3 || !strings.Contains(out, `"line":"00012345 xxx`) || !strings.Contains(out, `"runId":"`+run.ID+`"`) {
		t.Errorf("hashike logs search found %d lines:\n%s", got, out)
	}
}
