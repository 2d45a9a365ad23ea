package main_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestOneRuleLocalOrServer is README "Local history or a server": an invocation talks to one
// place. With a server chosen (HASHIKE_SERVER), `run`, which runs on this machine, refuses
// rather than record a run that runs, describe and logs would then look for on the server;
// HASHIKE_SERVER= (or --server=) chooses this machine for every command; and runs and
// describe print the same JSON shapes in both modes.
func TestOneRuleLocalOrServer(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	job := s.simpleJob("here", "print", "1", "hello from here", "exit", "0")

	out, errs, code := s.run("run", job)
	if code != 2 || !strings.Contains(errs, "HASHIKE_SERVER=") || !strings.Contains(errs, "hashike enqueue") {
		t.Fatalf("run with a server: exit %d, want 2 and what to do instead (stdout %q, stderr %q)", code, out, errs)
	}
	if _, err := os.Stat(s.db); !os.IsNotExist(err) {
		t.Fatalf("run with a server recorded a run in the local history (%v)", err)
	}

	local := []string{"HASHIKE_SERVER="}
	if out, errs, code := s.as(local, "run", job); code != 0 || !strings.Contains(out, "hello from here") {
		t.Fatalf("run with HASHIKE_SERVER=: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	localPage := page(t, s, local, "runs", "-o", "json")
	if len(localPage) != 1 {
		t.Fatalf("local runs: %d, want 1", len(localPage))
	}
	id := localPage[0]["id"].(string)
	// --server= wins over HASHIKE_SERVER, for every command about runs.
	for _, args := range [][]string{{"--server=", "describe", id}, {"--server=", "logs", id}, {"--server=", "wait", id}} {
		if out, errs, code := s.run(args...); code != 0 || (args[1] == "logs" || args[1] == "wait") && !strings.Contains(out, "hello from here") {
			t.Errorf("hashike %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if _, errs, code := s.run("describe", id); code != 2 || !strings.Contains(errs, s.url) {
		t.Errorf("describe of a local run with the server chosen: exit %d, want 2 naming the server: %q", code, errs)
	}

	s.ok("enqueue", "echo", "--payload", `"x"`, "--wait")
	serverPage := page(t, s, nil, "runs", "-o", "json")
	if len(serverPage) != 1 {
		t.Fatalf("server runs: %d, want 1", len(serverPage))
	}
	// describe -o json: one object of the run's fields in both modes.
	localRun := object(t, s, local, "describe", id, "-o", "json")
	serverRun := object(t, s, nil, "describe", serverPage[0]["id"].(string), "-o", "json")
	for _, k := range []string{"id", "family", "state", "exit", "createdAt", "spec"} {
		_, inLocalList := localPage[0][k]
		_, inServerList := serverPage[0][k]
		if !inLocalList || !inServerList {
			t.Errorf("runs -o json: %q in the local list %v, in the server's %v", k, inLocalList, inServerList)
		}
	}
	for _, k := range []string{"id", "family", "state", "exit", "createdAt", "history", "spec"} {
		_, inLocal := localRun[k]
		_, inServer := serverRun[k]
		if !inLocal || !inServer {
			t.Errorf("describe -o json: %q in the local run %v, in the server's %v", k, inLocal, inServer)
		}
	}
}

// page runs a `runs -o json` and returns its runs, checking that the output is the API's
// page: an object with "runs" (and "next" only when there are more).
func page(t *testing.T, s *srvEnv, env []string, args ...string) []map[string]any {
	t.Helper()
	obj := object(t, s, env, args...)
	for k := range obj {
		if k != "runs" && k != "next" {
			t.Errorf("hashike %v: unexpected key %q", args, k)
		}
	}
	list, ok := obj["runs"].([]any)
	if !ok {
		t.Fatalf("hashike %v: runs is %T, want a list", args, obj["runs"])
	}
	var out []map[string]any
	for _, r := range list {
		out = append(out, r.(map[string]any))
	}
	return out
}

func object(t *testing.T, s *srvEnv, env []string, args ...string) map[string]any {
	t.Helper()
	out, errs, code := s.as(env, args...)
	if code != 0 {
		t.Fatalf("hashike %v: exit %d, stderr %q", args, code, errs)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("hashike %v: not a JSON object: %v\n%s", args, err, out)
	}
	return obj
}
