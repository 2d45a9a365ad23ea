package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// TestRunnersConfigExample: the runners example reads into compiled pools and the server's
// controller settings.
func TestRunnersConfigExample(t *testing.T) {
	c, err := ReadConfigFile(filepath.Join("testdata", "runners.yaml"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Runners
	if r == nil || r.Plan() == nil || len(r.Plan().Pools()) != 2 {
		t.Fatalf("runners %+v", r)
	}
	p, err := r.Plan().Match([]string{"self-hosted", "arm64"})
	if err != nil || p.Name != "large-arm64" || p.SLO == nil || time.Duration(p.SLO.Target) != 15*time.Second {
		t.Fatalf("a job on [self-hosted, arm64] goes to %+v, %v; want large-arm64 with its SLO", p, err)
	}
	if s := r.Plan().Pools()[0].Schedules[0]; s.TimeZone != "Asia/Tokyo" || s.MinIdle != 5 || time.Duration(s.Duration) != 10*time.Hour {
		t.Errorf("schedule %+v", s)
	}
	if !r.GitHub.App() || r.GitHub.InstallationID != 7890 {
		t.Errorf("github %+v", r.GitHub)
	}
	if sp := r.ServerPools(nil, nil); sp.RescanInterval != 2*time.Minute || sp.Plan != r.Plan() {
		t.Errorf("server pools %+v", sp)
	}
}

// TestRunnersConfigErrors: each problem at its file:line:col, the pools' own (a local pool of
// another architecture, a bad time zone) included, and secrets refused inline.
func TestRunnersConfigErrors(t *testing.T) {
	doc := `runners:
  github:
    baseURL: http://ghe.example.com
    tokenEnv: ghp_abcdefghijklmnop
  parallel: -1
  mode: scaleset
  pools:
    - name: small
      labels: [self-hosted, small]
      job: runner-small
      arch: arm64
      max: 5
      schedules:
        - cron: "0 9 * * 1-5"
          duration: 1h
          timeZone: Mars/Olympus
          minIdle: 2
      scope: {level: org, name: octo-org}
`
	other := "arm64" // the pool's architecture is not the host's
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	doc = strings.Replace(doc, "arch: arm64", "arch: "+other, 1)
	_, err := ParseConfig("r.yaml", []byte(doc), env(nil))
	if hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("err %v; want EInvalid", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"r.yaml:3:14: runners.github.baseURL: \"http://ghe.example.com\": GitHub's API is reached over https only",
		"r.yaml:4:15: runners.github.tokenEnv:",
		"never the token itself",
		"r.yaml:5:13: runners.parallel:",
		"r.yaml:6:9: runners.mode: unknown mode \"scaleset\" (use \"webhook\" or \"scaleSet\")",
		"r.yaml:11:13: runners.pools[0].arch: pool small runs " + other + " runners but this host is " + runtime.GOARCH,
		"r.yaml:16:21: runners.pools[0].schedules[0].timeZone:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// TestREADMERunnersExample: the runners config of README "Self-hosted GitHub Actions runners"
// is a valid config on any host.
func TestREADMERunnersExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Self-hosted GitHub Actions runners")
	_, section, ok2 := strings.Cut(section, "### The config\n")
	_, block, ok3 := strings.Cut(section, "```yaml\n")
	block, _, ok4 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 || !ok4 {
		t.Fatal("README has no yaml block under the runners section's \"### The config\"")
	}
	c, err := ParseConfig("README.md", []byte(block), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Runners == nil || len(c.Runners.Pools) != 2 || c.Runners.Pools[1].SLO == nil {
		t.Errorf("%+v", c.Runners)
	}
}
