package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/githubfake"
	"github.com/hashike/hashike/runners"
)

// TestGitHubPortFromConfig: the server's runner controller reaches GitHub through the github
// adapter built from the config's runners.github: a GitHub Enterprise Server with a private
// CA and a token named by tokenEnv registers a JIT runner; an unset token variable and an
// unreadable App key are clear errors.
func TestGitHubPortFromConfig(t *testing.T) {
	f := githubfake.New(githubfake.Options{GHES: true, TLS: true, PATs: []string{"ghp_test"}})
	t.Cleanup(f.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, f.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GHES_TOKEN": "ghp_test"}
	a := &app{clock: hashike.SystemClock{}, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	rc := &RunnersConfig{GitHub: GitHubConfig{BaseURL: f.URL(), CAFile: ca, TokenEnv: "GHES_TOKEN"}}
	port, err := a.githubPort(rc)
	if err != nil {
		t.Fatal(err)
	}
	jit, err := port.GenerateJITConfig(context.Background(), runners.Scope{Level: runners.ScopeRepo, Name: "acme/app"}, "hashike-small-1", []string{"self-hosted", "small"})
	if err != nil || jit.Config == "" {
		t.Fatalf("JIT through the configured adapter: %v", err)
	}
	if _, ok := f.Runner(jit.RunnerID); !ok {
		t.Fatal("the fake GitHub has no such runner")
	}
	rc.GitHub.TokenEnv = "UNSET"
	if _, err := a.githubPort(rc); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("an unset token variable: %v", err)
	}
	rc.GitHub = GitHubConfig{AppID: 1, InstallationID: 2, PrivateKeyFile: filepath.Join(t.TempDir(), "missing.pem")}
	if _, err := a.githubPort(rc); err == nil {
		t.Error("a missing App key was accepted")
	}
}
