package docker_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
)

// testRegistry is a registry speaking just enough of the distribution (v2) API for the engine to
// pull one image from it: /v2/, the image's manifest and its two blobs. It demands HTTP Basic
// authentication when user is set, and records every Authorization header it was sent. The
// engine pulls from it over plain HTTP because 127.0.0.0/8 is an insecure registry by default.
type testRegistry struct {
	srv        *httptest.Server
	user, pass string
	manifest   []byte
	blobs      map[string][]byte // digest -> content

	mu        sync.Mutex
	auths     []string // Authorization headers received
	manifests int      // requests for a manifest by tag: one a pull
}

func newRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	r := &testRegistry{user: user, pass: pass, blobs: map[string][]byte{}}
	// One layer holding one file, its image config and the manifest.
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	body := []byte("pulled from the test registry\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(layer.Bytes())
	zw.Close()
	diffID := digest(layer.Bytes())
	cfg, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux", "config": map[string]any{"Cmd": []string{"/nothing"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	r.blobs[digest(cfg)] = cfg
	r.blobs[digest(gz.Bytes())] = gz.Bytes()
	r.manifest, _ = json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(cfg), "digest": digest(cfg)},
		"layers":        []map[string]any{{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": gz.Len(), "digest": digest(gz.Bytes())}},
	})
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// host is the registry's host:port, as an image reference names it.
func (r *testRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

func (r *testRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if a := req.Header.Get("Authorization"); a != "" {
		r.auths = append(r.auths, a)
	}
	r.mu.Unlock()
	if r.user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="hashike-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
	}
	path := req.URL.Path
	switch {
	case path == "/v2/" || path == "/v2":
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		fmt.Fprint(w, "{}")
	case strings.Contains(path, "/manifests/"):
		if !strings.Contains(path, "/manifests/sha256:") {
			r.mu.Lock()
			r.manifests++ // the engine asks for the tag once a pull, the digest only when new
			r.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Header().Set("Docker-Content-Digest", digest(r.manifest))
		w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
		if req.Method != http.MethodHead {
			w.Write(r.manifest)
		}
	case strings.Contains(path, "/blobs/"):
		b, ok := r.blobs[path[strings.LastIndex(path, "/")+1:]]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if req.Method != http.MethodHead {
			w.Write(b)
		}
	default:
		http.NotFound(w, req)
	}
}

func (r *testRegistry) seen() (auths []string, manifests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auths...), r.manifests
}

// removeImage removes image from the engine when the test ends.
func removeImage(t *testing.T, dc *client.Client, image string) {
	t.Cleanup(func() {
		_, _ = dc.ImageRemove(context.Background(), image, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}

// start starts (and removes) a one-container task on image; its error is Start's.
func start(t *testing.T, b *docker.Backend, image string) error {
	t.Helper()
	spec := hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "pull", ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: image}}}}
	ref, err := b.Start(testCtx(t), hashike.StartRequest{RunID: newRunID(t), Spec: spec})
	if err == nil {
		if err := b.Remove(context.Background(), ref); err != nil {
			t.Errorf("Remove: %v", err)
		}
	}
	return err
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func writeFile(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// A private image is pulled with the credentials the Docker CLI configuration holds for its
// registry (auths, base64 "user:password"), and the pull's steps are written to Progress.
func TestPullSendsConfiguredCredentials(t *testing.T) {
	dc := dockertest.Require(t)
	reg := newRegistry(t, "alice", "s3cret")
	image := reg.host() + "/private/app:v1"
	removeImage(t, dc, image)
	cfg := t.TempDir()
	writeFile(t, filepath.Join(cfg, "config.json"), `{"auths": {"`+reg.host()+`": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))+`"}}}`, 0o600)
	var progress bytes.Buffer
	b, err := docker.Open(docker.Config{Clock: hashike.SystemClock{}, Registry: &docker.Credentials{ConfigDir: cfg}, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if err := start(t, b, image); err != nil {
		t.Fatalf("Start: %v\nprogress:\n%s", err, progress.String())
	}
	auths, _ := reg.seen()
	if !contains(auths, basic("alice", "s3cret")) {
		t.Errorf("the registry was sent %q, not alice's credentials", auths)
	}
	if p := progress.String(); !strings.Contains(p, "hashike: pulling image "+image) || !strings.Contains(p, "Pull complete") {
		t.Errorf("progress does not show the pull:\n%s", p)
	}
}

// Without credentials the registry refuses the pull, and the run fails to start with
// CannotPullContainerError (the same registry as above: what makes it pass there is the
// credentials).
func TestPullWithoutCredentialsFails(t *testing.T) {
	dc := dockertest.Require(t)
	reg := newRegistry(t, "alice", "s3cret")
	image := reg.host() + "/private/app:v1"
	removeImage(t, dc, image)
	b, err := docker.Open(docker.Config{Clock: hashike.SystemClock{}, Registry: &docker.Credentials{ConfigDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	err = start(t, b, image)
	var se *hashike.StartError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "CannotPullContainerError") {
		t.Fatalf("Start = %v, want CannotPullContainerError", err)
	}
}

// credHelpers names a helper per registry and wins over credsStore, the default helper; each
// is docker-credential-NAME on PATH, asked `get` with the registry on its standard input.
func TestPullSendsHelperCredentials(t *testing.T) {
	dc := dockertest.Require(t)
	bin := t.TempDir()
	// docker-credential-hashiketest answers for exactly the registry it was asked about;
	// docker-credential-broken fails as a helper does when its store is locked.
	helper := `#!/bin/sh
[ "$1" = get ] || exit 3
read -r server || true
printf '{"ServerURL":"%s","Username":"bob","Secret":"from-helper-%s"}\n' "$server" "$server"
`
	writeFile(t, filepath.Join(bin, "docker-credential-hashiketest"), helper, 0o755)
	writeFile(t, filepath.Join(bin, "docker-credential-broken"), "#!/bin/sh\necho 'the keychain is locked' >&2\nexit 1\n", 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	reg := newRegistry(t, "bob", "")
	reg.pass = "from-helper-" + reg.host()
	for _, tc := range []struct{ name, config string }{
		{"credsStore", `{"credsStore": "hashiketest"}`},
		{"credHelpers wins over credsStore", `{"credsStore": "broken", "credHelpers": {"` + reg.host() + `": "hashiketest"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			image := reg.host() + "/helper/app:" + strings.ReplaceAll(tc.name, " ", "-")
			removeImage(t, dc, image)
			cfg := t.TempDir()
			writeFile(t, filepath.Join(cfg, "config.json"), tc.config, 0o600)
			b, err := docker.Open(docker.Config{Clock: hashike.SystemClock{}, Registry: &docker.Credentials{ConfigDir: cfg}})
			if err != nil {
				t.Fatal(err)
			}
			if err := start(t, b, image); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if auths, _ := reg.seen(); !contains(auths, basic("bob", reg.pass)) {
				t.Errorf("the registry was sent %q, not the helper's credentials", auths)
			}
		})
	}
	// A helper that fails fails the pull with its message (the docker CLI does the same).
	cfg := t.TempDir()
	writeFile(t, filepath.Join(cfg, "config.json"), `{"credsStore": "broken"}`, 0o600)
	b, err := docker.Open(docker.Config{Clock: hashike.SystemClock{}, Registry: &docker.Credentials{ConfigDir: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	err = start(t, b, reg.host()+"/helper/app:broken")
	if err == nil || !strings.Contains(err.Error(), "docker-credential-broken") || !strings.Contains(err.Error(), "the keychain is locked") {
		t.Fatalf("Start with a failing helper = %v", err)
	}
}

// The pull policy: missing pulls only an image the engine lacks, always pulls on every start,
// never pulls nothing.
func TestPullPolicy(t *testing.T) {
	dc := dockertest.Require(t)
	reg := newRegistry(t, "", "")
	for _, tc := range []struct {
		policy docker.PullPolicy
		want   int // pulls over two starts
	}{
		{docker.PullMissing, 1},
		{"", 1},
		{docker.PullAlways, 2},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			image := reg.host() + "/policy/app:" + string(tc.policy) + "x"
			removeImage(t, dc, image)
			b, err := docker.Open(docker.Config{Clock: hashike.SystemClock{}, Pull: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			_, before := reg.seen()
			for i := 0; i < 2; i++ {
				if err := start(t, b, image); err != nil {
					t.Fatalf("Start %d: %v", i, err)
				}
			}
			if _, after := reg.seen(); after-before != tc.want {
				t.Errorf("%d pulls over two starts, want %d", after-before, tc.want)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		b, err := docker.Open(docker.Config{Clock: hashike.SystemClock{}, Pull: docker.PullNever})
		if err != nil {
			t.Fatal(err)
		}
		_, before := reg.seen()
		err = start(t, b, reg.host()+"/policy/app:never")
		var se *hashike.StartError
		if !errors.As(err, &se) || !strings.Contains(se.Reason, "pull policy is never") {
			t.Fatalf("Start = %v, want CannotPullContainerError (never)", err)
		}
		if _, after := reg.seen(); after != before {
			t.Errorf("the never policy pulled")
		}
		if err := start(t, b, dockertest.Image); err != nil {
			t.Errorf("never, with the image present: %v", err)
		}
	})
	if _, err := docker.ParsePullPolicy("sometimes"); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("ParsePullPolicy(sometimes) = %v, want invalid", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
