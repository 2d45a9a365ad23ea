package main_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerLogFlags: --log-format json and --log-level debug make every stderr line a JSON
// record, /healthz's debug-level request record included, with the request's ID; the
// defaults (text, info) leave /healthz out; a format or level hashike does not know, by flag
// or environment, is a usage error naming the flag.
func TestServerLogFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--log-format", "xml"}, "", `--log-format: "xml" is not a log format`},
		{[]string{"--log-level", "loud"}, "", `--log-level: "loud" is not a log level`},
		{nil, "HASHIKE_LOG_FORMAT=logfmt", `--log-format: "logfmt" is not a log format`},
	} {
		cmd := exec.Command(hashikeBin, append([]string{"server", "--no-auth", "--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "s.db")}, c.args...)...)
		cmd.Env = append(os.Environ(), c.env)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("server %v %s: %v, output %q; want exit 2 saying %q", c.args, c.env, err, out, c.want)
		}
	}

	get := func(url, id string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Request-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Request-Id") != id {
			t.Errorf("GET %s: X-Request-Id %q, want %q", url, resp.Header.Get("X-Request-Id"), id)
		}
	}
	// waitLog waits for the server's log to contain s (the record is written after the
	// response).
	waitLog := func(p *serverProc, s string) string {
		t.Helper()
		var b []byte
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			b, _ = os.ReadFile(p.log)
			if strings.Contains(string(b), s) {
				break
			}
		}
		return string(b)
	}

	jsonSrv := startServer(t, nil, "--db", filepath.Join(t.TempDir(), "j.db"), "--log-format", "json", "--log-level", "debug")
	get(jsonSrv.url+"/healthz", "probe-1")
	log := waitLog(jsonSrv, `"request_id":"probe-1"`)
	found := false
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("a line that is not a JSON record: %q", sc.Text())
			continue
		}
		if rec["msg"] == "request" && rec["request_id"] == "probe-1" {
			found = true
			if rec["level"] != "DEBUG" || rec["path"] != "/healthz" {
				t.Errorf("the /healthz record: %v", rec)
			}
		}
	}
	if !found {
		t.Errorf("no JSON record of the /healthz request with its ID:\n%s", log)
	}

	textSrv := startServer(t, nil, "--db", filepath.Join(t.TempDir(), "t.db"))
	get(textSrv.url+"/healthz", "probe-2")
	get(textSrv.url+"/v1/queues", "list-3")
	log = waitLog(textSrv, "request_id=list-3")
	if !strings.Contains(log, "level=INFO msg=request method=GET path=/v1/queues") {
		t.Errorf("no text record of GET /v1/queues:\n%s", log)
	}
	if strings.Contains(log, "probe-2") {
		t.Errorf("a /healthz record at the default level (info):\n%s", log)
	}
}
