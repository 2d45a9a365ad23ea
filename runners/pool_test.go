package runners

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

func org() Scope { return Scope{Level: ScopeOrg, Name: "acme"} }

func testPools() []Pool {
	return []Pool{
		{Name: "small", Labels: []string{"self-hosted", "linux", "amd64", "small"}, Job: "runner-small", Max: 10, Scope: org()},
		{Name: "medium", Labels: []string{"self-hosted", "linux", "amd64", "medium"}, Job: "runner-medium", Max: 10, Scope: org()},
		{Name: "medium-gpu", Labels: []string{"self-hosted", "linux", "amd64", "medium", "gpu"}, Job: "runner-gpu", Max: 2, Scope: org()},
		{Name: "medium-arm", Labels: []string{"self-hosted", "linux", "arm64", "medium"}, Arch: ArchARM64, Backend: "ecs", Job: "runner-arm", Max: 5, Scope: org()},
		{Name: "linux", Labels: []string{"self-hosted", "linux", "amd64"}, Job: "runner-small", Max: 3, Scope: org()},
	}
}

func mustCompile(t *testing.T, pools []Pool) *Plan {
	t.Helper()
	p, err := Compile(pools, ArchAMD64)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatch(t *testing.T) {
	plan := mustCompile(t, testPools())
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"self-hosted", "linux", "amd64", "medium"}, "medium"}, // exact beats the gpu superset
		{[]string{"medium"}, "medium"},                                  // amd64 medium first by order (tie on extras)
		{[]string{"medium", "arm64"}, "medium-arm"},
		{[]string{"Self-Hosted", "LINUX", "gpu"}, "medium-gpu"}, // case-insensitive
		{[]string{"self-hosted"}, "linux"},                      // fewest extra labels
		{[]string{"self-hosted", "linux", "amd64", "small", "small"}, "small"},
	} {
		p, err := plan.Match(tc.labels)
		if err != nil || p.Name != tc.want {
			t.Errorf("Match(%v) = %v, %v; want %s", tc.labels, p, err, tc.want)
		}
	}
	for _, labels := range [][]string{{"windows"}, {"self-hosted", "linux", "xlarge"}, {"gpu", "arm64"}, {}} {
		_, err := plan.Match(labels)
		var np *NoPoolError
		if !errors.As(err, &np) || !strings.Contains(err.Error(), "no runner pool serves") {
			t.Errorf("Match(%v) = %v, want a NoPoolError", labels, err)
		}
	}
}

func TestCompileRefusesForeignArchLocally(t *testing.T) {
	pools := []Pool{{Name: "arm", Labels: []string{"arm64"}, Arch: ArchARM64, Job: "r", Max: 1, Scope: org()}}
	_, err := Compile(pools, ArchAMD64)
	var he *hashike.Error
	if !errors.As(err, &he) || he.Code != hashike.EInvalid || len(he.Fields) != 1 || he.Fields[0].Path != "pools[0].arch" {
		t.Fatalf("err = %#v", err)
	}
	if msg := he.Fields[0].Message; !strings.Contains(msg, "runs arm64 runners but this host is amd64") {
		t.Errorf("message %q does not say why", msg)
	}
	if _, err := Compile(pools, ArchARM64); err != nil {
		t.Errorf("on an arm64 host: %v", err)
	}
	pools[0].Backend = "ecs"
	if _, err := Compile(pools, ArchAMD64); err != nil {
		t.Errorf("ecs pool on an amd64 host: %v", err)
	}
}

func TestCompileReportsEveryProblem(t *testing.T) {
	pools := []Pool{
		{Name: "Bad Name", Labels: nil, Max: -1, MinIdle: -2, Backend: "k8s", Scope: Scope{Level: "team"},
			Schedules: []WarmSchedule{{Cron: "0 25 * * *", TimeZone: "Mars/Olympus", MinIdle: -1}}},
		{Name: "a", Labels: []string{"x", "hashike-pool-a"}, Job: "j", Max: 1, Scope: Scope{Level: ScopeRepo, Name: "noslash"}, SLO: &SLO{}},
		{Name: "a", Labels: []string{"X"}, Job: "j", Max: 1, Scope: org()},
		{Name: "b", Labels: []string{"x"}, Job: "j", Max: 1, Scope: org()},
	}
	_, err := Compile(pools, ArchAMD64)
	var he *hashike.Error
	if !errors.As(err, &he) {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range he.Fields {
		got[f.Path] = true
	}
	for _, p := range []string{"pools[0].name", "pools[0].labels", "pools[0].job", "pools[0].backend", "pools[0].max", "pools[0].minIdle",
		"pools[0].schedules[0].minIdle", "pools[0].schedules[0].duration", "pools[0].schedules[0].cron", "pools[0].schedules[0].timeZone",
		"pools[0].scope.name", "pools[0].scope.level", "pools[1].labels", "pools[1].scope.name", "pools[1].slo", "pools[2].name", "pools[3].labels"} {
		if !got[p] {
			t.Errorf("no error at %s; got %v", p, he.Fields)
		}
	}
}

func TestRunnerLabelsTieToPool(t *testing.T) {
	p := testPools()[1]
	got := p.RunnerLabels()
	if got[len(got)-1] != "hashike-pool-medium" || poolOf(got) != "medium" {
		t.Errorf("RunnerLabels = %v", got)
	}
	if len(p.Labels) != 4 {
		t.Errorf("RunnerLabels changed the pool's labels: %v", p.Labels)
	}
}
