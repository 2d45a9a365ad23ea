package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/sqlite"
)

const (
	helperEnv = "HASHIKE_SQLITE_TEST_HELPER" // "path,index" in a child process
	rounds    = 30
	children  = 3
)

// TestProcesses runs writers in separate processes, as hashike's `run`, supervisor and `wait`
// are: per round, each child creates a run with the round's idempotency key, tries to take
// over the round's ownerless run, and appends a log batch to a shared run. Exactly one
// create and one takeover per round may succeed, and no append may be lost.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hashike.db")
	s := open(t, path)
	defer s.Close()
	for r := range rounds {
		if _, _, err := s.CreateRun(ctx, newRun(fmt.Sprintf("race%022d", r))); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.CreateRun(ctx, newRun("logs")); err != nil {
		t.Fatal(err)
	}

	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", helperEnv, path, i))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	created := map[int][]string{}
	won := map[int][]int{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		sc := bufio.NewScanner(outs[i])
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				continue
			}
			r, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "created":
				created[r] = append(created[r], f[2])
			case "won":
				won[r] = append(won[r], i)
			}
		}
	}
	for r := range rounds {
		if len(created[r]) != 1 {
			t.Errorf("round %d: runs created with one key: %v", r, created[r])
		}
		if len(won[r]) != 1 {
			t.Errorf("round %d: children that took over the run: %v", r, won[r])
		}
	}
	n := 0
	next, err := s.ReadLogs(ctx, "logs", 0, func(hashike.LogEntry) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != children*rounds || next != children*rounds {
		t.Errorf("read %d log entries up to position %d, want %d", n, next, children*rounds)
	}
}

// TestHelperProcess is a child of TestProcesses; run alone it does nothing.
func TestHelperProcess(t *testing.T) {
	env := os.Getenv(helperEnv)
	if env == "" {
		return
	}
	path, idx, _ := strings.Cut(env, ",")
	i, _ := strconv.Atoi(idx)
	ctx := context.Background()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for r := range rounds {
		run := newRun(fmt.Sprintf("child%d-%020d", i, r))
		run.IdempotencyKey = fmt.Sprintf("key-%d", r)
		got, ok, err := s.CreateRun(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fmt.Printf("created %d %s\n", r, got.ID)
		}
		_, err = s.UpdateRun(ctx, fmt.Sprintf("race%022d", r), hashike.RunUpdate{
			IfOwner: &hashike.OwnerMatch{}, SetOwner: &hashike.Owner{Host: "h", PID: i, Start: "s"},
			At: t0.Add(time.Second), State: hashike.StateRunning, Reason: fmt.Sprintf("child %d", i)})
		switch {
		case err == nil:
			fmt.Printf("won %d x\n", r)
		case hashike.ErrorCodeOf(err) != hashike.EConflict:
			t.Fatal(err)
		}
		if err := s.AppendLogs(ctx, "logs", []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: t0,
			Data: fmt.Appendf(nil, "child %d round %d\n", i, r)}}); err != nil {
			t.Fatal(err)
		}
	}
}
