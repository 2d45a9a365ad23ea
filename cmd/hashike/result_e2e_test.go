package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashike/hashike/api"
)

// A payload over the inline threshold travels by reference on a real Docker Engine: the run
// in the database holds none of it, the container reads the whole 1 MiB from
// /hashike/payload.json (HASHIKE_PAYLOAD is not set), and the result it writes, as a user
// without privileges, to /hashike/result is what `hashike result` prints.
func TestServerPayloadByReferenceAndResultOnDocker(t *testing.T) {
	t.Parallel()
	s := newServer(t, "--max-payload", "2097152")

	blob := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	payload := `{"blob":"` + blob + `"}`
	file := filepath.Join(s.dir, "big.json")
	if err := os.WriteFile(file, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := s.run("enqueue", "result", "--payload", "@"+file, "--wait")
	if code != 0 {
		t.Fatalf("enqueue --wait: exit %d, stdout %.300q, stderr %q", code, out, errs)
	}
	want := "HASHIKE_PAYLOAD=\nHASHIKE_PAYLOAD_FILE=/hashike/payload.json\n/hashike/payload.json has " + itoa(len(payload)) + " bytes\n"
	if out != want {
		t.Fatalf("stdout %.300q, want %q", out, want)
	}
	var page api.RunPage
	s.okJSON(&page, "runs", "--job", "result")
	if len(page.Runs) != 1 {
		t.Fatalf("%d runs of job result", len(page.Runs))
	}
	id := page.Runs[0].ID
	v := s.settled(id)
	if len(v.Payload) != 0 {
		t.Fatalf("the run in the database holds %d bytes of payload; a payload by reference is not in it", len(v.Payload))
	}

	text := s.ok("describe", id)
	for _, want := range []string{"Payload:", itoa(len(payload)) + " bytes, by reference (object runs/" + id + "/payload.json)",
		"Result:", itoa(len(payload)) + " bytes, application/json (hashike result " + id + ")"} {
		if !strings.Contains(text, want) {
			t.Fatalf("describe lacks %q:\n%s", want, text)
		}
	}
	got := s.ok("result", id)
	if got != payload {
		t.Fatalf("hashike result: %d bytes (%.80q...), want the payload's %d", len(got), got, len(payload))
	}
	var info api.ResultInfo
	s.okJSON(&info, "result", id)
	if info.RunID != id || info.Size != int64(len(payload)) || info.ContentType != "application/json" || info.CreatedAt.IsZero() {
		t.Fatalf("result -o json: %+v", info)
	}

	// A run that wrote no result: exit 2, saying so.
	small := strings.TrimSpace(s.ok("enqueue", "echo", "--payload", `{"n":1}`))
	s.settled(small)
	if _, errs, code := s.run("result", small); code != 2 || !strings.Contains(errs, "has no result") {
		t.Fatalf("result of a run that wrote none: exit %d, stderr %q", code, errs)
	}
	// A small payload stays inline, in the variable and the file, as before.
	if out := s.ok("logs", small); !strings.Contains(out, `HASHIKE_PAYLOAD={"n":1}`) {
		t.Fatalf("logs of a run with a small payload: %q", out)
	}
	raw, _ := json.Marshal(v.Exit)
	if v.Exit == nil || v.Exit.Code != 0 {
		t.Fatalf("exit %s", raw)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// --script runs a script in the job's image instead of its command: a small one travels in
// the command (/bin/sh -c), a larger one through the object store, mounted at
// /hashike/script. (The test image's /bin/sh is hashike-testjob standing in for one: a
// script is testjob steps.)
func TestServerScriptOnDocker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "hashike.yaml")
	if err := os.WriteFile(config, []byte("payloads:\n  inlineBytes: 64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, "--config", config)
	small := filepath.Join(dir, "small.sh")
	big := filepath.Join(dir, "big.sh")
	if err := os.WriteFile(small, []byte("print 1 small-script\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, []byte("print 1 big-script\n"+strings.Repeat(" \n", 100)+"env HASHIKE_ATTEMPT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := s.run("enqueue", "echo", "--script", small, "--wait")
	if code != 0 || out != "small-script 1\n" {
		t.Fatalf("enqueue --script (small) --wait: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code = s.run("enqueue", "echo", "--script", big, "--wait")
	if code != 0 || out != "big-script 1\nHASHIKE_ATTEMPT=1\n" {
		t.Fatalf("enqueue --script (by reference) --wait: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := s.run("enqueue", "echo", "--script", small, "--", "print", "1", "x"); code != 2 || !strings.Contains(errs, "not both") {
		t.Fatalf("--script with a command: exit %d, stderr %q", code, errs)
	}

	// hashike run, on this machine: the script in the command, the words after -- its
	// arguments.
	job := filepath.Join(s.dir, "jobs", "result.yaml") // a job file, not a registry entry
	out, errs, code = s.as([]string{"HASHIKE_SERVER="}, "run", "--script", small, job)
	if code != 0 || out != "small-script 1\n" {
		t.Fatalf("run --script: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
