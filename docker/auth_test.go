package docker_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/registry"

	"github.com/hashike/hashike/docker"
)

// fakeECR stands for ECR's GetAuthorizationToken: the token is base64 "AWS:password".
type fakeECR struct {
	mu    sync.Mutex
	calls []string // "region registryID"
	err   error
}

func (f *fakeECR) AuthorizationToken(_ context.Context, region, registryID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, region+" "+registryID)
	if f.err != nil {
		return "", f.err
	}
	return base64.StdEncoding.EncodeToString([]byte("AWS:token-for-" + registryID)), nil
}

func TestResolveCredentials(t *testing.T) {
	const ecrHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, config, image string
		ecrErr              error
		want                registry.AuthConfig
		ecrCalls            []string
		err                 string
	}{
		{name: "ECR host without a helper: GetAuthorizationToken in the registry's region",
			config: `{}`, image: ecrHost + "/app:1",
			want: registry.AuthConfig{Username: "AWS", Password: "token-for-123456789012", ServerAddress: ecrHost}, ecrCalls: []string{"eu-west-1 123456789012"}},
		{name: "ECR FIPS and China hosts",
			config: `{}`, image: "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/app",
			want: registry.AuthConfig{Username: "AWS", Password: "token-for-210987654321", ServerAddress: "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn"}, ecrCalls: []string{"cn-north-1 210987654321"}},
		{name: "a helper named for the ECR host wins over the ECR token",
			config: `{"credHelpers": {"` + ecrHost + `": "hashike-missing-helper"}}`, image: ecrHost + "/app:1",
			err: "docker-credential-hashike-missing-helper"},
		{name: "ECR failing: the configuration's credentials",
			config: `{"auths": {"` + ecrHost + `": {"auth": "` + b64("AWS:from-docker-login") + `"}}}`, image: ecrHost + "/app:1", ecrErr: errors.New("no AWS credentials"),
			want: registry.AuthConfig{Username: "AWS", Password: "from-docker-login", ServerAddress: ecrHost}, ecrCalls: []string{"eu-west-1 123456789012"}},
		{name: "ECR failing and nothing configured: ECR's error",
			config: `{}`, image: ecrHost + "/app:1", ecrErr: errors.New("no AWS credentials"),
			err: "ECR GetAuthorizationToken for " + ecrHost + ": no AWS credentials", ecrCalls: []string{"eu-west-1 123456789012"}},
		{name: "Docker Hub is keyed https://index.docker.io/v1/",
			config: `{"auths": {"https://index.docker.io/v1/": {"auth": "` + b64("hub-user:hub-pass") + `"}}}`, image: "alpine:3",
			want: registry.AuthConfig{Username: "hub-user", Password: "hub-pass", ServerAddress: "https://index.docker.io/v1/"}},
		{name: "a key written as a URL matches its host",
			config: `{"auths": {"https://ghcr.io/v2/": {"auth": "` + b64("gh:ghp_x") + `"}}}`, image: "ghcr.io/o/app:1",
			want: registry.AuthConfig{Username: "gh", Password: "ghp_x", ServerAddress: "ghcr.io"}},
		{name: "another registry's credentials are not sent",
			config: `{"auths": {"ghcr.io": {"auth": "` + b64("gh:ghp_x") + `"}}}`, image: "quay.io/o/app:1"},
		{name: "a broken auth names the file",
			config: `{"auths": {"ghcr.io": {"auth": "not base64!"}}}`, image: "ghcr.io/o/app:1",
			err: `config.json: auths["ghcr.io"].auth: not base64`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "config.json"), tc.config, 0o600)
			ecr := &fakeECR{err: tc.ecrErr}
			got, err := (&docker.Credentials{ConfigDir: dir, ECR: ecr}).Resolve(context.Background(), tc.image)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Resolve = %+v, %v; want an error containing %q", got, err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got != tc.want {
				t.Errorf("Resolve = %+v, want %+v", got, tc.want)
			}
			if strings.Join(ecr.calls, ",") != strings.Join(tc.ecrCalls, ",") {
				t.Errorf("ECR was asked %q, want %q", ecr.calls, tc.ecrCalls)
			}
		})
	}
}

// The Docker CLI's configuration and a context's metadata are read with a bound, and nothing
// in them makes Resolve or ResolveEndpoint panic. Helpers cannot run: PATH is empty.
func FuzzDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths": {"ghcr.io": {"auth": "Z2g6eA=="}}, "currentContext": "x"}`), []byte(`{"Endpoints": {"docker": {"Host": "unix:///x.sock"}}}`))
	f.Add([]byte(`{"auths": {"https://index.docker.io/v1/": {"auth": "!!"}}, "credsStore": "x"}`), []byte(`{"Endpoints": null}`))
	f.Add([]byte(`{"credHelpers": {"ghcr.io": ""}, "currentContext": 3}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, config, meta []byte) {
		t.Setenv("PATH", t.TempDir())
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "config.json"), string(config), 0o600)
		writeContextMeta(t, dir, "x", meta)
		for _, image := range []string{"ghcr.io/o/app:1", "alpine", "123456789012.dkr.ecr.us-east-1.amazonaws.com/a"} {
			_, _ = (&docker.Credentials{ConfigDir: dir, ECR: &fakeECR{}}).Resolve(context.Background(), image)
		}
		_, _ = docker.ResolveEndpoint(envOf(map[string]string{"DOCKER_CONFIG": dir}))
	})
}
