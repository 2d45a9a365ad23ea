package main_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike/docker"
)

// engineHost is the address of the engine the tests use.
func engineHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return docker.DefaultHost
}

// dockerConfig writes a Docker CLI configuration directory with the given contexts
// (name -> docker endpoint host) and config.json, as the docker CLI lays them out.
func dockerConfig(t *testing.T, configJSON string, contexts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, host := range contexts {
		id := sha256.Sum256([]byte(name))
		d := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(id[:]))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		meta := `{"Name":"` + name + `","Metadata":{},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
		if err := os.WriteFile(filepath.Join(d, "meta.json"), []byte(meta), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(configJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// silentSocket listens on a unix socket, accepts every connection and never answers: a hung
// engine.
func silentSocket(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return p
}

// `hashike run` against an engine that is not there fails at once (not after riding out two
// minutes of retries), exits 125, names the endpoint it tried and records no run.
func TestRunEngineUnreachable(t *testing.T) {
	e := newEnv(t)
	job := e.simpleJob("unreachable", "print", "1", "never")
	for _, sock := range []string{filepath.Join(t.TempDir(), "missing.sock"), silentSocket(t)} {
		e.extra = []string{"DOCKER_HOST=unix://" + sock}
		start := time.Now()
		_, stderr, code := e.run("run", job)
		took := time.Since(start)
		if code != 125 {
			t.Errorf("%s: exit %d, want 125; stderr:\n%s", sock, code, stderr)
		}
		if want := "cannot reach the Docker Engine at unix://" + sock + " (DOCKER_HOST)"; !strings.Contains(stderr, want) {
			t.Errorf("%s: stderr does not say %q:\n%s", sock, want, stderr)
		}
		// A correctness bound, not a benchmark: the runner's retries would take two minutes.
		if took > 10*time.Second {
			t.Errorf("%s: failed after %s", sock, took)
		}
	}
	e.extra = nil
	if runs := e.runs(); len(runs) != 0 {
		t.Errorf("runs recorded for an unreachable engine: %+v", runs)
	}
}

// The engine is found as the docker CLI finds it: the configuration's currentContext, which
// DOCKER_CONTEXT overrides, which DOCKER_HOST overrides; the context "default" is the default
// socket.
func TestRunDockerContext(t *testing.T) {
	e := newEnv(t)
	job := e.simpleJob("ctx", "print", "1", "ran through the context")
	missing := "unix://" + filepath.Join(t.TempDir(), "missing.sock")
	cfg := dockerConfig(t, `{"currentContext": "engine"}`, map[string]string{"engine": engineHost(), "broken": missing})

	// DOCKER_HOST unset: the current context's engine runs the job (the default socket has
	// no engine on a machine whose engine listens elsewhere; the context must be used).
	e.extra = []string{"DOCKER_HOST=", "DOCKER_CONTEXT=", "DOCKER_CONFIG=" + cfg}
	if out, stderr, code := e.run("run", job); code != 0 || !strings.Contains(out, "ran through the context") {
		t.Fatalf("current context: exit %d, stdout %q, stderr:\n%s", code, out, stderr)
	}
	// DOCKER_CONTEXT overrides the current context.
	e.extra = []string{"DOCKER_HOST=", "DOCKER_CONTEXT=broken", "DOCKER_CONFIG=" + cfg}
	if _, stderr, code := e.run("run", job); code != 125 || !strings.Contains(stderr, "at "+missing+` (context "broken")`) {
		t.Fatalf("DOCKER_CONTEXT=broken: exit %d, stderr:\n%s", code, stderr)
	}
	// DOCKER_HOST overrides every context.
	e.extra = []string{"DOCKER_HOST=" + engineHost(), "DOCKER_CONTEXT=broken", "DOCKER_CONFIG=" + cfg}
	if _, stderr, code := e.run("run", job); code != 0 {
		t.Fatalf("DOCKER_HOST with DOCKER_CONTEXT=broken: exit %d, stderr:\n%s", code, stderr)
	}
	// "default" is the default socket, whatever the current context.
	if _, err := os.Stat("/var/run/docker.sock"); err != nil && engineHost() != docker.DefaultHost {
		e.extra = []string{"DOCKER_HOST=", "DOCKER_CONTEXT=default", "DOCKER_CONFIG=" + cfg}
		if _, stderr, code := e.run("run", job); code != 125 || !strings.Contains(stderr, "at "+docker.DefaultHost+" (default)") {
			t.Fatalf("DOCKER_CONTEXT=default: exit %d, stderr:\n%s", code, stderr)
		}
	}
	// A context that does not exist is a configuration error, as for the docker CLI.
	e.extra = []string{"DOCKER_HOST=", "DOCKER_CONTEXT=nope", "DOCKER_CONFIG=" + cfg}
	if _, stderr, code := e.run("run", job); code != 2 || !strings.Contains(stderr, `Docker context "nope" (from DOCKER_CONTEXT) not found`) {
		t.Fatalf("DOCKER_CONTEXT=nope: exit %d, stderr:\n%s", code, stderr)
	}
}

// `hashike run` pulls a private image with the credentials of the docker CLI's configuration
// (DOCKER_CONFIG), shows the pull on stderr, and honours --pull.
func TestRunPullsWithDockerConfigCredentials(t *testing.T) {
	e := newEnv(t)
	// A registry that demands Basic auth and then has no such image: the engine pulls from
	// 127.0.0.1 over plain HTTP; what matters is which credentials it was given.
	var mu sync.Mutex
	var sent []string
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Authorization"))
		mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != "carol" || p != "pa55" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			w.Write([]byte("{}"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`, http.StatusNotFound)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	cfg := dockerConfig(t, `{"auths": {"`+host+`": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("carol:pa55"))+`"}}}`, nil)
	job := e.job("private.yaml", `taskDefinition:
  family: private
  memory: "64"
  containerDefinitions:
    - name: app
      image: `+host+`/team/app:1.0
`)
	e.extra = []string{"DOCKER_CONFIG=" + cfg}
	_, stderr, code := e.run("run", job)
	if code != 125 || !strings.Contains(stderr, "CannotPullContainerError") || !strings.Contains(stderr, "manifest unknown") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "hashike: pulling image "+host+"/team/app:1.0") {
		t.Errorf("the pull is not shown on stderr:\n%s", stderr)
	}
	mu.Lock()
	got := strings.Join(sent, "\n")
	mu.Unlock()
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("carol:pa55")); !strings.Contains(got, want) {
		t.Errorf("the registry was sent:\n%s\nnot carol's credentials", got)
	}

	// --pull never does not ask the registry; a bad --pull is a usage error.
	mu.Lock()
	sent = nil
	mu.Unlock()
	if _, stderr, code := e.run("run", "--pull", "never", job); code != 125 || !strings.Contains(stderr, "the pull policy is never") {
		t.Errorf("--pull never: exit %d, stderr:\n%s", code, stderr)
	}
	if _, stderr, code := e.run("run", "--pull", "sometimes", job); code != 2 || !strings.Contains(stderr, `pull policy "sometimes"`) {
		t.Errorf("--pull sometimes: exit %d, stderr:\n%s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 0 {
		t.Errorf("the registry was asked %d times with --pull never or a bad --pull", len(sent))
	}
}
