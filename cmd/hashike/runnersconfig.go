package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/server"
)

// RunnersConfig is the runners section: ephemeral GitHub Actions runner pools the server's
// leader keeps (docs/runners.md), and the GitHub connection they register through.
type RunnersConfig struct {
	// Pools map runs-on labels to a hashike job that runs one runner (runners.Pool).
	Pools  []runners.Pool `json:"pools"`
	GitHub GitHubConfig   `json:"github"`
	// Mode is where demand comes from: "webhook" (the default: the workflow_job webhook
	// when HASHIKE_GITHUB_WEBHOOK_SECRET is set, and a periodic scan of GitHub's queued jobs)
	// or "scaleSet" (one runner scale set per pool, named hashike-POOL, whose message
	// session the leader long-polls: no inbound endpoint, the right choice for a GitHub
	// Enterprise Server behind a firewall).
	Mode string `json:"mode"`
	// The controller's timings (0: the defaults of package runners): Interval between passes
	// without a webhook (30s), MinGap between two passes (1s), StartBound before a runner
	// that never came online is replaced (5m), ScaleInAfter before a surplus idle runner is
	// stopped (2m), RescanInterval between scans of GitHub for queued jobs when the webhook
	// feeds demand (2m), LostAfter before a job found only by a scan counts as a lost
	// webhook (30s). Parallel bounds the runners started at once (16).
	Interval       hashike.Duration `json:"interval"`
	MinGap         hashike.Duration `json:"minGap"`
	StartBound     hashike.Duration `json:"startBound"`
	ScaleInAfter   hashike.Duration `json:"scaleInAfter"`
	RescanInterval hashike.Duration `json:"rescanInterval"`
	LostAfter      hashike.Duration `json:"lostAfter"`
	Parallel       int              `json:"parallel"`

	plan *runners.Plan // compiled by Validate
}

// GitHubConfig is how hashike reaches GitHub: GitHub.com or a GitHub Enterprise Server, as a
// GitHub App installation or with a personal access token. Secrets are named, never given:
// the App's private key is a file, the token an environment variable's name.
type GitHubConfig struct {
	// BaseURL is a GitHub Enterprise Server's API, https://HOST/api/v3 ("": GitHub.com).
	BaseURL string `json:"baseURL"`
	// CAFile is a PEM bundle of the private CA a GitHub Enterprise Server's certificate is
	// signed by ("": the system's roots).
	CAFile string `json:"caFile"`
	// AppID, InstallationID and PrivateKeyFile authenticate as a GitHub App installation.
	AppID          int64  `json:"appID"`
	InstallationID int64  `json:"installationID"`
	PrivateKeyFile string `json:"privateKeyFile"`
	// TokenEnv names the environment variable holding a personal access token, instead of
	// an App.
	TokenEnv string `json:"tokenEnv"`
}

// App reports whether the connection authenticates as a GitHub App.
func (g GitHubConfig) App() bool {
	return g.AppID != 0 || g.InstallationID != 0 || g.PrivateKeyFile != ""
}

// Plan is the compiled pools (set once the config is valid).
func (r *RunnersConfig) Plan() *runners.Plan { return r.plan }

// Modes of RunnersConfig.Mode.
const (
	RunnersModeWebhook  = "webhook"
	RunnersModeScaleSet = "scaleSet"
)

// ScaleSetMode reports whether demand comes from runner scale sets.
func (r *RunnersConfig) ScaleSetMode() bool { return r.Mode == RunnersModeScaleSet }

// ServerPools is the server's runner controller over gh (the GitHub adapter) and, in the
// scale-set mode, ss.
func (r *RunnersConfig) ServerPools(gh runners.GitHub, ss runners.ScaleSets) *server.RunnerPools {
	return &server.RunnerPools{Plan: r.plan, GitHub: gh, ScaleSets: ss,
		Interval: time.Duration(r.Interval), MinGap: time.Duration(r.MinGap), StartBound: time.Duration(r.StartBound),
		ScaleInAfter: time.Duration(r.ScaleInAfter), RescanInterval: time.Duration(r.RescanInterval),
		LostAfter: time.Duration(r.LostAfter), Parallel: r.Parallel}
}

// validate reports the runners section's problems through bad; the pools are compiled for
// a host of architecture hostArch (a local pool of another architecture is refused).
func (r *RunnersConfig) validate(hostArch string, bad func(path, format string, args ...any)) {
	if len(r.Pools) == 0 {
		bad("runners.pools", "at least one pool is required")
	}
	plan, err := runners.Compile(r.Pools, hostArch)
	var he *hashike.Error
	switch {
	case errors.As(err, &he) && len(he.Fields) > 0:
		for _, f := range he.Fields {
			bad("runners."+f.Path, "%s", f.Message)
		}
	case err != nil:
		bad("runners.pools", "%v", err)
	default:
		r.plan = plan
	}
	for _, d := range []struct {
		path string
		v    hashike.Duration
	}{{"interval", r.Interval}, {"minGap", r.MinGap}, {"startBound", r.StartBound}, {"scaleInAfter", r.ScaleInAfter},
		{"rescanInterval", r.RescanInterval}, {"lostAfter", r.LostAfter}} {
		if d.v < 0 {
			bad("runners."+d.path, "want a duration > 0 (or none, for the default)")
		}
	}
	switch r.Mode {
	case "", RunnersModeWebhook, RunnersModeScaleSet:
	default:
		bad("runners.mode", "unknown mode %q (use %q or %q)", r.Mode, RunnersModeWebhook, RunnersModeScaleSet)
	}
	if r.Parallel < 0 || r.Parallel > 256 {
		bad("runners.parallel", "%d: want 1 to 256 (or none, for 16)", r.Parallel)
	}
	g := r.GitHub
	if g.BaseURL != "" {
		u, err := url.Parse(g.BaseURL)
		switch {
		case err != nil || u.Host == "":
			bad("runners.github.baseURL", "%q is not a URL such as https://github.example.com/api/v3", g.BaseURL)
		case u.Scheme != "https":
			bad("runners.github.baseURL", "%q: GitHub's API is reached over https only", g.BaseURL)
		case !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3"):
			bad("runners.github.baseURL", "%q: a GitHub Enterprise Server's API ends in /api/v3 (https://HOST/api/v3)", g.BaseURL)
		}
	}
	if g.CAFile != "" && g.BaseURL == "" {
		bad("runners.github.caFile", "a private CA is for a GitHub Enterprise Server: give baseURL too")
	}
	switch {
	case g.App() && g.TokenEnv != "":
		bad("runners.github", "give a GitHub App (appID, installationID, privateKeyFile) or tokenEnv, not both")
	case g.App():
		if g.AppID <= 0 {
			bad("runners.github.appID", "required with a GitHub App: the App's ID")
		}
		if g.InstallationID <= 0 {
			bad("runners.github.installationID", "required with a GitHub App: the installation's ID")
		}
		if g.PrivateKeyFile == "" {
			bad("runners.github.privateKeyFile", "required with a GitHub App: the path of its private key (PEM)")
		}
	case g.TokenEnv == "":
		bad("runners.github", "give a GitHub App (appID, installationID, privateKeyFile) or tokenEnv, the environment variable holding a token")
	case !envName(g.TokenEnv):
		bad("runners.github.tokenEnv", "%q is not an environment variable's name: give the variable's name, never the token itself", g.TokenEnv)
	}
}

// envName reports whether s is a plausible environment variable name (a token is not).
func envName(s string) bool {
	if s == "" || len(s) > 128 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	// GitHub's tokens (ghp_, github_pat_, ghs_...) are names too: refuse their shapes.
	for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"} {
		if strings.HasPrefix(s, p) {
			return false
		}
	}
	return true
}

// githubPort is the runner controller's GitHub: the github adapter over the config's
// connection, its secrets read from where the config names them (the App's key file, the
// token's environment variable).
func (a *app) githubPort(rc *RunnersConfig) (runners.GitHub, error) {
	g := rc.GitHub
	key, token, err := a.githubCredentials(g)
	if err != nil {
		return nil, err
	}
	cfg := github.Config{APIURL: g.BaseURL, CAFile: g.CAFile, AppID: g.AppID, InstallationID: g.InstallationID, Clock: a.clock,
		PrivateKey: key, Token: token}
	c, err := github.New(cfg)
	if err != nil {
		return nil, err
	}
	return &github.RunnerPort{Client: c}, nil
}

// githubCredentials reads the config's secrets: the GitHub App's private key from its file,
// or the token from the environment variable the config names.
func (a *app) githubCredentials(g GitHubConfig) (key []byte, token string, err error) {
	if g.App() {
		if key, err = os.ReadFile(g.PrivateKeyFile); err != nil {
			return nil, "", fmt.Errorf("the GitHub App's private key: %w", err)
		}
		return key, "", nil
	}
	if token = a.env(g.TokenEnv); token == "" {
		return nil, "", hashike.Errorf(hashike.EInvalid, "runners.github.tokenEnv: the environment variable %s is empty or not set", g.TokenEnv)
	}
	return nil, token, nil
}

// scaleSetPort is the scale-set API over the config's connection (the scale-set mode).
func (a *app) scaleSetPort(rc *RunnersConfig) (runners.ScaleSets, error) {
	g := rc.GitHub
	key, token, err := a.githubCredentials(g)
	if err != nil {
		return nil, err
	}
	cfg := github.ScaleSetConfig{CAFile: g.CAFile, AppID: g.AppID, InstallationID: g.InstallationID, PrivateKey: key, Token: token}
	return &github.ScaleSetPort{Config: cfg, ServerURL: github.ServerURLOf(g.BaseURL)}, nil
}
