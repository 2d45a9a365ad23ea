package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/sqlite"
)

// TestCompletionLocal: the shell completion offers the local history's run IDs (with
// family and state) for a RUN_ID, the run states for --state and the output formats for
// --output, and no files where a name is wanted.
func TestCompletionLocal(t *testing.T) {
	db := filepath.Join(t.TempDir(), "h.db")
	store, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ids []string
	for i, fam := range []string{"alpha", "beta"} {
		id, _ := hashike.NewRunID(now.Add(time.Duration(i)*time.Millisecond), rand.Reader)
		spec := hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: fam, ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "x"}}}}
		if _, _, err := store.CreateRun(context.Background(), &hashike.Run{ID: id, Spec: spec, State: hashike.StatePending, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	store.Close()
	env := map[string]string{"HASHIKE_DB": db, "HOME": t.TempDir()}

	code, out, errOut := cli(t, env, "__complete", "logs", "")
	if code != 0 || !strings.Contains(out, ids[0]+"\talpha pending") || !strings.Contains(out, ids[1]+"\tbeta pending") || !strings.Contains(out, ":4\n") {
		t.Fatalf("complete logs: exit %d, %q, %q", code, out, errOut)
	}
	// A prefix narrows; a second argument is not wanted.
	_, out, _ = cli(t, env, "__complete", "describe", ids[1][:len(ids[1])-1])
	if strings.Contains(out, ids[0]) || !strings.Contains(out, ids[1]) {
		t.Errorf("complete describe with a prefix: %q", out)
	}
	if _, out, _ = cli(t, env, "__complete", "logs", ids[0], ""); strings.Contains(out, ids[1]) {
		t.Errorf("complete a second RUN_ID: %q", out)
	}
	if _, out, _ = cli(t, env, "__complete", "runs", "--state", "f"); !strings.Contains(out, "failed\n") || !strings.Contains(out, "timed_out\n") {
		t.Errorf("complete --state: %q", out)
	}
	if _, out, _ = cli(t, env, "__complete", "runs", "-o", ""); !strings.Contains(out, "wide\n") {
		t.Errorf("complete runs -o: %q", out)
	}
	// No history: nothing offered, nothing created.
	empty := filepath.Join(t.TempDir(), "none.db")
	if _, out, _ = cli(t, map[string]string{"HASHIKE_DB": empty}, "__complete", "wait", ""); strings.Contains(out, "\t") {
		t.Errorf("complete without a history: %q", out)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("completion created the history %s: %v", empty, err)
	}
}
