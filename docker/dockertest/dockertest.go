// Package dockertest gives tests a Docker Engine and the hashike-testjob image, built offline
// FROM scratch from the project's own static program (no registry is reachable).
//
// Tests that need the engine fail when it is missing: a test suite that silently skipped them
// would report green for code it never ran. Set HASHIKE_SKIP_DOCKER=1 to skip them on purpose.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Image is the tag of the test workload image.
const Image = "hashike-testjob:test"

var (
	once     sync.Once
	buildErr error
)

// Require returns a client for the engine at DOCKER_HOST (or the default socket) and makes
// sure the test image exists. It fails the test when the engine cannot be reached.
func Require(t testing.TB) *client.Client {
	t.Helper()
	if os.Getenv("HASHIKE_SKIP_DOCKER") == "1" {
		t.Skip("HASHIKE_SKIP_DOCKER=1: skipping a test that needs a Docker Engine")
	}
	c, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatalf("this test needs a Docker Engine and none answers at DOCKER_HOST=%q: %v\n(start one as .ci/run does, or set HASHIKE_SKIP_DOCKER=1 to skip such tests)", os.Getenv("DOCKER_HOST"), err)
	}
	once.Do(func() {
		bctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = BuildImage(bctx, c, Image)
	})
	if buildErr != nil {
		t.Fatalf("build %s: %v", Image, buildErr)
	}
	return c
}

// BuildImage compiles cmd/hashike-testjob statically and builds it into image tag, FROM scratch.
func BuildImage(ctx context.Context, c *client.Client, tag string) error {
	dir, err := os.MkdirTemp("", "hashike-testjob")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testjob")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/hashike/hashike/cmd/hashike-testjob")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build testjob: %w\n%s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY testjob /testjob\nENTRYPOINT [\"/testjob\"]\n")},
		{"testjob", 0o755, prog},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := c.ImageBuild(ctx, &ctxTar, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return fmt.Errorf("%s", msg.Error)
		}
	}
}
