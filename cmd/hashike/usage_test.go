package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// cli runs hashike in-process with only the given environment and returns its exit code,
// stdout and stderr.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return code, out.String(), errb.String()
}

// TestUsageErrorsExit2 is README "Exit codes" row 2 for every command: a missing argument,
// an extra one, an unknown flag and an unknown (sub)command exit 2 with a message that says
// what was wrong and how the command is called; nothing is recorded.
func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state", "hashike.db")
	env := map[string]string{"HASHIKE_DB": db, "HOME": dir}
	cases := []struct {
		args []string
		says []string
	}{
		// a missing argument
		{[]string{"run"}, []string{"needs a job file"}},
		{[]string{"wait"}, []string{"hashike wait needs RUN_ID", "usage: hashike wait RUN_ID"}},
		{[]string{"logs"}, []string{"hashike logs needs RUN_ID", "usage: hashike logs RUN_ID"}},
		{[]string{"logs", "search"}, []string{"hashike logs search needs PATTERN", "usage: hashike logs search PATTERN"}},
		{[]string{"describe"}, []string{"hashike describe needs RUN_ID", "usage: hashike describe RUN_ID"}},
		{[]string{"stop"}, []string{"hashike stop needs RUN_ID", "usage: hashike stop RUN_ID"}},
		{[]string{"validate"}, []string{"hashike validate needs FILE", "usage: hashike validate FILE"}},
		{[]string{"supervise"}, []string{"hashike supervise needs RUN_ID"}},
		{[]string{"enqueue"}, []string{"hashike enqueue needs JOB", "usage: hashike enqueue JOB"}},
		{[]string{"cancel"}, []string{"hashike cancel needs RUN_ID"}},
		{[]string{"result"}, []string{"hashike result needs RUN_ID"}},
		{[]string{"rerun"}, []string{"hashike rerun needs RUN_ID"}},
		{[]string{"jobs", "show"}, []string{"hashike jobs show needs JOB"}},
		{[]string{"jobs", "register", "x"}, []string{"hashike jobs register needs FILE", "usage: hashike jobs register JOB FILE"}},
		{[]string{"jobs", "versions"}, []string{"hashike jobs versions needs JOB"}},
		{[]string{"schedules", "show"}, []string{"hashike schedules show needs JOB"}},
		{[]string{"schedules", "suspend"}, []string{"hashike schedules suspend needs JOB"}},
		{[]string{"schedules", "resume"}, []string{"hashike schedules resume needs JOB"}},
		{[]string{"schedules", "trigger"}, []string{"hashike schedules trigger needs JOB"}},
		{[]string{"queues", "set"}, []string{"hashike queues set needs QUEUE"}},
		{[]string{"queues", "pause"}, []string{"hashike queues pause needs QUEUE"}},
		{[]string{"queues", "resume"}, []string{"hashike queues resume needs QUEUE"}},
		{[]string{"token", "revoke"}, []string{"hashike token revoke needs ID"}},
		// an extra argument
		{[]string{"describe", "a", "b"}, []string{"extra argument", `"b"`, "usage: hashike describe RUN_ID"}},
		{[]string{"runs", "x"}, []string{"hashike runs takes no arguments", `"x"`}},
		{[]string{"server", "x"}, []string{"hashike server takes no arguments"}},
		{[]string{"sim", "x"}, []string{"hashike sim takes no arguments"}},
		{[]string{"token", "list", "x"}, []string{"hashike token list takes no arguments"}},
		{[]string{"token", "create", "x"}, []string{"hashike token create takes no arguments"}},
		// an unknown command
		{[]string{"frob"}, []string{`unknown command "frob" for "hashike"`, "see 'hashike --help'"}},
		{[]string{"--frobnicate"}, []string{"unknown flag: --frobnicate", "see 'hashike --help'"}},
		{[]string{"rnu"}, []string{`unknown command "rnu"`, `did you mean "run"?`}},
		{[]string{"jobs", "frob"}, []string{`unknown command "frob" for "hashike jobs"`, "register, show, versions"}},
		{[]string{"schedules", "frob"}, []string{`unknown command "frob" for "hashike schedules"`}},
		{[]string{"queues", "frob"}, []string{`unknown command "frob" for "hashike queues"`}},
		{[]string{"token", "frob"}, []string{`unknown command "frob" for "hashike token"`, "create, list, revoke"}},
		{[]string{"completion", "frob"}, []string{`unknown command "frob" for "hashike completion"`}},
		{[]string{"help", "frob"}, []string{`unknown help topic "frob"`}},
		{[]string{"help", "jobs", "frob"}, []string{`unknown help topic "jobs frob"`}},
	}
	// an unknown flag, on every command
	walk(t, func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		cases = append(cases, struct {
			args []string
			says []string
		}{append(slices.Clone(path), "--frobnicate"), []string{"unknown flag: --frobnicate", "see '" + c.CommandPath() + " --help'"}})
	})
	for _, tc := range cases {
		code, out, errs := cli(t, env, tc.args...)
		name := strings.Join(tc.args, " ")
		if code != 2 {
			t.Errorf("hashike %s: exit %d, want 2 (stdout %q, stderr %q)", name, code, out, errs)
			continue
		}
		if !strings.HasPrefix(errs, "hashike: ") || strings.Count(errs, "\n") != 1 {
			t.Errorf("hashike %s: want one line of hashike's on stderr, got %q", name, errs)
		}
		for _, s := range tc.says {
			if !strings.Contains(errs, s) {
				t.Errorf("hashike %s: stderr lacks %q: %q", name, s, errs)
			}
		}
	}
	// Every command with positional arguments has a case that leaves them out.
	walk(t, func(c *cobra.Command) {
		path := strings.Join(strings.Fields(c.CommandPath())[1:], " ")
		if names, _ := argNames(c.Use); len(names) > 0 && !slices.ContainsFunc(cases, func(tc struct {
			args []string
			says []string
		}) bool {
			return strings.Join(tc.args, " ") == path || strings.HasPrefix(strings.Join(tc.args, " "), path+" ") && len(tc.args)-len(strings.Fields(path)) < len(names)
		}) {
			t.Errorf("no missing-argument case for hashike %s", path)
		}
	})
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a usage error created the run history (%v)", err)
	}
	// Alone, a command of commands shows its help and succeeds.
	for _, args := range [][]string{nil, {"token"}} {
		if code, out, errs := cli(t, env, args...); code != 0 || !strings.Contains(out, "Available Commands") {
			t.Errorf("hashike %v: exit %d, %q %q", args, code, out, errs)
		}
	}
}

// walk calls fn for every command of the tree but the root.
func walk(t *testing.T, fn func(*cobra.Command)) {
	t.Helper()
	var visit func(*cobra.Command)
	visit = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			fn(sub)
			visit(sub)
		}
	}
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, lookupEnv: func(string) (string, bool) { return "", false }}
	visit(a.rootCmd())
}

// TestUnreachableServerExit1: a client command whose server does not answer exits 1
// (hashike could not do what it was asked), never 125 (a task that failed to start), and
// names the server.
func TestUnreachableServerExit1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	dir := t.TempDir()
	env := map[string]string{"HASHIKE_SERVER": url, "HASHIKE_TOKEN": "hsk_x", "HASHIKE_DB": filepath.Join(dir, "h.db"), "HOME": dir}
	for _, args := range [][]string{
		{"runs"}, {"describe", "r-1"}, {"logs", "r-1"}, {"wait", "r-1"}, {"stop", "r-1"},
		{"enqueue", "hello"}, {"cancel", "r-1"}, {"rerun", "r-1"}, {"jobs"}, {"jobs", "show", "x"},
		{"schedules"}, {"queues"}, {"queues", "pause", "q"},
	} {
		code, _, errs := cli(t, env, args...)
		if code != 1 || !strings.Contains(errs, url) {
			t.Errorf("hashike %v with the server down: exit %d, want 1 and the server named: %q", args, code, errs)
		}
	}
}

// TestServerExitCodes: `hashike server` exits 2 for a bad invocation (the listen address is
// not an address) and 1 when it cannot listen (the port is taken), as README "Exit codes"
// says.
func TestServerExitCodes(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	env := map[string]string{"HASHIKE_DB": filepath.Join(dir, "h.db"), "HOME": dir}
	db := filepath.Join(dir, "server.db")
	code, _, errs := cli(t, env, "server", "--no-auth", "--db", db, "--listen", busy.Addr().String())
	if code != 1 || !strings.Contains(errs, "listen on "+busy.Addr().String()) {
		t.Errorf("busy port: exit %d, want 1: %q", code, errs)
	}
	code, _, errs = cli(t, env, "server", "--no-auth", "--db", db, "--listen", "127.0.0.1")
	if code != 2 || !strings.Contains(errs, "--listen") {
		t.Errorf("--listen without a port: exit %d, want 2: %q", code, errs)
	}
}
