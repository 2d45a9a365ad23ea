package docker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker"
)

// writeContext writes a Docker CLI context named name whose docker endpoint is host, in the
// layout the docker CLI keeps (contexts/meta/<sha256 of the name>/meta.json).
func writeContext(t *testing.T, configDir, name, host string) {
	t.Helper()
	writeContextMeta(t, configDir, name, []byte(`{"Name":"`+name+`","Metadata":{},"Endpoints":{"docker":{"Host":"`+host+`","SkipTLSVerify":false}}}`))
}

func writeContextMeta(t *testing.T, configDir, name string, meta []byte) {
	t.Helper()
	id := sha256.Sum256([]byte(name))
	dir := filepath.Join(configDir, "contexts", "meta", hex.EncodeToString(id[:]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolveEndpoint(t *testing.T) {
	cfg := t.TempDir()
	writeContext(t, cfg, "remote", "tcp://10.0.0.7:2375")
	writeContext(t, cfg, "colima", "unix:///home/u/.colima/docker.sock")
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext": "colima"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // ~/.docker with a current context, found through HOME
	writeContext(t, filepath.Join(home, ".docker"), "remote", "ssh://u@build")
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(`{"currentContext": "remote"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		host, by string
		err      string
	}{
		{"DOCKER_HOST wins over every context", map[string]string{"DOCKER_HOST": "unix:///x.sock", "DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": cfg}, "unix:///x.sock", "DOCKER_HOST", ""},
		{"DOCKER_CONTEXT wins over currentContext", map[string]string{"DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": cfg}, "tcp://10.0.0.7:2375", `context "remote"`, ""},
		{"currentContext of DOCKER_CONFIG", map[string]string{"DOCKER_CONFIG": cfg}, "unix:///home/u/.colima/docker.sock", `context "colima"`, ""},
		{"currentContext of ~/.docker", map[string]string{"HOME": home}, "ssh://u@build", `context "remote"`, ""},
		{"the default context is the default socket", map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": cfg}, docker.DefaultHost, "default", ""},
		{"no configuration at all", map[string]string{"DOCKER_CONFIG": t.TempDir()}, docker.DefaultHost, "default", ""},
		{"an unknown context", map[string]string{"DOCKER_CONTEXT": "nope", "DOCKER_CONFIG": cfg}, "", "", `Docker context "nope" (from DOCKER_CONTEXT) not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, err := docker.ResolveEndpoint(envOf(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || hashike.ErrorCodeOf(err) != hashike.EInvalid {
					t.Fatalf("got %+v, %v; want an invalid error containing %q", ep, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.Host != tc.host || ep.Source != tc.by {
				t.Fatalf("got %q from %q, want %q from %q", ep.Host, ep.Source, tc.host, tc.by)
			}
		})
	}
}

// An engine that cannot be reached is reported at once, naming where hashike looked: a socket
// path that does not exist, and a socket that accepts connections and never answers (a hung
// daemon), which holds Ping only as long as its context lets it.
func TestPingUnreachable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	silent := filepath.Join(dir, "silent.sock")
	l, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // accepted and never answered
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
	for _, sock := range []string{missing, silent} {
		b, err := docker.Open(docker.Config{Endpoint: docker.Endpoint{Host: "unix://" + sock, Source: "DOCKER_HOST"}, Clock: hashike.SystemClock{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err = b.Ping(ctx)
		took := time.Since(start)
		cancel()
		if err == nil || hashike.ErrorCodeOf(err) != hashike.EUnavailable {
			t.Fatalf("%s: Ping = %v, want unavailable", sock, err)
		}
		if want := "cannot reach the Docker Engine at unix://" + sock + " (DOCKER_HOST)"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not say %q", sock, err, want)
		}
		if took > 10*time.Second {
			t.Errorf("%s: Ping took %s past its 1s context", sock, took)
		}
	}
}
